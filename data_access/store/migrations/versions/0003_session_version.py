"""Sessions end when their user changes: ``app_user.session_version``, bumped on every change
of role, scope, password or access; a session holding an older one is signed out.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("session_version")

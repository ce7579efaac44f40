"""A churn scoring run is written in several short transactions and marked complete at the
end (readers see only complete runs), so other writers are not held for the seconds a
million-row run takes. Runs stored before this revision are complete.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (with a constant default SQLite needs no table copy, and a copy
    # would drop churn_run under its scores' foreign keys)
    op.add_column("churn_run", sa.Column("complete", sa.Boolean(), nullable=False,
                                         server_default=sa.true()))


def downgrade() -> None:
    op.drop_column("churn_run", "complete")

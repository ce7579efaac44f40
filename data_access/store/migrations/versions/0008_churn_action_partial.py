"""The churn scores' tactic index holds only the rows with a tactic: the arsenal suggests one
for the head of the list (20,000 rows), so the other rows of a million-row run no longer
cost an index entry each when the run is written.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WITH_ACTION = sa.text("action <> ''")


def upgrade() -> None:
    op.drop_index("ix_churn_score_action", table_name="churn_score")
    op.create_index("ix_churn_score_action", "churn_score", ["run_id", "action", "rank"],
                    sqlite_where=_WITH_ACTION, postgresql_where=_WITH_ACTION)


def downgrade() -> None:
    op.drop_index("ix_churn_score_action", table_name="churn_score")
    op.create_index("ix_churn_score_action", "churn_score", ["run_id", "action", "rank"])

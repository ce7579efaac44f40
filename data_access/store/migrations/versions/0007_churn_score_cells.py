"""Churn score cells: each scoring run's counts per branch, micro-region, segment, risk band
and tactic, so the churn page counts without scanning a million scores. Runs stored before
this revision get their cells from their scores.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "churn_score_cell",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=40), nullable=False),
        sa.Column("micro_region", sa.String(length=40), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=True),
        sa.Column("risk_band", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.Column("expected_loss", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["churn_run.run_id"]),
        comment="A scoring run's subscribers and expected loss per branch, micro-region, "
                "segment, risk band and tactic: the churn page's counts, read without "
                "scanning the run.")
    op.create_index("ix_churn_score_cell_run", "churn_score_cell",
                    ["run_id", "branch", "micro_region"])
    op.execute(
        "INSERT INTO churn_score_cell (run_id, branch, micro_region, segment, risk_band, action,"
        " subscribers, expected_loss) SELECT run_id, branch, micro_region, segment, risk_band,"
        " action, COUNT(*), SUM(expected_loss) FROM churn_score"
        " GROUP BY run_id, branch, micro_region, segment, risk_band, action")


def downgrade() -> None:
    op.drop_index("ix_churn_score_cell_run", table_name="churn_score_cell")
    op.drop_table("churn_score_cell")

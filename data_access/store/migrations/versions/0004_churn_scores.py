"""Churn scores as data: scoring runs, one row per subscriber per run, group warnings, and
the progress record of trainings started from the page (one at a time).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "churn_run",
        sa.Column("run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.Column("base_rate", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
        comment="Churn scoring runs: which model scored which month, when, for how many.")
    op.create_index("ix_churn_run_version_month", "churn_run", ["model_version", "month"])
    op.create_table(
        "churn_score",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=40), nullable=False),
        sa.Column("micro_region", sa.String(length=40), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("group_name", sa.String(length=120), nullable=True),
        sa.Column("plan_family", sa.String(length=40), nullable=True),
        sa.Column("channel_type", sa.String(length=40), nullable=True),
        sa.Column("tenure_months", sa.Integer(), nullable=True),
        sa.Column("arpu", sa.Double(), nullable=True),
        sa.Column("churn_prob", sa.Double(), nullable=False),
        sa.Column("risk_band", sa.String(length=10), nullable=False),
        sa.Column("net_value", sa.Double(), nullable=False),
        sa.Column("expected_loss", sa.Double(), nullable=False),
        sa.Column("top_reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("reasons", sa.Text(), server_default="", nullable=False),
        sa.Column("reason_tags", sa.String(length=200), server_default="", nullable=False),
        sa.Column("action", sa.String(length=120), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["churn_run.run_id"]),
        sa.PrimaryKeyConstraint("run_id", "subscriber_id"),
        comment="One row per subscriber per churn scoring run: risk, value, reasons, tactic.")
    op.create_index("ix_churn_score_rank", "churn_score", ["run_id", "rank"])
    op.create_index("ix_churn_score_branch", "churn_score", ["run_id", "branch", "rank"])
    op.create_index("ix_churn_score_micro_region", "churn_score",
                    ["run_id", "micro_region", "rank"])
    op.create_index("ix_churn_score_action", "churn_score", ["run_id", "action", "rank"])
    op.create_table(
        "churn_group_warning",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=120), nullable=False),
        sa.Column("account_manager", sa.String(length=80), nullable=True),
        sa.Column("branch", sa.String(length=40), nullable=True),
        sa.Column("micro_region", sa.String(length=40), nullable=True),
        sa.Column("has_leased_line", sa.Boolean(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("at_risk", sa.Integer(), nullable=False),
        sa.Column("mean_prob", sa.Double(), nullable=False),
        sa.Column("base_rate", sa.Double(), nullable=False),
        sa.Column("usage_change", sa.Double(), nullable=False),
        sa.Column("spend_change", sa.Double(), nullable=False),
        sa.Column("expected_loss", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("reason_tags", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["churn_run.run_id"]),
        sa.PrimaryKeyConstraint("run_id", "group_id"),
        comment="Enterprise groups whose account manager should act, per churn scoring run.")
    op.create_table(
        "churn_training",
        sa.Column("training_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_by", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=400), nullable=True),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("host", sa.String(length=80), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("running", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("training_id"),
        sa.UniqueConstraint("running"),
        comment="Churn trainings started from the page: who, progress, outcome; one at a time.")


def downgrade() -> None:
    op.drop_table("churn_training")
    op.drop_table("churn_group_warning")
    for name in ("ix_churn_score_action", "ix_churn_score_micro_region",
                 "ix_churn_score_branch", "ix_churn_score_rank"):
        op.drop_index(name, table_name="churn_score")
    op.drop_table("churn_score")
    op.drop_index("ix_churn_run_version_month", table_name="churn_run")
    op.drop_table("churn_run")

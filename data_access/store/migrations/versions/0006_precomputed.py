"""Precomputed results per mart version: campaign effects, rival series scores, channel values
and alerts (``data_access.store.precomputed``).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _run_id() -> sa.Column:
    return sa.Column("run_id", sa.Integer(), nullable=False)


def _scope() -> list[sa.Column]:
    return [sa.Column("scope_level", sa.String(length=20), nullable=False),
            sa.Column("scope_value", sa.String(length=40), nullable=False)]


def _fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["precompute_run.run_id"])


def upgrade() -> None:
    op.create_table(
        "precompute_run",
        sa.Column("run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mart_version", sa.String(length=80), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
        sa.UniqueConstraint("kind", "mart_version", name="uq_precompute_kind_version"),
        comment="Precomputed results: one kind of result for one mart version, when and how long.")
    op.create_table(
        "pre_campaign_effect", _run_id(), *_scope(),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("estimate", sa.Double(), nullable=True),
        sa.Column("se", sa.Double(), nullable=True),
        sa.Column("low", sa.Double(), nullable=True),
        sa.Column("high", sa.Double(), nullable=True),
        sa.Column("n_treated", sa.Integer(), nullable=True),
        sa.Column("n_control", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=True),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Double(), nullable=True),
        sa.Column("incremental_revenue", sa.Double(), nullable=True),
        sa.Column("incremental_low", sa.Double(), nullable=True),
        sa.Column("incremental_high", sa.Double(), nullable=True),
        sa.Column("net_effect", sa.Double(), nullable=True),
        sa.Column("roi", sa.Double(), nullable=True),
        sa.Column("method", sa.String(length=400), server_default="", nullable=False),
        sa.Column("error", sa.String(length=400), server_default="", nullable=False),
        _fk(),
        sa.PrimaryKeyConstraint("run_id", "scope_level", "scope_value", "campaign_id", "metric"),
        comment="Each campaign's effect per measure (DiD, 95% interval, n, ROI) per scope unit.")
    op.create_table(
        "pre_rival_score", _run_id(),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=80), nullable=False),
        sa.Column("branch", sa.String(length=40), nullable=True),
        sa.Column("micro_region", sa.String(length=40), nullable=True),
        sa.Column("operator", sa.String(length=20), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("expected", sa.Double(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("unusual", sa.Boolean(), nullable=False),
        _fk(),
        sa.PrimaryKeyConstraint("run_id", "level", "position"),
        comment="Every rival series point with its expected value and anomaly score, city-wide.")
    op.create_index("ix_pre_rival_score_unit", "pre_rival_score",
                    ["run_id", "level", "branch", "micro_region"])
    op.create_table(
        "pre_channel_value", _run_id(), *_scope(),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("channel_name", sa.String(length=120), nullable=False),
        sa.Column("channel_type", sa.String(length=40), nullable=True),
        sa.Column("manager", sa.String(length=80), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("branch", sa.String(length=40), nullable=True),
        sa.Column("micro_region", sa.String(length=40), nullable=True),
        sa.Column("new_numbers", sa.Integer(), nullable=False),
        sa.Column("low_use_share", sa.Double(), nullable=True),
        sa.Column("revenue", sa.Double(), nullable=True),
        sa.Column("cost", sa.Double(), nullable=True),
        sa.Column("net_value", sa.Double(), nullable=True),
        sa.Column("roi", sa.Double(), nullable=True),
        sa.Column("roi_note", sa.String(length=200), server_default="", nullable=False),
        sa.Column("roi_suspect", sa.Boolean(), nullable=False),
        sa.Column("behaviour", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("new_arpu", sa.Double(), nullable=True),
        _fk(),
        sa.PrimaryKeyConstraint("run_id", "scope_level", "scope_value", "span", "position"),
        comment="The channel evaluator's row per channel, window and scope unit, ranked.")
    op.create_table(
        "pre_channel_alert", _run_id(), *_scope(),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("channel_name", sa.String(length=120), nullable=True),
        sa.Column("channel_type", sa.String(length=40), nullable=True),
        sa.Column("branch", sa.String(length=40), nullable=True),
        sa.Column("micro_region", sa.String(length=40), nullable=True),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("actual", sa.Double(), nullable=True),
        sa.Column("expected", sa.Double(), nullable=True),
        sa.Column("reason", sa.String(length=400), nullable=True),
        _fk(),
        sa.PrimaryKeyConstraint("run_id", "scope_level", "scope_value", "span", "position"),
        comment="Channel alerts with the value each channel was expected to show, per window and scope.")


def downgrade() -> None:
    op.drop_table("pre_channel_alert")
    op.drop_table("pre_channel_value")
    op.drop_index("ix_pre_rival_score_unit", table_name="pre_rival_score")
    op.drop_table("pre_rival_score")
    op.drop_table("pre_campaign_effect")
    op.drop_table("precompute_run")

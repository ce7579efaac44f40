"""The tables of precomputed results (one run per kind and mart version, and its rows)."""

from __future__ import annotations

import sqlalchemy as sa

from data_access.store.workflow import WORKFLOW

#: The kinds of precomputed results, in the order the job computes them.
KINDS = ("campaign_effect", "rival_score", "channel_value")
#: Mart versions kept per kind (the current one and the one before, for a mart being swapped).
KEEP_VERSIONS = 2
CITY = "city"

precompute_run = sa.Table(
    "precompute_run", WORKFLOW,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("mart_version", sa.String(80), nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("scopes", sa.String(400), nullable=False),  # the scope units computed
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.UniqueConstraint("kind", "mart_version", name="uq_precompute_kind_version"),
    comment="Precomputed results: one kind of result for one mart version, when and how long.",
)


def _run_fk() -> sa.Column:
    return sa.Column("run_id", sa.Integer, sa.ForeignKey("precompute_run.run_id"),
                     primary_key=True)


def _scope_columns() -> list[sa.Column]:
    return [sa.Column("scope_level", sa.String(20), primary_key=True),  # city, branch, micro_region
            sa.Column("scope_value", sa.String(40), primary_key=True)]  # "" for city


pre_campaign_effect = sa.Table(
    "pre_campaign_effect", WORKFLOW, _run_fk(), *_scope_columns(),
    sa.Column("campaign_id", sa.Integer, primary_key=True),
    sa.Column("metric", sa.String(20), primary_key=True),  # "" when the campaign has no effect
    sa.Column("estimate", sa.Double, nullable=True),
    sa.Column("se", sa.Double, nullable=True),
    sa.Column("low", sa.Double, nullable=True),
    sa.Column("high", sa.Double, nullable=True),
    sa.Column("n_treated", sa.Integer, nullable=True),
    sa.Column("n_control", sa.Integer, nullable=True),
    sa.Column("position", sa.Integer, nullable=False),  # the effect's place in its campaign
    sa.Column("participants", sa.Integer, nullable=True),
    sa.Column("months", sa.Integer, nullable=True),
    sa.Column("cost", sa.Double, nullable=True),
    sa.Column("incremental_revenue", sa.Double, nullable=True),
    sa.Column("incremental_low", sa.Double, nullable=True),
    sa.Column("incremental_high", sa.Double, nullable=True),
    sa.Column("net_effect", sa.Double, nullable=True),
    sa.Column("roi", sa.Double, nullable=True),
    sa.Column("method", sa.String(400), nullable=False, server_default=""),
    sa.Column("error", sa.String(400), nullable=False, server_default=""),  # why no effect
    comment="Each campaign's effect per measure (DiD, 95% interval, n, ROI) per scope unit.",
)

pre_campaign_breakdown = sa.Table(
    "pre_campaign_breakdown", WORKFLOW, _run_fk(), *_scope_columns(),
    sa.Column("campaign_id", sa.Integer, primary_key=True),
    sa.Column("part", sa.String(12), primary_key=True),  # uplift, participants, spend
    sa.Column("breakdown", sa.String(20), primary_key=True),  # segment, branch, channel_type
    sa.Column("position", sa.Integer, primary_key=True),  # the row's place in its table
    sa.Column("value", sa.String(80), nullable=True),  # the breakdown's value (a segment, …)
    sa.Column("arm", sa.String(12), nullable=True),  # participants: treated or control
    sa.Column("estimate", sa.Double, nullable=True),  # uplift: ARPU's DiD in the group
    sa.Column("low", sa.Double, nullable=True),
    sa.Column("high", sa.Double, nullable=True),
    sa.Column("n_treated", sa.Integer, nullable=True),
    sa.Column("n_control", sa.Integer, nullable=True),
    sa.Column("subscribers", sa.Integer, nullable=True),  # participants: per value and arm
    sa.Column("cost", sa.Double, nullable=True),
    comment="Each campaign's ARPU uplift and participants per segment, branch and channel "
            "type, and its spend per month (part spend: the month as value, the spend as "
            "cost), per scope unit: the campaign page's breakdowns and budget burn.",
)

pre_rival_score = sa.Table(
    "pre_rival_score", WORKFLOW, _run_fk(),
    sa.Column("level", sa.String(20), primary_key=True),  # micro_region, branch, city
    sa.Column("position", sa.Integer, primary_key=True),  # row order of the scored frame
    sa.Column("unit", sa.String(80), nullable=False),
    sa.Column("branch", sa.String(40), nullable=True),
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("operator", sa.String(20), nullable=False),
    sa.Column("metric", sa.String(20), nullable=False),
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("expected", sa.Double, nullable=True),
    sa.Column("score", sa.Double, nullable=True),
    sa.Column("unusual", sa.Boolean, nullable=False),
    sa.Index("ix_pre_rival_score_unit", "run_id", "level", "branch", "micro_region"),
    comment="Every rival series point with its expected value and anomaly score, city-wide.",
)

pre_channel_value = sa.Table(
    "pre_channel_value", WORKFLOW, _run_fk(), *_scope_columns(),
    sa.Column("span", sa.Integer, primary_key=True),  # evaluation window in months
    sa.Column("position", sa.Integer, primary_key=True),  # rank, most valuable first
    sa.Column("channel_id", sa.Integer, nullable=False),
    sa.Column("channel_name", sa.String(120), nullable=False),
    sa.Column("channel_type", sa.String(40), nullable=True),
    sa.Column("manager", sa.String(80), nullable=True),
    sa.Column("opened_on", sa.Date, nullable=True),
    sa.Column("branch", sa.String(40), nullable=True),
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("new_numbers", sa.Integer, nullable=False),
    sa.Column("low_use_share", sa.Double, nullable=True),
    sa.Column("revenue", sa.Double, nullable=True),
    sa.Column("cost", sa.Double, nullable=True),
    sa.Column("net_value", sa.Double, nullable=True),
    sa.Column("roi", sa.Double, nullable=True),
    sa.Column("roi_note", sa.String(200), nullable=False, server_default=""),
    sa.Column("roi_suspect", sa.Boolean, nullable=False),
    sa.Column("behaviour", sa.String(40), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("new_arpu", sa.Double, nullable=True),
    comment="The channel evaluator's row per channel, window and scope unit, ranked.",
)

pre_channel_alert = sa.Table(
    "pre_channel_alert", WORKFLOW, _run_fk(), *_scope_columns(),
    sa.Column("span", sa.Integer, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("channel_id", sa.Integer, nullable=False),
    sa.Column("channel_name", sa.String(120), nullable=True),
    sa.Column("channel_type", sa.String(40), nullable=True),
    sa.Column("branch", sa.String(40), nullable=True),
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("metric", sa.String(20), nullable=False),  # sim_farming, cross_region, stock_shortage
    sa.Column("score", sa.Double, nullable=True),
    sa.Column("actual", sa.Double, nullable=True),
    sa.Column("expected", sa.Double, nullable=True),  # the peer rate or the expected sales
    sa.Column("reason", sa.String(400), nullable=True),
    comment="Channel alerts with the value each channel was expected to show, per window and scope.",
)

pre_channel_cutoff = sa.Table(
    "pre_channel_cutoff", WORKFLOW, _run_fk(), *_scope_columns(),
    sa.Column("span", sa.Integer, primary_key=True),  # window in months; 0: every month
    sa.Column("mou", sa.Double, nullable=False),
    sa.Column("data_mb", sa.Double, nullable=False),
    sa.Column("revenue", sa.Double, nullable=False),
    comment="The low-use lines of new numbers (minutes, data, revenue per month) per window "
            "and scope unit; span 0: the new numbers of every month of the mart.",
)

#: Columns of each kind's rows (the run id apart).
_TABLES: dict[str, tuple[sa.Table, ...]] = {
    "campaign_effect": (pre_campaign_effect, pre_campaign_breakdown),
    "rival_score": (pre_rival_score,),
    "channel_value": (pre_channel_value, pre_channel_alert, pre_channel_cutoff),
}
EFFECT_COLUMNS = tuple(c.name for c in pre_campaign_effect.columns if c.name != "run_id")
BREAKDOWN_COLUMNS = tuple(c.name for c in pre_campaign_breakdown.columns if c.name != "run_id")
RIVAL_COLUMNS = ("unit", "operator", "metric", "month", "value", "expected", "score", "unusual")
CHANNEL_COLUMNS = tuple(c.name for c in pre_channel_value.columns
                        if c.name not in ("run_id", "scope_level", "scope_value", "span",
                                          "position"))
CUTOFF_COLUMNS = ("mou", "data_mb", "revenue")
#: The span under which the low-use lines of every month of the mart are stored.
EVERY_MONTH = 0
ALERT_COLUMNS = ("channel_id", "channel_name", "channel_type", "branch", "micro_region",
                 "metric", "score", "actual", "expected", "reason")

"""The churn scores' tables in the workflow store and what a run and a filter are."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from data_access.store.workflow import WORKFLOW

#: Scoring runs kept: the newest ones (older runs are pruned when a new one is saved).
KEEP_RUNS = 3
#: Scores written (or, on SQLite, deleted) per transaction: SQLite has one writer at a time,
#: and a chunk holds the others for about half a second.
CHUNK_ROWS = 50_000

churn_run = sa.Table(
    "churn_run", WORKFLOW,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_version", sa.String(40), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),  # YYYY-MM scored
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("subscribers", sa.Integer, nullable=False),
    sa.Column("base_rate", sa.Double, nullable=False),  # mean churn probability of the run
    sa.Column("created_by", sa.String(40), nullable=False),
    # False while the run is being written (and for ever if its job died): readers skip it
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("ix_churn_run_version_month", "model_version", "month"),
    comment="Churn scoring runs: which model scored which month, when, for how many.",
)

churn_score = sa.Table(
    "churn_score", WORKFLOW,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("churn_run.run_id"),
              primary_key=True),
    sa.Column("subscriber_id", sa.BigInteger, primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),  # 1 = largest expected loss
    sa.Column("branch", sa.String(40), nullable=False),
    sa.Column("micro_region", sa.String(40), nullable=False),
    sa.Column("segment", sa.String(20), nullable=True),
    sa.Column("group_id", sa.Integer, nullable=True),
    sa.Column("group_name", sa.String(120), nullable=True),
    sa.Column("plan_family", sa.String(40), nullable=True),
    sa.Column("channel_type", sa.String(40), nullable=True),
    sa.Column("tenure_months", sa.Integer, nullable=True),
    sa.Column("arpu", sa.Double, nullable=True),
    sa.Column("churn_prob", sa.Double, nullable=False),
    sa.Column("risk_band", sa.String(10), nullable=False),
    sa.Column("net_value", sa.Double, nullable=False),
    sa.Column("expected_loss", sa.Double, nullable=False),
    sa.Column("top_reason", sa.String(200), nullable=False, server_default=""),
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
    sa.Column("reason_tags", sa.String(200), nullable=False, server_default=""),
    sa.Column("action", sa.String(120), nullable=False, server_default=""),
    # the page's reads: the top of the list, of a micro-region, of a tactic (a branch's top
    # walks the rank index: a branch is a fifth of the list or more; migration 0010)
    sa.Index("ix_churn_score_rank", "run_id", "rank"),
    sa.Index("ix_churn_score_micro_region", "run_id", "micro_region", "rank"),
    sa.Index("ix_churn_score_action", "run_id", "action", "rank",  # only rows with a tactic
             sqlite_where=sa.text("action <> ''"), postgresql_where=sa.text("action <> ''")),
    comment="One row per subscriber per churn scoring run: risk, value, reasons, tactic.",
    # a partition per run on PostgreSQL (layout.TablePerRun, migration 0014); SQLite ignores it
    postgresql_partition_by="LIST (run_id)",
)

churn_group_warning = sa.Table(
    "churn_group_warning", WORKFLOW,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("churn_run.run_id"),
              primary_key=True),
    sa.Column("group_id", sa.Integer, primary_key=True),
    sa.Column("group_name", sa.String(120), nullable=False),
    sa.Column("account_manager", sa.String(80), nullable=True),
    sa.Column("branch", sa.String(40), nullable=True),
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("has_leased_line", sa.Boolean, nullable=False),
    sa.Column("members", sa.Integer, nullable=False),
    sa.Column("at_risk", sa.Integer, nullable=False),
    sa.Column("mean_prob", sa.Double, nullable=False),
    sa.Column("base_rate", sa.Double, nullable=False),
    sa.Column("usage_change", sa.Double, nullable=False),
    sa.Column("spend_change", sa.Double, nullable=False),
    sa.Column("expected_loss", sa.Double, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("reason_tags", sa.String(200), nullable=False),
    sa.Column("message", sa.String(400), nullable=False),
    comment="Enterprise groups whose account manager should act, per churn scoring run.",
)

churn_score_cell = sa.Table(
    "churn_score_cell", WORKFLOW,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("churn_run.run_id"), nullable=False),
    sa.Column("branch", sa.String(40), nullable=False),
    sa.Column("micro_region", sa.String(40), nullable=False),
    sa.Column("segment", sa.String(20), nullable=True),
    sa.Column("risk_band", sa.String(10), nullable=False),
    sa.Column("action", sa.String(120), nullable=False),
    sa.Column("subscribers", sa.Integer, nullable=False),
    sa.Column("expected_loss", sa.Double, nullable=False),
    sa.Index("ix_churn_score_cell_run", "run_id", "branch", "micro_region"),
    comment="A scoring run's subscribers and expected loss per branch, micro-region, segment, "
            "risk band and tactic: the churn page's counts, read without scanning the run.",
)

#: The dimensions of ``churn_score_cell``: what its counts can be narrowed and grouped by.
CELL_KEYS = ("branch", "micro_region", "segment", "risk_band", "action")

#: Columns of the retention list as the page reads them.
LIST_COLUMNS = ("rank", "subscriber_id", "branch", "micro_region", "segment", "group_name",
                "plan_family", "churn_prob", "risk_band", "net_value", "expected_loss",
                "top_reason", "action")
#: … as an export writes it.
EXPORT_COLUMNS = ("rank", "subscriber_id", "branch", "micro_region", "segment", "plan_family",
                  "group_name", "churn_prob", "risk_band", "net_value", "expected_loss",
                  "top_reason", "reasons", "action")
#: Every column of a scored row.
SCORE_COLUMNS = tuple(c.name for c in churn_score.columns if c.name != "run_id")
#: Every column of a group warning.
WARNING_COLUMNS = tuple(c.name for c in churn_group_warning.columns if c.name != "run_id")


@dataclasses.dataclass(frozen=True)
class ScoreRun:
    """One scoring run: its id, the model and month, when, how many, and the base rate."""

    run_id: int
    model_version: str
    month: str
    scored_at: dt.datetime
    subscribers: int
    base_rate: float


@dataclasses.dataclass(frozen=True)
class RetentionFilter:
    """What the retention list is narrowed to (None = all); hashable, so a cache key."""

    branch: str | None = None
    micro_region: str | None = None
    segment: str | None = None
    action: str | None = None
    min_prob: float = 0.0

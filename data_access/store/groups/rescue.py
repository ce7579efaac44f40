"""Group rescues 集团挽留: each group early warning that became a work order, what it warned of
(the line or the group, since when, how much), the retention offer suggested and picked,
and how it ended (retained or lost, measured from the mart by the nightly job).

A rescue belongs to its order: ``order_id`` is the order dispatch made of the warning's
alert. A subject (a line, or a group's usage or members) has at most one rescue still
pending, so the nightly scan raises a warning once, not every night it persists. Readers
narrow to the acting scope in their WHERE clause (the branch and micro-region are copied
in from the mart).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.db import ConcertoError, read_frame
from data_access.store.arsenal import tactic, tactic_pick
from data_access.store.audit import record_audit
from data_access.store.scope import acting_principal, require
from data_access.store.workflow import WORKFLOW, alert, write_transaction

group_rescue = sa.Table(
    "group_rescue", WORKFLOW,
    sa.Column("rescue_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alert.alert_id"), nullable=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("work_order.order_id"), nullable=True),
    sa.Column("signal", sa.String(20), nullable=False),  # analytics.groups.SIGNALS
    sa.Column("subject", sa.String(40), nullable=False),  # "line:12" or "group:3:members"
    sa.Column("group_id", sa.Integer, nullable=False),
    sa.Column("group_name", sa.String(120), nullable=False),
    sa.Column("line_id", sa.Integer, nullable=True),
    sa.Column("product", sa.String(20), nullable=True),
    sa.Column("branch", sa.String(40), nullable=True),
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("warned_month", sa.String(7), nullable=False),  # YYYY-MM judged
    sa.Column("since_month", sa.String(7), nullable=False),  # first low month
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("fall", sa.Double, nullable=False),  # share below the usual level
    sa.Column("z", sa.Double, nullable=False),
    sa.Column("scale", sa.Double, nullable=False),  # the series' noise (log units)
    sa.Column("evidence", sa.String(400), nullable=False),
    sa.Column("offer_code", sa.String(30), nullable=True),  # the arsenal tactic suggested
    sa.Column("outcome", sa.String(10), nullable=False, server_default="pending"),
    sa.Column("outcome_month", sa.String(7), nullable=True),
    sa.Column("outcome_note", sa.String(200), nullable=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("alert_id", "subject", name="uq_group_rescue_subject"),
    sa.Index("ix_group_rescue_order", "order_id"),
    sa.Index("ix_group_rescue_pending", "outcome", "subject"),
    comment="Group early warnings raised as work orders: what was warned, the offer, the outcome.",
)

RESCUE_COLUMNS = tuple(c.name for c in group_rescue.columns)


def _scope_conditions() -> list[sa.ColumnElement[bool]]:
    who = acting_principal()
    if who.scope_level is None:
        return []
    return [group_rescue.c[who.scope_level] == who.scope_value]


def alert_ids(engine: sa.Engine, source: str, metric: str, observed_at: str,
              unit_keys: Iterable[str]) -> dict[str, int]:
    """The ids of the alerts on these groups (unit level ``group``) for one scan."""
    a = alert.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(a.unit_key, a.alert_id).where(
            a.source == source, a.metric == metric, a.unit_level == "group",
            a.observed_at == observed_at, a.unit_key.in_(list(unit_keys)))).all()
    return {key: int(alert_id) for key, alert_id in rows}


def pending_subjects(engine: sa.Engine) -> set[str]:
    """Subjects with a rescue still pending (their warning is not raised again)."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(group_rescue.c.subject).where(
            group_rescue.c.outcome == "pending")).scalars())


def record_rescues(engine: sa.Engine, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rescues (one transaction); a row already recorded for its alert and subject is
    skipped. Returns how many were new."""
    now, new = dt.datetime.now(dt.UTC), 0
    require("act_on_alerts", "record group rescues")
    actor = acting_principal("record group rescues").username
    with write_transaction(engine) as conn:
        for row in rows:
            seen = conn.execute(sa.select(group_rescue.c.rescue_id).where(
                group_rescue.c.alert_id == row["alert_id"],
                group_rescue.c.subject == row["subject"])).first()
            if seen:
                continue
            rescue_id = conn.execute(sa.insert(group_rescue).values(
                **{k: row.get(k) for k in RESCUE_COLUMNS if k not in (
                    "rescue_id", "created_at", "outcome")},
                outcome="pending", created_at=now)).inserted_primary_key[0]
            record_audit(conn, actor, "rescue_create", "group_rescue", rescue_id, None,
                         {"subject": row["subject"], "order_id": row.get("order_id")})
            new += 1
    return new


def list_rescues(engine: sa.Engine, *, order_id: int | None = None,
                 outcome: str | None = None, group_ids: Iterable[int] | None = None
                 ) -> pd.DataFrame:
    """Rescues inside the acting scope, newest first, with the tactics picked on their order
    (``picked``: the tactics' codes joined by commas)."""
    r = group_rescue.c
    statement = sa.select(group_rescue).where(*_scope_conditions()).order_by(
        r.rescue_id.desc())
    if order_id is not None:
        statement = statement.where(r.order_id == int(order_id))
    if outcome is not None:
        statement = statement.where(r.outcome == outcome)
    if group_ids is not None:
        statement = statement.where(r.group_id.in_([int(g) for g in group_ids]))
    frame = read_frame(engine, statement)
    orders = [int(o) for o in frame["order_id"].dropna().unique()]
    picks = read_frame(engine, sa.select(tactic_pick.c.order_id, tactic.c.code)
                       .select_from(tactic_pick.join(tactic,
                                                     tactic_pick.c.tactic_id == tactic.c.tactic_id))
                       .where(tactic_pick.c.order_id.in_(orders),
                              tactic_pick.c.status == "picked")
                       .order_by(tactic_pick.c.pick_id))
    picked = picks.groupby("order_id")["code"].agg(",".join)
    frame["picked"] = [picked.get(o, "") for o in frame["order_id"]]
    return frame


def set_outcomes(engine: sa.Engine, outcomes: Iterable[Mapping[str, Any]]) -> int:
    """Write decided outcomes (``rescue_id``, ``outcome``, ``outcome_month``, ``note``) of
    rescues still pending; returns how many changed (a decided rescue is never re-decided)."""
    require("act_on_alerts", "record rescue outcomes")
    actor = acting_principal("record rescue outcomes").username
    now, changed = dt.datetime.now(dt.UTC), 0
    with write_transaction(engine) as conn:
        for item in outcomes:
            if item["outcome"] not in ("retained", "lost"):
                raise ConcertoError(f"outcome: {item['outcome']!r} is not retained or lost.")
            done = conn.execute(sa.update(group_rescue).where(
                group_rescue.c.rescue_id == int(item["rescue_id"]),
                group_rescue.c.outcome == "pending").values(
                outcome=item["outcome"], outcome_month=item["outcome_month"],
                outcome_note=str(item.get("note", ""))[:200], checked_at=now)).rowcount
            if done:
                record_audit(conn, actor, "rescue_outcome", "group_rescue", item["rescue_id"],
                             {"outcome": "pending"}, {"outcome": item["outcome"],
                                                      "month": item["outcome_month"]})
                changed += 1
    return changed

"""Work orders: alert, task and job orders, their lifecycle, history and checklist.

Every change is one transaction that bumps the order's ``version`` with a conditional
``UPDATE … WHERE version = :read``: two people changing the same order at once cannot both
win, and the loser gets ``StaleWrite`` naming what changed instead of silently overwriting
it. The order, its history row and its audit row commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.formatting import format_time
from analytics.ops import workorders as rules
from data_access.store.audit import record_audit
from data_access.store.auth import ROLES, Forbidden, Principal
from data_access.db import ConcertoError, check_text, read_frame
from data_access.store.workflow import WORKFLOW, StaleWrite, update_versioned, write_transaction

work_order = sa.Table(
    "work_order", WORKFLOW,
    sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(10), nullable=False),  # alert, task, job
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("detail", sa.String(2000), nullable=False, server_default=""),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("priority", sa.String(8), nullable=False),  # high, normal, low
    sa.Column("unit_level", sa.String(20), nullable=False),  # city, branch, micro_region, channel…
    sa.Column("unit_key", sa.String(80), nullable=False),
    sa.Column("unit_label", sa.String(120), nullable=False),
    sa.Column("branch", sa.String(40), nullable=True),  # where the unit lies (for scopes)
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("metric", sa.String(40), nullable=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alert.alert_id"), nullable=True,
              unique=True),  # an alert becomes one order at most
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("work_order.order_id"), nullable=True),
    sa.Column("owner_role", sa.String(20), nullable=False),
    sa.Column("assignee", sa.String(40), nullable=True),  # username
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("checklist_json", sa.Text, nullable=True),
    sa.Column("resolution", sa.String(2000), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_work_order_queue", "assignee", "state", "due_at"),
    sa.Index("ix_work_order_state", "state", "due_at"),
    sa.Index("ix_work_order_micro_region", "micro_region", "due_at"),
    sa.Index("ix_work_order_branch", "branch", "due_at"),
    comment="Alert, task and job orders; version makes concurrent updates safe.",
)

work_order_event = sa.Table(
    "work_order_event", WORKFLOW,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("work_order.order_id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(40), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("from_state", sa.String(12), nullable=True),
    sa.Column("to_state", sa.String(12), nullable=True),
    sa.Column("assignee", sa.String(40), nullable=True),
    sa.Column("note", sa.String(2000), nullable=False, server_default=""),
    sa.Index("ix_work_order_event_order", "order_id", "event_id"),
    comment="The full history of every work order, one row per change.",
)

dispatch_rule = sa.Table(
    "dispatch_rule", WORKFLOW,
    sa.Column("rule_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("unit_level", sa.String(20), nullable=False),
    sa.Column("metric", sa.String(40), nullable=True),  # None: any metric
    sa.Column("owner_role", sa.String(20), nullable=False),
    sa.Column("assignee", sa.String(40), nullable=True),  # None: the least-loaded in scope
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("deadline_hours", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    comment="How an alert on a unit becomes an order: owning role, person, kind, deadline.",
)


_AUDITED = ("state", "assignee", "priority", "due_at", "checklist_json", "resolution", "version")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    when = pd.Timestamp(value).to_pydatetime()
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _visible(actor: Principal | None) -> list[sa.ColumnElement[bool]]:
    """Which orders ``actor`` may see: all, their scope's, or their own and their role's."""
    o = work_order.c
    if actor is None or actor.can("view_all_orders"):
        return []
    mine = sa.or_(o.assignee == actor.username, o.created_by == actor.username,
                  sa.and_(o.assignee.is_(None), o.owner_role == actor.role))
    if actor.scope_level is not None:
        return [sa.or_(o[actor.scope_level] == actor.scope_value, o.assignee == actor.username)]
    return [mine]


def _row(conn: sa.Connection, actor: Principal | None, order_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(work_order).where(work_order.c.order_id == order_id)
                       ).mappings().first()
    if row is None:
        raise ConcertoError(f"order: there is no work order #{order_id}.")
    visible = conn.execute(sa.select(work_order.c.order_id).where(
        work_order.c.order_id == order_id, *_visible(actor))).first()
    if visible is None:
        raise Forbidden(f"Work order #{order_id} lies outside what {actor.display_name} "
                        "may see.")
    return dict(row)


def _event(conn: sa.Connection, order_id: int, actor: str, action: str, before: str | None,
           after: str | None, assignee: str | None, note: str) -> None:
    conn.execute(sa.insert(work_order_event).values(
        order_id=order_id, at=_now(), actor=actor, action=action, from_state=before,
        to_state=after, assignee=assignee, note=note[:2000]))


def insert_order(conn: sa.Connection, actor: str, values: Mapping[str, Any]) -> int:
    """Insert a checked order with its first history rows and audit row (caller's transaction)."""
    order_id = conn.execute(sa.insert(work_order).values(**values)).inserted_primary_key[0]
    _event(conn, order_id, actor, "create", None, "new", None, values.get("detail", ""))
    if values["state"] == "dispatched":
        _event(conn, order_id, actor, "dispatch", "new", "dispatched", values["assignee"],
               f"due {format_time(values['due_at'])}")
    record_audit(conn, actor, "order_create", "work_order", order_id, None,
                 {k: values[k] for k in ("kind", "title", "state", "assignee", "unit_level",
                                         "unit_key", "priority", "due_at", "alert_id")})
    return int(order_id)


def check_new_order(actor: Principal, *, kind: str, title: str, unit_level: str,
                    unit_key: str, unit_label: str, owner_role: str, due_at: dt.datetime,
                    priority: str = "normal", detail: str = "", branch: str | None = None,
                    micro_region: str | None = None, metric: str | None = None,
                    assignee: str | None = None, alert_id: int | None = None,
                    parent_id: int | None = None, rising: bool = False) -> dict[str, Any]:
    """Validate a new order's fields and return the row to insert (nothing is written).

    An order about a channel's new activations carries the drop checklist unless ``rising``
    (the alert was about a surge, which the drop checklist does not fit).
    """
    actor.require("create_orders", "create work orders")
    if kind not in rules.KINDS:
        raise ConcertoError(f"kind: {kind!r} is not one of {', '.join(rules.KINDS)}.")
    if priority not in rules.PRIORITIES:
        raise ConcertoError(f"priority: {priority!r} is not one of {', '.join(rules.PRIORITIES)}.")
    if owner_role not in ROLES:
        raise ConcertoError(f"owner_role: {owner_role!r} is not one of {', '.join(ROLES)}.")
    if not _actor_covers(actor, branch, micro_region):
        raise Forbidden(f"{actor.display_name} may create orders for "
                        f"{actor.scope_value} only.")
    if assignee is not None and not actor.can("dispatch_orders") and assignee != actor.username:
        raise Forbidden(f"A {ROLES[actor.role].lower()} may assign orders to themselves only.")
    now = _now()
    due = _utc(due_at)
    if due is None or due <= now:
        raise ConcertoError("due_at: the deadline must lie in the future.")
    return dict(
        kind=kind, title=check_text("title", title, 200),
        detail=check_text("detail", detail, 2000, required=False), state=(
            "dispatched" if assignee else "new"), priority=priority, unit_level=unit_level,
        unit_key=check_text("unit_key", unit_key, 80),
        unit_label=check_text("unit_label", unit_label, 120), branch=branch,
        micro_region=micro_region, metric=metric, alert_id=alert_id, parent_id=parent_id,
        owner_role=owner_role, assignee=assignee, created_by=actor.username, created_at=now,
        due_at=due, dispatched_at=now if assignee else None, version=1,
        checklist_json=json.dumps({}) if rules.checklist_for(metric, unit_level) and not rising
        else None)


def _actor_covers(actor: Principal, branch: str | None, micro_region: str | None) -> bool:
    if actor.scope_level is None:
        return True
    if actor.scope_level == "branch":
        return branch == actor.scope_value
    return micro_region == actor.scope_value


def create_order(engine: sa.Engine, actor: Principal, **fields: Any) -> int:
    """Create an order by hand (see ``check_new_order`` for the fields); returns its id.

    With an ``assignee`` the order starts dispatched, otherwise new. Refused with a message
    naming the field at fault, or ``Forbidden`` outside the actor's role or scope.
    """
    values = check_new_order(actor, **fields)
    if values["parent_id"] is not None:
        with engine.connect() as conn:
            _row(conn, actor, values["parent_id"])
    with write_transaction(engine) as conn:
        return insert_order(conn, actor.username, values)


def load_order(engine: sa.Engine, actor: Principal | None, order_id: int) -> dict[str, Any]:
    """One order as a dict (``Forbidden`` outside what ``actor`` may see)."""
    with engine.connect() as conn:
        return _row(conn, actor, order_id)


def order_history(engine: sa.Engine, actor: Principal | None, order_id: int) -> pd.DataFrame:
    """Every change to one order, oldest first."""
    load_order(engine, actor, order_id)
    e = work_order_event
    return read_frame(engine, sa.select(e).where(e.c.order_id == order_id)
                      .order_by(e.c.event_id))


def _update(conn: sa.Connection, before: Mapping[str, Any], actor: str, action: str,
            values: dict[str, Any], note: str = "") -> dict[str, Any]:
    """The versioned write every change goes through; StaleWrite when the version moved."""
    version = update_versioned(conn, work_order, {"order_id": before["order_id"]},
                               before["version"], values, what=f"Work order #{before['order_id']}")
    after = {**before, **values, "version": version}
    _event(conn, before["order_id"], actor, action, before["state"], after["state"],
           after["assignee"], note)
    record_audit(conn, actor, f"order_{action}", "work_order", before["order_id"],
                 {k: before[k] for k in _AUDITED}, {k: after[k] for k in _AUDITED})
    return after


def _with_times(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("created_at", "due_at", "dispatched_at", "accepted_at", "resolved_at",
                   "closed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def list_orders(engine: sa.Engine, actor: Principal | None, *, view: str = "visible",
                states: tuple[str, ...] | None = None, kinds: tuple[str, ...] | None = None,
                limit: int = 500) -> pd.DataFrame:
    """Orders ``actor`` may see, soonest deadline first.

    ``view="mine"`` keeps the orders assigned to the actor (their queue); ``"visible"``
    everything they may see. ``states`` / ``kinds`` narrow further.
    """
    if view not in ("mine", "visible"):
        raise ConcertoError(f"view: {view!r} is not 'mine' or 'visible'.")
    o = work_order.c
    conditions = _visible(actor)
    if view == "mine":
        if actor is None:
            raise ConcertoError("view: 'mine' needs a signed-in person.")
        conditions.append(o.assignee == actor.username)
    if states:
        unknown = sorted(set(states) - set(rules.STATES))
        if unknown:
            raise ConcertoError(f"states: unknown {unknown}; known: {', '.join(rules.STATES)}.")
        conditions.append(o.state.in_(states))
    if kinds:
        conditions.append(o.kind.in_(kinds))
    columns = [c for c in work_order.c if c.name not in ("detail", "checklist_json")]
    frame = read_frame(engine, sa.select(*columns).where(*conditions)
                       .order_by(o.due_at, o.order_id).limit(int(limit)))
    return _with_times(frame)


def recently_closed(engine: sa.Engine, actor: Principal | None, *, since: dt.datetime,
                    limit: int = 100) -> pd.DataFrame:
    """Visible orders closed since ``since``, most recently closed first (at most ``limit``):
    the board's closed column, bounded however many orders were ever closed."""
    o = work_order.c
    columns = [c for c in work_order.c if c.name not in ("detail", "checklist_json")]
    frame = read_frame(engine, sa.select(*columns).where(
        *_visible(actor), o.state == "closed", o.closed_at >= since)
        .order_by(o.closed_at.desc(), o.order_id.desc()).limit(int(limit)))
    return _with_times(frame)


def count_by_state(engine: sa.Engine, actor: Principal | None) -> dict[str, int]:
    """How many visible orders are in each state (for the board's headers)."""
    o = work_order.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(o.state, sa.func.count()).where(*_visible(actor))
                            .group_by(o.state)).all()
    return {state: int(n) for state, n in rows}

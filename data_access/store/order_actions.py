"""Changing a work order: lifecycle moves, the checklist, comments, and the KPI read.

Each function takes the ``version`` the person saw. The write succeeds only if the order is
still at that version (see ``workorders._update``), so a concurrent change is never lost.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.ops import workorders as rules
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError, read_frame
from data_access.store.workflow import StaleWrite, app_user, write_transaction
from data_access.store.workorders import _now, _row, _update, _visible, work_order

#: Timestamp set by the move that reaches each state.
_STAMP = {"dispatched": "dispatched_at", "accepted": "accepted_at", "resolved": "resolved_at",
          "closed": "closed_at"}


def _may(actor: Principal, order: dict[str, Any], move: rules.Transition, action: str) -> None:
    if move.who == "assignee":
        if order["assignee"] != actor.username:
            who = order["assignee"] or "nobody yet"
            raise Forbidden(f"Only the assignee ({who}) may {move.label or action} "
                            f"work order #{order['order_id']}.")
        return
    actor.require(move.who, f"{move.label or action} work orders")
    if action == "verify" and order["assignee"] == actor.username:
        raise Forbidden("Resolved orders are verified by someone other than the person who "
                        "resolved them.")


def _check_assignee(conn: sa.Connection, username: str | None) -> str:
    if not username:
        raise ConcertoError("assignee: choose the person the order goes to.")
    row = conn.execute(sa.select(app_user.c.active).where(app_user.c.username == username)
                       ).first()
    if row is None or not row.active:
        raise ConcertoError(f"assignee: there is no active user {username!r}.")
    return username


def transition(engine: sa.Engine, actor: Principal, order_id: int, action: str, *,
               version: int, note: str = "", assignee: str | None = None) -> dict[str, Any]:
    """Move an order through its lifecycle (``analytics.ops.workorders.TRANSITIONS``).

    Parameters
    ----------
    version : int
        The version the actor saw; ``StaleWrite`` if the order has moved on since.
    note : str
        Required for reject, resolve and send back (it becomes the resolution on resolve).
    assignee : str, optional
        Required for dispatch and reassign.

    Returns
    -------
    dict
        The order after the move.

    Raises
    ------
    ConcertoError
        A move the lifecycle does not allow from the current state (naming the allowed ones),
        a missing note or assignee, or an unfinished checklist on resolve.
    Forbidden
        Someone other than the assignee acting for them, a role without the right, an order
        outside the actor's scope.
    """
    if action not in rules.TRANSITIONS:
        raise ConcertoError(f"action: {action!r} is not one of {', '.join(rules.TRANSITIONS)}.")
    move = rules.TRANSITIONS[action]
    text = (note or "").strip()
    if move.needs_note and not text:
        raise ConcertoError(f"note: say why when you {move.label or action} an order.")
    with write_transaction(engine) as conn:
        order = _row(conn, actor, order_id)
        if order["version"] != version:
            raise_stale(order)
        try:
            target = rules.next_state(order["state"], action)
        except ValueError as exc:
            raise ConcertoError(str(exc)) from exc
        _may(actor, order, move, action)
        values: dict[str, Any] = {"state": target}
        if target in _STAMP:
            values[_STAMP[target]] = _now()
        if action in ("dispatch", "reassign"):
            values["assignee"] = _check_assignee(conn, assignee)
            values["accepted_at"] = None
        if action == "resolve":
            questions = rules.order_checklist(order)
            answers = json.loads(order["checklist_json"] or "{}")
            if not rules.checklist_complete(questions, answers):
                raise ConcertoError("checklist: answer every question yes or no before "
                                    "resolving (open: " + ", ".join(
                                        q.key for q in questions
                                        if answers.get(q.key) not in ("yes", "no")) + ").")
            values["resolution"] = text[:2000]
        if action == "reopen":
            values["resolved_at"] = None
        return _update(conn, order, actor.username, action, values, text)


def raise_stale(order: dict[str, Any]) -> None:
    raise StaleWrite(f"Work order #{order['order_id']} was changed by someone else since you "
                     f"opened it (it is now {rules.STATES[order['state']]}, version "
                     f"{order['version']}); reload it, then try again.")


def save_checklist(engine: sa.Engine, actor: Principal, order_id: int,
                   answers: dict[str, str], *, version: int,
                   notes: dict[str, str] | None = None) -> dict[str, Any]:
    """Record checklist answers (merged into those already given) as the order's assignee."""
    with write_transaction(engine) as conn:
        order = _row(conn, actor, order_id)
        if order["version"] != version:
            raise_stale(order)
        if order["assignee"] != actor.username:
            raise Forbidden(f"Only the assignee may fill in work order #{order_id}'s checklist.")
        if order["state"] not in ("accepted", "in_progress"):
            raise ConcertoError(f"checklist: accept the order before answering it (it is "
                                f"{rules.STATES[order['state']]}).")
        questions = rules.order_checklist(order)
        try:
            rules.validate_answers(questions, answers)
        except ValueError as exc:
            raise ConcertoError(str(exc)) from exc
        stored = json.loads(order["checklist_json"] or "{}")
        stored.update(answers)
        for key, text in (notes or {}).items():
            if text:
                stored[f"{key}__note"] = str(text)[:400]
        summary = "; ".join(f"{k}={v}" for k, v in sorted(answers.items()))
        return _update(conn, order, actor.username, "checklist",
                       {"checklist_json": json.dumps(stored, ensure_ascii=False)}, summary)


def comment(engine: sa.Engine, actor: Principal, order_id: int, note: str, *,
            version: int) -> dict[str, Any]:
    """Add a note to the order's history (anyone who may see the order)."""
    text = (note or "").strip()
    if not text:
        raise ConcertoError("note: write something to add.")
    with write_transaction(engine) as conn:
        order = _row(conn, actor, order_id)
        if order["version"] != version:
            raise_stale(order)
        return _update(conn, order, actor.username, "comment", {}, text[:2000])


def load_kpi_frame(engine: sa.Engine, actor: Principal | None,
                   since: dt.datetime | None = None) -> pd.DataFrame:
    """The timestamps ``analytics.ops.workorders.order_kpis`` needs, for the visible orders:
    every open one, and the others created since ``since`` (all of them without it)."""
    o = work_order.c
    conditions = _visible(actor)
    if since is not None:
        conditions.append(sa.or_(o.created_at >= since, o.state.in_(rules.OPEN_STATES)))
    frame = read_frame(engine, sa.select(
        o.order_id, o.kind, o.state, o.owner_role, o.branch, o.micro_region, o.created_at,
        o.dispatched_at, o.accepted_at, o.resolved_at, o.due_at).where(*conditions))
    for column in ("created_at", "dispatched_at", "accepted_at", "resolved_at", "due_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def checklist_answers(order: dict[str, Any]) -> dict[str, str]:
    """The stored answers of an order (notes under ``<key>__note``)."""
    return json.loads(order.get("checklist_json") or "{}")


__all__ = ["transition", "save_checklist", "comment", "load_kpi_frame", "checklist_answers",
           "work_order"]

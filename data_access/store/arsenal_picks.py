"""Tactics picked from the marketing arsenal and attached to work orders.

A pick is refused unless the picker's role may pick tactics, their authorisation level
reaches the tactic's, the tactic is active, the quantity fits ``max_per_customer`` (counted
over every live pick of that tactic for the same target), and the order is open and theirs
(or they dispatch orders within their scope). The tactic row is locked for the pick, so two
people picking for one customer at once cannot both exceed the limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.ops.arsenal import LEVELS
from data_access.store.arsenal import tactic, tactic_pick, tactic_row
from data_access.store.audit import record_audit
from data_access.store.auth import ROLES, Forbidden, Principal
from data_access.db import ConcertoError, read_frame, whole_number
from data_access.store.workflow import write_transaction
from data_access.store.workorders import work_order

#: Work-order states that take no more picks (nor cancellations).
CLOSED_STATES = frozenset({"closed", "rejected"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_whole = whole_number


def _order(conn: sa.Connection, principal: Principal, order_id: Any, *,
           lock: bool = False) -> dict[str, Any]:
    o = work_order.c
    query = sa.select(o.order_id, o.title, o.state, o.assignee, o.branch, o.micro_region,
                      o.unit_label).where(o.order_id == _whole("order_id", order_id))
    row = conn.execute(query.with_for_update(read=True) if lock else query).mappings().first()
    if row is None:
        raise ConcertoError(f"order_id: there is no work order #{order_id}.")
    order = dict(row)
    if order["state"] in CLOSED_STATES:
        raise ConcertoError(f"order_id: work order #{order['order_id']} is {order['state']}; "
                            "tactics can be attached to open orders only.")
    if order["assignee"] != principal.username:
        if not principal.can("dispatch_orders"):
            raise Forbidden(f"Work order #{order['order_id']} is assigned to "
                            f"{order['assignee'] or 'nobody yet'}; only its assignee or a "
                            "dispatcher may attach tactics to it.")
        level = principal.scope_level
        if level is not None and order[level] != principal.scope_value:
            raise Forbidden(f"Work order #{order['order_id']} lies outside "
                            f"{principal.scope_value}, the scope of {principal.display_name}.")
    return order


def check_order_for_pick(engine: sa.Engine, principal: Principal, order_id: Any) -> dict[str, Any]:
    """The order a pick would attach to (id, title, state, assignee…), or the refusal
    ``pick_tactic`` would give: ``ConcertoError`` (unknown or closed) or ``Forbidden``."""
    with engine.connect() as conn:
        return _order(conn, principal, order_id)


def pick_tactic(engine: sa.Engine, principal: Principal, tactic_id: int, order_id: int, *,
                quantity: int = 1, target_key: str | None = None, note: str = "") -> int:
    """Attach a tactic to a work order at today's unit cost; returns the pick id.

    Parameters
    ----------
    quantity : int
        From 1 to the tactic's ``max_per_customer``, counting earlier live picks of the same
        tactic for the same ``target_key``.
    target_key : str, optional
        The subscriber, group or channel id the tactic is for.

    Raises
    ------
    Forbidden
        Without ``pick_tactics``, for a tactic above the principal's level (the message
        names the level needed), or an order that is neither theirs nor in their dispatch
        scope.
    ConcertoError
        Naming the field: an unknown or inactive tactic, a bad quantity, an unknown, closed
        or rejected order, a note or target key too long. Nothing is written then.
    """
    with write_transaction(engine) as conn:
        return pick_in(conn, principal, tactic_id, order_id, quantity=quantity,
                       target_key=target_key, note=note)


def pick_in(conn: sa.Connection, principal: Principal, tactic_id: int, order_id: int, *,
            quantity: int = 1, target_key: str | None = None, note: str = "") -> int:
    """``pick_tactic`` inside the caller's write transaction (so it can join a larger change)."""
    principal.require("pick_tactics", "pick tactics from the marketing arsenal")
    quantity = _whole("quantity", quantity)
    if quantity < 1:
        raise ConcertoError(f"quantity: must be at least 1 (it is {quantity}).")
    key = None if target_key is None or not str(target_key).strip() else str(target_key).strip()
    note = "" if note is None else str(note).strip()
    if key is not None and len(key) > 80:
        raise ConcertoError("target_key: must be at most 80 characters.")
    if len(note) > 400:
        raise ConcertoError(f"note: must be at most 400 characters (it has {len(note)}).")
    chosen = tactic_row(conn, tactic_id, lock=True)
    if chosen["auth_level"] > principal.auth_level:
        raise Forbidden(f"Tactic {chosen['code']} needs authorisation level "
                        f"{chosen['auth_level']} ({LEVELS[chosen['auth_level']]}); a "
                        f"{ROLES[principal.role].lower()} has level {principal.auth_level}.")
    if not chosen["active"]:
        raise ConcertoError(f"tactic_id: tactic {chosen['code']} is deactivated and cannot "
                            "be picked.")
    order = _order(conn, principal, order_id, lock=True)
    most, already = chosen["max_per_customer"], 0
    if key is not None:
        p = tactic_pick.c
        already = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(p.quantity), 0))
                                   .where(p.tactic_id == chosen["tactic_id"],
                                          p.target_key == key, p.status == "picked")
                                   ).scalar_one())
    if quantity + already > most:
        held = f" ({key} already has {already})" if already else ""
        raise ConcertoError(f"quantity: tactic {chosen['code']} allows at most {most} per "
                            f"customer{held}; {quantity} asked.")
    values = dict(tactic_id=chosen["tactic_id"], order_id=order["order_id"],
                  quantity=quantity, unit_cost=chosen["unit_cost"],
                  total_cost=round(chosen["unit_cost"] * quantity, 2), target_key=key,
                  picked_by=principal.username, picked_at=_now(), status="picked", note=note)
    pick_id = conn.execute(sa.insert(tactic_pick).values(**values)).inserted_primary_key[0]
    record_audit(conn, principal.username, "tactic_pick", "tactic_pick", pick_id, None,
                 {**values, "code": chosen["code"]})
    return int(pick_id)


def cancel_pick(engine: sa.Engine, principal: Principal, pick_id: int, *, note: str = "") -> None:
    """Cancel a live pick (its cost no longer counts); the pick stays on record.

    The person who picked it may cancel it, and so may dispatchers and managers of the
    arsenal; not once the order is closed or rejected.
    """
    principal.require("pick_tactics", "cancel tactics picked from the marketing arsenal")
    p = tactic_pick.c
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(tactic_pick).where(p.pick_id == _whole("pick_id", pick_id))
                           ).mappings().first()
        if row is None:
            raise ConcertoError(f"pick_id: there is no pick #{pick_id}.")
        if row["picked_by"] != principal.username and not (
                principal.can("dispatch_orders") or principal.can("manage_arsenal")):
            raise Forbidden(f"Pick #{pick_id} was made by {row['picked_by']}; only they, a "
                            "dispatcher or a manager of the arsenal may cancel it.")
        state = conn.execute(sa.select(work_order.c.state).where(
            work_order.c.order_id == row["order_id"])).scalar_one()
        if state in CLOSED_STATES:
            raise ConcertoError(f"pick_id: work order #{row['order_id']} is {state}; its picks "
                                "can no longer change.")
        after = dict(status="cancelled", cancelled_by=principal.username, cancelled_at=_now(),
                     note=(str(note).strip() or row["note"])[:400])
        moved = conn.execute(sa.update(tactic_pick).where(
            p.pick_id == row["pick_id"], p.status == "picked").values(**after)).rowcount
        if moved != 1:
            raise ConcertoError(f"pick_id: pick #{pick_id} is already cancelled.")
        record_audit(conn, principal.username, "tactic_pick_cancel", "tactic_pick", pick_id,
                     {"status": row["status"], "note": row["note"]}, after)


def list_picks(engine: sa.Engine, order_id: int | None = None, *, picked_by: str | None = None,
               include_cancelled: bool = True, limit: int = 500) -> pd.DataFrame:
    """Picks with their tactic and order, newest first: of one order, or of everyone.

    ``picked_by`` keeps one person's picks; ``total_cost`` is in yuan.
    """
    p, t, o = tactic_pick.c, tactic.c, work_order.c
    query = (sa.select(p.pick_id, p.order_id, o.title.label("order_title"), p.tactic_id, t.code,
                       t.name, t.kind, p.quantity, p.unit_cost, p.total_cost, p.target_key,
                       p.picked_by, p.picked_at, p.status, p.note, p.cancelled_by,
                       p.cancelled_at)
             .select_from(tactic_pick.join(tactic, p.tactic_id == t.tactic_id)
                          .join(work_order, p.order_id == o.order_id))
             .order_by(p.pick_id.desc()).limit(int(limit)))
    if order_id is not None:
        query = query.where(p.order_id == _whole("order_id", order_id))
    if picked_by is not None:
        query = query.where(p.picked_by == picked_by)
    if not include_cancelled:
        query = query.where(p.status == "picked")
    frame = read_frame(engine, query)
    for column in ("picked_at", "cancelled_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("unit_cost", "total_cost"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame

"""Pre-booking (预占) against a budget unit, then confirming or releasing the booking.

``prebook`` is one conditional ``UPDATE … SET booked = booked + :a WHERE booked + spent +
allocated + :a <= quota``: of any number of concurrent bookings only those that fit succeed,
the rest are refused with how much is left. ``confirm`` and ``release`` first move the
booking out of status ``booked`` with ``WHERE status = 'booked'``, so of two people settling
the same booking at once one wins and the other is told it is already settled; only the
winner touches the unit. Each operation, its audit row and any threshold alert are one
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from analytics.ops import budget as arith
from data_access.store.audit import record_audit
from data_access.store.auth import Forbidden, Principal
from data_access.store.budgets.alerts import raise_alerts
from data_access.store.budgets.ledger import (BudgetExceeded, budget_booking, budget_unit, left_of, money,
                                 may_settle, now_utc, read_unit, refuse_booking, rounded,
                                 text_field, whose, yuan)
from data_access.db import ConcertoError, optional_id
from data_access.store.workflow import write_transaction
from data_access.store.workorders import work_order

_EPS = arith.EPSILON
_UNIT_FIELDS = ("unit_id", "booked", "spent", "quota", "version")


_optional_id = optional_id


def prebook(engine: sa.Engine, principal: Principal, unit_id: int, amount: float, *,
            work_order_id: int | None = None, tactic_pick_id: int | None = None,
            note: str = "") -> int:
    """Pre-book ``amount`` yuan on a unit within what is left of its quota; returns the id.

    Only the unit's owner, or someone who may allocate budgets, may book on it, and either
    needs the ``book_budget`` permission.

    Raises
    ------
    BudgetExceeded
        When the amount does not fit: "amount: ¥200.00 does not fit — only ¥120.00 of
        ¥3,000.00 left on Guo Li's 2026-Q4 budget." Nothing is written.
    Forbidden
        Without the permission, or on someone else's unit.
    ConcertoError
        Naming the field at fault (amount, unit_id, work_order_id, tactic_pick_id, note).
    """
    with write_transaction(engine) as conn:
        return prebook_in(conn, principal, unit_id, amount, work_order_id=work_order_id,
                          tactic_pick_id=tactic_pick_id, note=note)


def prebook_in(conn: sa.Connection, principal: Principal, unit_id: int, amount: float, *,
               work_order_id: int | None = None, tactic_pick_id: int | None = None,
               note: str = "") -> int:
    """``prebook`` inside the caller's write transaction (so it can join a larger change)."""
    principal.require("book_budget", "book budget")
    amount = money("amount", amount)
    note = text_field("note", note, 400, required=False)
    work_order_id = _optional_id("work_order_id", work_order_id)
    tactic_pick_id = _optional_id("tactic_pick_id", tactic_pick_id)
    unit = read_unit(conn, unit_id)
    refuse_booking(conn, principal, unit)
    if work_order_id is not None and conn.execute(sa.select(work_order.c.order_id).where(
            work_order.c.order_id == work_order_id)).first() is None:
        raise ConcertoError(f"work_order_id: there is no work order #{work_order_id}.")
    u = budget_unit.c
    after = conn.execute(sa.update(budget_unit).where(
        u.unit_id == unit["unit_id"],
        u.booked + u.spent + u.allocated + amount <= u.quota)
        .values(booked=rounded(u.booked + amount), version=u.version + 1)
        .returning(*budget_unit.c)).mappings().first()
    if after is None:
        now = read_unit(conn, unit_id)
        raise BudgetExceeded(f"amount: {yuan(amount)} does not fit — only "
                             f"{yuan(left_of(now))} of {yuan(now['quota'])} left on "
                             f"{whose(now)}.")
    booking = dict(unit_id=int(unit["unit_id"]), amount=amount, status="booked",
                   spent_amount=None, work_order_id=work_order_id,
                   tactic_pick_id=tactic_pick_id, note=note,
                   created_by=principal.username, created_at=now_utc(), version=1)
    booking_id = int(conn.execute(sa.insert(budget_booking).values(**booking))
                     .inserted_primary_key[0])
    record_audit(conn, principal.username, "budget_prebook", "budget_booking", booking_id,
                 {"unit": {k: unit[k] for k in _UNIT_FIELDS}},
                 {"unit": {k: after[k] for k in _UNIT_FIELDS}, "booking": booking})
    raise_alerts(conn, after)
    return booking_id


def _booking(conn: sa.Connection, booking_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(budget_booking).where(
        budget_booking.c.booking_id == int(booking_id))).mappings().first()
    if row is None:
        raise ConcertoError(f"booking_id: there is no budget booking #{booking_id}.")
    return dict(row)


def _may_settle(who: Principal, booking: Mapping[str, Any], unit: Mapping[str, Any]) -> None:
    if not who.can("allocate_budgets"):
        who.require("book_budget", "confirm or release budget bookings")
    if not may_settle(who, booking["created_by"], unit["owner"]):
        raise Forbidden(f"Booking #{booking['booking_id']} on {whose(unit)} belongs to "
                        f"{booking['created_by']}; {who.display_name} may not settle it.")


def _settled(booking: Mapping[str, Any]) -> ConcertoError:
    when = booking["settled_at"]
    at = f" at {when:%Y-%m-%d %H:%M} UTC" if when is not None else ""
    return ConcertoError(f"booking_id: booking #{booking['booking_id']} is already "
                         f"{booking['status']} (by {booking['settled_by']}{at}); only an open "
                         "booking can be confirmed or released.")


def _settle(engine: sa.Engine, principal: Principal, booking_id: int, status: str,
            spent_amount: float | None) -> dict[str, Any]:
    action = "confirm" if status == "confirmed" else "release"
    with write_transaction(engine) as conn:
        booking = _booking(conn, booking_id)
        unit = read_unit(conn, booking["unit_id"])
        _may_settle(principal, booking, unit)
        if booking["status"] != "booked":
            raise _settled(booking)
        spent = 0.0 if status == "released" else (
            booking["amount"] if spent_amount is None else spent_amount)
        if spent > booking["amount"] + _EPS:
            raise ConcertoError(f"spent_amount: {yuan(spent)} is more than the "
                                f"{yuan(booking['amount'])} booked; book the difference first.")
        b = budget_booking.c
        values = dict(status=status, spent_amount=spent, settled_by=principal.username,
                      settled_at=now_utc())
        moved = conn.execute(sa.update(budget_booking).where(
            b.booking_id == booking["booking_id"], b.status == "booked")
            .values(version=b.version + 1, **values)).rowcount
        if moved != 1:  # someone settled it between our read and our update
            raise _settled(_booking(conn, booking_id))
        u = budget_unit.c
        after = conn.execute(sa.update(budget_unit).where(u.unit_id == unit["unit_id"]).values(
            booked=rounded(u.booked - booking["amount"]), spent=rounded(u.spent + spent),
            version=u.version + 1).returning(*budget_unit.c)).mappings().one()
        record_audit(conn, principal.username, f"budget_{action}", "budget_booking",
                     booking["booking_id"],
                     {"status": "booked", "unit": {k: unit[k] for k in _UNIT_FIELDS}},
                     {**values, "unit": {k: after[k] for k in _UNIT_FIELDS}})
        raise_alerts(conn, after)
    return {**booking, **values, "version": booking["version"] + 1}


def confirm(engine: sa.Engine, principal: Principal, booking_id: int,
            spent_amount: float | None = None) -> dict[str, Any]:
    """Confirm an open booking as spent; what is not spent goes back to the quota.

    Parameters
    ----------
    spent_amount : float, optional
        What was actually spent, at most the amount booked; the whole amount by default.

    Returns
    -------
    dict
        The booking after the change.

    Raises
    ------
    ConcertoError
        When the booking is not open any more (confirmed or released, perhaps a moment ago
        by someone else), or ``spent_amount`` is more than was booked.
    Forbidden
        Unless the booking's author, the unit's owner, or an allocator settles it.
    """
    spent = None if spent_amount is None else money("spent_amount", spent_amount,
                                                    allow_zero=True)
    return _settle(engine, principal, booking_id, "confirmed", spent)


def release(engine: sa.Engine, principal: Principal, booking_id: int) -> dict[str, Any]:
    """Release an open booking: its whole amount goes back to the quota (see :func:`confirm`)."""
    return _settle(engine, principal, booking_id, "released", None)

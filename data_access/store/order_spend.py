"""What a work order spends: arsenal picks and the budget booked for them, changed together.

``pick_and_book`` attaches a tactic to an order and pre-books its cost on a budget unit in one
transaction: if the budget cannot take the cost, the pick is not made either.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from analytics.ops.budget import quarter_of
from data_access.store.arsenal import tactic, tactic_pick
from data_access.store.arsenal_picks import pick_in
from data_access.store.auth import Principal
from data_access.store.budgets.bookings import prebook_in
from data_access.store.budgets.ledger import budget_booking, budget_unit, load_budget_tree
from data_access.db import read_frame
from data_access.store.workflow import write_transaction
from data_access.store.workorders import load_order


def pick_and_book(engine: sa.Engine, who: Principal, tactic_id: int, order_id: int, *,
                  quantity: int = 1, target_key: str | None = None, note: str = "",
                  unit_id: int | None = None) -> tuple[int, int | None]:
    """Pick a tactic for an order and, with ``unit_id``, pre-book its cost there.

    Returns (pick id, booking id or None). Everything ``pick_tactic`` and ``prebook`` refuse
    is refused here with their messages, and then nothing at all is written.
    """
    with write_transaction(engine) as conn:
        pick_id = pick_in(conn, who, tactic_id, order_id, quantity=quantity,
                          target_key=target_key, note=note)
        if unit_id is None:
            return pick_id, None
        cost, code = conn.execute(
            sa.select(tactic_pick.c.total_cost, tactic.c.code)
            .select_from(tactic_pick.join(tactic, tactic.c.tactic_id == tactic_pick.c.tactic_id))
            .where(tactic_pick.c.pick_id == pick_id)).one()
        booking_id = prebook_in(conn, who, unit_id, cost, work_order_id=order_id,
                                tactic_pick_id=pick_id,
                                note=f"{code} × {quantity} for work order #{order_id}")
    return pick_id, booking_id


def bookable_units(engine: sa.Engine, who: Principal, today: dt.date | None = None
                   ) -> pd.DataFrame:
    """The budget units of this quarter that ``who`` may book on (their own first)."""
    period = quarter_of(today or dt.date.today())
    tree = load_budget_tree(engine, who, period)
    if tree.empty:
        return tree
    units = tree[tree["can_book"].astype(bool)].copy()
    units["own"] = units["owner"] == who.username
    return units.sort_values(["own", "level"], ascending=[False, True]).reset_index(drop=True)


def order_spend(engine: sa.Engine, who: Principal, order_id: int
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(picks, bookings) attached to an order ``who`` may see, newest first."""
    load_order(engine, who, order_id)  # Forbidden outside what ``who`` may see
    p, t = tactic_pick.c, tactic.c
    picks = read_frame(engine, sa.select(
        p.pick_id, t.code, t.name, t.kind, p.quantity, p.unit_cost, p.total_cost, p.target_key,
        p.status, p.picked_by, p.picked_at, p.note)
        .select_from(tactic_pick.join(tactic, t.tactic_id == p.tactic_id))
        .where(p.order_id == order_id).order_by(p.pick_id.desc()))
    b, u = budget_booking.c, budget_unit.c
    bookings = read_frame(engine, sa.select(
        b.booking_id, u.period, u.name.label("budget"), b.amount, b.status, b.spent_amount,
        b.tactic_pick_id, b.created_by, b.created_at, b.settled_by, b.settled_at)
        .select_from(budget_booking.join(budget_unit, u.unit_id == b.unit_id))
        .where(b.work_order_id == order_id).order_by(b.booking_id.desc()))
    return picks, bookings

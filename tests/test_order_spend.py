"""Picking a tactic for an order and booking its cost happen together or not at all."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from data_access.store import auth
from data_access.store import workorders
from data_access.store.arsenal import list_tactics, seed_arsenal
from data_access.store.arsenal_picks import list_picks
from data_access.store.auth import Principal
from data_access.store.budgets.allocation import allocate
from data_access.store.budgets.seed import seed_demo_budgets
from data_access.store.budgets.ledger import BudgetExceeded
from data_access.store.demo_users import seed_demo_users
from data_access.store.order_spend import bookable_units, order_spend, pick_and_book

ADMIN = Principal("admin", "Admin", "administrator")
CHANNEL = Principal("channel_mgr", "Demo Channel Manager", "channel_manager")


@pytest.fixture
def store(workflow: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    seed_demo_users(workflow)
    seed_arsenal(workflow)
    seed_demo_budgets(workflow)
    return workflow


def _order(engine: sa.Engine) -> int:
    return workorders.create_order(
        engine, ADMIN, kind="task", title="Outlet restock", unit_level="channel", unit_key="5",
        unit_label="Outlet 5", branch="Xiangzhou", micro_region="Gongbei",
        metric="new_activations_7d", owner_role="channel_manager", assignee="channel_mgr",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=48))


def _cheapest(engine: sa.Engine, at_least: int = 1) -> dict:
    tactics = list_tactics(engine, CHANNEL)
    tactics = tactics[tactics["may_pick"].astype(bool)
                      & (tactics["max_per_customer"] >= at_least)
                      & (tactics["unit_cost"] > 1)].sort_values("unit_cost")
    return tactics.iloc[0].to_dict()


def test_a_pick_books_its_cost_on_the_pickers_own_budget(store: sa.Engine):
    order_id = _order(store)
    units = bookable_units(store, CHANNEL)
    assert len(units) and units.iloc[0]["owner"] == "channel_mgr"
    unit = units.iloc[0]
    chosen = _cheapest(store, at_least=2)
    pick_id, booking_id = pick_and_book(store, CHANNEL, int(chosen["tactic_id"]), order_id,
                                        quantity=2, unit_id=int(unit["unit_id"]))
    picks, bookings = order_spend(store, CHANNEL, order_id)
    assert list(picks["pick_id"]) == [pick_id]
    assert bookings.iloc[0]["booking_id"] == booking_id
    assert bookings.iloc[0]["amount"] == pytest.approx(2 * chosen["unit_cost"])
    assert bookings.iloc[0]["tactic_pick_id"] == pick_id


def test_when_the_budget_cannot_take_the_cost_nothing_is_picked(store: sa.Engine):
    order_id = _order(store)
    mine = bookable_units(store, CHANNEL).iloc[0]
    tiny = allocate(store, ADMIN, mine["period"], "person", "Tiny budget", int(mine["parent_id"]),
                    1.0, owner="channel_mgr")
    chosen = _cheapest(store)
    with pytest.raises(BudgetExceeded, match="does not fit"):
        pick_and_book(store, CHANNEL, int(chosen["tactic_id"]), order_id, unit_id=tiny)
    assert list_picks(store, order_id).empty  # the pick was rolled back with the booking
    assert order_spend(store, CHANNEL, order_id)[1].empty

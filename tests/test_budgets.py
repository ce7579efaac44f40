"""Budgets: arithmetic, allocation, the pre-booking lifecycle, concurrency, alerts, scope, page."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.ops import budget as arith
from data_access.store.budgets import bookings as budget_bookings
from data_access.store.budgets import ledger as budgets
from data_access.store import workorders
from data_access.store.audit import load_audit
from data_access.store.auth import Forbidden, Principal
from data_access.store.budgets.allocation import allocate, set_quota, set_thresholds
from data_access.store.budgets.bookings import confirm, prebook, release
from data_access.store.budgets.seed import seed_demo_budgets
from data_access.store.budgets.ledger import BudgetExceeded, budget_booking, budget_unit
from data_access.db import ConcertoError
from data_access.store.demo_users import DEMO_USERS
from data_access.store.workflow import alert

PEOPLE = {u: Principal(u, name, role, level, value) for u, role, name, level, value in DEMO_USERS}
ADMIN, EXEC, CHANNEL = PEOPLE["admin"], PEOPLE["exec"], PEOPLE["channel_mgr"]
RM_GONGBEI = PEOPLE["rm_gongbei"]
PERIOD = "2026-Q4"


# --- arithmetic, pure --------------------------------------------------------------------

def test_accuracy_is_one_minus_the_share_missed_either_way():
    assert arith.accuracy(870.0, 1000.0) == pytest.approx(0.87)
    assert arith.accuracy(1130.0, 1000.0) == pytest.approx(0.87)
    assert arith.accuracy(1000.0, 1000.0) == 1.0
    assert arith.accuracy(0.0, 1000.0) == 0.0
    assert arith.accuracy(2500.0, 1000.0) == pytest.approx(-0.5)
    assert math.isnan(arith.accuracy(10.0, 0.0))
    series = arith.accuracy(pd.Series([630.0, 50.0, 1.0]), pd.Series([1000.0, 200.0, 0.0]))
    assert series.iloc[:2].tolist() == pytest.approx([0.63, 0.25]) and math.isnan(series.iloc[2])


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": [1, 2, 3, 4, 5], "parent_id": [None, 1, 2, 2, 1],
        "period": [PERIOD] * 5, "level": ["company", "department", "team", "team", "department"],
        "name": ["City", "Channels", "Gongbei", "Doumen", "Marketing"],
        "owner": [None] * 5, "thresholds": ["0.8,1.0"] * 5,
        "quota": [1000.0, 600.0, 300.0, 200.0, 400.0],
        "allocated": [1000.0, 500.0, 0.0, 0.0, 0.0],
        "booked": [0.0, 5.0, 1.0, 0.0, 40.0], "spent": [0.0, 20.0, 2.0, 190.0, 100.0]})


def test_roll_up_adds_every_descendant_once_and_sorts_into_tree_order():
    tree = arith.roll_up(_frame()).set_index("unit_id")
    # by hand: Channels = 5+1+0 booked, 20+2+190 spent; City adds Marketing's 40 and 100
    assert tree["rolled_booked"].to_dict() == {1: 46.0, 2: 6.0, 3: 1.0, 4: 0.0, 5: 40.0}
    assert tree["rolled_spent"].to_dict() == {1: 312.0, 2: 212.0, 3: 2.0, 4: 190.0, 5: 100.0}
    assert tree["depth"].to_dict() == {1: 0, 2: 1, 3: 2, 4: 2, 5: 1}
    assert list(tree.index) == [1, 2, 3, 4, 5]  # parents before their children


def test_budget_table_computes_left_use_accuracy_and_pace_by_hand():
    table = arith.budget_table(arith.roll_up(_frame()), dt.date(2026, 11, 16)).set_index("unit_id")
    share = 46 / 92  # 16 Nov is day 46 of the 92 days of Q4
    assert table.at[2, "left"] == 600 - 5 - 20 - 500
    assert table.at[2, "use"] == pytest.approx((6 + 212) / 600)
    assert table.at[4, "accuracy"] == pytest.approx(1 - abs(190 - 200) / 200)
    assert table.at[4, "status"] == "warn" and table.at[3, "status"] == "ok"
    assert table.at[4, "expected_spent"] == pytest.approx(200 * share, abs=0.01)
    assert table.at[4, "pace"] == pytest.approx(190 / round(200 * share, 2))
    shown = arith.display_table(table.reset_index())
    assert shown["quota"].iloc[0] == "¥1,000" and shown["use"].iloc[3] == "95.00%"


def test_periods_thresholds_and_levels_parse_or_say_what_is_wrong():
    assert arith.parse_period("2026-Q1") == (dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    assert arith.parse_period("2026-12") == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    for bad in ("2026-Q5", "2026-13", "26-Q1", "Q4"):
        with pytest.raises(ValueError, match="is not a period"):
            arith.parse_period(bad)
    assert arith.elapsed_share("2026-Q4", dt.date(2027, 3, 1)) == 1.0
    assert arith.parse_thresholds("100%, 0.5") == (0.5, 1.0)
    for bad, why in (("", "one to five"), ("x", "not a number"), ("3", "between 0 and 2")):
        with pytest.raises(ValueError, match=why):
            arith.parse_thresholds(bad)
    assert arith.crossed_thresholds(799.99, 1000, (0.8, 1.0)) == []
    assert arith.crossed_thresholds(800, 1000, (0.8, 1.0)) == [0.8]
    assert arith.threshold_metric(0.8) == "budget_use_80"
    assert arith.child_level("department") == "team"


# --- the store ---------------------------------------------------------------------------

def _tree(engine: sa.Engine, person_quota: float = 1000.0) -> dict[str, int]:
    ids = {"company": allocate(engine, ADMIN, PERIOD, "company", "City", None, 10_000)}
    ids["dept"] = allocate(engine, ADMIN, PERIOD, "department", "Channels", ids["company"],
                           person_quota + 4_000)
    ids["team"] = allocate(engine, EXEC, PERIOD, "team", "Gongbei team", ids["dept"],
                           person_quota + 2_000, micro_region="Gongbei")
    ids["doumen"] = allocate(engine, ADMIN, PERIOD, "team", "Doumen team", ids["dept"], 1_000,
                             branch="Doumen")
    ids["guo"] = allocate(engine, ADMIN, PERIOD, "person", "Guo Li", ids["team"],
                          person_quota, owner="channel_mgr")
    ids["rm"] = allocate(engine, ADMIN, PERIOD, "person", "Gongbei RM", ids["team"], 500,
                         owner="rm_gongbei")
    ids["li"] = allocate(engine, ADMIN, PERIOD, "person", "Li Na", ids["doumen"], 800,
                         owner="li.na")
    return ids


def _unit(engine: sa.Engine, unit_id: int) -> dict:
    with engine.connect() as conn:
        return budgets.read_unit(conn, unit_id)


def _count(engine: sa.Engine, table: sa.Table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()


def _together(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``n`` threads released at once; each result or exception."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_children_inherit_the_region_and_hand_down_their_quota(workflow: sa.Engine):
    ids = _tree(workflow)
    team, guo, dept = (_unit(workflow, ids[k]) for k in ("team", "guo", "dept"))
    assert (team["branch"], team["micro_region"]) == ("Xiangzhou", "Gongbei")
    assert (guo["branch"], guo["micro_region"]) == ("Xiangzhou", "Gongbei")
    assert team["allocated"] == 1500 and dept["allocated"] == 4000


def test_allocation_beyond_the_parent_is_refused_and_nothing_written(workflow: sa.Engine):
    ids = _tree(workflow)
    with pytest.raises(BudgetExceeded, match=r"only ¥1,500.00 of ¥3,000.00 is left"):
        allocate(workflow, ADMIN, PERIOD, "person", "Huang Wei", ids["team"], 1_600,
                 owner="huang.wei")
    assert _unit(workflow, ids["team"])["allocated"] == 1500
    assert _count(workflow, budget_unit, budget_unit.c.name == "Huang Wei") == 0
    with pytest.raises(BudgetExceeded, match="quota"):
        set_quota(workflow, ADMIN, ids["guo"], 2_600)  # the team has 1,500 more to give
    set_quota(workflow, ADMIN, ids["guo"], 2_500)
    assert _unit(workflow, ids["team"])["allocated"] == 3000


@pytest.mark.parametrize("kwargs, field", [
    (dict(level="team", parent="company"), "level"),
    (dict(level="person", parent="team", owner=None), "owner"),
    (dict(level="person", parent="guo"), "parent_id"),
    (dict(level="department", parent="company", branch="Doumen", micro_region="Gongbei"),
     "micro_region"),
    (dict(level="person", parent="doumen", micro_region="Gongbei"), "micro_region"),
    (dict(level="department", parent="company", period="2026-Q9"), "period"),
    (dict(level="department", parent="company", quota=-5), "quota"),
    (dict(level="department", parent="company", name="Channels"), "name"),
])
def test_a_bad_allocation_names_the_field(workflow: sa.Engine, kwargs: dict, field: str):
    ids = _tree(workflow)
    args = dict(period=PERIOD, name="New", quota=10.0, owner="someone", branch=None,
                micro_region=None) | kwargs
    before = _count(workflow, budget_unit)
    with pytest.raises(ConcertoError, match=f"^{field}:"):
        allocate(workflow, ADMIN, args["period"], args["level"], args["name"],
                 ids[args["parent"]], args["quota"], owner=args["owner"],
                 branch=args["branch"], micro_region=args["micro_region"])
    assert _count(workflow, budget_unit) == before


def test_only_allocators_allocate_and_one_company_per_period(workflow: sa.Engine):
    with pytest.raises(Forbidden, match="may not allocate budgets"):
        allocate(workflow, CHANNEL, PERIOD, "company", "City", None, 100)
    allocate(workflow, EXEC, PERIOD, "company", "City", None, 100)
    with pytest.raises(ConcertoError, match="name:"):
        allocate(workflow, EXEC, PERIOD, "company", "Another city", None, 100)
    assert allocate(workflow, EXEC, "2026-11", "company", "City", None, 100) > 0


def test_concurrent_allocations_never_hand_down_more_than_the_parent_has(workflow: sa.Engine):
    parent = allocate(workflow, ADMIN, PERIOD, "company", "City", None, 1_000)
    results = _together(8, lambda i: allocate(workflow, ADMIN, PERIOD, "department",
                                              f"Dept {i}", parent, 200))
    assert sum(isinstance(r, int) for r in results) == 5
    assert all(isinstance(r, BudgetExceeded) for r in results if not isinstance(r, int))
    assert _unit(workflow, parent)["allocated"] == 1000
    assert _count(workflow, budget_unit, budget_unit.c.parent_id == parent) == 5


def test_prebook_confirm_release_lifecycle_with_a_partial_confirm(workflow: sa.Engine):
    ids = _tree(workflow)
    first = prebook(workflow, CHANNEL, ids["guo"], 300, note="outlet promotion")
    second = prebook(workflow, CHANNEL, ids["guo"], 200.456)
    unit = _unit(workflow, ids["guo"])
    assert (unit["booked"], unit["spent"]) == (500.46, 0.0)
    done = confirm(workflow, CHANNEL, first, 250)
    assert done["status"] == "confirmed" and done["spent_amount"] == 250
    unit = _unit(workflow, ids["guo"])
    assert (unit["booked"], unit["spent"]) == (200.46, 250.0)  # the unspent 50 is free again
    release(workflow, CHANNEL, second)
    unit = _unit(workflow, ids["guo"])
    assert (unit["booked"], unit["spent"], budgets.left_of(unit)) == (0.0, 250.0, 750.0)
    rows = budgets.load_bookings(workflow, CHANNEL, PERIOD).set_index("booking_id")
    assert rows.at[first, "status"] == "confirmed" and rows.at[second, "status"] == "released"
    assert rows.at[first, "settled_by"] == "channel_mgr" and not rows["can_settle"].any()


def test_settling_twice_or_over_the_amount_is_refused(workflow: sa.Engine):
    ids = _tree(workflow)
    booking = prebook(workflow, CHANNEL, ids["guo"], 300)
    with pytest.raises(ConcertoError, match="spent_amount: ¥300.01 is more than"):
        confirm(workflow, CHANNEL, booking, 300.01)
    confirm(workflow, CHANNEL, booking)
    for again in (lambda: confirm(workflow, CHANNEL, booking),
                  lambda: release(workflow, CHANNEL, booking)):
        with pytest.raises(ConcertoError, match=f"booking #{booking} is already confirmed"):
            again()
    unit = _unit(workflow, ids["guo"])
    assert (unit["booked"], unit["spent"]) == (0.0, 300.0)


def test_concurrent_bookings_lose_nothing_and_never_overspend(workflow: sa.Engine):
    ids = _tree(workflow)
    results = _together(12, lambda i: prebook(workflow, CHANNEL, ids["guo"], 100,
                                              note=f"booking {i}"))
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if not isinstance(r, int)]
    assert len(won) == 10 and len(set(won)) == 10
    assert len(lost) == 2 and all(isinstance(r, BudgetExceeded) for r in lost)
    assert "only ¥0.00 of ¥1,000.00 left on Guo Li's 2026-Q4 budget" in str(lost[0])
    assert _unit(workflow, ids["guo"])["booked"] == 1000
    assert _count(workflow, budget_booking, budget_booking.c.unit_id == ids["guo"]) == 10


def test_concurrent_confirms_of_one_booking_count_once(workflow: sa.Engine):
    ids = _tree(workflow)
    booking = prebook(workflow, CHANNEL, ids["guo"], 400)
    results = _together(6, lambda i: confirm(workflow, ADMIN if i % 2 else CHANNEL, booking))
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all("already confirmed" in str(r) for r in results if not isinstance(r, dict))
    unit = _unit(workflow, ids["guo"])
    assert (unit["booked"], unit["spent"]) == (0.0, 400.0)


def test_the_refusal_says_how_much_is_left(workflow: sa.Engine):
    ids = _tree(workflow, person_quota=3_000)
    prebook(workflow, CHANNEL, ids["guo"], 2_880)
    with pytest.raises(BudgetExceeded) as refused:
        prebook(workflow, CHANNEL, ids["guo"], 200)
    assert str(refused.value) == ("amount: ¥200.00 does not fit — only ¥120.00 of ¥3,000.00 "
                                  "left on Guo Li's 2026-Q4 budget.")


@pytest.mark.parametrize("amount", [0, -5, "abc", float("nan"), float("inf")])
def test_a_bad_amount_is_refused_naming_the_field(workflow: sa.Engine, amount: object):
    ids = _tree(workflow)
    with pytest.raises(ConcertoError, match="^amount:"):
        prebook(workflow, CHANNEL, ids["guo"], amount)


def test_threshold_alerts_fire_once_at_80_and_once_at_100(workflow: sa.Engine):
    ids = _tree(workflow)
    budget_alerts = (alert.c.source == "budget",)
    prebook(workflow, CHANNEL, ids["guo"], 500)
    assert _count(workflow, alert, *budget_alerts) == 0
    crossing = prebook(workflow, CHANNEL, ids["guo"], 320)
    with workflow.connect() as conn:
        raised = conn.execute(sa.select(alert).where(*budget_alerts)).mappings().all()
    assert [(a["metric"], a["unit_key"], a["observed_at"]) for a in raised] == [
        ("budget_use_80", str(ids["guo"]), PERIOD)]
    assert raised[0]["message"] == "Guo Li's 2026-Q4 budget is 82% used (¥820 of ¥1,000)."
    assert raised[0]["score"] == pytest.approx(0.82)
    release(workflow, CHANNEL, crossing)
    prebook(workflow, CHANNEL, ids["guo"], 330)  # crosses 80% a second time
    assert _count(workflow, alert, *budget_alerts) == 1
    prebook(workflow, CHANNEL, ids["guo"], 170)
    metrics = sorted(a.metric for a in _alerts(workflow))
    assert metrics == ["budget_use_100", "budget_use_80"]


def _alerts(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(alert).where(alert.c.source == "budget")).all()


def test_lowering_a_threshold_raises_its_alert_at_once(workflow: sa.Engine):
    ids = _tree(workflow)
    prebook(workflow, CHANNEL, ids["guo"], 600)
    with pytest.raises(ConcertoError, match="^thresholds:"):
        set_thresholds(workflow, ADMIN, ids["guo"], "0.5, lots")
    with pytest.raises(Forbidden):
        set_thresholds(workflow, CHANNEL, ids["guo"], "50%")
    assert set_thresholds(workflow, ADMIN, ids["guo"], "50%,90%")["thresholds"] == "0.5,0.9"
    assert [a.metric for a in _alerts(workflow)] == ["budget_use_50"]


def test_scope_decides_who_sees_and_books_what(workflow: sa.Engine):
    ids = _tree(workflow)
    names = {who: set(budgets.load_budget_tree(workflow, PEOPLE[who], PERIOD)["name"])
             for who in ("rm_gongbei", "channel_mgr", "exec")}
    assert names["rm_gongbei"] == {"City", "Channels", "Gongbei team", "Guo Li", "Gongbei RM"}
    assert names["channel_mgr"] == {"City", "Channels", "Gongbei team", "Guo Li"}
    assert len(names["exec"]) == 7
    tree = budgets.load_budget_tree(workflow, CHANNEL, PERIOD).set_index("name")
    assert tree.at["Guo Li", "access"] == "full" and tree.at["Gongbei team", "access"] == "chain"
    assert tree["can_book"].to_dict() == {"City": False, "Channels": False,
                                          "Gongbei team": False, "Guo Li": True}
    with pytest.raises(Forbidden, match="lies outside what Demo Manager, Gongbei may see"):
        prebook(workflow, RM_GONGBEI, ids["li"], 10)
    with pytest.raises(Forbidden, match="lies outside"):
        budgets.load_bookings(workflow, RM_GONGBEI, PERIOD, ids["li"])
    with pytest.raises(Forbidden, match="Only its owner"):
        prebook(workflow, RM_GONGBEI, ids["guo"], 10)  # in their region, but not theirs
    with pytest.raises(Forbidden):
        prebook(workflow, CHANNEL, ids["rm"], 10)
    with pytest.raises(Forbidden, match="executive may not book budget"):
        prebook(workflow, EXEC, ids["guo"], 10)
    booking = prebook(workflow, CHANNEL, ids["guo"], 10)
    with pytest.raises(Forbidden, match="may not settle it"):
        release(workflow, RM_GONGBEI, booking)
    assert budgets.list_periods(workflow, RM_GONGBEI) == [PERIOD]
    assert budgets.list_periods(workflow, PEOPLE["marketer"]) == []
    assert _unit(workflow, ids["li"])["booked"] == 0


def test_every_write_is_audited_with_before_and_after(workflow: sa.Engine):
    ids = _tree(workflow)
    booking = prebook(workflow, CHANNEL, ids["guo"], 300)
    confirm(workflow, CHANNEL, booking, 120)
    audit = load_audit(workflow)
    rows = audit[audit["entity"] == "budget_booking"].sort_values("audit_id")
    assert list(rows["action"]) == ["budget_prebook", "budget_confirm"]
    assert set(rows["username"]) == {"channel_mgr"}
    before = [json.loads(v) for v in rows["before_json"]]
    after = [json.loads(v) for v in rows["after_json"]]
    assert (before[0]["unit"]["booked"], after[0]["unit"]["booked"]) == (0, 300)
    assert after[0]["booking"]["amount"] == 300 and after[0]["booking"]["status"] == "booked"
    assert (before[1]["unit"]["booked"], before[1]["unit"]["spent"]) == (300, 0)
    assert (after[1]["unit"]["booked"], after[1]["unit"]["spent"]) == (0, 120)
    assert (before[1]["status"], after[1]["status"]) == ("booked", "confirmed")
    units = audit[audit["entity"] == "budget_unit"]
    assert {"budget_allocate", "budget_hand_down"} <= set(units["action"])


def test_a_failure_half_way_leaves_nothing_written(workflow: sa.Engine,
                                                   monkeypatch: pytest.MonkeyPatch):
    ids = _tree(workflow)
    booking = prebook(workflow, CHANNEL, ids["guo"], 300)

    def broken(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(budget_bookings, "record_audit", broken)
    with pytest.raises(RuntimeError):
        prebook(workflow, CHANNEL, ids["guo"], 200)
    with pytest.raises(RuntimeError):
        confirm(workflow, CHANNEL, booking)
    unit = _unit(workflow, ids["guo"])
    assert (unit["booked"], unit["spent"], unit["version"]) == (300.0, 0.0, 2)
    assert _count(workflow, budget_booking) == 1
    assert budgets.load_bookings(workflow, None, PERIOD)["status"].tolist() == ["booked"]


def test_a_booking_links_to_an_existing_work_order_only(workflow: sa.Engine):
    ids = _tree(workflow)
    with pytest.raises(ConcertoError, match="work_order_id: there is no work order #999"):
        prebook(workflow, CHANNEL, ids["guo"], 50, work_order_id=999)
    order = workorders.create_order(
        workflow, ADMIN, kind="task", title="Promotion at outlet 5", unit_level="channel",
        unit_key="5", unit_label="Outlet 5", owner_role="channel_manager",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    booking = prebook(workflow, CHANNEL, ids["guo"], 50, work_order_id=order, tactic_pick_id=7)
    row = budgets.load_bookings(workflow, CHANNEL, PERIOD).set_index("booking_id").loc[booking]
    assert (row["work_order_id"], row["tactic_pick_id"]) == (order, 7)


def test_demo_budgets_seed_once_with_one_unit_past_80_percent(workflow: sa.Engine):
    today = dt.date(2026, 11, 20)
    assert seed_demo_budgets(workflow, today) == 9
    assert seed_demo_budgets(workflow, today) == 0
    tree = arith.budget_table(budgets.load_budget_tree(workflow, None, "2026-Q4"), today)
    assert len(tree) == 20 and tree["level"].value_counts()["person"] == 10
    assert list(tree.loc[tree["status"] != "ok", "name"]) == ["Huang Wei 黄伟"]
    assert [a.metric for a in _alerts(workflow)] == ["budget_use_80"]
    audit = load_audit(workflow)
    assert set(audit.loc[audit["entity"].str.startswith("budget"), "username"]) == {"system"}
    mine = budgets.load_budget_tree(workflow, CHANNEL, "2026-Q4")
    assert mine.loc[mine["can_book"], "owner"].tolist() == ["channel_mgr"]


# --- the page ----------------------------------------------------------------------------

def _page(app_as, username: str):
    at = app_as(username)
    at.run()
    at.switch_page("pages/budgets.py").run()
    assert not at.exception, at.exception
    return at


def test_budgets_page_as_channel_mgr_prebooks_through_the_form(app_as):
    at = _page(app_as, "channel_mgr")
    assert len(at.dataframe[0].value) == 4  # their unit and the chain above it
    at.number_input(key="budgets_book_amount").set_value(250.0)
    at.text_input(key="budgets_book_note").input("Leaflets for the Jida outlet")
    at.button(key="budgets_book_submit").click().run()
    assert not at.exception, at.exception
    assert any("Pre-booked ¥250.00" in s.value for s in at.success)
    listed = at.dataframe[1].value  # the tree, then the bookings
    assert "Leaflets for the Jida outlet" in set(listed["note"])
    at.number_input(key="budgets_book_amount").set_value(1_000_000.0)
    at.button(key="budgets_book_submit").click().run()
    assert any("does not fit — only" in e.value for e in at.error)
    release = next(b for b in at.button if str(b.key).startswith("budgets_release_"))
    release.click().run()
    assert not at.exception, at.exception
    assert any("released" in s.value for s in at.success)


def test_budgets_page_as_exec_sees_all_units_and_no_booking_form(app_as):
    at = _page(app_as, "exec")
    assert len(at.dataframe[0].value) == 20
    keys = {b.key for b in at.button}
    assert "budgets_book_submit" not in keys and "budgets_alloc_submit" in keys
    assert len(at.get("download_button")) == 2
    box = at.selectbox(key="budgets_period")
    box.options.append("2030-Q1")  # typed as a new option: the browser sends the text itself
    box.set_value("2030-Q1").run()
    assert not at.exception, at.exception
    assert any("No budget is allocated for 2030-Q1 yet" in i.value for i in at.info)
    at.text_input(key="budgets_alloc_name").input("City company 2030")
    at.number_input(key="budgets_alloc_quota").set_value(500_000.0)
    at.button(key="budgets_alloc_submit").click().run()
    assert not at.exception, at.exception
    assert any("Allocated ¥500,000.00 to City company 2030 (company)" in s.value
               for s in at.success)
    assert list(at.dataframe[0].value["unit"]) == ["City company 2030"]


def test_budgets_page_as_rm_gongbei_sees_only_their_scope(app_as):
    at = _page(app_as, "rm_gongbei")
    units = " ".join(at.dataframe[0].value["unit"])
    assert "Gongbei retention team" in units and "Huang Wei" in units
    assert "Doumen" not in units and "Marketing" not in units

"""Work orders: the lifecycle, dispatch rules, concurrency, scope and the checklist."""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.ops import workorders as rules
from data_access.store import auth
from data_access.store import dispatch
from data_access.store import order_actions
from data_access.store import workorders
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError
from data_access.store.demo_users import DEMO_USERS, seed_demo_users
from data_access.store.workflow import StaleWrite, alert, audit_log

PEOPLE = {u: Principal(u, name, role, level, value) for u, role, name, level, value in DEMO_USERS}
ADMIN, ANALYST, CHANNEL = PEOPLE["admin"], PEOPLE["analyst"], PEOPLE["channel_mgr"]
RM_GONGBEI, RM_XIANGZHOU = PEOPLE["rm_gongbei"], PEOPLE["rm_xiangzhou"]


@pytest.fixture
def store(workflow: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    seed_demo_users(workflow)
    dispatch.seed_dispatch_rules(workflow)
    return workflow


def _order(engine: sa.Engine, *, assignee: str | None = "channel_mgr", metric: str | None = None,
           unit_level: str = "channel", micro_region: str = "Gongbei",
           branch: str = "Xiangzhou", actor: Principal = ADMIN) -> dict:
    order_id = workorders.create_order(
        engine, actor, kind="task", title="Check outlet activations", unit_level=unit_level,
        unit_key="5", unit_label="Outlet 5", branch=branch, micro_region=micro_region,
        metric=metric, owner_role="channel_manager", assignee=assignee,
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=48))
    return workorders.load_order(engine, None, order_id)


def _move(engine: sa.Engine, who: Principal, order: dict, action: str, **kw) -> dict:
    note = kw.pop("note", "done" if rules.TRANSITIONS[action].needs_note else "")
    return order_actions.transition(engine, who, order["order_id"], action,
                                    version=order["version"], note=note, **kw)


# --- the lifecycle, pure --------------------------------------------------------------------

@pytest.mark.parametrize("state", list(rules.STATES))
@pytest.mark.parametrize("action", list(rules.TRANSITIONS))
def test_every_state_and_action_is_allowed_or_refused_by_the_table(state: str, action: str):
    allowed = {
        ("new", "dispatch"): "dispatched", ("dispatched", "accept"): "accepted",
        ("dispatched", "reject"): "rejected", ("accepted", "reject"): "rejected",
        ("accepted", "start"): "in_progress", ("in_progress", "resolve"): "resolved",
        ("resolved", "verify"): "verified", ("resolved", "reopen"): "in_progress",
        ("verified", "close"): "closed", ("rejected", "close"): "closed",
        ("dispatched", "reassign"): "dispatched", ("accepted", "reassign"): "dispatched",
        ("in_progress", "reassign"): "dispatched", ("rejected", "reassign"): "dispatched",
    }
    if (state, action) in allowed:
        assert rules.next_state(state, action) == allowed[(state, action)]
    else:
        with pytest.raises(ValueError, match="cannot be"):
            rules.next_state(state, action)


def test_closed_is_final():
    assert rules.allowed_actions("closed") == []
    with pytest.raises(ValueError, match="none \\(the order is finished\\)"):
        rules.next_state("closed", "reassign")


# --- the lifecycle through the store -----------------------------------------------------

def test_full_lifecycle_records_every_step_with_timestamps(store: sa.Engine):
    order = _order(store, assignee=None)
    assert order["state"] == "new" and order["version"] == 1
    order = _move(store, ANALYST, order, "dispatch", assignee="channel_mgr")
    order = _move(store, CHANNEL, order, "accept")
    order = _move(store, CHANNEL, order, "start")
    order = _move(store, CHANNEL, order, "resolve", note="restocked the outlet")
    order = _move(store, RM_GONGBEI, order, "verify")
    order = _move(store, ADMIN, order, "close")
    stored = workorders.load_order(store, None, order["order_id"])
    assert stored["state"] == "closed" and stored["version"] == 7
    assert stored["resolution"] == "restocked the outlet"
    for stamp in ("dispatched_at", "accepted_at", "resolved_at", "closed_at"):
        assert stored[stamp] is not None
    history = workorders.order_history(store, None, order["order_id"])
    assert list(history["action"]) == ["create", "dispatch", "accept", "start", "resolve",
                                       "verify", "close"]
    assert list(history["to_state"])[-1] == "closed"
    with store.connect() as conn:
        audited = conn.execute(sa.select(audit_log.c.action).where(
            audit_log.c.entity == "work_order")).scalars().all()
    assert audited == ["order_create", "order_dispatch", "order_accept", "order_start",
                       "order_resolve", "order_verify", "order_close"]


@pytest.mark.parametrize("state_path,action", [
    ((), "start"),  # dispatched: accept first
    (("accept",), "resolve"),  # accepted, not started
    (("accept", "start"), "verify"),
    (("accept", "start"), "close"),
])
def test_a_move_the_lifecycle_forbids_is_refused_and_nothing_changes(store, state_path, action):
    order = _order(store)
    for step in state_path:
        order = _move(store, CHANNEL, order, step)
    who = CHANNEL if rules.TRANSITIONS[action].who == "assignee" else ADMIN
    with pytest.raises(ConcertoError, match="cannot be"):
        _move(store, who, order, action)
    assert workorders.load_order(store, None, order["order_id"])["version"] == order["version"]


def test_only_the_assignee_works_an_order_and_only_others_verify_it(store: sa.Engine):
    order = _order(store)
    with pytest.raises(Forbidden, match="Only the assignee"):
        _move(store, ANALYST, order, "accept")  # may see every order, may not work it
    with pytest.raises(Forbidden, match="outside what"):
        _move(store, PEOPLE["account_mgr"], order, "accept")  # may not even see it
    order = _move(store, CHANNEL, order, "accept")
    order = _move(store, CHANNEL, order, "start")
    order = _move(store, CHANNEL, order, "resolve")
    with pytest.raises(Forbidden, match="may not"):
        _move(store, CHANNEL, order, "verify")  # a channel manager has no verify right
    order = _move(store, RM_GONGBEI, order, "reopen", note="the outlet is still empty")
    assert order["state"] == "in_progress" and order["resolved_at"] is None


def test_reject_and_reassign_need_a_reason_and_an_active_person(store: sa.Engine):
    order = _order(store)
    with pytest.raises(ConcertoError, match="note: say why"):
        _move(store, CHANNEL, order, "reject", note="  ")
    order = _move(store, CHANNEL, order, "reject", note="not my outlet")
    with pytest.raises(ConcertoError, match="no active user 'ghost'"):
        _move(store, ANALYST, order, "reassign", assignee="ghost")
    order = _move(store, ANALYST, order, "reassign", assignee="account_mgr")
    assert (order["state"], order["assignee"]) == ("dispatched", "account_mgr")


# --- concurrency and durability ------------------------------------------------------------

def test_two_people_moving_the_same_order_at_once_never_both_win(store: sa.Engine):
    order = _order(store)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(action: str, note: str) -> None:
        barrier.wait()
        try:
            order_actions.transition(store, CHANNEL, order["order_id"], action,
                                     version=order["version"], note=note)
            outcomes.append(action)
        except StaleWrite:
            outcomes.append("stale")

    threads = [threading.Thread(target=act, args=("accept", "")),
               threading.Thread(target=act, args=("reject", "wrong outlet"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("stale") == 1
    stored = workorders.load_order(store, None, order["order_id"])
    winner = next(o for o in outcomes if o != "stale")
    assert stored["state"] == rules.TRANSITIONS[winner].target and stored["version"] == 2
    assert len(workorders.order_history(store, None, order["order_id"])) == 3  # create, dispatch, winner


def test_concurrent_comments_with_retry_lose_none(store: sa.Engine):
    order = _order(store)
    writers, per_writer = 4, 5

    def write(n: int) -> None:
        for k in range(per_writer):
            while True:
                current = workorders.load_order(store, None, order["order_id"])
                try:
                    order_actions.comment(store, CHANNEL, order["order_id"], f"w{n}-{k}",
                                          version=current["version"])
                    break
                except StaleWrite:
                    continue

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = workorders.order_history(store, None, order["order_id"])
    notes = set(history.loc[history["action"] == "comment", "note"])
    assert notes == {f"w{n}-{k}" for n in range(writers) for k in range(per_writer)}
    assert workorders.load_order(store, None, order["order_id"])["version"] == 1 + 20


def test_a_failure_half_way_leaves_nothing_written(store: sa.Engine, monkeypatch):
    order = _order(store)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(workorders, "record_audit", broken)
    with pytest.raises(RuntimeError):
        _move(store, CHANNEL, order, "accept")
    stored = workorders.load_order(store, None, order["order_id"])
    assert (stored["state"], stored["version"]) == ("dispatched", 1)
    assert list(workorders.order_history(store, None, order["order_id"])["action"]) == [
        "create", "dispatch"]


# --- scope ------------------------------------------------------------------------------

def test_a_regional_manager_sees_and_creates_orders_in_their_region_only(store: sa.Engine):
    mine = _order(store, micro_region="Gongbei")
    other = _order(store, micro_region="Jing'an", branch="Doumen")
    listed = workorders.list_orders(store, RM_GONGBEI)
    assert list(listed["order_id"]) == [mine["order_id"]]
    with pytest.raises(Forbidden, match="outside what"):
        workorders.load_order(store, RM_GONGBEI, other["order_id"])
    with pytest.raises(Forbidden, match="outside what"):
        order_actions.comment(store, RM_GONGBEI, other["order_id"], "hi", version=1)
    with pytest.raises(Forbidden, match="Gongbei only"):
        _order(store, micro_region="Jing'an", branch="Doumen", actor=RM_GONGBEI, assignee=None)
    branch_view = workorders.list_orders(store, RM_XIANGZHOU)
    assert set(branch_view["branch"]) == {"Xiangzhou"}
    assert set(workorders.list_orders(store, ANALYST)["order_id"]) == {mine["order_id"],
                                                                      other["order_id"]}


def test_queue_shows_an_assignees_own_orders(store: sa.Engine):
    _order(store, assignee="channel_mgr")
    _order(store, assignee="account_mgr")
    queue = workorders.list_orders(store, CHANNEL, view="mine")
    assert set(queue["assignee"]) == {"channel_mgr"} and len(queue) == 1


# --- checklist --------------------------------------------------------------------------

def test_activation_drop_checklist_must_be_answered_before_resolving(store: sa.Engine):
    order = _order(store, metric="new_activations_7d")
    order = _move(store, CHANNEL, order, "accept")
    order = _move(store, CHANNEL, order, "start")
    with pytest.raises(ConcertoError, match="checklist: answer every question"):
        _move(store, CHANNEL, order, "resolve")
    with pytest.raises(ConcertoError, match="must be one of"):
        order_actions.save_checklist(store, CHANNEL, order["order_id"],
                                     {"stock_shortage": "maybe"}, version=order["version"])
    order = order_actions.save_checklist(
        store, CHANNEL, order["order_id"], {"stock_shortage": "yes", "goods_moved": "no",
                                            "rival_products": "yes", "low_footfall": "no"},
        version=order["version"], notes={"stock_shortage": "no SIMs since Monday"})
    answers = order_actions.checklist_answers(order)
    actions = rules.checklist_actions(rules.ACTIVATION_DROP_CHECKLIST, answers)
    assert [q.tag for q in actions] == ["stock_shortage", "rival_products"]
    assert answers["stock_shortage__note"] == "no SIMs since Monday"
    order = _move(store, CHANNEL, order, "resolve", note="stock transferred")
    assert order["state"] == "resolved"


# --- dispatch rules --------------------------------------------------------------------

def _alert(engine: sa.Engine, level: str, key: str, metric: str = "revenue") -> int:
    with engine.begin() as conn:
        return conn.execute(sa.insert(alert).values(
            raised_at=dt.datetime.now(dt.UTC), source="anomaly", metric=metric,
            unit_level=level, unit_key=key, unit_label=f"{level} {key}", observed_at="2026-10-31",
            score=0.97, actual=1.0, expected=2.0, message="dropped", status="open"
        )).inserted_primary_key[0]


def test_dispatch_rules_route_each_alert_to_its_owner(store: sa.Engine, duck_mart: str):
    from data_access.db import create_mart_engine

    mart = create_mart_engine(duck_mart, read_only=True)
    with mart.connect() as conn:
        regions = pd.read_sql("select region_id, micro_region from dim_region", conn)
        channel = conn.execute(sa.text(
            "select c.channel_id from dim_channel c join dim_region r using (region_id) "
            "where r.micro_region = 'Gongbei' order by 1 limit 1")).scalar_one()
        doumen_channel = conn.execute(sa.text(
            "select c.channel_id from dim_channel c join dim_region r using (region_id) "
            "where r.branch = 'Doumen' order by 1 limit 1")).scalar_one()
        group = conn.execute(sa.text("select min(group_id) from dim_group")).scalar_one()
    gongbei = int(regions.loc[regions["micro_region"] == "Gongbei", "region_id"].iloc[0])
    cases = {
        ("micro_region", str(gongbei), "revenue"): ("rm_gongbei", "alert", "Gongbei"),
        ("micro_region", "Jida", "revenue"): ("rm_xiangzhou", "alert", "Jida"),
        ("micro_region", "Sanzao", "revenue"): ("rm_jinwan", "alert", "Sanzao"),
        ("channel", str(channel), "new_activations_7d"): ("channel_mgr", "task", "Gongbei"),
        ("channel", str(doumen_channel), "new_activations"): ("channel_mgr", "task", None),
        ("group_id", str(group), "revenue"): ("account_mgr", "task", None),
        ("budget", "3", "budget_use_80"): ("admin", "alert", None),
        ("city", "all", "revenue"): ("analyst", "alert", None),
    }
    for (level, key, metric), (owner, kind, region) in cases.items():
        order_id = dispatch.dispatch_alert(store, mart, _alert(store, level, key, metric))
        order = workorders.load_order(store, None, order_id)
        assert (order["assignee"], order["kind"]) == (owner, kind), (level, key)
        assert order["state"] == ("dispatched" if owner else "new")
        if region:
            assert order["micro_region"] == region
    activation = workorders.list_orders(store, None, kinds=("task",))
    drop = activation[activation["metric"] == "new_activations_7d"].iloc[0]
    assert drop["priority"] == "high"
    hours = (drop["due_at"] - drop["created_at"]).total_seconds() / 3600
    assert hours == pytest.approx(48, abs=0.01)
    mart.dispose()


def test_dispatching_twice_makes_one_order_and_marks_the_alert(store: sa.Engine, duck_mart):
    from data_access.db import create_mart_engine

    mart = create_mart_engine(duck_mart, read_only=True)
    alert_id = _alert(store, "micro_region", "Gongbei")
    results: list[int | None] = []
    threads = [threading.Thread(target=lambda: results.append(
        dispatch.dispatch_alert(store, mart, alert_id))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert len(workorders.list_orders(store, None)) == 1
    assert dispatch.dispatch_open_alerts(store, mart) == []
    with store.connect() as conn:
        assert conn.execute(sa.select(alert.c.status)).scalar_one() == "dispatched"
    mart.dispose()


def test_the_least_loaded_owner_in_scope_gets_the_next_order(store: sa.Engine):
    auth.create_user(store, "rm_gongbei2", "Second-manager-1", "regional_manager",
                     display_name="Second Gongbei manager", scope_level="micro_region",
                     scope_value="Gongbei", actor="admin")
    with store.connect() as conn:
        first = dispatch.choose_owner(conn, "regional_manager", "Xiangzhou", "Gongbei")
    _order(store, assignee=first, micro_region="Gongbei")
    with store.connect() as conn:
        second = dispatch.choose_owner(conn, "regional_manager", "Xiangzhou", "Gongbei")
    assert {first, second} == {"rm_gongbei", "rm_gongbei2"}


# --- KPIs --------------------------------------------------------------------------------

def test_response_and_resolution_times_from_the_store(store: sa.Engine):
    order = _order(store)
    order = _move(store, CHANNEL, order, "accept")
    order = _move(store, CHANNEL, order, "start")
    _move(store, CHANNEL, order, "resolve")
    _order(store)
    frame = order_actions.load_kpi_frame(store, None)
    kpis = rules.order_kpis(frame, pd.Timestamp.now(tz="UTC"))
    assert kpis["orders"] == 2 and kpis["open"] == 1 and kpis["overdue"] == 0
    assert 0 <= kpis["response_hours"] < 0.1 and kpis["on_time_rate"] == 1.0
    status = rules.order_kpi_status(kpis)
    assert status["response_hours"] == "green"
    assert rules.order_kpi_status({**kpis, "response_hours": 4.5})["response_hours"] == "amber"
    assert rules.order_kpi_status({**kpis, "response_hours": 9.0})["response_hours"] == "red"


def test_an_alert_nobody_covers_waits_unassigned_for_a_dispatcher(store: sa.Engine, duck_mart):
    from data_access.db import create_mart_engine

    auth.set_active(store, "rm_jinwan", False, actor="admin")
    mart = create_mart_engine(duck_mart, read_only=True)
    order = workorders.load_order(store, None, dispatch.dispatch_alert(
        store, mart, _alert(store, "micro_region", "Sanzao")))
    assert (order["state"], order["assignee"], order["owner_role"]) == (
        "new", None, "regional_manager")
    assert list(workorders.list_orders(store, PEOPLE["analyst"], states=("new",))["order_id"]) \
        == [order["order_id"]]
    mart.dispose()


def test_the_lifecycle_module_examples_hold():
    import doctest

    result = doctest.testmod(rules)
    assert result.attempted >= 3 and result.failed == 0


def test_a_surge_in_activations_carries_no_drop_checklist(store: sa.Engine, duck_mart):
    from data_access.db import create_mart_engine

    mart = create_mart_engine(duck_mart, read_only=True)
    with store.begin() as conn:
        surge = conn.execute(sa.insert(alert).values(
            raised_at=dt.datetime.now(dt.UTC), source="anomaly", metric="new_activations_7d",
            unit_level="channel", unit_key="5", unit_label="Outlet 5", observed_at="2026-10-31",
            score=0.99, actual=40.0, expected=9.0, message="surge", status="open"
        )).inserted_primary_key[0]
    order = workorders.load_order(store, None, dispatch.dispatch_alert(store, mart, surge))
    assert rules.order_checklist(order) == ()
    drop = workorders.load_order(store, None, dispatch.dispatch_alert(
        store, mart, _alert(store, "channel", "6", "new_activations_7d")))
    assert [q.key for q in rules.order_checklist(drop)][0] == "stock_shortage"
    mart.dispose()


def test_units_are_placed_in_one_go_and_unknown_ones_say_so(duck_mart):
    from data_access.db import create_mart_engine

    mart = create_mart_engine(duck_mart, read_only=True)
    units = {("micro_region", "Gongbei"), ("micro_region", "Atlantis"), ("branch", "Doumen"),
             ("city", "all"), ("channel", "abc"), ("channel", "999999")}
    placed = dispatch.place_units(mart, units)
    assert placed[("micro_region", "Gongbei")] == ("Xiangzhou", "Gongbei")
    assert placed[("branch", "Doumen")] == ("Doumen", None)
    assert placed[("city", "all")] == (None, None)
    assert placed[("micro_region", "Atlantis")] is None
    assert placed[("channel", "abc")] is None and placed[("channel", "999999")] is None
    with pytest.raises(ConcertoError, match="named by its number"):
        dispatch.locate_unit(mart, "channel", "abc")
    with pytest.raises(ConcertoError, match="has no micro_region 'Atlantis'"):
        dispatch.locate_unit(mart, "micro_region", "Atlantis")
    mart.dispose()


def test_the_kpi_read_keeps_every_open_order_and_only_recent_finished_ones(store: sa.Engine):
    old_open, old_done, new_done = _order(store), _order(store), _order(store)
    for order in (old_done, new_done):
        order = _move(store, CHANNEL, order, "accept")
        order = _move(store, CHANNEL, order, "start")
        _move(store, CHANNEL, order, "resolve")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    with store.begin() as conn:
        conn.execute(sa.update(workorders.work_order).where(workorders.work_order.c.order_id.in_(
            [old_open["order_id"], old_done["order_id"]])).values(created_at=long_ago))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    frame = order_actions.load_kpi_frame(store, None, since=since)
    assert set(frame["order_id"]) == {old_open["order_id"], new_done["order_id"]}


# --- the due day, the next move, the board ---------------------------------------------

SHANGHAI = "Asia/Shanghai"


@pytest.mark.parametrize("year", [2026, 2028])  # 2028 has a 29 February
def test_every_picked_day_of_a_year_is_the_day_shown_afterwards(year: int):
    from analytics.formatting import format_day, format_time

    day = dt.date(year, 1, 1)
    while day.year == year:
        due = rules.due_at_for_day(day)
        assert due.tzinfo is not None and due.utcoffset() == dt.timedelta(0)
        assert rules.local_day(due) == day
        assert format_day(due) == day.isoformat()
        assert format_time(due) == f"{day.isoformat()} 18:00 UTC+8"
        # stored naive (SQLite drops the zone) and read back as UTC: still the same day
        assert rules.local_day(due.replace(tzinfo=None)) == day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize("utc, local_today, first", [
    # just before and after midnight in Shanghai (16:00 UTC)
    ("2026-12-07 15:59", dt.date(2026, 12, 7), dt.date(2026, 12, 8)),
    ("2026-12-07 16:00", dt.date(2026, 12, 8), dt.date(2026, 12, 8)),
    # just before and after midnight in UTC (08:00 in Shanghai)
    ("2026-12-07 23:59", dt.date(2026, 12, 8), dt.date(2026, 12, 8)),
    ("2026-12-08 00:00", dt.date(2026, 12, 8), dt.date(2026, 12, 8)),
    # around 18:00 in Shanghai (10:00 UTC), the time a picked day stands for
    ("2026-12-08 09:59", dt.date(2026, 12, 8), dt.date(2026, 12, 8)),
    ("2026-12-08 10:00", dt.date(2026, 12, 8), dt.date(2026, 12, 9)),
    # the last night of a year in both zones
    ("2026-12-31 16:30", dt.date(2027, 1, 1), dt.date(2027, 1, 1)),
    ("2026-12-31 23:30", dt.date(2027, 1, 1), dt.date(2027, 1, 1)),
])
def test_the_local_day_and_the_first_pickable_day_around_midnight(utc, local_today, first):
    now = pd.Timestamp(utc, tz="UTC")
    assert rules.local_day(now) == local_today
    assert rules.local_day(now.tz_convert(SHANGHAI)) == local_today  # either zone, same day
    assert rules.first_due_day(now) == first
    assert rules.due_at_for_day(first) > now  # a day the form offers never lies in the past
    if first > local_today:
        assert rules.due_at_for_day(local_today) <= now


def test_every_open_state_expects_one_move_it_allows():
    assert set(rules.NEXT_MOVE) == set(rules.STATES) - {"closed"}
    for state, action in rules.NEXT_MOVE.items():
        assert action in rules.allowed_actions(state), state
        assert rules.primary_action(state, rules.allowed_actions(state)) == action
    assert rules.primary_action("accepted", ["reject", "reassign"]) is None
    assert rules.primary_action("closed", []) is None
    assert set(rules.CONFIRM) == {"reject", "close"}
    assert "#12" in rules.consequence("reject", 12) and "final" in rules.consequence("close", 3)


def _frame(rows: list[dict]) -> pd.DataFrame:
    t = pd.Timestamp("2026-12-01", tz="UTC")
    base = {"priority": "normal", "title": "x", "assignee": None, "resolution": None,
            "resolved_at": pd.NaT, "closed_at": pd.NaT, "due_at": t}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_the_board_lanes_follow_the_lifecycle_and_end_with_closed_orders():
    t = pd.Timestamp("2026-12-01", tz="UTC")
    h = pd.Timedelta(hours=1)
    orders = _frame([{"order_id": i, "state": s, "due_at": t + (10 - i) * h}
                     for i, s in enumerate(["new", "rejected", "dispatched", "accepted",
                                            "in_progress", "resolved", "verified"])]
                    + [{"order_id": 20 + i, "state": "accepted", "due_at": t + i * h}
                       for i in range(10)])
    closed = _frame([{"order_id": 90 + i, "state": "closed", "closed_at": t + i * h,
                      "resolved_at": t if i % 2 else pd.NaT, "resolution": "restocked"}
                     for i in range(3)])
    lanes = rules.board_lanes(orders, closed)
    assert [lane.states for lane in lanes] == [
        ("new", "rejected"), ("dispatched",), ("accepted",), ("in_progress",), ("resolved",),
        ("verified",), ("closed",)]
    assert list(lanes[0].cards["order_id"]) == [1, 0]  # soonest deadline first
    assert lanes[2].total == 11 and len(lanes[2].cards) == 8  # bounded
    assert list(lanes[-1].cards["order_id"]) == [92, 91, 90]  # most recently closed first
    assert list(rules.outcomes(lanes[-1].cards)) == [
        "↩️ closed unresolved (rejected)", "✅ resolved: restocked",
        "↩️ closed unresolved (rejected)"]
    assert rules.outcomes(_frame([{"resolved_at": t}])).iloc[0] == "✅ resolved"


def _close(store: sa.Engine, order: dict, *, resolved: bool) -> dict:
    if resolved:
        for action in ("accept", "start", "resolve"):
            order = _move(store, CHANNEL, order, action)
        order = _move(store, RM_GONGBEI, order, "verify")
    else:
        order = _move(store, CHANNEL, order, "reject", note="not my outlet")
    return _move(store, ADMIN, order, "close")


def test_recently_closed_orders_are_bounded_newest_first_and_scoped(store: sa.Engine):
    done = [_close(store, _order(store), resolved=i == 0) for i in range(3)]
    elsewhere = _close(store, _order(store, micro_region="Sanzao", branch="Jinwan"),
                       resolved=False)
    _order(store)  # still open
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    with store.begin() as conn:
        conn.execute(sa.update(workorders.work_order).where(
            workorders.work_order.c.order_id == done[2]["order_id"]).values(closed_at=long_ago))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    everyone = workorders.recently_closed(store, ADMIN, since=since)
    assert list(everyone["order_id"]) == [elsewhere["order_id"], done[1]["order_id"],
                                          done[0]["order_id"]]
    assert list(workorders.recently_closed(store, ADMIN, since=since, limit=1)["order_id"]) \
        == [elsewhere["order_id"]]
    gongbei = workorders.recently_closed(store, RM_GONGBEI, since=since)
    assert list(gongbei["order_id"]) == [done[1]["order_id"], done[0]["order_id"]]
    assert str(everyone["closed_at"].dt.tz) == "UTC"


def test_the_dispatch_note_of_a_new_order_names_its_due_day_in_local_time(store: sa.Engine):
    day = dt.date.today() + dt.timedelta(days=3)
    order_id = workorders.create_order(
        store, ADMIN, kind="task", title="Check", unit_level="micro_region", unit_key="Gongbei",
        unit_label="Gongbei", branch="Xiangzhou", micro_region="Gongbei",
        owner_role="channel_manager", assignee="channel_mgr", due_at=rules.due_at_for_day(day))
    history = workorders.order_history(store, None, order_id)
    assert list(history["note"])[-1] == f"due {day.isoformat()} 18:00 UTC+8"
    assert rules.local_day(workorders.load_order(store, None, order_id)["due_at"]) == day

"""The work-order page under AppTest: one primary button for the expected move, confirmation
before reject and close, the closed column of the board, local labelled times, the due day."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from analytics.ops import workorders as rules
from data_access.store import order_actions
from data_access.store import workorders
from data_access.store.auth import Principal
from data_access.store.demo_users import DEMO_USERS
from data_access.store.workflow import audit_log, create_workflow_engine

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

PEOPLE = {u: Principal(u, name, role, level, value) for u, role, name, level, value in DEMO_USERS}
#: The moves that bring a new order assigned to channel_mgr into each state, and who makes them.
PATHS: dict[str, list[tuple[str, str]]] = {
    "dispatched": [],
    "accepted": [("channel_mgr", "accept")],
    "in_progress": [("channel_mgr", "accept"), ("channel_mgr", "start")],
    "resolved": [("channel_mgr", "accept"), ("channel_mgr", "start"),
                 ("channel_mgr", "resolve")],
    "verified": [("channel_mgr", "accept"), ("channel_mgr", "start"),
                 ("channel_mgr", "resolve"), ("rm_gongbei", "verify")],
    "rejected": [("channel_mgr", "reject")],
    "closed": [("channel_mgr", "reject"), ("admin", "close")],
}


def _order_in(url: str, state: str) -> int:
    """A Gongbei order brought into ``state`` through the store's own moves."""
    engine = create_workflow_engine(url)
    try:
        order_id = workorders.create_order(
            engine, PEOPLE["admin"], kind="task", title="Check outlet 5",
            unit_level="micro_region", unit_key="Gongbei", unit_label="Gongbei",
            branch="Xiangzhou", micro_region="Gongbei", owner_role="channel_manager",
            assignee=None if state == "new" else "channel_mgr",
            due_at=rules.due_at_for_day(dt.date.today() + dt.timedelta(days=5)))
        for person, action in PATHS.get(state, []):
            order = workorders.load_order(engine, None, order_id)
            order_actions.transition(engine, PEOPLE[person], order_id, action,
                                     version=order["version"], note=f"{action} note")
        return order_id
    finally:
        engine.dispose()


def _snapshot(url: str, order_id: int) -> tuple:
    """Everything a move writes: the order's row, its history and the audit log."""
    engine = create_workflow_engine(url)
    try:
        order = workorders.load_order(engine, None, order_id)
        history = workorders.order_history(engine, None, order_id)
        with engine.connect() as conn:
            audits = conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(
                audit_log.c.entity == "work_order",
                audit_log.c.entity_id == str(order_id))).scalar_one()
        return order, len(history), audits
    finally:
        engine.dispose()


def _open(app_as, who: str, order_id: int) -> AppTest:
    at = app_as(who)
    at.query_params["order"] = str(order_id)
    at.switch_page("pages/workorders.py").run()
    assert not at.exception, at.exception
    return at


def _primary(at: AppTest) -> list[str]:
    """Labels of the primary buttons of the order (the new-order form's own is elsewhere)."""
    return [b.label for b in at.button if b.proto.type == "primary" and b.key != "order_new_create"]


def _press(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("state, who, expected", [
    ("new", "admin", "Dispatch 派单"),
    ("dispatched", "channel_mgr", "Accept 接单"),
    ("accepted", "channel_mgr", "Start work 开始处理"),  # not Reject, as it once was
    ("in_progress", "channel_mgr", "Resolve 办结"),
    ("resolved", "admin", "Verify 核验通过"),
    ("verified", "admin", "Close 关闭 …"),
    ("rejected", "admin", "Reassign 改派"),
])
def test_each_state_shows_one_primary_button_for_its_expected_move(app_as, state, who,
                                                                   expected):
    at = _open(app_as, who, _order_in(app_as.workflow_url, state))
    assert _primary(at) == [expected]
    moves = [b for b in at.button if (b.key or "").startswith("order_move_")]
    assert len(moves) >= 1 and moves[0].label == expected  # and it comes first


def test_a_viewer_who_cannot_make_the_expected_move_gets_no_primary_but_is_told_whose(app_as):
    at = _open(app_as, "admin", _order_in(app_as.workflow_url, "dispatched"))
    assert _primary(at) == []
    assert [b.key for b in at.button if (b.key or "").startswith("order_move_")] == [
        "order_move_reassign"]
    assert any("Next on this order: Accept 接单, by channel_mgr" in c.value for c in at.caption)


def test_a_closed_order_offers_no_move(app_as):
    at = _open(app_as, "admin", _order_in(app_as.workflow_url, "closed"))
    assert _primary(at) == []
    assert not [b for b in at.button if (b.key or "").startswith("order_move_")]


def test_reject_writes_nothing_until_confirmed_with_a_reason(app_as):
    url = app_as.workflow_url
    order_id = _order_in(url, "accepted")
    before = _snapshot(url, order_id)
    at = _open(app_as, "channel_mgr", order_id)
    _press(at, "order_move_reject")
    warning = " ".join(w.value for w in at.warning)
    assert f"Reject work order #{order_id}" in warning and "dispatcher" in warning
    assert _primary(at) == ["Yes, Reject 退单 确认"]  # the one primary is now the confirmation
    assert _snapshot(url, order_id) == before
    _press(at, "order_confirm_no")  # cancelled: back to the moves, nothing written
    assert at.button(key="order_move_start").proto.type == "primary"
    assert _snapshot(url, order_id) == before
    _press(at, "order_move_reject")
    _press(at, "order_confirm_yes")  # without a reason: refused, still nothing written
    assert any("note: say why" in e.value for e in at.error)
    assert _snapshot(url, order_id) == before
    at.text_area(key="order_confirm_note").set_value("Outlet 5 belongs to Jida")
    _press(at, "order_confirm_yes")
    order, events, audits = _snapshot(url, order_id)
    assert order["state"] == "rejected" and order["version"] == before[0]["version"] + 1
    assert (events, audits) == (before[1] + 1, before[2] + 1)
    assert at.dataframe[-1].value["note"].iloc[-1] == "Outlet 5 belongs to Jida"


def test_close_writes_nothing_until_confirmed(app_as):
    url = app_as.workflow_url
    order_id = _order_in(url, "verified")
    before = _snapshot(url, order_id)
    at = _open(app_as, "admin", order_id)
    _press(at, "order_move_close")
    assert any(f"Close work order #{order_id}" in w.value and "final" in w.value
               for w in at.warning)
    assert _snapshot(url, order_id) == before
    at.run()  # a rerun alone writes nothing either
    assert _snapshot(url, order_id) == before
    _press(at, "order_confirm_yes")
    assert _snapshot(url, order_id)[0]["state"] == "closed"
    assert not [b for b in at.button if (b.key or "").startswith("order_move_")]


def test_a_confirmation_seen_before_someone_else_moved_the_order_is_dropped(app_as):
    url = app_as.workflow_url
    order_id = _order_in(url, "accepted")
    at = _open(app_as, "channel_mgr", order_id)
    _press(at, "order_move_reject")
    engine = create_workflow_engine(url)
    order = workorders.load_order(engine, None, order_id)
    order_actions.comment(engine, PEOPLE["admin"], order_id, "on my way",
                          version=order["version"])
    engine.dispose()
    at.run()
    assert not at.exception, at.exception
    assert "order_confirm_yes" not in [b.key for b in at.button]  # asked again, from the start
    assert _snapshot(url, order_id)[0]["state"] == "accepted"


def test_the_board_shows_recently_closed_orders_in_a_closed_column(app_as):
    url = app_as.workflow_url
    closed = _order_in(url, "closed")
    done = _order_in(url, "verified")
    engine = create_workflow_engine(url)
    order = workorders.load_order(engine, None, done)
    order_actions.transition(engine, PEOPLE["admin"], done, "close", version=order["version"])
    engine.dispose()
    waiting = _order_in(url, "accepted")
    at = app_as("admin")
    at.switch_page("pages/workorders.py").run()
    assert not at.exception, at.exception
    board = next(t for t in at.tabs if t.label == "Board 看板")
    heads = [c.markdown[0].value for c in board.columns]
    assert heads[-1].endswith("closed 已关闭** · 2")
    assert [h.split("** ·")[0].split(" ", 1)[1] for h in heads] == [
        title for title, _ in rules.BOARD_LANES]
    last = board.columns[-1]
    cards = " ".join(m.value for m in last.markdown)
    assert f"#{closed}**" in cards and f"#{done}**" in cards and f"#{waiting}**" not in cards
    outcomes = " ".join(c.value for c in last.caption)
    assert "✅ resolved: resolve note" in outcomes
    assert "↩️ closed unresolved (rejected)" in outcomes
    assert f"#{waiting}**" in " ".join(m.value for m in board.columns[2].markdown)


_TIME = re.compile(r"\d{2}:\d{2}")


def test_every_time_on_the_order_page_is_local_and_labelled(app_as):
    order_id = _order_in(app_as.workflow_url, "resolved")
    at = _open(app_as, "admin", order_id)
    texts = ([m.value for m in at.markdown] + [c.value for c in at.caption]
             + [str(v) for d in at.dataframe for v in d.value.astype(str).to_numpy().ravel()])
    timed = [t for t in texts if _TIME.search(t)]
    assert timed, "the page shows no time at all"
    for text in timed:
        for match in _TIME.finditer(text):
            assert text[match.end():].startswith(" UTC+8"), text
    header = next(c.value for c in at.caption if c.value.startswith("created "))
    assert header.count("UTC+8") == 4  # created, dispatched, accepted, resolved
    assert at.dataframe[-1].value["at"].str.endswith(" UTC+8").all()  # the history


def test_the_day_picked_for_a_new_order_is_the_day_shown_afterwards(app_as):
    at = app_as("admin")
    at.switch_page("pages/workorders.py").run()
    now = pd.Timestamp.now(tz="UTC")
    day = rules.first_due_day(now) + dt.timedelta(days=3)
    at.date_input(key="order_new_due").set_value(day)
    at.text_input(key="order_new_title").set_value("Restock Gongbei")
    at.text_input(key="order_new_unit").set_value("Gongbei")
    at.text_input(key="order_new_assignee").set_value("channel_mgr")
    _press(at, "order_new_create")
    assert any("Created work order" in s.value for s in at.success), [e.value for e in at.error]
    order_id = at.session_state["orders_selected"]
    engine = create_workflow_engine(app_as.workflow_url)
    stored = workorders.load_order(engine, None, order_id)["due_at"]
    engine.dispose()
    assert rules.local_day(stored) == day
    shown = f"{day.isoformat()} 18:00 UTC+8"
    assert any(f"**Due** {shown}" in m.value for m in at.markdown)
    history = at.dataframe[-1].value
    assert history["note"].iloc[-1] == f"due {shown}"
    listed = next(d.value for d in at.dataframe if "order" in d.value.columns
                  and order_id in set(d.value["order"]))
    assert listed.loc[listed["order"] == order_id, "due"].iloc[0] == shown


def test_the_day_picked_on_the_channels_page_is_the_order_s_due_day(app_as):
    at = app_as("channel_mgr")
    at.session_state["channels_tab"] = "Channel view 渠道全息"  # the order form's tab
    at.switch_page("pages/channels.py").run()
    assert not at.exception, at.exception
    day = rules.first_due_day(pd.Timestamp.now(tz="UTC")) + dt.timedelta(days=4)
    at.date_input(key="channels_order_due").set_value(day)
    at.button(key="channels_order_submit").click().run()
    assert not at.exception, at.exception
    engine = create_workflow_engine(app_as.workflow_url)
    order = workorders.load_order(engine, None, 1)
    engine.dispose()
    assert rules.local_day(order["due_at"]) == day
    at = _open(app_as, "channel_mgr", 1)
    assert any(f"**Due** {day.isoformat()} 18:00 UTC+8" in m.value for m in at.markdown)


def test_a_confirmation_is_dropped_when_another_order_is_opened(app_as):
    url = app_as.workflow_url
    first, second = _order_in(url, "accepted"), _order_in(url, "accepted")
    at = _open(app_as, "channel_mgr", first)
    _press(at, "order_move_reject")
    assert "order_confirm_yes" in [b.key for b in at.button]
    at.session_state["orders_selected"] = second
    at.run()
    assert "order_confirm_yes" not in [b.key for b in at.button]
    at.session_state["orders_selected"] = first
    at.run()
    assert "order_confirm_yes" not in [b.key for b in at.button]  # not asked again unprompted
    assert at.button(key="order_move_start").proto.type == "primary"
    assert _snapshot(url, first)[0]["state"] == _snapshot(url, second)[0]["state"] == "accepted"

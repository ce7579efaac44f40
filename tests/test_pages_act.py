"""Sign-in, roles and the work-order page under AppTest."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access.store import auth
from data_access.store import workorders
from data_access.store.workflow import alert, create_workflow_engine
from tests.test_readable_pages import unreadable

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_sign_in_refuses_a_wrong_password_then_lets_the_right_one_in(app_as):
    at = app_as("analyst")
    del at.session_state["principal"]
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="login_username") is not None
    assert not at.metric  # nothing of the mart shows before signing in
    at.text_input(key="login_username").set_value("channel_mgr")
    at.text_input(key="login_password").set_value("wrong-password-1")
    at.button[0].click().run()
    assert any("Unknown username or wrong password" in e for e in _errors(at))
    assert "principal" not in at.session_state
    at.text_input(key="login_username").set_value("channel_mgr")
    at.text_input(key="login_password").set_value("Concerto-2026!channel_manager")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["principal"].role == "channel_manager"
    # signed in at "/": the channel manager's own page
    assert at.title[0].value == "Channels 渠道管理"


def test_five_wrong_passwords_lock_the_account_in_the_form(app_as):
    at = app_as("analyst")
    del at.session_state["principal"]
    at.run()
    for _ in range(auth.MAX_FAILED_LOGINS):
        at.text_input(key="login_username").set_value("marketer")
        at.text_input(key="login_password").set_value("not-the-password-9")
        at.button[0].click().run()
    at.text_input(key="login_username").set_value("marketer")
    at.text_input(key="login_password").set_value("Concerto-2026!marketer")
    at.button[0].click().run()
    assert any("locked" in e for e in _errors(at))
    assert "principal" not in at.session_state


def test_a_regional_manager_sees_only_their_region_in_the_sandbox(app_as):
    at = app_as("rm_gongbei")
    at.run()
    assert not at.exception, at.exception
    region = at.sidebar.selectbox(key="global_micro_region")
    assert {o.split(" ")[0] for o in region.options} <= {"Gongbei", "All"}
    at.query_params["drill"] = "channel_type:social_outlet"
    at.run()
    control = at.segmented_control(key="sandbox_level_1")
    control.set_value("subscribers").run()
    assert not at.exception, at.exception
    rows = at.dataframe[-1].value
    assert len(rows) and (rows["micro_region"] == "Gongbei").all()
    assert rows["number"].str.fullmatch(r"\d{7}\*{4}").all()


def test_an_account_manager_sees_full_numbers(app_as):
    at = app_as("account_mgr")
    at.query_params["drill"] = "micro_region:Gongbei"
    at.run()
    at.segmented_control(key="sandbox_level_1").set_value("subscribers").run()
    assert not at.exception, at.exception
    rows = at.dataframe[-1].value
    assert rows["number"].str.fullmatch(r"\d{11}").all()


def test_a_regional_manager_cannot_open_the_mart_internals(app_as):
    at = app_as("rm_gongbei")
    at.switch_page("pages/mart.py").run()
    assert not at.exception, at.exception
    assert any("may not" in i.value for i in at.info)


def _raise_activation_alert(url: str, channel_id: int) -> None:
    engine = create_workflow_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(alert).values(
            raised_at=dt.datetime.now(dt.UTC), source="anomaly", metric="new_activations_7d",
            unit_level="channel", unit_key=str(channel_id), unit_label=f"Outlet {channel_id}",
            observed_at="2026-10-31", score=0.99, actual=3.0, expected=21.0,
            message="7-day new activations 3 against 21 expected", status="open"))
    engine.dispose()


def test_work_orders_page_walks_an_order_to_closed(app_as, duck_mart):
    from data_access.db import create_mart_engine

    # Through the app's own engine factory: a raw duckdb.connect with another configuration
    # fails while any earlier test still holds the file open in this process.
    mart = create_mart_engine(duck_mart, read_only=True)
    with mart.connect() as conn:
        channel = conn.execute(sa.text(
            "select min(c.channel_id) from dim_channel c join dim_region r "
            "using (region_id) where r.micro_region = 'Gongbei'")).scalar_one()
    mart.dispose()
    # the analyst dispatches the open alert by the rules
    analyst = app_as("analyst")
    analyst.switch_page("pages/workorders.py").run()
    assert not analyst.exception, analyst.exception
    _raise_activation_alert(app_as.workflow_url, channel)
    analyst.button(key="orders_dispatch").click().run()
    assert any("new order(s)" in s.value for s in analyst.success)
    engine = create_workflow_engine(app_as.workflow_url)
    orders = workorders.list_orders(engine, None)
    engine.dispose()
    order_id = int(orders.loc[orders["metric"] == "new_activations_7d", "order_id"].iloc[0])
    # the channel manager finds it in their queue, accepts, answers the checklist, resolves
    worker = app_as("channel_mgr")
    worker.query_params["order"] = str(order_id)
    worker.switch_page("pages/workorders.py").run()
    assert not worker.exception, worker.exception
    assert "My queue 我的待办 (1)" in [t.label for t in worker.tabs]
    assert worker.session_state["orders_selected"] == order_id

    def press(at: AppTest, label: str) -> None:
        next(b for b in at.button if b.label.startswith(label)).click().run()
        assert not at.exception, at.exception

    press(worker, "Accept")
    press(worker, "Start work")
    press(worker, "Resolve")
    assert any("note: say why" in e for e in _errors(worker))
    for key in ("stock_shortage", "goods_moved", "rival_products", "low_footfall"):
        worker.radio(key=f"check_{key}").set_value("yes" if key == "stock_shortage" else "no")
    press(worker, "Save answers")
    assert any("stock transfer" in i.value for i in worker.info)
    # the first tactic offered answers the checklist; its cost is booked on their budget
    offered = worker.selectbox(key="order_tactic")
    assert offered.options[0].startswith("⭐")
    assert worker.selectbox(key="order_budget").value is not None  # their own budget first
    press(worker, "Pick and book")
    frames = {tuple(d.value.columns): d.value for d in worker.dataframe}
    picks = next(f for cols, f in frames.items() if "pick_id" in cols)
    bookings = next(f for cols, f in frames.items() if "booking_id" in cols)
    assert len(picks) == 1 and len(bookings) == 1
    assert bookings["status"].iloc[0] == "booked"
    assert bookings["amount"].iloc[0] == picks["total_cost"].iloc[0]
    def booking_status() -> str:
        frames = {tuple(d.value.columns): d.value for d in worker.dataframe}
        return next(f for cols, f in frames.items() if "booking_id" in cols)["status"].iloc[0]

    # settling a booking is final: asked first, nothing written until "Yes"
    press(worker, "Release")
    assert any("goes back to the quota" in w.value for w in worker.warning)
    press(worker, "Cancel")
    assert booking_status() == "booked"
    press(worker, "Confirm spent")
    assert any("counts as spent" in w.value for w in worker.warning)
    assert booking_status() == "booked"
    press(worker, "Yes, confirm spent")
    assert booking_status() == "confirmed"
    worker.text_area(key="order_note").set_value("SIMs restocked from the Jida store")
    press(worker, "Resolve")
    history = worker.dataframe[-1].value
    assert list(history["action"])[-1] == "Resolve 办结"
    # the regional manager of Gongbei verifies it
    manager = app_as("rm_gongbei")
    manager.query_params["order"] = str(order_id)
    manager.switch_page("pages/workorders.py").run()
    press(manager, "Verify")
    assert list(manager.dataframe[-1].value["to_state"])[-1] == "verified 已核验"
    # the analyst closes it, once they have confirmed; it then ends the board's row
    analyst.query_params["order"] = str(order_id)
    analyst.run()
    press(analyst, "Close 关闭")
    assert list(analyst.dataframe[-1].value["to_state"])[-1] == "verified 已核验"
    press(analyst, "Yes, Close 关闭")
    assert list(analyst.dataframe[-1].value["to_state"])[-1] == "closed 已关闭"
    closed_lane = next(t for t in analyst.tabs if t.label == "Board 看板").columns[-1]
    assert any(f"#{order_id}**" in m.value for m in closed_lane.markdown)
    # someone in Doumen never sees it
    elsewhere = app_as("rm_xiangzhou")
    elsewhere.switch_page("pages/workorders.py").run()
    listed = [t.label for t in elsewhere.tabs]
    assert "All I can see 全部 (1)" in listed  # Gongbei lies in Xiangzhou; budgets do not


def test_admin_page_creates_a_user_and_shows_the_audit(app_as):
    at = app_as("admin")
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert "channel_mgr" in set(at.dataframe[0].value["Username 用户名"])
    form = at.text_input
    form[0].set_value("li.ming")
    form[1].set_value("Li Ming")
    form[2].set_value("short")
    next(b for b in at.button if b.label == "Create 创建").click().run()
    assert any("password: must be at least 10" in e.value for e in at.error)
    at.text_input[2].set_value("Li-Ming-2026x")
    next(b for b in at.button if b.label == "Create 创建").click().run()
    assert not at.exception, at.exception
    assert "li.ming" in set(at.dataframe[0].value["Username 用户名"])
    assert len(at.dataframe) == 1  # the audit log's tab is closed: not read, not drawn
    at.session_state["admin_tab"] = "Audit log 审计日志"
    at.run()
    at.text_input(key="admin_actor").set_value("admin").run()
    at.session_state["admin_tab"] = "Users 用户"
    at.run()
    at.session_state["admin_tab"] = "Audit log 审计日志"
    at.run()
    assert at.text_input(key="admin_actor").value == "admin"  # the filter kept across tabs
    audit = at.dataframe[0].value
    assert audit.iloc[0]["Action 操作"] == "user_create" and audit.iloc[0]["Username 用户名"] == "admin"
    assert audit.iloc[0]["When 时间"].endswith("UTC+8")  # local time, labelled
    assert "Li-Ming-2026x" not in audit.to_csv()  # the password never reaches the audit
    assert unreadable(at) == []


def test_front_line_roles_cannot_open_user_admin(app_as):
    at = app_as("channel_mgr")
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert any("may not manage users" in i.value for i in at.info)


def test_the_sandbox_shows_response_and_resolution_times(app_as):
    import datetime as dt

    from data_access.store.auth import Principal

    engine = create_workflow_engine(app_as.workflow_url)
    workorders.create_order(
        engine, Principal("admin", "Admin", "administrator"), kind="task", title="Restock",
        unit_level="micro_region", unit_key="Gongbei", unit_label="Gongbei", branch="Xiangzhou",
        micro_region="Gongbei", owner_role="regional_manager", assignee="rm_gongbei",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=8))
    engine.dispose()
    at = app_as("exec")
    at.run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Open orders 未完成"] == "1"
    assert any(label.endswith("Response time 响应时长") for label in labels)

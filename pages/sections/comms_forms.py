"""Forms and charts of the communications page: requests, decisions, resources, budgets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import format_value
from data_access.store import comms
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from data_access.mart.schema import DEPARTMENTS
from pages.common.plaintext import plain  # user text shown as text


#: Headers of the request plan and the resource catalogue (the words a planner uses).
REQUEST_LABELS = {"request_id": "Request 申请", "resource": "Resource 资源", "medium": "Medium 媒介",
                  "quantity": "Quantity 数量", "start_day": "From 开始", "end_day": "To 结束",
                  "requested_by": "Requested by 申请人"}
RESOURCE_LABELS = {"code": "Code 编码", "name": "Resource 资源", "medium": "Medium 媒介",
                   "unit_cost": "Unit cost 单价", "cost_unit": "Per 计价单位",
                   "period_days": "Days 天数", "theme": "Theme 主题", "coverage": "Coverage 覆盖"}


def manages_budgets(who: Principal) -> bool:
    """Whether ``who`` sets or spends communications budgets (executives, marketers, admins)."""
    return who.can("allocate_budgets") or who.can("manage_campaigns")


def budget_banner(current: pd.DataFrame, who: Principal) -> None:
    """This year's budget trouble as one compact warning, for those who manage budgets.

    Everyone else gets at most a caption: the numbers are on the Budgets tab.
    """
    trouble = current[current["level"].isin(["over", "no budget", "warn"])]
    if trouble.empty:
        return
    if not manages_budgets(who):
        st.caption(f"{len(trouble)} department budget(s) need attention; see the Budgets tab.")
        return

    def line(row: Any) -> str:
        name = DEPARTMENTS.get(row.department, row.department)
        if row.level == "over":
            return (f"{name} {row.year}: over — {format_value(row.committed, 'yuan')} committed "
                    f"of {format_value(row.amount, 'yuan')}")
        if row.level == "no budget":
            return f"{name} {row.year}: no budget set — {format_value(row.committed, 'yuan')} committed"
        return f"{name} {row.year}: {format_value(row.share, 'pct')} of the budget committed"

    order = {"over": 0, "no budget": 1, "warn": 2}
    rows = sorted(trouble.itertuples(), key=lambda r: order[r.level])
    st.warning("**Budgets 预算** — " + "; ".join(line(r) for r in rows) + ".", icon="💰")


def _run(action: Any, done: str) -> None:
    try:
        action()
    except ConcertoError as exc:
        st.error(plain(exc))
    else:
        st.success(done)


def plan_chart(requests: pd.DataFrame) -> alt.Chart:
    """The plan as a Gantt chart: one bar per request, coloured by medium."""
    data = requests.assign(start=pd.to_datetime(requests["start_day"]),
                           end=pd.to_datetime(requests["end_day"]) + pd.Timedelta(days=1),
                           shown=[format_value(v, "yuan") for v in requests["cost"]],
                           label=requests["department"] + " · " + requests["title"])
    return alt.Chart(data).mark_bar(cornerRadius=2).encode(
        x=alt.X("start:T", title=None), x2="end:T",
        y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=260)),
        color=alt.Color("medium:N", title="medium"),
        opacity=alt.condition(alt.datum.status == "rejected", alt.value(0.25), alt.value(0.9)),
        tooltip=["request_id", "department", "title", "resource", "status",
                 alt.Tooltip("shown", title="cost"), alt.Tooltip("start_day:T", title="from"),
                 alt.Tooltip("end_day:T", title="to")],
    ).properties(height=max(160, 24 * data["label"].nunique()))


def request_form(workflow: Any, who: Principal, resources: pd.DataFrame) -> None:
    if not who.can("book_budget"):
        st.caption("Your role reads the plan; departments' planners add requests.")
        return
    with st.form("comms_request_form"):
        cols = st.columns(3)
        department = cols[0].selectbox("Department 部门", list(DEPARTMENTS),
                                       format_func=DEPARTMENTS.get, key="comms_req_dept")
        code = cols[1].selectbox("Resource 资源", resources["code"].tolist(), key="comms_req_res",
                                 format_func=dict(zip(resources["code"], resources["name"])).get)
        quantity = cols[2].number_input("Units 数量", 1, comms.MAX_QUANTITY, 1, key="comms_req_qty")
        title = st.text_input("Title 标题", key="comms_req_title")
        theme = st.text_input("Theme 主题", key="comms_req_theme")
        cols = st.columns(2)
        start = cols[0].date_input("From 开始", dt.date.today() + dt.timedelta(days=14),
                                   key="comms_req_start")
        end = cols[1].date_input("To 结束", dt.date.today() + dt.timedelta(days=28),
                                 key="comms_req_end")
        sent = st.form_submit_button("Add request 提交申请", type="primary")
    if sent:
        _run(lambda: comms.submit_request(
            workflow, who, department=department, title=title, theme=theme, resource_code=code,
            quantity=quantity, start_day=start, end_day=end), "Request added to the plan.")


def decision_form(workflow: Any, who: Principal, requests: pd.DataFrame) -> None:
    """Move one open request to a state its current state allows (campaign managers)."""
    if not who.can("manage_campaigns"):
        return
    open_ = requests[requests["status"].isin(["requested", "approved", "booked"])]
    if open_.empty:
        return
    with st.container(border=True):
        cols = st.columns([3, 2, 1], vertical_alignment="bottom")
        labels = {int(r.request_id): f"#{r.request_id} {r.title} · {r.resource} ({r.status})"
                  for r in open_.itertuples()}
        rid = cols[0].selectbox("Request 申请", list(labels), format_func=labels.get,
                                key="comms_decide_id")
        row = open_[open_["request_id"] == rid].iloc[0]
        status = cols[1].selectbox("Move to 变更为", comms.NEXT_STATES[row["status"]],
                                   key="comms_decide_status")
        if cols[2].button("Apply 确认", key="comms_decide_apply"):
            _run(lambda: comms.move_request(workflow, who, rid, status,
                                            version=int(row["version"])),
                 f"Request #{rid} is now {status}.")


def resource_form(workflow: Any, who: Principal) -> None:
    if not who.can("manage_campaigns"):
        return
    with st.expander("Add a resource 新增资源"):
        with st.form("comms_resource_form"):
            cols = st.columns(3)
            code = cols[0].text_input("Code 编码", key="comms_res_code")
            name = cols[1].text_input("Name 名称", key="comms_res_name")
            medium = cols[2].selectbox("Medium 媒介", list(comms.MEDIA), format_func=comms.MEDIA.get,
                                       key="comms_res_medium")
            cols = st.columns(4)
            cost = cols[0].number_input("Unit cost ¥ 单价", 0.0, 1e8, 1000.0, key="comms_res_cost")
            unit = cols[1].text_input("Cost unit 计价单位", "week", key="comms_res_unit")
            days = cols[2].number_input("Days per unit 周期(天)", 1, 366, 7, key="comms_res_days")
            theme = cols[3].text_input("Theme 适用主题", "brand", key="comms_res_theme")
            coverage = st.text_input("Coverage 覆盖", "city", key="comms_res_coverage")
            sent = st.form_submit_button("Add 新增")
        if sent:
            row = {"code": code, "name": name, "medium": medium, "unit_cost": cost,
                   "cost_unit": unit, "period_days": days, "theme": theme, "coverage": coverage}
            _run(lambda: comms.add_resources(workflow, who, [row]), f"Resource {code} added.")


def budget_form(workflow: Any, who: Principal) -> None:
    if not who.can("allocate_budgets"):
        return
    with st.form("comms_budget_form"):
        cols = st.columns(3)
        department = cols[0].selectbox("Department 部门", list(DEPARTMENTS),
                                       format_func=DEPARTMENTS.get, key="comms_bud_dept")
        year = cols[1].number_input("Year 年度", 2020, 2100, dt.date.today().year,
                                    key="comms_bud_year")
        amount = cols[2].number_input("Budget ¥ 预算", 0.0, 1e10, 500_000.0, step=10_000.0,
                                      key="comms_bud_amount")
        sent = st.form_submit_button("Set budget 设定预算")
    if sent:
        _run(lambda: comms.set_budget(workflow, who, department, int(year), amount),
             "Budget set.")

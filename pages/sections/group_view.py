"""Sections of the enterprise-group page 集团客户管理: the portfolio, the early-warning list
with its button, one group's trends, lines and orders, and the rescue shown on a work order."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import format_month
from analytics.groups import OUTCOMES, SIGNALS
from data_access.db import ConcertoError
from data_access.mart.schema import GROUP_PRODUCTS
from data_access.store import scope
from data_access.store.groups import rescue as group_rescue
from data_access.store.auth import Principal
from jobs.groups import scan_groups
from pages.common import cache
from pages.common.plaintext import plain
from pages.common.tables import show_table

LABELS = {
    "group_name": "Group 集团", "industry": "Industry 行业", "account_manager": "Account manager 客户经理",
    "members": "Members 成员数", "member_churn": "Member churn (3 months) 成员流失率",
    "lines": "Active lines 在用专线/产品", "products": "Products 产品",
    "revenue": "Revenue this month 当月收入", "net_value": "Net value 净价值",
    "net_value_change": "Net value vs 3 months ago 净价值变化",
    "next_contract_end": "Next contract end 最近合约到期", "warnings": "Warnings 预警数",
    "severity": "Severity 级别", "line_id": "Line 专线", "product": "Product 产品",
    "signal": "Signal 预警类型", "since": "Low since 起始月", "fall": "Below usual 低于常态",
    "latest_fall": "Latest month below usual 当月降幅", "z": "Standard errors 标准误",
    "evidence": "Evidence 证据", "monthly_fee": "Monthly fee 月租", "start_month": "Start 开通",
    "contract_end": "Contract end 合约到期", "cancel_month": "Cancelled from 拆机月",
    "traffic": "Traffic 流量", "order_id": "Order 工单", "title": "Title 标题",
    "state": "State 状态", "assignee": "Assignee 处理人", "due_at": "Due 截止",
    "warned_month": "Warned 预警月", "offer_code": "Offer suggested 建议挽留工具",
    "picked": "Offer picked 已领用工具", "outcome": "Outcome 结果",
    "outcome_month": "Decided 判定月", "outcome_note": "How 依据",
}
_CONFIRM = "groups_confirm_raise"


def portfolio_table(frame: pd.DataFrame) -> None:
    """The portfolio, worst warnings first, with its CSV."""
    shown = frame.assign(products=frame["products"].map(
        lambda p: ", ".join(GROUP_PRODUCTS.get(x, x) for x in p.split(", ")) if p else ""))
    show_table(shown.drop(columns=["group_id"]), {
        "member_churn": "pct", "revenue": "yuan", "net_value": "yuan",
        "net_value_change": "pct", "next_contract_end": "month", "members": "count",
        "lines": "count", "warnings": "count"}, labels=LABELS, key="groups_portfolio",
        csv=("Download the portfolio (CSV)", "group_portfolio.csv"))


def warning_table(warnings: pd.DataFrame) -> None:
    """The early-warning list with its evidence, with its CSV."""
    shown = warnings.assign(signal=warnings["signal"].map(SIGNALS),
                            product=warnings["product"].map(GROUP_PRODUCTS))
    show_table(shown[["group_name", "line_id", "product", "signal", "severity", "since", "fall",
                      "latest_fall", "z", "evidence"]],
               {"since": "month", "fall": "pct", "latest_fall": "pct", "z": "number"},
               labels=LABELS, key="groups_warnings",
               csv=("Download the warnings (CSV)", "group_warnings.csv"))


def raise_button(who: Principal, as_of: pd.Timestamp, count: int) -> None:
    """Raise the warnings as alerts and work orders for the account managers, after a
    confirmation (orders reach people); refused without the permission to act on alerts."""
    if not who.can("act_on_alerts"):
        st.caption("Your role reads the warnings; account managers, regional managers and "
                   "analysts raise them as work orders (the nightly job does too).")
        return
    if not st.session_state.get(_CONFIRM):
        if st.button(f"Raise {count} warning(s) as work orders 生成工单", key="groups_raise"):
            st.session_state[_CONFIRM] = True
            st.rerun()
        return
    st.warning(f"This raises the warnings of {format_month(as_of)} as alerts and dispatches a "
               "work order to each group's account manager. Warnings already on an open "
               "rescue are not raised again.")
    go, cancel = st.columns(2)
    if cancel.button("Cancel 取消", key="groups_raise_cancel"):
        st.session_state.pop(_CONFIRM, None)
        st.rerun()
    if go.button("Yes, raise them 确认生成", type="primary", key="groups_raise_yes"):
        st.session_state.pop(_CONFIRM, None)
        try:
            with scope.acting_as(who):
                scan = scan_groups(cache.workflow_engine(), cache.mart_engine(), as_of=as_of,
                                   actor=who)
        except ConcertoError as exc:
            st.error(plain(exc))
            return
        st.success(f"{scan.new_alerts} new alert(s); {scan.new_rescues} new rescue(s) on "
                   f"{len(scan.orders)} work order(s). See Work orders 工单.")


def trend_charts(trend: pd.DataFrame) -> None:
    """Members, and revenue with net value, month by month."""
    left, right = st.columns(2)
    left.altair_chart(alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("month:T", title=None), y=alt.Y("members:Q", title="Members 成员数"),
        tooltip=["month:T", "members:Q"]), width="stretch")
    money = trend.melt(id_vars="month", value_vars=["revenue", "net_value"], var_name="measure",
                       value_name="yuan").assign(measure=lambda f: f["measure"].map(
                           {"revenue": "Revenue 收入", "net_value": "Net value 净价值"}))
    right.altair_chart(alt.Chart(money).mark_line(point=True).encode(
        x=alt.X("month:T", title=None), y=alt.Y("yuan:Q", title="Yuan 元"),
        color=alt.Color("measure:N", title=None), tooltip=["month:T", "measure:N", "yuan:Q"]),
        width="stretch")


def line_section(lines: pd.DataFrame, line_months: pd.DataFrame, key: str) -> None:
    """The group's lines with their contracts, and each line's monthly traffic."""
    if lines.empty:
        st.caption("This group has no lines or products in the mart.")
        return
    shown = lines.assign(product=lines["product"].map(GROUP_PRODUCTS))
    show_table(shown[["line_id", "product", "monthly_fee", "start_month", "contract_end",
                      "cancel_month"]],
               {"monthly_fee": "yuan", "start_month": "month", "contract_end": "month",
                "cancel_month": "month"}, labels=LABELS, key=f"{key}_lines",
               csv=("Download the lines (CSV)", "group_lines.csv"))
    data = line_months.assign(line=lambda f: "line " + f["line_id"].astype(str))
    st.altair_chart(alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("traffic:Q", title="Traffic (GB or thousand units) 流量"),
        facet=alt.Facet("line:N", columns=3, title=None),
        tooltip=["month:T", "traffic:Q", "revenue:Q"]).properties(height=120).resolve_scale(
            y="independent"))


def rescue_table(rescues: pd.DataFrame, key: str) -> None:
    """Rescues: what was warned, the offer suggested and picked, the outcome."""
    if rescues.empty:
        st.caption("No warning of this group has been raised as a work order yet.")
        return
    shown = rescues.assign(signal=rescues["signal"].map(SIGNALS),
                           outcome=rescues["outcome"].map(OUTCOMES))
    show_table(shown[["order_id", "line_id", "signal", "warned_month", "severity", "fall",
                      "offer_code", "picked", "outcome", "outcome_month", "outcome_note"]],
               {"fall": "pct"}, labels=LABELS, key=key)


def rescue_panel(engine, order: dict) -> None:
    """On a work order: the group rescue it carries, if any (read inside the viewer's scope)."""
    if order.get("unit_level") != "group":
        return
    rescues = group_rescue.list_rescues(engine, order_id=order["order_id"])
    if rescues.empty:
        return
    st.markdown("#### Group rescue 集团挽留")
    st.caption("What the early warning saw, the offer suggested (pick it under Arsenal and "
               "budget) and how it ended, measured from the mart by the nightly job: retained "
               "when the line is still billed three months after the warning, lost when it "
               "was cancelled.")
    for r in rescues.itertuples():
        st.markdown(f"- {plain(r.evidence)}")
    rescue_table(rescues, key=f"order_{order['order_id']}_rescues")
    first = rescues.iloc[0]
    st.caption(f"Outcome: {OUTCOMES[first['outcome']]}"
               + (f" ({first['outcome_month']})" if first["outcome_month"] else ""))

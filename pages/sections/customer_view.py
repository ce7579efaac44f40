"""Sections of the customer view 客户视图: identity, ledger charts, value, campaigns,
work orders and intelligence, churn risk."""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd
import streamlit as st

from analytics.customer import COMPONENTS, WindowValue, components_long, tenure_months
from analytics.formatting import (MISSING, column_label, format_month, format_times,
                                  format_value)
from data_access.mart.customer import ChurnRisk
from data_access.mart.schema import CHANNEL_TYPES, DEPARTMENTS, SEGMENTS
from data_access.store.intel import CATEGORIES, OPERATORS
from data_access.store.principal import ROLES
from analytics.ops.workorders import STATES
from pages.common.plaintext import plain  # mart names and people's text shown as text
from pages.sections.churn_view import reasons_and_tactic

NOT_FOUND = ("Subscriber {sub} was not found, or lies outside your region. "
             "未找到该用户，或不在您的区域内。")
PARTS = {"rev_voice": "voice 语音", "rev_data": "data 流量", "rev_sms": "SMS 短信",
         "rev_vas": "VAS 增值", "discount": "discount 优惠"}
LEDGER_COLUMNS = ("month", *COMPONENTS, "gross", "discount", "revenue", "service_cost", "mou",
                  "data_mb", "sms_cnt")


def _text(value: object) -> str:
    return MISSING if value is None or pd.isna(value) else str(value)


def render_identity(profile: pd.Series, latest: object) -> None:
    """Number, segment, plan, tenure; where the subscriber lives and came from."""
    churned = pd.notna(profile["churn_month"])
    end = (pd.Timestamp(profile["churn_month"]) - pd.offsets.MonthBegin(1)) if churned else latest
    cols = st.columns(4)
    cols[0].metric("Number 号码", _text(profile["number"]))
    cols[1].metric("Segment 客户群", SEGMENTS.get(profile["segment"], _text(profile["segment"])))
    cols[2].metric("Monthly fee 月费", format_value(profile["monthly_fee"], "yuan_per_sub"),
                   help=f"{profile['plan_name']}: {format_value(profile['data_quota_mb'], 'mb')} "
                        "of data a month")
    cols[3].metric("Tenure 在网", f"{tenure_months(profile['join_month'], end)} months 月",
                   help=f"joined {format_month(profile['join_month'])}")
    status = (f"churned {format_month(profile['churn_month'])} 已离网" if churned
              else "active 在网")
    group = (f"{profile['group_name']} ({profile['industry']}; account manager "
             f"{profile['account_manager']})" if pd.notna(profile["group_id"]) else "none 无")
    kind = CHANNEL_TYPES.get(profile["channel_type"], profile["channel_type"])
    lines = {
        "Subscriber 用户": f"{int(profile['subscriber_id'])} · {status} · age {profile['age']}",
        "Plan 套餐": f"{profile['plan_name']} ({profile['plan_family']})",
        "Branch / micro-region 分公司 / 微区域":
            f"{profile['branch']} {profile['branch_zh']} / {profile['micro_region']} "
            f"{profile['micro_region_zh']}",
        "Activation channel 入网渠道":
            f"{profile['channel_name']} ({kind}, #{int(profile['channel_id'])})",
        "Enterprise group 集团": group,
    }
    st.markdown("  \n".join(f"**{label}** {plain(text)}" for label, text in lines.items()))


def matches_display(found: pd.DataFrame) -> pd.DataFrame:
    """Search matches for a table: the link first, then who and where."""
    return pd.DataFrame({
        "customer": found["customer"], "number": found["number"],
        "branch": found["branch"], "micro_region": found["micro_region"],
        "segment": found["segment"].map(lambda v: SEGMENTS.get(v, v)),
        "plan_name": found["plan_name"],
        "joined": found["join_month"].map(format_month),
        "churned": found["churn_month"].map(format_month)})


MATCH_COLUMNS = {"number": "Number 号码", "branch": "Branch 分公司",
                 "micro_region": "Micro-region 微区域", "segment": "Segment 客户群",
                 "plan_name": "Plan 套餐", "joined": "Joined 入网", "churned": "Churned 离网"}


def revenue_chart(ledger: pd.DataFrame) -> alt.Chart:
    """Gross revenue by component stacked, the discount below zero, per month."""
    parts = components_long(ledger)
    parts["component"] = parts["component"].map(PARTS)
    parts["month"] = parts["month"].map(format_month)
    return alt.Chart(parts).mark_bar().encode(
        x=alt.X("month:O", title=None, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("yuan:Q", title="yuan 元", stack="zero"),
        color=alt.Color("component:N", title=None, sort=list(PARTS.values())),
        tooltip=["month:O", "component:N", alt.Tooltip("yuan:Q", format=",.2f")],
    ).properties(height=260, title="Revenue by component 收入构成")


def usage_chart(ledger: pd.DataFrame, measure: str, title: str) -> alt.Chart:
    """One usage measure per month (MOU in minutes, DOU in MB)."""
    rows = pd.DataFrame({"month": ledger["month"].map(format_month), measure: ledger[measure]})
    return alt.Chart(rows).mark_line(point=True).encode(
        x=alt.X("month:O", title=None, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y(f"{measure}:Q", title=None),
        tooltip=["month:O", alt.Tooltip(f"{measure}:Q", format=",.1f")],
    ).properties(height=220, title=title)


def ledger_display(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger, newest month first, money and usage written for the reader."""
    shown = ledger[list(LEDGER_COLUMNS)].sort_values("month", ascending=False).copy()
    shown["month"] = shown["month"].map(format_month)
    for column in (*COMPONENTS, "gross", "discount", "revenue", "service_cost"):
        shown[column] = shown[column].map(lambda v: format_value(v, "yuan_per_sub"))
    shown["mou"] = shown["mou"].map(lambda v: format_value(v, "min"))
    shown["data_mb"] = shown["data_mb"].map(lambda v: format_value(v, "mb"))
    shown["sms_cnt"] = shown["sms_cnt"].map(lambda v: format_value(v, "subs"))
    return shown.rename(columns={c: column_label(c) for c in shown.columns})


def render_value(value: WindowValue, by_department: pd.DataFrame) -> None:
    """Net value over the value window and every department's benefits."""
    cols = st.columns(5)
    yuan = "yuan_per_sub"
    cols[0].metric("Net value 净价值", format_value(value.net_value, yuan),
                   help="revenue after discount − service and VIP costs − campaign costs")
    cols[1].metric("Gross revenue 折前收入", format_value(value.gross, yuan))
    cols[2].metric("Discounts 优惠", format_value(value.discount, yuan))
    cols[3].metric("Service & VIP costs 服务成本", format_value(value.service_cost, yuan))
    cols[4].metric("Campaign benefits 营销投入", format_value(value.campaign_cost, yuan))
    roi = MISSING if value.roi is None else f"{value.roi:.2f}×"
    st.caption(f"{format_month(value.first)} – {format_month(value.last)} (the value page's "
               f"window; {value.months_billed} month(s) billed) · ROI 投入产出比 {roi}")
    if value.net_value < 0:
        st.warning("This customer costs more than they bring in: prefer a low-cost gesture to "
                   "another benefit. 净价值为负：避免重复优惠。")
    if by_department.empty:
        st.caption("No department has given this subscriber a campaign benefit. 未享受营销优惠。")
        return
    shown = by_department.copy()
    shown["department"] = shown["department"].map(lambda d: DEPARTMENTS.get(d, d))
    shown["cost"] = shown["cost"].map(lambda v: format_value(v, yuan))
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "department": "Department 部门", "campaigns": "Campaigns joined 参与活动",
        "held_out": "Held out 对照组", "cost": "Benefits, all time 优惠成本"})
    if int((by_department["cost"] > 0).sum()) >= 2:
        st.caption("Benefits from two or more departments: a duplicate benefit 重复享受优惠.")


def campaigns_display(campaigns: pd.DataFrame, effects: Mapping[int, object]) -> pd.DataFrame:
    """The campaigns joined, with each campaign's measured effect where there is one."""
    shown = pd.DataFrame({
        "campaign": campaigns["campaign_name"],
        "department": campaigns["department"].map(lambda d: DEPARTMENTS.get(d, d)),
        "months": [f"{format_month(a)} – {format_month(b)}" for a, b in
                   zip(campaigns["start_month"], campaigns["end_month"], strict=True)],
        "arm": campaigns["arm"].map({"treated": "offered 参与", "control": "held out 对照"}),
        "cost": campaigns["cost"].map(lambda v: format_value(v, "yuan_per_sub")),
    })
    measured = [effects.get(int(c)) for c in campaigns["campaign_id"]]
    shown["arpu_effect"] = [MISSING if e is None else _signed(e.effect("arpu").estimate)
                            for e in measured]
    shown["roi"] = [MISSING if e is None or e.roi is None else f"{e.roi:.2f}×" for e in measured]
    shown["offer"] = campaigns["offer"].to_numpy()
    return shown


def _signed(value: float) -> str:
    text = format_value(value, "yuan_per_sub")
    return text if text.startswith("-") or text == MISSING else "+" + text


CAMPAIGN_COLUMNS = {
    "campaign": "Campaign 活动", "department": "Department 部门", "offer": "Offer 优惠",
    "months": "Months 时间", "arm": "Arm 组别", "cost": "Benefit cost 优惠成本",
    "arpu_effect": st.column_config.TextColumn(
        "Measured ARPU effect 活动效果", help="The campaign's uplift in ARPU per participant "
        "per month, from the campaign page's estimate"),
    "roi": st.column_config.TextColumn("Campaign ROI", help="Incremental revenue ÷ spend"),
}


def orders_display(orders: pd.DataFrame) -> pd.DataFrame:
    """Work orders about the subscriber, for a table (cells are never Markdown)."""
    return pd.DataFrame({
        "order": "#" + orders["order_id"].astype(str), "title": orders["title"],
        "state": orders["state"].map(lambda v: STATES.get(v, v)),
        "priority": orders["priority"],
        "owner": orders["owner_role"].map(lambda v: ROLES.get(v, v)),
        "assignee": orders["assignee"].fillna(MISSING),
        "created_at": format_times(orders["created_at"]),
        "due_at": format_times(orders["due_at"]), "detail": orders["detail"]})


def reports_display(reports: pd.DataFrame) -> pd.DataFrame:
    """Intelligence reports about the subscriber, for a table."""
    return pd.DataFrame({
        "report": "#" + reports["report_id"].astype(str),
        "submitted_at": format_times(reports["submitted_at"]),
        "operator": reports["operator"].map(lambda v: OPERATORS.get(v, v)),
        "category": reports["category"].map(lambda v: CATEGORIES.get(v, v)),
        "place": [f"{b} / {m}" if isinstance(m, str) else b
                  for b, m in zip(reports["branch"], reports["micro_region"], strict=True)],
        "text": reports["text"], "submitted_by": reports["submitted_by"],
        "order": reports["order_id"].map(lambda v: MISSING if pd.isna(v) else f"#{int(v)}")})


MENTION_COLUMNS = {
    "order": "Order 工单", "title": "Title 标题", "state": "State 状态",
    "priority": "Priority 优先级", "owner": "Owner role 责任角色", "assignee": "Assignee 处理人",
    "created_at": "Created 创建时间", "due_at": "Due 截止", "detail": "Detail 详情",
    "report": "Report 情报", "submitted_at": "Submitted 提交时间", "operator": "Operator 运营商",
    "category": "Category 类别", "place": "Where 区域", "text": "Report 内容",
    "submitted_by": "By 提交人",
}


def render_churn(risk: ChurnRisk | None, action: str | None) -> None:
    """The churn risk, its reasons and the retention tactic — or that it is not scored."""
    if risk is None:
        st.info("Not scored yet 尚未评分: the live churn model has not scored this subscriber "
                "(no model yet, no scored month, or the subscriber was not billed in it). "
                "An administrator can train and score on the Churn page.")
        return
    cols = st.columns(3)
    cols[0].metric("Churn risk 离网概率", format_value(risk.churn_prob, "pct"))
    cols[1].metric("Expected loss 预期损失", format_value(risk.expected_loss, "yuan_per_sub"),
                   help="churn risk × net value over the last three months")
    cols[2].metric("Rank in the retention list 挽留排名",
                   MISSING if risk.rank is None else f"#{risk.rank:,}")
    st.caption(f"Model {plain(risk.version)}, scored for {plain(risk.month)}.")
    reasons_and_tactic(list(risk.reasons), action)

"""Sections of the Channels page: formatted tables, Altair charts, the work-order form."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from analytics.ops.workorders import due_at_for_day
from data_access.store import channel_orders
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from pages.common.tables import show_table
from pages.common.plaintext import plain  # user text shown as text

METRIC_NAMES = {"sim_farming": "SIM farming 养卡",
                "cross_region": "Cross-region selling 跨区销售",
                "stock_shortage": "Stock shortage 缺货"}
#: The evaluator's columns, most telling first: name, ROI and value fit on screen without scrolling.
EVAL_COLUMNS = ["channel_name", "roi", "roi_note", "net_value", "action", "behaviour",
                "channel_type", "micro_region", "new_numbers", "low_use_share", "revenue", "cost",
                "channel_id"]
EVAL_UNITS = {"roi": "pct", "net_value": "yuan", "new_numbers": "subs", "low_use_share": "pct",
              "revenue": "yuan", "cost": "yuan"}


def shown_roi(roi: float, suspect: bool) -> float:
    """The ROI a reader sees: none for a channel whose sales an integrity alert questions."""
    return float("nan") if suspect else roi


def evaluator_table(ranked: pd.DataFrame) -> None:
    """The evaluator table, most valuable first (``rank_channels``), suspect ROI withheld,
    and its CSV (raw numbers, with the suspect flag)."""
    shown = ranked[EVAL_COLUMNS].assign(roi=[shown_roi(r, s) for r, s in zip(
        ranked["roi"], ranked["roi_suspect"], strict=True)])
    show_table(shown, EVAL_UNITS, key="channels_eval_table",
               labels={"roi_note": "ROI note 说明", "channel_name": "Channel 渠道",
                       "channel_id": "Channel id 渠道编号"},
               csv=("Download the evaluation (CSV)", "channel_evaluation.csv"))
    st.caption("Most valuable first (net value, then ROI). ROI = net value ÷ (commission + "
               "campaign cost); a channel flagged for SIM farming or cross-region selling shows "
               "no ROI: its commissions buy numbers that are not real customers.")
    counts = ranked.groupby(["behaviour", "action"]).size().rename("channels").reset_index()
    st.altair_chart(alt.Chart(counts).mark_bar().encode(
        x=alt.X("channels:Q", title="channels"), y=alt.Y("behaviour:N", title=None, sort="-x"),
        color=alt.Color("action:N", title="recommended action"),
        tooltip=["behaviour", "action", "channels"]).properties(height=200),
        width="stretch")


def alert_list(alerts: pd.DataFrame, metric: str, empty: str) -> None:
    """One detector's rows with a CSV download, or what its silence means."""
    st.markdown(f"**{METRIC_NAMES[metric]}** — {len(alerts)} channel(s)")
    if alerts.empty:
        st.caption(empty)
        return
    show_table(alerts[["channel_name", "micro_region", "score", "reason", "channel_id"]],
               key=f"channels_alerts_{metric}", labels={"channel_id": "Channel id 渠道编号"},
               column_config={"Score 评分": st.column_config.ProgressColumn(
                   "Score 评分", min_value=0.0, max_value=1.0, format="%.2f")},
               csv=(f"Download {metric.replace('_', ' ')} alerts (CSV)", f"channel_{metric}.csv"))


def history_charts(history: pd.DataFrame, days: pd.DataFrame) -> None:
    """Monthly revenue and new numbers (low-use ones apart), and daily stock and sales."""
    if not history.empty:
        revenue = alt.Chart(history).mark_line(point=True).encode(
            x=alt.X("month:T", title=None), y=alt.Y("revenue:Q", title="revenue (¥)"),
            tooltip=[alt.Tooltip("month:T", format="%Y-%m"),
                     alt.Tooltip("revenue:Q", format=",.0f")])
        new = history.assign(normal=history["new_subs"] - history["low_use_new"]).melt(
            id_vars="month", value_vars=["normal", "low_use_new"], var_name="new numbers",
            value_name="count")
        bars = alt.Chart(new).mark_bar().encode(
            x=alt.X("month:T", title=None), y=alt.Y("count:Q", title="new numbers"),
            color=alt.Color("new numbers:N", scale=alt.Scale(
                domain=["normal", "low_use_new"], range=["#4c78a8", "#e45756"])),
            tooltip=[alt.Tooltip("month:T", format="%Y-%m"), "new numbers", "count"])
        left, right = st.columns(2)
        left.altair_chart(revenue.properties(height=220, title="Revenue 收入"),
                          width="stretch")
        right.altair_chart(bars.properties(height=220, title="New numbers 新增号码"),
                           width="stretch")
    if not days.empty:
        stock = alt.Chart(days).mark_area(opacity=0.4).encode(
            x=alt.X("day:T", title=None), y=alt.Y("stock_level:Q", title="stock (cards)"),
            tooltip=["day:T", "stock_level:Q", "new_activations:Q"])
        sales = alt.Chart(days).mark_bar(color="#f58518").encode(
            x="day:T", y=alt.Y("new_activations:Q", title="activations"))
        st.altair_chart(alt.layer(stock, sales).resolve_scale(y="independent").properties(
            height=200, title="Stock and daily activations 库存与日放号"), width="stretch")


def order_form(workflow, who: Principal, channel: pd.Series, alerts: pd.DataFrame) -> None:
    """The "Raise a work order" form for one channel, and a link to the order it made."""
    if not who.can("create_orders"):
        st.caption("Your role cannot create work orders; ask a channel manager.")
        return
    fired = list(alerts["metric"]) if not alerts.empty else []
    options = fired or list(METRIC_NAMES)
    with st.form("channels_order_form"):
        st.markdown("**Raise a work order 派发工单**")
        metric = st.selectbox("About 问题", options, format_func=METRIC_NAMES.get,
                              key="channels_order_metric")
        cols = st.columns(2)
        assignee = cols[0].text_input("Assign to (username, optional) 指派给",
                                      key="channels_order_assignee")
        due = cols[1].date_input("Due 截止", dt.date.today() + dt.timedelta(days=7),
                                 min_value=dt.date.today() + dt.timedelta(days=1),
                                 key="channels_order_due")
        note = st.text_area("Note 备注", key="channels_order_note")
        sent = st.form_submit_button("Raise a work order 派发工单", type="primary",
                                     key="channels_order_submit")
    if not sent:
        return
    row = alerts[alerts["metric"] == metric]
    alert = (row.iloc[0].to_dict() if not row.empty else
             {**channel.to_dict(), "metric": metric,
              "reason": f"{METRIC_NAMES[metric]} raised by hand on the Channels page."})
    due_at = due_at_for_day(due)  # 18:00 of the picked day in UTC+8
    try:
        order_id = channel_orders.raise_channel_order(
            workflow, who, alert, due_at=due_at, assignee=assignee.strip() or None, note=note)
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    st.success(f"Work order #{order_id} created.")
    st.page_link("pages/workorders.py", label=f"Open work order #{order_id} ▸",
                 query_params={"order": str(order_id)})

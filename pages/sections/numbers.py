"""The last steps of the drill: the subscriber numbers behind a KPI, and one subscriber's ledger."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import MISSING, column_label, format_change, format_month, format_value
from analytics.kpis.drill import SUBSCRIBER_STEP
from data_access.db import ConcertoError
from data_access.mart.queries import SUBSCRIBER_MOVEMENTS, Slice
from pages.common import cache
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.links import open_customer_button
from pages.common.plaintext import plain  # user text shown as text

#: What a subscriber row's figures are (unit for analytics.formatting), and their headers.
_SUBSCRIBER_UNITS = {"revenue_now": "yuan_per_sub", "revenue_before": "yuan_per_sub",
                     "mou_now": "min", "mou_before": "min", "data_mb_now": "mb",
                     "data_mb_before": "mb"}
_SUBSCRIBER_HEADERS = {
    "number": "Number 号码", "movement": "Movement 变动", "revenue_now": "Revenue this month 本月收入",
    "revenue_before": "Revenue last month 上月收入", "change": "Change 变化",
    "mou_now": "MOU this month 本月通话", "mou_before": "MOU last month 上月通话",
    "data_mb_now": "Data this month 本月流量", "data_mb_before": "Data last month 上月流量",
    "plan_name": "Plan 套餐", "segment": "Segment 客户群", "channel_name": "Channel 渠道",
    "channel_type": "Channel type 渠道类型", "micro_region": "Micro-region 微区域",
    "join_month": "Joined 入网月", "churn_month": "Gone 离网月",
}
_SUBSCRIBER_COLUMNS = tuple(_SUBSCRIBER_HEADERS)
_SUBSCRIBER_CONFIG = {c: st.column_config.TextColumn(label, pinned=c == "number")
                      for c, label in _SUBSCRIBER_HEADERS.items()}
_ORDER_UNIT = {"revenue": "yuan_per_sub", "mou": "min", "data_mb": "mb"}


def _subscriber_view(rows: pd.DataFrame, order_by: str) -> pd.DataFrame:
    """Subscriber rows for reading: money in ¥, usage in min/MB, months without times, "—"."""
    shown = rows.drop(columns=["subscriber_id"]).copy()
    for column, unit in _SUBSCRIBER_UNITS.items():
        shown[column] = [format_value(v, unit) for v in shown[column]]
    shown["change"] = [format_change(v, _ORDER_UNIT[order_by]) for v in shown["change"]]
    for column in ("join_month", "churn_month"):
        shown[column] = [format_month(v) for v in shown[column]]
    return shown.astype(object).where(shown.notna(), MISSING)


def render_subscribers(slice_: Slice, kpi: str, month: dt.date, previous: dt.date,
                       prefix: str = "sandbox") -> int | None:
    """The numbers behind the figure; returns the subscriber the user clicked."""
    order_by, only = SUBSCRIBER_STEP.get(kpi, ("revenue", None))
    try:
        rows = cache.subscriber_rows(month, previous, slice_, order_by=order_by, only=only)
    except ConcertoError as exc:
        st.error(plain(exc))
        return None
    if rows.empty:
        st.info("No subscriber rows behind this figure for this month.")
        return None
    counts = rows["movement"].value_counts() if "movement" in rows.columns else pd.Series()
    new, gone = (int(counts.get(SUBSCRIBER_MOVEMENTS[k], 0)) for k in ("new", "churned"))
    what = {
        "new": f"{new} new activations of {month:%Y-%m} (first bill), lowest first-month "
               "revenue first",
        "churned": f"{gone} numbers gone in {month:%Y-%m}, biggest lost revenue first",
        "both": f"{gone} numbers gone in {month:%Y-%m} (biggest lost revenue first), then "
                f"{new} new activations, labelled in the Movement column",
    }.get(only or "", f"{len(rows)} subscribers in {month:%Y-%m}, biggest fall in "
                      f"{order_by.replace('_', ' ')} first")
    st.caption(f"{what} (numbers masked 号码脱敏; at most 500 of each). Click a row for the "
               "subscriber's ledger.")
    order = [c for c in _SUBSCRIBER_COLUMNS if c in rows.columns]
    event = st.dataframe(_subscriber_view(rows, order_by), hide_index=True, on_select="rerun",
                         selection_mode="single-row", key=f"{prefix}_subscribers",
                         column_order=order, column_config=_SUBSCRIBER_CONFIG)
    st.download_button("Download subscriber rows (CSV)",
                       csv_file(rows.drop(columns=["subscriber_id"])),
                       "subscriber_rows.csv", "text/csv", key=f"{prefix}_csv_subscribers")
    picked = event.selection.rows if event else []
    return int(rows.iloc[picked[0]]["subscriber_id"]) if picked else None


_LEDGER_MONEY = ("rev_voice", "rev_data", "rev_sms", "rev_vas", "discount", "revenue",
                 "service_cost")


def _ledger_view(ledger: pd.DataFrame) -> pd.DataFrame:
    shown = ledger.copy()
    shown["month"] = [format_month(v) for v in shown["month"]]
    for column in (c for c in _LEDGER_MONEY if c in shown.columns):
        shown[column] = [format_value(v, "yuan_per_sub") for v in shown[column]]
    if "mou" in shown.columns:
        shown["mou"] = [format_value(v, "min") for v in shown["mou"]]
    if "data_mb" in shown.columns:
        shown["data_mb"] = [format_value(v, "mb") for v in shown["data_mb"]]
    if "is_new" in shown.columns:
        shown["is_new"] = ["yes 是" if v else "" for v in shown["is_new"]]
    shown = shown.astype(object).where(shown.notna(), MISSING)
    return shown.rename(columns={"data_mb": "Data 流量", "sms_cnt": "SMS 短信条数",
                                 "service_cost": "Service cost 服务成本", "number": "Number 号码"}
                        ).rename(columns=column_label)


def render_ledger(subscriber_id: int, prefix: str = "sandbox") -> None:
    """One subscriber's months: revenue by component and usage (the ledger 明细账)."""
    ledger = cache.subscriber_ledger(subscriber_id)
    if ledger.empty:
        st.info("This subscriber has no billed months.")
        return
    st.markdown(f"**Ledger 明细账 · {plain(ledger['number'].iloc[0])}**")
    open_customer_button(subscriber_id, key=f"{prefix}_open_customer")
    parts = ledger.melt(id_vars="month", value_vars=["rev_voice", "rev_data", "rev_sms", "rev_vas"],
                        var_name="component", value_name="yuan")
    parts["component"] = parts["component"].map(column_label)
    chart = alt.Chart(parts).mark_bar().encode(
        x=alt.X("yearmonth(month):T", title=None), y=alt.Y("sum(yuan):Q", title="gross revenue (yuan)"),
        color=alt.Color("component:N", title="component"),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "component",
                 alt.Tooltip("yuan:Q", format=",.2f")],
    ).properties(height=220)
    st.altair_chart(chart, width="stretch")
    st.dataframe(_ledger_view(ledger), hide_index=True)
    st.download_button("Download ledger (CSV)", csv_file(ledger),
                       "subscriber_ledger.csv", "text/csv", key=f"{prefix}_csv_ledger")

"""Network beside the market 网络与市场: a micro-region's network KPIs next to its churn and
activations, and the measured link between quality and churn (analytics.network)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analytics import network as net
from analytics.formatting import column_label, format_month, format_value
from pages.common import cache
from pages.common.csvexport import csv_file

_DAYS_SHOWN = 120


def _index(months: pd.DataFrame, churn: pd.DataFrame) -> pd.DataFrame:
    return net.quality_index(net.monthly_kpis(months, churn))


def render(micro_region: str | None, month: pd.Timestamp) -> None:
    """The section; ``micro_region`` None shows the scope's worst months and the link."""
    if not cache.has_network_data():
        st.info("This mart has no network KPIs (the optional table fact_network_day). Add "
                "it to the next extract (docs/extract_format.md) to see network quality "
                "beside churn.")
        return
    months, churn = cache.network_months(), cache.region_months()
    index = _index(months, churn)
    index = index[index["month"] <= month]
    effect = net.network_effect(net.churn_panel(index, churn[churn["month"] <= month + pd.DateOffset(months=1)]))
    if effect.effect is None:
        st.caption(effect.message)
    elif effect.significant:
        st.warning(f"Measured: {effect.message}")
    else:
        st.caption(f"Measured: {effect.message}")
    if micro_region is None:
        worst = net.worst_months(index, top=10)
        st.caption("Micro-region months whose network was furthest below their own usual "
                   "quality (index: mean of the four KPIs' robust z, positive = worse).")
        shown = pd.DataFrame({
            column_label("micro_region"): worst["region"],
            column_label("month"): worst["month"].map(format_month),
            "Quality index 质量指数": worst["index"].round(1),
            **{label: worst[kpi].round(3 if kpi == "call_drop_rate" else 1)
               for kpi, label in net.KPI_LABELS.items()}})
        st.dataframe(shown, hide_index=True, width="stretch")
        st.download_button("Download the worst months (CSV)", csv_file(worst),
                           "network_worst_months.csv", "text/csv", key="network_worst_csv")
        return
    mine = index[index["region"] == micro_region]
    theirs = churn[(churn["region"] == micro_region) & (churn["month"] <= month)]
    if mine.empty:
        st.info(f"No network figures for {micro_region} up to {format_month(month)}.")
        return
    left, right = st.columns(2)
    with left:
        since = (month - pd.Timedelta(days=_DAYS_SHOWN)).date()
        days = cache.network_days(micro_region, since)
        long = days.melt("day", [k for k in net.KPI_SIGNS if k in days], var_name="kpi")
        long["kpi"] = long["kpi"].map(net.KPI_LABELS)
        st.altair_chart(alt.Chart(long).mark_line().encode(
            x=alt.X("day:T", title=None), y=alt.Y("value:Q", title=None,
                                                  scale=alt.Scale(zero=False)),
            tooltip=["day:T", "kpi:N", alt.Tooltip("value:Q", format=",.3f")]).properties(
            height=110).facet(row=alt.Row("kpi:N", title=None)).resolve_scale(y="independent"),
            width="stretch")
    with right:
        both = mine[["month", "index"]].merge(theirs, on="month")
        both = both.assign(churn_rate=both["churned_subs"] / both["active_subs"].where(
            both["active_subs"] > 0))
        base = alt.Chart(both).encode(x=alt.X("month:T", title=None))
        quality = base.mark_bar(opacity=0.35, color="#d62728").encode(
            y=alt.Y("index:Q", title="Quality index 质量指数 (↑ worse)"))
        rate = base.mark_line(point=True).encode(
            y=alt.Y("churn_rate:Q", title="Churn rate 离网率", axis=alt.Axis(format=".1%")),
            tooltip=[alt.Tooltip("month:T", format="%Y-%m"),
                     alt.Tooltip("churn_rate:Q", format=".2%"),
                     alt.Tooltip("new_subs:Q", title="New 新增", format=",")])
        st.altair_chart(alt.layer(quality, rate).resolve_scale(y="independent"), width="stretch")
        latest = both.iloc[-1] if not both.empty else None
        if latest is not None:
            st.caption(f"{micro_region} {format_month(latest['month'])}: quality index "
                       f"{latest['index']:+.1f}, churn {format_value(latest['churn_rate'], 'pct')},"
                       f" {format_value(latest['new_subs'], 'subs')} new lines.")

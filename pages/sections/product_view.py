"""Charts and tables of the product view 产品视图 (pages/product.py): a plan's trend, the
migration matrix and a launch's sources with intervals."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import format_month
from analytics.product import Cannibalisation
from pages.common.plaintext import plain
from pages.common.tables import show_table

#: Units and headers of the plan table.
SUMMARY_UNITS = {"base": "subs", "base_change": "count", "new": "count", "switched_in": "count",
                 "switched_out": "count", "uptake": "count", "churned": "count",
                 "churn_rate": "pct", "arpu": "yuan_per_sub", "mou": "min", "dou": "mb",
                 "revenue": "yuan"}
LABELS = {"base": "Base (last month) 期末用户", "base_change": "Base change 用户变化",
          "new": "New lines 新入网", "switched_in": "Switched in 迁入",
          "switched_out": "Switched out 迁出", "uptake": "Uptake 新增(入网+迁入)",
          "churned": "Churned 离网", "churn_rate": "Churn rate 离网率",
          "mou": "MOU 户均通话", "dou": "DOU 户均流量", "from_plan": "From plan 迁出套餐",
          "to_plan": "To plan 迁入套餐", "changes": "Changes 迁移数",
          "exposure": "From-plan subscriber-months 迁出套餐用户月",
          "rate": "Monthly rate 月迁移率", "switchers": "Switchers 迁入新套餐",
          "share": "Share 占比", "share_low": "Share low 下限", "share_high": "Share high 上限",
          "pre_rate": "Outflow before 上市前月迁出率", "post_outflow": "Outflow since 上市后迁出",
          "expected": "Expected anyway 常规迁出", "excess": "Excess 超常迁出",
          "excess_low": "Excess low 下限", "excess_high": "Excess high 上限",
          "excess_share": "Excess share 超常占比"}
#: Measures of the trend chart: KPI column → label.
TREND_MEASURES = {"base": "Base 用户数", "uptake": "Uptake 新增", "arpu": "ARPU",
                  "mou": "MOU 户均通话", "dou": "DOU (MB) 户均流量", "churn_rate": "Churn rate 离网率"}


def show_trend(kpis: pd.DataFrame, plan_id: int, name: str, kpi: str, where: str) -> None:
    """One plan's monthly ``kpi``, or a message when the plan has no rows here."""
    rows = kpis[kpis["plan_id"] == plan_id]
    if rows.empty or not rows["base"].gt(0).any():
        st.info(plain(f"{name} has no subscribers in {where} in these months; pick another "
                      "plan or widen the months."))
        return
    fmt = ".1%" if kpi == "churn_rate" else ",.1f"
    st.altair_chart(alt.Chart(rows).mark_line(point=True).encode(
        x=alt.X("month:T", title="Month 月份"),
        y=alt.Y(f"{kpi}:Q", title=TREND_MEASURES[kpi], axis=alt.Axis(format=fmt)),
        tooltip=[alt.Tooltip("month:T", format="%Y-%m"),
                 alt.Tooltip(f"{kpi}:Q", format=fmt)]), width="stretch")


def show_migrations(matrix: pd.DataFrame, names: dict[int, str]) -> None:
    """The from → to heatmap (monthly rate, counts written in) and its table."""
    if matrix.empty:
        st.caption("No plan changes in these months.")
        return
    frame = matrix.assign(from_plan=matrix["from_plan_id"].map(names),
                          to_plan=matrix["to_plan_id"].map(names))
    base = alt.Chart(frame).encode(x=alt.X("to_plan:N", title="To plan 迁入套餐"),
                                   y=alt.Y("from_plan:N", title="From plan 迁出套餐"))
    heat = base.mark_rect().encode(
        color=alt.Color("rate:Q", title="Monthly rate 月迁移率", legend=alt.Legend(format=".2%")),
        tooltip=["from_plan:N", "to_plan:N", "changes:Q", alt.Tooltip("rate:Q", format=".3%")])
    st.altair_chart(heat + base.mark_text(fontSize=10).encode(text="changes:Q"), width="stretch")
    show_table(frame[["from_plan", "to_plan", "changes", "exposure", "rate"]],
               {"changes": "count", "exposure": "count", "rate": "pct"}, labels=LABELS,
               key="product_migrations", csv=("Download the migrations (CSV)", "migrations.csv"))


def show_cannibalisation(result: Cannibalisation, names: dict[int, str]) -> None:
    """Where the launch's switchers came from, and the excess over each source's usual outflow."""
    name = names[result.plan_id]
    if result.switchers == 0:
        st.caption(plain(f"{name} (from {format_month(result.launch_month)}) has drawn no "
                         "subscriber from another plan here."))
        return
    st.caption(plain(
        f"{name}, launched {format_month(result.launch_month)}: {result.switchers:,} subscribers "
        "switched to it from other plans. Excess = a source's outflow since the launch minus "
        "what its monthly outflow rate before the launch would have given anyway (bars: "
        f"{result.level:.0%} intervals, Poisson counts)."))
    frame = result.sources.assign(source=result.sources["from_plan_id"].map(names))
    order = list(frame["source"])
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("source:N", sort=order, title="Source plan 来源套餐"),
        x=alt.X("excess:Q", title="Excess switchers 超常迁出"),
        tooltip=["source:N", "switchers:Q", alt.Tooltip("excess:Q", format=",.0f"),
                 alt.Tooltip("share:Q", format=".1%")])
    ticks = alt.Chart(frame).mark_rule(color="black").encode(
        y=alt.Y("source:N", sort=order), x="excess_low:Q", x2="excess_high:Q")
    st.altair_chart(bars + ticks, width="stretch")
    show_table(frame[["source", "switchers", "share", "share_low", "share_high", "pre_rate",
                      "post_outflow", "expected", "excess", "excess_low", "excess_high",
                      "excess_share"]],
               {"switchers": "count", "share": "pct", "share_low": "pct", "share_high": "pct",
                "pre_rate": "pct", "post_outflow": "count", "expected": "number",
                "excess": "number", "excess_low": "number", "excess_high": "number",
                "excess_share": "pct"},
               labels={**LABELS, "source": "Source plan 来源套餐"}, key="product_sources",
               csv=("Download the sources (CSV)", "cannibalisation.csv"))

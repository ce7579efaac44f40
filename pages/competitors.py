"""Competitor monitor 竞争监控: the three operators side by side, unusual rival moves, rivals'
events and the front line's intelligence behind them."""

import pandas as pd
import streamlit as st

from analytics import competitors as ac
from pages.common import cache
from data_access.store import diagnosis as store
from data_access.mart.competitors import UNIT_LEVELS
from data_access.db import ConcertoError
from pages.sections import competitor_view as view
from pages.sections import intel_panel
from pages.common.empty import require_mart
from pages.common.session import principal
from analytics.formatting import MISSING
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.plaintext import plain  # user text shown as text

st.title("Competitor monitor 竞争监控")
require_mart()
who = principal()
workflow = cache.workflow_engine()

top = st.columns([2, 2, 1])
level = top[0].segmented_control("Level 层级", list(UNIT_LEVELS), default="micro_region",
                                 format_func=UNIT_LEVELS.get, key="comp_level") or "micro_region"
metric = top[1].selectbox("Series 指标", list(ac.METRICS), format_func=ac.METRICS.get,
                          key="comp_metric")
recent = top[2].number_input("Alerts: last … months 近几月", 1, 12, 3, key="comp_recent")

try:
    frame = cache.competitor_months(level)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
if frame.empty:
    st.info("The mart has no competitor figures (table fact_competitor_month) for your area. "
            "Load an extract that includes them, or build the demo mart on the Mart page.")
    st.stop()

run_id, note = cache.stored_run("rival_score")
if run_id is not None:  # scored once for this mart by jobs.precompute
    flags = cache.stored_rival_scores(run_id, level)
else:
    st.caption(note)
    flags = view.flags_of(frame)
points = ac.unusual_points(flags, recent=int(recent))
units = sorted(frame["unit"].unique())
default = list(dict.fromkeys(points["unit"]))[:3] or units[:3]

st.subheader("Unusual rival moves 异常 · alerts")
if points.empty:
    st.success(f"No rival series moved unusually in the last {recent} month(s).")
else:
    series = flags.groupby(["unit", "operator", "metric"]).ngroups
    st.caption(f"{len(points)} unusual point(s) in {points['incident'].nunique()} incident(s) "
               f"among {series} rival series, scored by the project's anomaly detector (score "
               "≥ 0.9 is unusual) and at least a minimum move (half a share point, 5 adds, ¥1 "
               "ARPU); largest impact (the miss in minimum moves × surprise) first, one unit's "
               "points of one month together.")
    shown = view.formatted(points)[["incident", "unit", "operator", "metric", "month", "value",
                                    "expected", "score", "impact"]]
    show_table(shown, {"impact": "number"}, key="comp_alerts", labels=view.LABELS,
               column_config={"Score 评分": st.column_config.ProgressColumn(
                   "Score 评分", min_value=0.0, max_value=1.0, format="%.2f")})
    row = st.columns([1, 1, 2])
    row[0].download_button("Download alerts (CSV)", csv_file(points), "competitor_alerts.csv",
                           "text/csv", key="comp_alerts_csv")
    if who.can("act_on_alerts") and row[1].button("Raise as alerts 生成告警", key="comp_raise"):
        new = store.raise_alerts(workflow, ac.alert_rows(points, level))
        st.success(f"{new} new alert(s) raised; see the Alerts page to dispatch them.")

st.subheader("Side by side 对比")
picked = st.multiselect("Units 单元", units, default=default, max_selections=6, key="comp_units")
if picked:
    st.altair_chart(view.side_by_side_chart(frame, flags, metric, picked), width="content")
    st.caption("Ringed points are unusual for that operator and series.")
    wide = ac.side_by_side(frame[frame["unit"].isin(picked)], metric)
    st.download_button(f"Download {metric.replace('_', ' ')} side by side (CSV)", csv_file(wide),
                       f"competitors_{metric}.csv", "text/csv", key="comp_wide_csv")
    moved = ac.share_change(frame[frame["unit"].isin(picked)])
    show_table(moved.assign(operator=moved["operator"].map(lambda o: view.OPERATORS.get(o, o)),
                            points=moved["points"].map(lambda p: MISSING if pd.isna(p)
                                                       else f"{p:+.2f} pt")),
               {"share_before": "pct", "share_now": "pct"}, key="comp_moved", labels=view.LABELS)
else:
    st.info("Pick one or more units to compare the operators.")

st.subheader("Rivals' tariffs and promotions 竞争动态")
events = cache.competitor_events()
here = events[events["micro_region"].isna() | events["micro_region"].isin(picked)
              | events["branch"].isin(picked)] if level != "city" and picked else events
if here.empty:
    st.info("No rival events recorded for these units.")
else:
    st.altair_chart(view.events_chart(here), width="stretch")
    show_table(here.assign(branch=here["branch"].fillna(""),
                           micro_region=here["micro_region"].fillna("city-wide 全市"),
                           operator=here["operator"].map(lambda o: view.OPERATORS.get(o, o))),
               {"day": "day"}, key="comp_events", labels=view.LABELS,
               csv=("Download events (CSV)", "competitor_events.csv"))

st.subheader("Front-line intelligence 一线情报")
focus = picked[0] if level == "micro_region" and picked else None
with st.expander("Submit a report 提交情报", expanded=False):
    intel_panel.report_form(workflow, who, micro_region=focus, alert_id=None)
intel_panel.feed(workflow, who, micro_region=focus)

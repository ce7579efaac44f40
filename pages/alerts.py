"""Alerts 告警: what the detectors and diagnosis runs raised, newest first."""

import pandas as pd
import streamlit as st

from jobs.scheduler import scan_for_alerts
from pages.common import cache
from data_access.store import diagnosis as store
from data_access.db import ConcertoError
from analytics.anomaly.alerting import group_incidents, impact_in_minimum_effects, rank_alerts
from data_access.store.dispatch import dispatch_alert
from pages.common.empty import require_mart
from pages.common.session import principal
from analytics.formatting import LOCAL_TZ, MISSING
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.findings import ALERT_LABELS, alert_rows
from pages.common.tables import readable_table
from pages.common.plaintext import plain  # user text shown as text

st.title("Alerts 告警")
require_mart()
workflow = cache.workflow_engine()

top = st.container(horizontal=True, vertical_alignment="bottom")
status = top.segmented_control("Status 状态", ["open", "all"], default="open", key="alerts_status")
if top.button("Scan the latest day now 立即扫描", key="alerts_scan"):
    bar = st.progress(0.0, text="Starting…")
    lines = scan_for_alerts(workflow, cache.mart_engine(), recent=1,
                            progress=lambda f, m: bar.progress(f, text=m))
    st.success(" · ".join(lines[-1:]))
    with st.expander("What was scanned"):
        st.text("\n".join(lines[:-1]))

alerts = store.list_alerts(workflow, status=None if status == "all" else "open",
                           mart=cache.mart_engine())
if alerts.empty:
    st.info("No alerts yet. They come from scheduled diagnosis runs (`python -m "
            "jobs.scheduler run-due`), from saved runs on the diagnosis page, and from the "
            "anomaly scan of daily region, channel and rival series (the button above, or "
            "`python -m jobs.scheduler scan` daily).")
    st.stop()

cols = st.columns(3)
sources = cols[0].multiselect("Source 来源", sorted(alerts["source"].unique()), key="alerts_source")
levels = cols[1].multiselect("Unit 单元", sorted(alerts["unit_level"].unique()), key="alerts_level")
floor = cols[2].slider("Minimum score", 0.0, 1.0, 0.0, 0.05, key="alerts_floor")
shown = alerts[(alerts["score"] >= floor)
               & (alerts["source"].isin(sources) if sources else True)
               & (alerts["unit_level"].isin(levels) if levels else True)]
by_day = shown.assign(day=pd.to_datetime(shown["raised_at"], utc=True).dt.tz_convert(LOCAL_TZ)
                      .dt.strftime("%Y-%m-%d")).groupby(["day", "source"]).size().rename(
    "alerts").reset_index()
st.bar_chart(by_day, x="day", y="alerts", color="source", height=180)
# Largest expected impact first; alerts on one unit, or on a unit and what it lies in, in the
# same day or month are one incident: its lead alert is listed, the rest beneath it.
names, parents = cache.unit_hierarchy(frozenset(zip(shown["unit_level"], shown["unit_key"])))
ranked = rank_alerts(shown, min_effect=0.0, threshold=0.0)
ranked["impact"] = impact_in_minimum_effects(ranked)
ranked["unit"] = [names.get((level, key), f"{level}:{key}")
                  for level, key in zip(ranked["unit_level"], ranked["unit_key"])]
grouped = group_incidents(ranked, parents)
every = st.toggle("Every alert, not just each incident's lead 显示全部告警", key="alerts_every")
listed = grouped if every else grouped[grouped["lead"]]
st.caption(f"{grouped['incident'].nunique() if len(grouped) else 0} incident(s) from "
           f"{len(shown)} alert(s) shown of {len(alerts)}, largest expected impact first "
           "(impact = the miss against expected, in the KPI's minimum effects, × how surprising it "
           "was, so KPIs of different units compare).")
table, config = readable_table(alert_rows(listed), {"raised_at": "time", "impact": "number"},
                               labels=ALERT_LABELS)
config["Score 评分"] = st.column_config.ProgressColumn("Score 评分", min_value=0.0, max_value=1.0,
                                                     format="%.2f")
# Not a fragment: the dispatch button a pick reveals changes alerts this table and the counts
# above show, so the whole page reruns.
picked = st.dataframe(table, hide_index=True, column_config=config, placeholder=MISSING,
                      on_select="rerun", selection_mode="single-row", key="alerts_table")
shown = listed
st.download_button("Download alerts (CSV)", csv_file(shown), "alerts.csv", "text/csv")

who = principal()
if picked.selection.rows and who.can("dispatch_orders"):
    chosen = shown.iloc[picked.selection.rows[0]]
    if st.button(f"Make a work order of alert #{chosen['alert_id']} by the dispatch rules 派单",
                 type="primary", key="alerts_dispatch_one"):
        try:
            order_id = dispatch_alert(workflow, cache.mart_engine(), int(chosen["alert_id"]),
                                      actor=who)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            if order_id is None:
                st.warning("No dispatch rule covers this kind of unit; create the order by hand.")
            else:
                st.page_link("pages/workorders.py", label=f"Open work order #{order_id} ▸",
                             query_params={"order": str(order_id)})
elif who.can("dispatch_orders"):
    st.caption("Select an alert to turn it into a work order; the nightly job "
               "(`python -m jobs.scheduler dispatch`) does it for every open alert.")

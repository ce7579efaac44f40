"""Campaign calendar 营销日历: every department's campaigns, and planning with a conflict check."""

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from analytics.campaigns import conflicts as cf
from pages.common import cache
from data_access.store import campaign_plans as plans
from data_access.db import ConcertoError
from pages.sections import plan_forms
from pages.common.empty import require_mart
from pages.common.session import principal
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.plaintext import plain  # user text shown as text

st.title("Campaign calendar 营销日历")
require_mart()
who = principal()
workflow = cache.workflow_engine()
plan_forms.show_flash()
saved = plans.load_plans(workflow)
calendar = pd.concat([cache.mart_campaigns(),
                      plans.plans_as_calendar(saved[saved["status"] == "saved"])],
                     ignore_index=True)
if calendar.empty:
    st.info("No campaigns yet: the mart holds none and nobody has saved a plan. Plan the "
            "first one below (marketers and administrators).")
else:
    years = sorted({d.year for d in calendar["start"]} | {d.year for d in calendar["end"]})
    top = st.columns([2, 1, 1])
    view = top[0].segmented_control("View 视图", ["year", "quarter", "month"], default="quarter",
                                    key="calendar_view") or "quarter"
    year = top[1].selectbox("Year 年", years, index=len(years) - 1, key="calendar_year")
    parts = {"year": [1], "quarter": [1, 2, 3, 4], "month": list(range(1, 13))}[view]
    latest = max(calendar["end"])
    default = {"year": 1, "quarter": (latest.month - 1) // 3 + 1, "month": latest.month}[view]
    part = top[2].selectbox("Quarter / month", parts, index=parts.index(default),
                            key=f"calendar_part_{view}", disabled=view == "year")
    window = cf.calendar_window(view, year, part)
    bars = cf.calendar_bars(calendar, window)
    st.caption(f"{window[0]} to {window[1]}: {len(bars)} campaign(s). Saved plans are "
               "outlined; drafts are not shown.")
    if bars.empty:
        st.info("No campaign runs in this period; pick another above.")
    else:
        bars["bar_stop"] = [d + dt.timedelta(days=1) for d in bars["bar_end"]]
        gantt = alt.Chart(bars).mark_bar(cornerRadius=3).encode(
            x=alt.X("bar_start:T", title=None, scale=alt.Scale(domain=[str(window[0]),
                                                                       str(window[1])])),
            x2="bar_stop:T",
            y=alt.Y("campaign_name:N", sort=list(bars["campaign_name"]), title=None),
            color=alt.Color("department:N", title="Department 部门"),
            strokeWidth=alt.condition(alt.datum.source == "plan", alt.value(3), alt.value(0)),
            stroke=alt.value("#222"),
            tooltip=["campaign_name", "department", "benefit_kind", "segments",
                     "channel_types", alt.Tooltip("start:T"), alt.Tooltip("end:T"), "source"])
        st.altair_chart(gantt, width="stretch")
        load = cf.monthly_load(bars).rename("campaigns").reset_index()
        heat = alt.Chart(load).mark_rect().encode(
            x=alt.X("yearmonth(month):O", title=None),
            y=alt.Y("channel_type:N", title="Channel type 渠道类型"),
            color=alt.Color("campaigns:Q", scale=alt.Scale(scheme="orangered")),
            tooltip=[alt.Tooltip("yearmonth(month):O", title="month"), "channel_type",
                     "campaigns"])
        st.caption("Campaigns per channel type and month 渠道负载")
        st.altair_chart(heat, width="stretch")
        st.download_button("Download the calendar (CSV)",
                           csv_file(bars.drop(columns="bar_stop"), encoding="utf-8-sig"),
                           f"calendar_{view}_{year}_{part}.csv", "text/csv", key="calendar_csv")

st.subheader("Plans 营销计划")
if saved.empty:
    st.caption("No plans yet." + (" Plan one below." if who.can("manage_campaigns") else ""))
else:
    shown = saved.drop(columns=["conflicts_json"])
    show_table(shown, plan_forms.PLAN_UNITS, key="calendar_plans", labels=plan_forms.PLAN_LABELS,
               csv=("Download the plans (CSV)", "campaign_plans.csv"))

if who.can("manage_campaigns"):
    plan_forms.drafts_panel(workflow, cache.mart_engine(), who, saved[saved["status"] == "draft"])
    plan_forms.plan_form(workflow, cache.mart_engine(), who, latest_month=max(
        calendar["end"]) if not calendar.empty else dt.date.today())
else:
    st.caption("Marketers and administrators plan campaigns here.")
if who.role == "administrator":
    try:
        plan_forms.rules_editor(workflow, who)
    except ConcertoError as exc:
        st.error(plain(exc))

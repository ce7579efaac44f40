"""Budgets 预算: quotas down the hierarchy, pre-booking within one's own, and their use."""

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from analytics.ops import budget as arith
from data_access.store.budgets import ledger as budgets
from pages.common import cache
from data_access.db import ConcertoError
from pages.sections import budget_forms as forms
from pages.common.routing import require_routed
from pages.common.session import principal
from analytics.formatting import MISSING, format_time, format_times
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

TREE_CSV = ["unit_id", "period", "level", "name", "parent_id", "owner", "branch", "micro_region",
            "quota", "allocated", "booked", "spent", "rolled_booked", "rolled_spent", "left",
            "use", "accuracy", "expected_spent", "pace", "status", "thresholds"]

st.title("Budgets 预算")
require_routed()
who = principal()
workflow = cache.workflow_engine()
today = dt.datetime.now(dt.UTC).date()
allocator = who.can("allocate_budgets")
forms.show_flash()

current = arith.quarter_of(today)
periods = budgets.list_periods(workflow, who)
options = periods if periods and (current in periods or not allocator) else [
    current, *[p for p in periods if p != current]]
typed = st.session_state.get("budgets_period")
if allocator and typed and typed not in options:  # a new period an allocator typed in
    options = [typed, *options]
period = st.selectbox(
    "Period 期间", options, index=options.index(current) if current in options else 0,
    key="budgets_period", accept_new_options=allocator,
    help="A quarter (2026-Q4) or a month (2026-11)"
         + ("; type a new one to allocate its budget." if allocator else "."))
try:
    tree = budgets.load_budget_tree(workflow, who, period)
    bookings = budgets.load_bookings(workflow, who, period)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
table = arith.budget_table(tree, today)

if table.empty:
    if not allocator:
        st.info(f"No budget for {period} is allocated to you or your region. Executives and "
                "administrators allocate budgets: ask yours for a quota, or pick another "
                "period above.")
        st.stop()
    st.info(f"No budget is allocated for {period} yet. Start with the company's quota under "
            "**Allocate 分配预算** below, then hand it down to departments, teams and people.")
else:
    share = arith.elapsed_share(period, today)
    st.caption(f"{len(table)} unit(s) you may see · {share:.0%} of {period} elapsed. Booked "
               "and spent include everything below a unit; use = (booked + spent) ÷ quota; "
               "accuracy = 1 − |spent − quota| ÷ quota; "
               "pace = spent ÷ (quota × elapsed share).")
    shown = arith.display_table(table)
    st.dataframe(shown.style.apply(arith.row_style, axis=1), hide_index=True,
                 key="budgets_tree")
    chart = table.assign(
        label=table["name"] + table["unit_id"].map(" #{}".format).where(
            table["name"].duplicated(keep=False), ""),
        use_shown=table["use"].fillna(0.0), use_text=shown["use"], left_text=shown["left"])
    bars = alt.Chart(chart).mark_bar().encode(
        x=alt.X("use_shown:Q", title="Use 使用率 (booked + spent ÷ quota)",
                axis=alt.Axis(format="%")),
        y=alt.Y("label:N", sort=list(chart["label"]), title=None),
        color=alt.Color("status:N", title="Status", scale=alt.Scale(
            domain=["ok", "warn", "over"], range=["#4c9f50", "#e8a33d", "#d9453b"])),
        tooltip=[alt.Tooltip("label:N", title="unit"), alt.Tooltip("use_text:N", title="use"),
                 alt.Tooltip("left_text:N", title="left")])
    marks = alt.Chart(pd.DataFrame({"at": [0.8, 1.0]})).mark_rule(
        strokeDash=[4, 4], color="#888").encode(x="at:Q")
    st.altair_chart(bars + marks, width="stretch")
    st.download_button("Download the budget tree (CSV)",
                       csv_file(table[TREE_CSV], encoding="utf-8-sig"),
                       f"budgets_{period}.csv", "text/csv", key="budgets_tree_csv")

forms.my_budget(workflow, who, table, bookings)

st.subheader("Bookings 预占记录")
if bookings.empty:
    st.caption("No bookings in this period on the budgets you may see yet; pre-bookings "
               "appear here as soon as they are made.")
else:
    listed = arith.display_bookings(bookings).drop(columns=["booked at (UTC)"])
    # times in the city's zone, labelled (the pure display gives UTC)
    listed.insert(len(listed.columns) - 1, "booked at 预占时间",
                  format_times(bookings["created_at"]).to_numpy())
    listed["settled"] = [f"{b} {format_time(a)}" if isinstance(b, str) else ""
                         for b, a in zip(bookings["settled_by"], bookings["settled_at"],
                                         strict=True)]
    st.dataframe(listed, hide_index=True, key="budgets_bookings", placeholder=MISSING)
    st.download_button("Download the bookings (CSV)",
                       csv_file(bookings.drop(columns="can_settle"), encoding="utf-8-sig"),
                       f"budget_bookings_{period}.csv", "text/csv", key="budgets_bookings_csv")

forms.allocation(workflow, who, period, table)

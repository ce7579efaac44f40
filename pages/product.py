"""Product view 产品视图: each plan's base, uptake, ARPU, MOU/DOU and churn, migrations
between plans, and which plans a new launch drew its customers from."""

import streamlit as st

from analytics import product as prod
from analytics.formatting import format_month
from data_access.db import ConcertoError
from data_access.mart.schema import CHANNEL_TYPES
from pages.common import cache
from pages.common.empty import require_mart
from pages.common.filters import current
from pages.common.plaintext import plain
from pages.common.tables import show_table
from pages.sections import product_view as view

st.title("Product view 产品视图")
require_mart()
filters = current()
if not cache.has_plan_summary():
    st.info("This mart was built before the product view: it has no figures by plan held "
            "(tables sum_plan_month and fact_plan_change). Rebuild the demo mart on the Mart "
            "page, or load the extract again (`python -m data_access.mart.load DIR`).")
    st.stop()
months = cache.available_months()
left, right = st.columns([1, 2])
kind = left.selectbox("Channel type 渠道类型", ["all", *CHANNEL_TYPES], key="product_channel",
                      format_func=lambda c: "All types 全部" if c == "all" else CHANNEL_TYPES[c])
channel_type = None if kind == "all" else kind
start, end = right.select_slider("Months 月份", options=months, key="product_months",
                                 value=(months[0], months[-1]), format_func=format_month)
where = filters.scope_label + ("" if channel_type is None else f" · {CHANNEL_TYPES[channel_type]}")
try:
    plan_months = cache.plan_months(filters.region_slice, channel_type, start, end)
    changes = cache.plan_changes(filters.region_slice, channel_type, start, end)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
if plan_months.empty:
    st.info(plain(f"No bills for {where} from {format_month(start)} to {format_month(end)}. "
                  f"Choose months between {format_month(months[0])} and "
                  f"{format_month(months[-1])}, or another channel type."))
    st.stop()
history = cache.has_plan_changes()
if not history:
    st.info("This extract has no plan history (the optional table fact_plan_change): every "
            "subscriber counts on their current plan, and migrations and launches cannot be "
            "shown. Add fact_plan_change to the next extract (docs/extract_format.md).")
catalogue = cache.plan_catalogue().set_index("plan_id")
names = catalogue["plan_name"].to_dict()
st.caption(plain(f"{where} · {format_month(start)} to {format_month(end)}. Subscribers count "
                 "on the plan they held each month; churn rate = leavers ÷ last month's base; "
                 "ARPU, MOU and DOU per subscriber-month."))

summary = prod.summarise_plans(plan_months, changes)
summary.insert(1, "plan_name", summary["plan_id"].map(names))
show_table(summary.drop(columns=["plan_id"]), view.SUMMARY_UNITS, labels=view.LABELS,
           key="product_plans", csv=("Download the plan table (CSV)", "plans.csv"))

st.subheader("One plan's months 单套餐趋势")
kpis = prod.plan_kpis(plan_months, changes)
pick, measure = st.columns(2)
held = [p for p in catalogue.index if p in set(kpis["plan_id"])]
plan_id = pick.selectbox("Plan 套餐", list(catalogue.index), key="product_plan",
                         index=list(catalogue.index).index(held[0]), format_func=names.get)
kpi = measure.selectbox("Measure 指标", list(view.TREND_MEASURES), key="product_measure",
                        format_func=view.TREND_MEASURES.get)
view.show_trend(kpis, plan_id, names[plan_id], kpi, where)

st.subheader("Migrations 套餐迁移")
if history:
    view.show_migrations(prod.migration_matrix(changes, plan_months), names)

st.subheader("Launches and cannibalisation 新套餐与蚕食")
launches = prod.detect_launches(plan_months)
if not history:
    st.caption("Needs plan history (fact_plan_change).")
elif not launches:
    st.caption(plain("No plan was launched inside these months: a launch is a plan with no "
                     "subscriber in at least the first three months shown. Widen the months to "
                     "include the months before a launch."))
else:
    chosen = launches[0] if len(launches) == 1 else st.selectbox(
        "Launch 新套餐", launches, key="product_launch",
        format_func=lambda x: f"{names[x.plan_id]} ({format_month(x.month)})")
    view.show_cannibalisation(prod.estimate_cannibalisation(
        changes, plan_months, chosen.plan_id, chosen.month), names)

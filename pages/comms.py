"""Communications 传播管理: the media catalogue, departments' requests on one plan, budget and
overdue alerts, and a media mix proposed from the most similar past campaigns."""

import datetime as dt

import altair as alt
import streamlit as st

from analytics.campaigns import comms as ac
from pages.common import cache
from data_access.store import comms as store
from data_access.store.comms_seed import load_catalogue_file
from data_access.db import ConcertoError
from data_access.mart.schema import DEPARTMENTS
from pages.sections import comms_forms as forms
from pages.common.empty import require_mart
from pages.common.session import principal
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.plaintext import plain  # user text shown as text

st.title("Communications 传播管理")
require_mart()
who = principal()
workflow = cache.workflow_engine()
resources = store.list_resources(workflow)
requests = store.list_requests(workflow)
budgets = store.list_budgets(workflow)

if resources.empty:
    st.info("The resource catalogue is empty. A campaign manager can load the starter "
            "catalogue (outdoor, metro, WeChat, Douyin, SMS, radio, newspaper, roadshow…).")
    if who.can("manage_campaigns") and st.button("Load the starter catalogue 载入资源库",
                                                  key="comms_load"):
        load_catalogue_file(workflow)
        st.rerun()
    st.stop()

status = ac.budget_status(requests, budgets)
late = ac.overdue_requests(requests, dt.date.today())
current = status[status["year"] >= dt.date.today().year]  # past years are closed
forms.budget_banner(current, who)
if not late.empty:
    st.warning(f"{len(late)} request(s) need attention: "
               + "; ".join(f"#{r.request_id} {plain(r.title)} ({r.reason})"
                           for r in late.head(5).itertuples()))

plan, catalogue, recommend, money = st.tabs(["Plan 计划", "Catalogue 资源库",
                                             "Media mix 媒体组合推荐", "Budgets 预算"])
with plan:
    if requests.empty:
        st.info("No requests yet: departments add them with the form below.")
    else:
        st.altair_chart(forms.plan_chart(requests), width="stretch")
        shown = requests.sort_values("start_day", ascending=False)[[
            "request_id", "department", "title", "resource", "medium", "quantity", "cost",
            "start_day", "end_day", "status", "requested_by"]]
        show_table(shown, {"cost": "yuan", "start_day": "day", "end_day": "day",
                           "quantity": "count"}, key="comms_plan_table",
                   labels=forms.REQUEST_LABELS, csv=("Download the plan (CSV)", "comms_plan.csv"))
        forms.decision_form(workflow, who, requests)
    forms.request_form(workflow, who, resources)

with catalogue:
    media = st.multiselect("Medium 媒介", sorted(resources["medium"].unique()),
                           format_func=lambda m: store.MEDIA.get(m, m), key="comms_media")
    rows = resources[resources["medium"].isin(media)] if media else resources
    cols = ["code", "name", "medium", "unit_cost", "cost_unit", "period_days", "theme", "coverage"]
    show_table(rows[cols], {"unit_cost": "yuan", "period_days": "count"},
               key="comms_catalogue", labels=forms.RESOURCE_LABELS,
               csv=("Download the catalogue (CSV)", "comms_resources.csv"))
    forms.resource_form(workflow, who)

with recommend:
    theme = st.text_input("New campaign theme 新活动主题", key="comms_theme",
                          placeholder="e.g. 暑期校园流量 summer campus data")
    campaigns = cache.past_campaigns()
    if not theme.strip():
        st.info("Describe the new campaign's theme or offer (Chinese, English or both) to see "
                "the media used by the most similar past campaigns and their measured effect.")
    elif campaigns.empty:
        st.info("The mart has no past campaigns to compare with.")
    else:
        try:
            rec = ac.recommend_mix(theme, campaigns, requests[requests["status"] != "rejected"]
                                   [["campaign_name", "medium", "cost"]].dropna(),
                                   cache.campaign_arpu_change())
        except (ConcertoError, ValueError) as exc:
            st.error(plain(exc))
            st.stop()
        if rec.campaigns.empty:
            st.warning("No past campaign reads like this theme; try other words.")
        else:
            st.caption(rec.note + " Effect: members' mean monthly ARPU change, campaign months "
                       "against the 3 months before, less the hold-out's change where one "
                       "exists (not yet the campaign page's full evaluation).")
            if not rec.mix.empty:
                st.altair_chart(alt.Chart(rec.mix).mark_bar().encode(
                    x=alt.X("weight:Q", axis=alt.Axis(format=".0%", tickCount=5),
                            title="share of the mix"),
                    y=alt.Y("medium:N", sort="-x", title=None),
                    tooltip=["medium", alt.Tooltip("weight:Q", format=".0%")]
                ).properties(height=30 * len(rec.mix) + 20), width="stretch")
            table = rec.campaigns[["campaign_name", "similarity", "media", "effect", "method",
                                   "participants", "department", "channel_types"]]
            show_table(table, {"effect": "yuan_per_sub", "participants": "subs"},
                       key="comms_similar", labels={"effect": "ARPU effect/month 月ARPU效果",
                                                    "similarity": "Similarity 相似度"},
                       column_config={"Similarity 相似度": st.column_config.ProgressColumn(
                           "Similarity 相似度", min_value=0.0, max_value=1.0, format="%.2f")})
            st.download_button("Download the recommendation (CSV)", csv_file(rec.campaigns),
                               "comms_recommendation.csv", "text/csv", key="comms_rec_csv")

with money:
    if status.empty:
        st.info("No budgets yet: an executive sets each department's yearly budget below.")
    else:
        show_table(status.assign(department=status["department"].map(
            lambda d: DEPARTMENTS.get(d, d))), {"amount": "yuan", "committed": "yuan",
                                               "remaining": "yuan", "share": "pct"},
                   key="comms_budget_table", labels={"amount": "Budget 预算",
                                                     "committed": "Committed 已承诺",
                                                     "remaining": "Remaining 剩余",
                                                     "share": "Committed share 承诺占比",
                                                     "year": "Year 年度"},
                   csv=("Download budgets (CSV)", "comms_budgets.csv"))
    forms.budget_form(workflow, who)

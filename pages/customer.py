"""Customer view 客户视图: one subscriber — identity, 24 months of bills and usage, net value and
every department's benefits, campaigns, work orders and intelligence, churn risk.

Opened from the search box or a link (``?sub=<subscriber id>``, see pages/common/links.py).
A subscriber outside the reader's region reads exactly like one that does not exist.
"""

import pandas as pd
import streamlit as st

from analytics.customer import benefits_by_department, window_value
from analytics.ops import arsenal as rules
from data_access.db import ConcertoError
from data_access.mart import customer as reads
from data_access.store import arsenal as tactics_store
from data_access.store import scope
from pages.common import cache
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.empty import require_mart
from pages.common.links import (PARAM, customer_link_column, subscriber_param,
                                with_customer_links)
from pages.common.plaintext import plain  # user text shown as text
from pages.common.session import principal
from pages.sections import customer_view as view

st.title("Customer view 客户视图")
require_mart()
who = principal()


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=64, show_spinner=False)
def load_customer(view_key: tuple, subscriber_id: int) -> dict[str, pd.DataFrame]:
    # the viewer (last in the key) decides what comes back: never another region's customer
    with scope.acting_as(view_key[-1]):
        mart = cache.mart_engine()
        profile = reads.load_profile(mart, subscriber_id)
        if profile.empty:
            return {"profile": profile}
        return {"profile": profile, "ledger": reads.load_ledger(mart, subscriber_id),
                "campaigns": reads.load_campaigns(mart, subscriber_id)}


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=64, show_spinner=False)
def search(view_key: tuple, text: str) -> pd.DataFrame:
    with scope.acting_as(view_key[-1]):
        return reads.search_subscribers(cache.mart_engine(), text)


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=64, show_spinner=False)
def churn_risk(view_key: tuple, subscriber_id: int) -> reads.ChurnRisk | None:
    with scope.acting_as(view_key[-1]):
        return reads.churn_risk(cache.workflow_engine(), subscriber_id)


def open_picked() -> None:
    """Open the subscriber picked among the search results (a callback, before the run)."""
    picked = st.session_state.get("customer_pick")
    if picked is not None:
        st.query_params[PARAM] = str(picked)


hint = ("a subscriber id (e.g. 1234) or a masked number as other pages show it "
        "(e.g. 1351234****)")
if who.sees_full_numbers:
    hint += ", a full number, or a pattern with the digits you know (e.g. 135****5678)"
text = st.text_input("Find a subscriber 查找用户", key="customer_search", help=f"Search by {hint}.",
                     placeholder="1234 · 1351234****", max_chars=40).strip()
if text:
    try:
        found = search(cache.view_key(), text)
    except ConcertoError as exc:
        st.warning(plain(exc))
    else:
        if found.empty:
            st.warning(plain(f"No subscriber in your region matches {text!r}. "
                             "没有符合条件的用户（或不在您的区域内）。"))
        elif len(found) == 1 and st.session_state.get("customer_opened_for") != text:
            st.session_state["customer_opened_for"] = text  # once: then the URL rules again
            st.query_params[PARAM] = str(int(found.iloc[0]["subscriber_id"]))
        else:
            shown = found.head(reads.SEARCH_LIMIT)
            if len(found) > reads.SEARCH_LIMIT:
                st.caption(f"The first {reads.SEARCH_LIMIT} matches; type more digits to narrow.")
            st.dataframe(view.matches_display(with_customer_links(shown)), hide_index=True,
                         width="stretch", column_config={**view.MATCH_COLUMNS,
                                                         "customer": customer_link_column()})
            labels = {int(r.subscriber_id): f"{r.subscriber_id} · {r.number} · {r.micro_region}"
                      for r in shown.itertuples()}
            st.selectbox("Open a match 打开", list(labels), index=None, key="customer_pick",
                         format_func=labels.get, on_change=open_picked,
                         placeholder=f"{len(shown)} match(es): pick one")

raw = st.query_params.get(PARAM)
if raw is None:
    st.info("Search for a subscriber above, or follow a subscriber's link from another page.")
    st.stop()
try:
    subscriber = subscriber_param(raw)
except ConcertoError as exc:
    st.warning(plain(exc))
    st.stop()
data = load_customer(cache.view_key(), subscriber)
if data["profile"].empty:
    st.warning(view.NOT_FOUND.format(sub=subscriber))
    st.stop()
profile, ledger, campaigns = data["profile"].iloc[0], data["ledger"], data["campaigns"]
first, last = cache.value_window()

view.render_identity(profile, last)

st.subheader("24 months of bills and usage 近24个月账单与使用")
if ledger.empty:
    st.info("No bills in the last 24 months of the mart. 近24个月无账单。")
else:
    st.altair_chart(view.revenue_chart(ledger), width="stretch")
    left, right = st.columns(2)
    left.altair_chart(view.usage_chart(ledger, "mou", "Minutes (MOU) 通话分钟"), width="stretch")
    right.altair_chart(view.usage_chart(ledger, "data_mb", "Data (DOU, MB) 流量"),
                       width="stretch")
    with st.expander(f"Ledger 账单明细 ({len(ledger)} months)"):
        st.dataframe(view.ledger_display(ledger), hide_index=True, width="stretch")
    st.download_button("Download the 24-month ledger (CSV) 下载账单", csv_file(
        ledger[["number", *view.LEDGER_COLUMNS, "is_new"]]),
        f"customer_{subscriber}_ledger.csv", "text/csv", key="customer_csv")

st.subheader("Net value and benefits 净价值与各部门投入")
view.render_value(window_value(ledger, campaigns, first, last), benefits_by_department(campaigns))

st.subheader("Campaigns joined 参与的营销活动")
if campaigns.empty:
    st.caption("Not a member of any campaign. 未参与营销活动。")
else:
    started = [int(c) for c, start in zip(campaigns["campaign_id"], campaigns["start_month"],
                                          strict=True)
               if pd.Timestamp(start) <= pd.Timestamp(last)]  # not started: nothing measured
    with st.spinner("Measuring the campaigns' effects… 正在评估活动效果"):
        effects, _ = cache.campaign_effects(started)  # stored by jobs.precompute, else now
    st.dataframe(view.campaigns_display(campaigns, effects), hide_index=True, width="stretch",
                 column_config=view.CAMPAIGN_COLUMNS)

st.subheader("Work orders and intelligence 工单与情报")
try:
    orders = reads.load_work_orders(cache.workflow_engine(), cache.mart_engine(), subscriber)
    reports = reads.load_intel_reports(cache.workflow_engine(), cache.mart_engine(), subscriber,
                                       [int(i) for i in orders["order_id"]])
except ConcertoError as exc:
    st.error(plain(exc))
else:
    if orders.empty:
        st.caption("No work order you may see mentions this subscriber. 无相关工单。")
    else:
        st.dataframe(view.orders_display(orders), hide_index=True, width="stretch",
                     column_config=view.MENTION_COLUMNS)
    if reports.empty:
        st.caption("No intelligence report you may see mentions this subscriber. 无相关情报。")
    else:
        st.dataframe(view.reports_display(reports), hide_index=True, width="stretch",
                     column_config=view.MENTION_COLUMNS)

st.subheader("Churn risk 离网风险")
risk = churn_risk(cache.view_key(), subscriber)
action = None
if risk is not None and risk.reason_tags:
    tactics = tactics_store.list_tactics(cache.workflow_engine(), who)
    suggestion = (rules.suggest_retention(tactics, list(risk.reason_tags), risk.profile,
                                          level=who.auth_level) if not tactics.empty else None)
    action = (risk.action or None) if suggestion is None else \
        f"{suggestion['name']} [{suggestion['code']}]"
view.render_churn(risk, action)

"""Revenue assurance 收入保障: leakage found in the latest bills, priced in yuan, routable as
work orders."""

import altair as alt
import pandas as pd
import streamlit as st

from analytics.assurance import CHECKS
from analytics.formatting import column_label, format_month, format_value
from data_access.db import ConcertoError
from data_access.store import scope
from jobs.assurance import raise_assurance_alerts
from pages.common import cache, fragments
from pages.common.csvexport import csv_file
from pages.common.empty import require_mart
from pages.common.filters import current
from pages.common.links import open_customer_button
from pages.common.plaintext import plain  # user and data text shown as text
from pages.common.session import principal

st.title("Revenue assurance 收入保障")
require_mart()
who = principal()
filters = current()
months = st.segmented_control("Months checked 检查月数", [1, 3, 6], default=3,
                              key="assurance_months") or 3
try:
    result = cache.assurance_checks(months=months, latest=filters.month)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()

where = filters.scope_label
st.caption(f"{where} · bills of {format_month(pd.Timestamp(result.latest) - pd.DateOffset(months=months - 1))} "
           f"to {format_month(result.latest)}. Each line is judged against its own earlier "
           "bills, its plan's other lines and its agreed discount; the nightly job raises the "
           "largest findings as alerts, which dispatch routes as work orders.")
found = result.findings
cols = st.columns(3)
cols[0].metric("Leakage found 漏损金额", format_value(found["amount"].sum(), "yuan"))
cols[1].metric("Share of billed revenue 占收入", format_value(result.share, "pct"),
               help=f"of {format_value(result.billed, 'yuan')} billed in these months")
cols[2].metric("Lines 涉及号码", format_value(found["subscriber_id"].nunique(), "subs"))
if not result.discount_checks:
    st.info("The mart holds no agreed discounts (table discount_term), so the three discount "
            "checks could not run. Add discount_term to the next extract (docs/extract_format.md).")

summary = result.summary.assign(amount_text=lambda t: t["amount"].map(
    lambda v: format_value(v, "yuan")))
st.subheader("By check 按检查项")
st.altair_chart(
    alt.Chart(summary).mark_bar().encode(
        x=alt.X("amount:Q", title="Yuan lost 漏损 (¥)", axis=alt.Axis(format=",.0f")),
        y=alt.Y("name:N", sort="-x", title=None),
        tooltip=[alt.Tooltip("name:N", title="Check"), alt.Tooltip("findings:Q", title="Findings"),
                 alt.Tooltip("amount_text:N", title="Yuan")]),
    width="stretch")

if found.empty:
    st.success(f"No leakage found in {where} over these months. The checks run again every "
               "night on the newest bills.")
    st.stop()

st.subheader("Findings 稽核发现")


@fragments.section()
def findings_table(found: pd.DataFrame) -> None:
    """Filtering the checks or picking a finding reruns this section, not the checks above."""
    chosen = st.multiselect("Checks 检查项", list(CHECKS), default=list(CHECKS),
                            format_func=CHECKS.get, key="assurance_checks")
    shown = found[found["check"].isin(chosen)]
    table = pd.DataFrame({
        column_label("number"): shown["number"],
        column_label("check"): shown["check"].map(CHECKS),
        column_label("amount"): shown["amount"].map(lambda v: format_value(v, "yuan")),
        column_label("first_month"): shown["first_month"].map(format_month),
        column_label("months"): shown["months"],
        column_label("branch"): shown["branch"],
        column_label("micro_region"): shown["micro_region"],
        column_label("plan_name"): shown["plan_name"],
        column_label("detail"): shown["detail"],
    })
    event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="assurance_findings")
    picked = event.selection.rows if event is not None else []
    if picked and picked[0] < len(shown):
        open_customer_button(shown["subscriber_id"].iloc[picked[0]], key="assurance_open_customer")
    else:
        st.caption("Click a finding's row to open that line's customer view 客户视图.")
    st.download_button("Download the findings (CSV)",
                       csv_file(shown.drop(columns=["subscriber_id"]).rename(columns=column_label)),
                       "revenue_assurance.csv", "text/csv", key="assurance_csv")


findings_table(found)

if who.can("act_on_alerts"):
    st.caption("Raise the largest findings of each check as alerts now (the nightly job does "
               "this too); open alerts become work orders for the line's account manager.")
    if st.button("Raise alerts 生成告警", key="assurance_raise"):
        try:
            with scope.acting_as(who):
                raised = raise_assurance_alerts(cache.workflow_engine(), result)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.success(f"{raised} new alert(s); findings already raised this month are not "
                       "raised again. See Alerts 告警.")

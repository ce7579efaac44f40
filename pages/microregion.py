"""Micro-region management 微区域管理: from the company down to numbers, located at every step."""

import datetime as dt

import pandas as pd
import streamlit as st

from analytics.diagnosis.runs import locate
from analytics.kpis.drill import SPECS
from analytics.kpis.registry import REGISTRY
from data_access.mart.queries import Slice
from pages.common import cache
from pages.common import filters, urlstate
from pages.sections import drilldown, network_view
from pages.common.empty import require_mart
from pages.common import fragments, kpimap
from pages.common.findings import render_finding_list
from pages.common.plaintext import plain  # the URL's text shown as text

st.title("Micro-region management 微区域管理")
require_mart()
scope = filters.current()
if scope.previous_month is None:
    st.info("Pick a later period 账期 in the sidebar: the first month has nothing to compare with.")
    st.stop()
month = pd.Timestamp(scope.month)
KPIS = [k for k in SPECS if k != "market_share"]  # market share stops at micro-regions
wanted = urlstate.incoming("kpi")
if wanted in KPIS:
    st.session_state["micro_kpi"] = wanted
elif wanted is not None:
    st.warning(plain(f"URL parameter kpi={wanted!r} cannot be drilled here; choose one of "
                     f"{', '.join(KPIS)}."))
drilldown.start_path_from_url("micro")
kpi = st.selectbox("KPI 指标", KPIS, key="micro_kpi", format_func=lambda k: REGISTRY[k].label)
drilldown.reset_on_scope_change("micro", (scope.branch, scope.micro_region, kpi))
# A scoped manager's filters are fixed to their own branch or micro-region, so the page, its
# map and its drill start at that level; the caption says which it is.
level = (" (micro-region 微区域)" if scope.micro_region else " (branch 分公司)" if scope.branch
         else "")
st.caption(f"{scope.scope_label}{level} · {scope.month:%Y-%m} against "
           f"{scope.previous_month:%Y-%m}. "
           "Every level ranks its members by their share of the change; the localiser says "
           "where the change is concentrated. Every problem ends at customers 问题最终落到客户.")



@fragments.section(key="micro_localiser")
def localiser(kpi: str, region: Slice, month: dt.date, previous: dt.date) -> None:
    """Where the change under the drill's current path comes from (reruns with the drill)."""
    current = drilldown.path_slice(region, st.session_state.get("micro_path", []))
    if current.channel_id is not None or current.group_id is not None:
        st.caption("Inside one channel or group there is nothing finer to search: its "
                   "subscriber rows are below.")
        return
    leaves = cache.cube_leaves([month, previous], current)
    findings = locate(kpi, leaves, month, previous)
    if findings:
        render_finding_list(findings, kpi, REGISTRY[kpi].unit)
    else:
        st.info("No concentrated cause: the change here is spread evenly or within noise. "
                "Rank the members below to see who moved most.")


left, right = st.columns([3, 2])
with left:
    kpimap.map_section(kpi, month, scope.micro_region, "micro", height=420)
with right:
    st.subheader("Where the change comes from 变化定位")
    localiser(kpi, scope.region_slice, scope.month, scope.previous_month)

# A click in the drill reruns the drill and the localiser (and the map when the area drilled
# into changes); the KPI picker above and the network below rerun the page.
st.subheader(f"Drill 下钻: {REGISTRY[kpi].label}")
drilldown.drill_section(scope.region_slice, scope.scope_label, kpi, scope.month,
                        scope.previous_month, "micro", follow=["micro_localiser"],
                        follow_geography=[kpimap.section_key("micro")])

st.subheader("Network beside the market 网络与市场")
network_view.render(scope.micro_region, month)

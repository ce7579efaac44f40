"""Operations sandbox 运营沙盘: every KPI's status, the KPI tree, the map, and the drill to numbers."""

import pandas as pd
import streamlit as st

from analytics.kpis.registry import REGISTRY, kpi_cards
from analytics.kpis.tree import TREE_IDENTITIES, revenue_bridge, tree_for
from pages.common import cache
from pages.common import filters, urlstate
from pages.sections import drilldown, orderview
from pages.common.cards import KPI_STATE, render_cards, tree_table, tree_waterfall
from pages.common.empty import require_mart
from pages.common import kpimap
from pages.common.session import principal
from pages.common.plaintext import plain  # the URL's text shown as text
from pages.common.csvexport import csv_file  # formula-like cells neutralised

st.title("Operations sandbox 运营沙盘")
require_mart()
scope = filters.current()
if scope.previous_month is None:
    st.info("The selected month is the first in the mart, so there is nothing to compare it "
            "with. Pick a later period 账期 in the sidebar.")
    st.stop()
month = pd.Timestamp(scope.month)
where = drilldown.unit_label(scope.region_slice, scope.scope_label)  # a scoped user's own area
st.caption(f"{where} · {scope.month:%Y-%m} against {scope.previous_month:%Y-%m} "
           "and the same month last year. Status: 🟢 on target · 🟠 within tolerance · 🔴 off target.")

# ── URL state: the selected KPI and drill path travel with a shared link ──
wanted = urlstate.incoming("kpi")
if wanted in REGISTRY:
    st.session_state[KPI_STATE] = wanted
elif wanted is not None:
    st.warning(plain(f"URL parameter kpi={wanted!r} is not a KPI; choose one of "
                     f"{', '.join(REGISTRY)}."))
drilldown.start_path_from_url("sandbox")
st.session_state.setdefault(KPI_STATE, "revenue")

monthly = cache.monthly_totals(scope.region_slice).loc[:month]
render_cards(kpi_cards(monthly, month), cache.expected_kpis(scope.region_slice, month))
kpi = st.session_state[KPI_STATE]
orderview.response_strip(cache.workflow_engine(), principal(), scope.branch, scope.micro_region)
drilldown.reset_on_scope_change("sandbox", (scope.branch, scope.micro_region, kpi))

# ── Map and KPI tree ──
left, right = st.columns([3, 2])
with left:
    st.subheader(f"Map: {REGISTRY[kpi].label}")
    kpimap.map_section(kpi, month, scope.micro_region, "sandbox")  # reruns with the drill
with right:
    st.subheader(f"KPI tree 指标树: {REGISTRY[kpi].label}")
    tree = tree_for(kpi, monthly.loc[month], monthly.iloc[-2])
    if tree is None:
        having = ", ".join(REGISTRY[k].label for k in TREE_IDENTITIES)
        st.info(f"{REGISTRY[kpi].label} has no KPI tree: it is not a sum or product of other "
                f"KPIs. Trees exist for {having}; the drill below shows where this one moved.")
    else:
        st.caption(TREE_IDENTITIES[kpi])
        st.altair_chart(tree_waterfall(revenue_bridge(tree), REGISTRY[kpi].label),
                        width="stretch")
        with st.expander("The tree as a table 指标树明细"):
            nodes = tree.to_frame()
            st.dataframe(tree_table(nodes), hide_index=True)
            st.download_button("Download the tree (CSV)",
                               csv_file(nodes),
                               f"kpi_tree_{kpi}.csv", "text/csv")

# ── Drill: chart → table → ledger ── (a click in it reruns the drill, and the map when the
# area drilled into changes; cards and tree do not depend on the path)
st.subheader(f"Drill-down 下钻: {REGISTRY[kpi].label}")
drilldown.drill_section(scope.region_slice, scope.scope_label, kpi, scope.month,
                        scope.previous_month, "sandbox",
                        follow_geography=[kpimap.section_key("sandbox")])

"""Customer value 价值经营: net value and ROI bands for customers, channels and groups."""

import altair as alt
import streamlit as st

from analytics.value import operations as vo
from analytics.formatting import format_ratio, format_value
from pages.common import cache, fragments
from data_access.db import ConcertoError
from data_access.mart.schema import VALUE_WINDOWS  # the windows summarised at build
from pages.common.empty import require_mart
from pages.common.maps import draw_region_map
from pages.common.session import principal
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.lazy import lazy_expander
from pages.common.links import open_customer_button
from pages.common.plaintext import plain  # user text shown as text

st.title("Customer value 价值经营")
require_mart()
who = principal()
months = st.segmented_control("Window 统计周期 (months)", list(VALUE_WINDOWS), default=3,
                              key="value_months") or 3
try:
    window = cache.value_window(months)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
first, last = window
st.caption(f"{first:%Y-%m} to {last:%Y-%m}, customers billed in {last:%Y-%m}"
           + (f" in {who.scope_value}" if who.scope_value else "") + ". Net value = revenue − "
           "discounts − service and VIP costs − campaign costs; ROI 投入产出比 = revenue before "
           "discount ÷ (discounts + service and VIP costs + campaign costs), below 1 exactly when "
           "net value is negative.")

customers = cache.customer_bands(window)
if customers.empty:
    st.info("No billed customers in this window and scope. Pick a longer window above, or "
            "ask an administrator to load a newer mart extract.")
    st.stop()
channels = vo.add_roi(cache.unit_values(window, "channel"))
groups = vo.add_roi(cache.unit_values(window, "group"))
summary = cache.high_end_summary(window)

cols = st.columns(3)
cols[0].metric("High-end customers 高端客户", format_value(summary["high_end"], "subs"))
cols[1].metric("Losing money 负价值", format_value(summary["unprofitable_share"], "pct"),
               help=f"{summary['unprofitable']:,} high-end customers with net value below zero")
cols[2].metric("…of whom with duplicate benefits 重复优惠",
               format_value(summary["duplicate_share_of_unprofitable"], "pct"),
               help="paid benefits from two or more departments in the window")

st.subheader("ROI bands 投入产出分布")
dist = vo.band_distribution({"customers 客户": customers, "channels 渠道": channels,
                             "groups 集团": groups})
chart = alt.Chart(dist).mark_bar().encode(
    x=alt.X("band:N", sort=list(vo.BANDS), title="ROI band"),
    xOffset=alt.XOffset("level:N"),
    y=alt.Y("share:Q", title="share of units", axis=alt.Axis(format="%")),
    color=alt.Color("level:N", title=None),
    tooltip=["level", "band", alt.Tooltip("units:Q", format=","),
             alt.Tooltip("share:Q", format=".1%")])
st.altair_chart(chart, width="stretch")
st.download_button("Download the band distribution (CSV)", csv_file(dist), "value_bands.csv",
                   "text/csv", key="value_bands_csv")

UNIT_COLUMNS = {"customers": "subs", "negative_customers": "subs", "gross": "yuan", "cost": "yuan",
                "net_value": "yuan", "roi": "ratio", "band": None}
for title, frame, keys, name in [("Channels 渠道", channels, ["channel_name", "channel_type"],
                                  "channels"),
                                 ("Enterprise groups 集团", groups, ["group_name", "industry"],
                                  "groups")]:
    shelf = lazy_expander(f"{title}: {len(frame):,}, worst ROI first", key=f"value_{name}_open")
    if not shelf.open:  # thousands of rows: sent only when someone opens them
        continue
    with shelf:
        table = frame.sort_values("roi")[[*keys, *UNIT_COLUMNS]]
        show_table(table.assign(band=table["band"].astype(str)),
                   {k: u for k, u in UNIT_COLUMNS.items() if u}, key=f"value_{name}",
                   labels={"roi": "ROI 投入产出比 (×)"},
                   csv=(f"Download {name} (CSV)", f"value_{name}.csv"))

st.subheader("Customers to look at 重点客户")


@fragments.section()
def customer_list(window) -> None:
    """Another list or a picked customer reruns this section, not the value tables and map."""
    lists = {"negative_high_end": "High-end, net value below zero 高端负价值",
             "duplicate_benefit": "Duplicate benefits from several departments 多部门重复优惠"}
    kind = st.radio("List", list(lists), format_func=lists.get, horizontal=True, key="value_list")
    rows = cache.value_customers(window, kind, limit=500)
    if rows.empty:
        st.caption("Nobody in this list for this window and scope.")
    else:
        st.caption(f"{len(rows):,} customer(s) (at most 500), most negative net value first. A "
                   "customer losing money should get a cheap courtesy (the source: a 10-yuan "
                   "magazine) rather than another costly gift.")
        picked = show_table(rows, dict.fromkeys(("gross", "discount", "service_cost",
                                                  "campaign_cost", "net_value"), "yuan_per_sub"),
                            key="value_rows", select=True,
                            labels={"subscriber_id": "Subscriber 用户",
                                    "channel_id": "Channel id 渠道编号", "group_id": "Group id 集团编号"},
                            csv=("Download the customers (CSV)", f"value_{kind}.csv"))
        if picked is None:
            st.caption("Click a row to open that customer's view 客户视图.")
        else:
            open_customer_button(rows["subscriber_id"].iloc[picked], key="value_open_customer")


customer_list(window)

st.subheader("Value map 价值地图")
regions = vo.add_roi(cache.unit_values(window, "micro_region"))
if regions.empty:
    st.caption("No micro-regions in your scope.")
else:
    regions["status"] = regions["band"].astype(str).map(vo.BAND_STATUS)
    regions["net_text"] = regions["net_value"].map(lambda v: format_value(v, "yuan"))
    regions["roi_text"] = regions["roi"].map(format_ratio)
    regions["neg_text"] = regions["negative_customers"].map("{:,.0f}".format)
    draw_region_map(regions, key="value_map", tooltip=[
        ("micro_region", "Micro-region"), ("micro_region_zh", "微区域"),
        ("net_text", "Net value"), ("roi_text", "ROI"),
        ("neg_text", "Customers losing money")])
    st.caption("Red: ROI below 1 (the region's customers cost more than they bring); amber: "
               "1–1.5; green: above 1.5.")

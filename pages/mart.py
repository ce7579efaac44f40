"""Mart page: what is loaded, how big it is, and the truths the generator planted."""

import json

import streamlit as st

from pages.common import cache
from data_access.store.auth import ROLES
from pages.common.empty import build_demo_mart_button, require_mart
from pages.common.session import principal
from pages.common.csvexport import safe_frame  # formula-like cells neutralised

st.title("Mart & planted truths 数据集市")
require_mart()
who = principal()
if not who.can("view_mart_admin"):
    st.info(f"A {ROLES[who.role].lower()} may not see the mart's tables and planted truths; "
            "the operations sandbox shows your figures.")
    st.stop()

info = cache.mart_info()
source = info.get("source", "unknown")
counts = cache.table_counts().set_index("table")["rows"]
cols = st.columns(4)
cols[0].metric("Subscribers 用户", f"{counts['dim_subscriber']:,}")
cols[1].metric("Subscriber-months 月账单", f"{counts['fact_subscriber_month']:,}")
cols[2].metric("Months 月份", f"{len(cache.available_months())}")
cols[3].metric("Channels 渠道", f"{counts['dim_channel']:,}")
built = info.get("built_at", "–").replace("T", " ")[:16]
if source == "generator":
    st.caption(f"Built by the generator {built} UTC · seed {info.get('seed')} · latest month "
               f"{info.get('end_month')} · schema version {info.get('schema_version')}")
else:
    st.caption(f"Loaded from {info.get('extract', 'an extract')} {built} UTC · "
               f"schema version {info.get('schema_version')}")

st.subheader("Tables 数据表")
counts = cache.table_counts()
st.dataframe(counts, hide_index=True, column_config={
    "rows": st.column_config.NumberColumn("rows", format="localized"),
})
st.download_button("Download table counts (CSV)", counts.pipe(safe_frame).to_csv(index=False).encode("utf-8"),
                   "mart_tables.csv", "text/csv")
st.caption("Column-level definitions: docs/data_dictionary.md. Extract format for real data: "
           "docs/extract_format.md.")

st.subheader("Planted truths 预设事实")
truths = cache.planted_truths()
if truths.empty:
    st.info("This mart came from a real extract: nothing was planted. Planted truths exist only "
            "in generated marts, where they let every analytic be checked.")
else:
    shown = truths.assign(where=truths["where_json"].map(
        lambda w: ", ".join(f"{k}={v}" for k, v in json.loads(w).items())))
    st.dataframe(shown[["truth_id", "kind", "where", "size", "period", "detail"]],
                 hide_index=True)
    st.download_button("Download planted truths (CSV)", truths.pipe(safe_frame).to_csv(index=False).encode("utf-8"),
                       "planted_truths.csv", "text/csv")

if cache.rebuildable():
    with st.expander("Rebuild the demo mart 重建演示数据"):
        st.write("Replaces the demo mart with a fresh build (same seed, same data). "
                 "Open sessions switch to the new file on their next click.")
        build_demo_mart_button("Rebuild now")

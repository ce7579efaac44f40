"""Mart page: what is loaded, how big it is, and the truths the generator planted."""

import json

import streamlit as st

from pages.common import cache
from data_access.store.auth import ROLES
from pages.common.empty import build_demo_mart_button, require_mart
from pages.common.session import principal
from analytics.formatting import MISSING, format_time
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text
from pages.common.tables import show_table

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
built = format_time(info.get("built_at"))
if source == "generator":
    st.caption(f"Built by the generator {built} · seed {info.get('seed', MISSING)} · latest "
               f"month {info.get('end_month', MISSING)} · schema version "
               f"{info.get('schema_version', MISSING)}")
else:
    st.caption(f"Loaded from {plain(info.get('extract', 'an extract'))} {built} · "
               f"schema version {info.get('schema_version', MISSING)}")

st.subheader("Tables 数据表")
counts = cache.table_counts()
show_table(counts, {"rows": "count"}, key="mart_tables",
           labels={"table": "Table 数据表", "rows": "Rows 行数"},
           csv=("Download table counts (CSV)", "mart_tables.csv"))
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
    show_table(shown[["truth_id", "kind", "where", "size", "period", "detail"]],
               {"size": "number"}, key="mart_truths",
               labels={"truth_id": "Truth 事实", "kind": "Kind 类型", "where": "Where 位置",
                       "size": "Size 大小", "detail": "Detail 详情"})
    st.download_button("Download planted truths (CSV)", csv_file(truths), "planted_truths.csv",
                       "text/csv")

if cache.rebuildable():
    with st.expander("Rebuild the demo mart 重建演示数据"):
        st.write("Replaces the demo mart with a fresh build (same seed, same data). "
                 "Open sessions switch to the new file on their next click.")
        build_demo_mart_button("Rebuild now")

"""Front-line intelligence on the competitor monitor: the report form and the searchable feed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from analytics.formatting import format_time
from data_access.store import intel
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from data_access.mart.geography import load_regions
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

_FIGURE_ROWS = pd.DataFrame({"figure": pd.Series([""] * 3, dtype="string"),
                             "value": pd.Series([None] * 3, dtype="float")})


def report_form(workflow: Any, who: Principal, *, micro_region: str | None,
                alert_id: int | None) -> None:
    """The submission form (for roles that may report), with errors shown by field."""
    if not who.can("act_on_alerts"):
        st.caption("Your role reads the intelligence feed; front-line roles submit reports.")
        return
    regions = load_regions()
    if who.scope_level is not None:
        regions = regions[regions[who.scope_level] == who.scope_value]
    places = regions["micro_region"].tolist()
    with st.form("intel_form", clear_on_submit=False):
        cols = st.columns(3)
        operator = cols[0].selectbox("Operator 运营商", list(intel.OPERATORS),
                                     format_func=intel.OPERATORS.get, key="intel_operator")
        place = cols[1].selectbox("Micro-region 微区域", places, key="intel_place",
                                  index=places.index(micro_region) if micro_region in places else 0)
        category = cols[2].selectbox("Category 类别", list(intel.CATEGORIES),
                                     format_func=intel.CATEGORIES.get, key="intel_category")
        text = st.text_area("What did you see? 情况描述", key="intel_text",
                            max_chars=intel.TEXT_LIMIT + 100,
                            placeholder="e.g. Rival A sells a 99-yuan 5G plan door to door")
        cols = st.columns([2, 1])
        tags = cols[0].text_input("Tags 标签 (comma-separated)", key="intel_tags",
                                  placeholder="jida, 5g, door-to-door")
        link = cols[1].number_input("Alert # 告警编号 (optional)", min_value=0, step=1,
                                    value=int(alert_id or 0), key="intel_alert")
        figures = st.data_editor(_FIGURE_ROWS, num_rows="dynamic", key="intel_figures",
                                 hide_index=True, column_config={
                                     "figure": st.column_config.TextColumn("figure 数据项"),
                                     "value": st.column_config.NumberColumn("value 数值")})
        sent = st.form_submit_button("Submit report 提交", type="primary")
    if not sent:
        return
    named = {str(r["figure"]): r["value"] for r in figures.to_dict("records")
             if isinstance(r["figure"], str) and r["figure"].strip()}
    fields = {"operator": operator, "category": category, "text": text,
              "micro_region": place, "figures": named, "tags": tags,
              "alert_id": int(link) or None}
    # Same person, same content, same day: one token, so a double click or a second tab
    # stores the report once.
    token = intel.form_token(who.username, dt.datetime.now(dt.UTC).date(), fields)
    try:
        done = intel.submit_report(workflow, who, token=token, **fields)
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    st.success(f"Report #{done.report_id} stored." if done.created
               else f"Report #{done.report_id} was already stored (submitted twice).")


def feed(workflow: Any, who: Principal, *, micro_region: str | None) -> None:
    """The searchable feed: words, tags, operator, place; each report with its links."""
    cols = st.columns([2, 2, 1])
    words = cols[0].text_input("Search 搜索", key="intel_search", placeholder="99-yuan, 扫楼…")
    everything = intel.search_reports(workflow, who, limit=500)
    known = sorted({t for tags in everything["tags"] for t in tags})
    tags = cols[1].multiselect("Tags 标签", known, key="intel_tag_filter")
    only_here = cols[2].toggle(f"Only {micro_region}" if micro_region else "Only this place",
                               value=bool(micro_region), key="intel_only_here",
                               disabled=micro_region is None)
    try:
        found = intel.search_reports(workflow, who, text=words, tags=tags,
                                     micro_region=micro_region if only_here else None)
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    if found.empty:
        st.info("No reports match. Field staff add them with the form above; clear the search "
                "or the place filter to see more.")
        return
    st.caption(f"{len(found)} report(s).")
    for row in found.head(50).to_dict("records"):
        links = " · ".join(x for x in (
            f"alert #{int(row['alert_id'])}" if pd.notna(row["alert_id"]) else "",
            f"work order #{int(row['order_id'])}" if pd.notna(row["order_id"]) else "") if x)
        where = row["micro_region"] or row["branch"]
        with st.container(border=True):
            st.markdown(f"**#{row['report_id']} · {intel.OPERATORS[row['operator']]} · "
                        f"{plain(where)} · {intel.CATEGORIES[row['category']]}** — "
                        f"{plain(row['submitted_by'])}, "
                        f"{format_time(row['submitted_at'])}")
            st.markdown(plain(row["text"]))  # a report is user text: never Markdown
            extra = [" ".join(f"\\#{plain(t)}" for t in row["tags"])]
            extra += [plain(f"{str(k).replace('_', ' ')}: " + f"{v:,.2f}".rstrip("0").rstrip("."))
                      for k, v in row["figures"].items()]
            st.caption(" · ".join(x for x in extra + [links] if x))
            if pd.notna(row["alert_id"]):
                st.page_link("pages/alerts.py", label=f"Alert #{int(row['alert_id'])} on the "
                             "Alerts page ▸")
            if pd.notna(row["order_id"]):
                st.page_link("pages/workorders.py",
                             label=f"Open work order #{int(row['order_id'])} ▸",
                             query_params={"order": str(int(row["order_id"]))})
    table = found.assign(tags=found["tags"].map(", ".join), figures=found["figures"].map(str))
    st.download_button("Download reports (CSV)", csv_file(table), "intelligence.csv", "text/csv",
                       key="intel_download")
    _link_form(workflow, who, found)


def _link_form(workflow: Any, who: Principal, found: pd.DataFrame) -> None:
    if not who.can("act_on_alerts"):
        return
    with st.expander("Link a report to an alert or work order 关联告警/工单"):
        with st.form("intel_link_form"):
            cols = st.columns(3)
            report = cols[0].selectbox("Report #", found["report_id"].tolist(), key="intel_link_id")
            alert_id = cols[1].number_input("Alert #", min_value=0, step=1, key="intel_link_alert")
            order_id = cols[2].number_input("Work order #", min_value=0, step=1,
                                            key="intel_link_order")
            sent = st.form_submit_button("Link 关联")
        if sent:
            version = int(found.loc[found["report_id"] == report, "version"].iloc[0])
            try:
                intel.link_report(workflow, who, int(report), version=version,
                                  alert_id=int(alert_id) or None, order_id=int(order_id) or None)
            except ConcertoError as exc:
                st.error(plain(exc))
            else:
                st.success(f"Report #{report} linked.")

"""Market diagnosis 市场诊断: build a mind map of metrics, run it against any period, keep runs."""

import json

import pandas as pd
import streamlit as st

from analytics.diagnosis.runs import compare_runs
from jobs.diagnosis import run_diagnosis, save_diagnosis
from analytics.diagnosis.templates import TemplateError, parse_template, template_to_json
from pages.common import cache
from data_access.store import diagnosis as store
from data_access.db import ConcertoError
from pages.common import filters
from pages.common.empty import require_mart
from pages.common.findings import render_findings
from pages.common.mindmap import legend_markdown, mindmap_dot, node_table, readable_comparison
from pages.common.session import principal
from pages.sections.template_editor import WORKING, render_editor
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.lazy import lazy_tabs, show_open
from pages.common.plaintext import plain  # user text shown as text

st.title("Market diagnosis 市场诊断")
require_mart()
scope = filters.current()
workflow = cache.workflow_engine()
stored = {s.template.name: s for s in store.list_templates(workflow)}
NEW = "➕ New template 新建模板"
if "diagnosis_select_next" in st.session_state:  # after a save: show what was saved
    st.session_state["diagnosis_template"] = st.session_state.pop("diagnosis_select_next")
name = st.selectbox("Template 模板", [*stored, NEW], key="diagnosis_template")
if st.session_state.get("diagnosis_loaded") != name:  # a new choice starts a fresh working copy
    st.session_state["diagnosis_loaded"] = name
    st.session_state[WORKING] = (stored[name].template if name in stored else parse_template(
        {"name": "My diagnosis", "root": {"id": "root", "metric": "revenue", "breakdown": "branch"}}))
    st.session_state.pop("diagnosis_result", None)
    st.session_state["diagnosis_mode"] = (
        "last year" if st.session_state[WORKING].compare_to == "last_year" else "last period")
template = st.session_state[WORKING]
if message := st.session_state.pop("diagnosis_saved_message", None):
    st.success(message)
if template.description:
    st.caption(template.description)

run_tab, edit_tab, history_tab = lazy_tabs(
    ["Run 运行", "Edit 编辑", "Runs & versions 历史"], key="diagnosis_tab",
    keep=["diagnosis_period", "diagnosis_mode", "diagnosis_chosen", "diagnosis_node",
          "diagnosis_json"])


def run_section() -> None:
    """Pick a period and a comparison, run every node, save the run."""
    months = list(scope.months)
    cols = st.columns([1, 1, 1, 1])
    if st.session_state.get("diagnosis_period") not in months:  # preset, kept across tabs
        st.session_state["diagnosis_period"] = scope.month
    period = cols[0].selectbox("Period 账期", months[::-1], format_func=lambda m: f"{m:%Y-%m}",
                               key="diagnosis_period")
    mode = cols[1].radio("Compare with 对比", ["last period", "last year", "a chosen month"],
                         key="diagnosis_mode")
    chosen = cols[2].selectbox("Chosen month", months[::-1], format_func=lambda m: f"{m:%Y-%m}",
                               disabled=mode != "a chosen month", key="diagnosis_chosen")
    offset = {"last period": 1, "last year": 12}.get(mode)
    compare = (pd.Timestamp(period) - pd.DateOffset(months=offset) if offset
               else pd.Timestamp(chosen))
    if compare.date() not in months or compare.date() == period:
        st.warning(f"{compare:%Y-%m} is not a month in the mart (or is the period itself); "
                   "pick another comparison.")
    elif cols[3].button("Run 运行", type="primary", key="diagnosis_run"):
        with st.spinner("Running every node…"):
            try:
                st.session_state["diagnosis_result"] = run_diagnosis(
                    cache.mart_engine(), template, period, compare)[0]
            except (ConcertoError, ValueError) as exc:
                st.error(plain(exc))
    result = st.session_state.get("diagnosis_result")
    if result is None:
        st.info("Pick a period and a comparison, then Run. Each node shows its value, change "
                "and share of its parent's change; the localiser's findings hang under it.")
    else:
        st.markdown(legend_markdown())
        st.graphviz_chart(mindmap_dot(result), width="content")
        show_table(node_table(result), key="diagnosis_nodes")
        st.download_button("Download node results (CSV)", csv_file(result.frame()),
                           "diagnosis_nodes.csv", "text/csv")
        render_findings(result)
        if name in stored and st.button("Save this run and raise its alerts 保存并告警",
                                        key="diagnosis_save_run"):
            try:
                run_id = save_diagnosis(
                    workflow, stored[name].template_id, result, trigger="manual",
                    slot=f"manual-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%f}",
                    seconds=0.0, actor=principal().username)
            except ConcertoError as exc:  # Forbidden included: a role without run_diagnosis
                st.error(plain(exc))
            else:
                st.success(f"Saved as run {run_id}; {len(result.breaches)} node(s) breached.")


def edit_section() -> None:
    """The mind map's editor, saving a version, the template as JSON."""
    render_editor(template, cache.region_table(), cache.plan_names())
    with st.form("diagnosis_save"):
        cols = st.columns(3)
        new_name = cols[0].text_input("Name 名称", template.name, max_chars=80)
        schedule = cols[1].selectbox("Schedule 调度", ["none", "daily", "weekly", "monthly"],
                                     index=["none", "daily", "weekly", "monthly"].index(template.schedule))
        compare_to = cols[2].selectbox("Default comparison", ["last_period", "last_year"],
                                       index=["last_period", "last_year"].index(template.compare_to))
        description = st.text_area("Description", template.description, max_chars=400)
        if st.form_submit_button("Save as a new version 保存", type="primary"):
            try:
                data = {**json.loads(template_to_json(template)), "name": new_name,
                        "schedule": schedule, "compare_to": compare_to, "description": description}
                saved = store.save_template(workflow, parse_template(data),
                                            principal().username)
                st.session_state["diagnosis_loaded"] = None
                st.session_state["diagnosis_select_next"] = saved.template.name
                st.session_state["diagnosis_saved_message"] = (
                    f"Saved {saved.template.name} version {saved.template.version}.")
                st.rerun()
            except (TemplateError, ConcertoError) as exc:  # Forbidden without edit_templates
                st.error(plain(exc))
    with st.expander("Template as JSON (copy, share, or paste one in)"):
        st.download_button("Download JSON", lambda: template_to_json(template).encode(),
                           "template.json", "application/json")
        pasted = st.text_area("Paste a template", key="diagnosis_json", height=160)
        if st.button("Load pasted JSON", key="diagnosis_load_json"):
            try:
                st.session_state[WORKING] = parse_template(pasted)
                st.rerun()
            except TemplateError as exc:
                st.error(f"Not loaded: {plain(exc)}")


def history_section() -> None:
    """The template's versions and stored runs, and two runs compared."""
    if name not in stored:
        st.info("Save the template first; its versions and runs are listed here.")
    else:
        show_table(store.template_versions(workflow, name), {"created_at": "time"},
                   key="diagnosis_versions")
        runs = store.list_runs(workflow, name)
        if runs.empty:
            st.info("No stored runs yet: run it and save the run, or let the scheduler run it "
                    "(`python -m jobs.scheduler run-due`).")
        else:
            show_table(runs, {"started_at": "time", "seconds": "number", "period": "month",
                              "compare_period": "month"}, key="diagnosis_runs",
                       csv=("Download runs (CSV)", "diagnosis_runs.csv"))
            ids = list(runs["run_id"])
            if len(ids) < 2:
                st.info("One stored run so far: a second one can be compared with it.")
            else:
                a, b = st.columns(2)
                first = a.selectbox("Compare run", ids, index=1, key="diagnosis_a")
                second = b.selectbox("with run", ids, index=0, key="diagnosis_b")
                try:
                    show_table(readable_comparison(compare_runs(
                        store.load_run(workflow, int(first)),
                        store.load_run(workflow, int(second)))), key="diagnosis_compare")
                except ConcertoError as exc:  # Forbidden: a city-wide run for a manager
                    st.warning(plain(exc))


show_open((run_tab, edit_tab, history_tab), (run_section, edit_section, history_section))

"""The calendar page's forms: plan a campaign with its conflict check, and the loading rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from analytics.campaigns import conflicts as cf
from pages.common import cache
from data_access.store import campaign_plans as plans
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from data_access.mart.schema import CHANNEL_TYPES, DEPARTMENTS, SEGMENTS
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.plaintext import plain  # user text shown as text

CONFLICT_COLUMNS = ["label", "message", "campaign_name", "month", "channel_type", "customers"]


#: Headers of the plan, conflict and rule tables.
PLAN_LABELS = {"label": "Conflict 冲突", "message": "What clashes 说明", "name": "Plan 计划",
               "override_reason": "Override reason 越过原因", "benefit_kind": "Benefit 权益类型",
               "allowed_channel_types": "Allowed channel types 允许渠道",
               "max_per_month": "Most per month 每月上限", "plan_id": "Plan id 计划编号"}
PLAN_UNITS = {"month": "month", "start_month": "month", "end_month": "month",
              "created_at": "time", "updated_at": "time", "decided_at": "time",
              "customers": "subs", "budget": "yuan", "start_date": "day", "end_date": "day",
              "expected_participants": "subs"}


def _show_conflicts(found: pd.DataFrame) -> None:
    show_table(found[CONFLICT_COLUMNS], PLAN_UNITS, key="calendar_conflicts", labels=PLAN_LABELS)
    st.download_button("Download the conflicts (CSV)", csv_file(found), "plan_conflicts.csv",
                       "text/csv", key="calendar_conflicts_csv")


def plan_form(workflow: Any, mart: Any, who: Principal, latest_month: dt.date) -> None:
    """Plan a campaign: check it against the calendar, save it, or override with a reason."""
    st.subheader("Plan a campaign 新建营销计划")
    start = latest_month.replace(day=1)
    regions = list(cache.region_table()["micro_region"])
    with st.form("calendar_plan_form"):
        cols = st.columns(2)
        values = {
            "name": cols[0].text_input("Name 名称", key="plan_name"),
            "department": cols[1].selectbox("Department 部门", list(DEPARTMENTS),
                                            format_func=DEPARTMENTS.get, key="plan_department"),
            "benefit_kind": cols[0].selectbox("Benefit kind 优惠类型", list(plans.BENEFIT_KINDS),
                                              key="plan_benefit"),
            "segments": cols[1].multiselect("Target segments 目标客户群", list(SEGMENTS),
                                            format_func=SEGMENTS.get, key="plan_segments"),
            "channel_types": cols[0].multiselect("Channel types 渠道类型", list(CHANNEL_TYPES),
                                                 format_func=CHANNEL_TYPES.get,
                                                 key="plan_channels"),
            "micro_regions": cols[1].multiselect("Micro-regions 微区域 (none = all)", regions,
                                                 key="plan_regions"),
            "start_date": cols[0].date_input("Start 开始", start, key="plan_start"),
            "end_date": cols[1].date_input("End 结束", cf.month_end(start), key="plan_end"),
            "budget": cols[0].number_input("Budget 预算 (¥)", 0.0, step=1000.0, key="plan_budget"),
            "expected_participants": cols[1].number_input(
                "Expected participants 预计参与人数", 0, step=100, key="plan_participants"),
        }
        status = st.radio("Save as", ["saved", "draft"], horizontal=True, key="plan_status",
                          help="A draft is not checked and does not count in others' checks.")
        reason = (st.text_area("Override reason 冲突放行理由 (only to save despite conflicts)",
                               key="plan_reason") if who.can("override_conflicts") else "")
        buttons = st.columns(2)
        check = buttons[0].form_submit_button("Check conflicts 检查冲突")
        save = buttons[1].form_submit_button("Save 保存", type="primary")
    if not (check or save):
        return
    try:
        if check:
            found = plans.check_campaign_plan(mart, workflow, values)
            if found.empty:
                st.success("No conflict: the plan can be saved.")
            else:
                st.warning(f"{len(found)} conflict(s) with the calendar:")
                _show_conflicts(found)
            return
        plan_id = plans.save_plan(workflow, mart, who, values, status=status,
                                  override_reason=reason or None)
    except plans.PlanConflict as exc:
        st.error(f"Not saved: {len(exc.conflicts)} conflict(s). Change the plan"
                 + (", or give an override reason above." if who.can("override_conflicts")
                    else ", or ask someone allowed to override conflicts."))
        _show_conflicts(exc.conflicts)
        return
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    _saved_flash(workflow, plan_id)


FLASH_KEY = "calendar_flash"


def _saved_flash(workflow: Any, plan_id: int) -> None:
    """Say what was saved on the next run (the calendar above must show it), then rerun."""
    row = plans.load_plans(workflow).set_index("plan_id").loc[plan_id]
    st.session_state[FLASH_KEY] = (
        f"Plan {plan_id} ({row['name']}) saved as {row['status']}"
        + (" with its conflicts overridden; the reason is recorded in the audit log."
           if row["override_by"] else "."))
    st.rerun()


def show_flash() -> None:
    """The message a save left for this run, once."""
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def drafts_panel(workflow: Any, mart: Any, who: Principal, drafts: pd.DataFrame) -> None:
    """Save a draft for real: the conflict check runs, and an override needs a reason."""
    if drafts.empty:
        return
    st.subheader("Drafts 草稿")
    labels = {int(r.plan_id): f"{r.plan_id}: {r.name} ({r.start_date:%Y-%m-%d}–"
              f"{r.end_date:%Y-%m-%d})" for r in drafts.itertuples()}
    cols = st.columns([2, 2, 1], vertical_alignment="bottom")
    picked = cols[0].selectbox("Draft", list(labels), format_func=labels.get, key="draft_pick")
    reason = (cols[1].text_input("Override reason (only if it conflicts)", key="draft_reason")
              if who.can("override_conflicts") else "")
    if not cols[2].button("Check and save 检查并保存", key="draft_save"):
        return
    row = drafts.set_index("plan_id").loc[picked].to_dict()
    try:
        plans.save_plan(workflow, mart, who, row, plan_id=picked, version=int(row["version"]),
                        override_reason=reason or None)
    except plans.PlanConflict as exc:
        st.error(f"Not saved: {len(exc.conflicts)} conflict(s).")
        _show_conflicts(exc.conflicts)
        return
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    _saved_flash(workflow, picked)


def rules_editor(workflow: Any, who: Principal) -> None:
    """Administrators: which channel types each benefit kind may use, campaigns per month."""
    st.subheader("Channel loading rules 渠道承载规则")
    rules = plans.load_rules(workflow)
    if rules.empty:
        st.caption("No rules yet: every benefit kind may use every channel type, at most "
                   f"{cf.DEFAULT_MAX_PER_MONTH} campaigns per channel type and month.")
    else:
        show_table(rules, PLAN_UNITS, key="calendar_rules", labels=PLAN_LABELS)
        st.download_button("Download the rules (CSV)", csv_file(rules), "channel_rules.csv",
                           "text/csv", key="calendar_rules_csv")
    with st.form("calendar_rule_form"):
        cols = st.columns(3)
        kind = cols[0].selectbox("Benefit kind", list(plans.BENEFIT_KINDS), key="rule_kind")
        allowed = cols[1].multiselect("Allowed channel types (none = any)", list(CHANNEL_TYPES),
                                      key="rule_allowed")
        most = cols[2].number_input("Max campaigns per channel per month", 1, 50, 3,
                                    key="rule_max")
        if st.form_submit_button("Save rule 保存规则"):
            plans.save_rule(workflow, who, kind, allowed, int(most))
            st.success(f"Rule for {kind} saved.")
            st.rerun()

"""Marketing arsenal 营销武器库: the tactics a person may pick, picking one for a work order,
recent picks, and (for managers of the arsenal) the catalogue editor."""

import streamlit as st

from analytics.ops import arsenal as rules
from analytics.formatting import format_value
from data_access.store import arsenal as store
from data_access.store import arsenal_picks as picks
from pages.common import cache
from data_access.db import ConcertoError
from pages.sections.arsenal_editor import render_editor
from pages.common.routing import require_routed
from pages.common.session import principal
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.plaintext import plain  # user text shown as text
from pages.sections.tactic_effects import render_tactic_effects

st.title("Marketing arsenal 营销武器库")
require_routed()
who = principal()
engine = cache.workflow_engine()
manager = who.can("manage_arsenal")
tactics = store.list_tactics(engine, who, include_inactive=manager)
level = f"{who.auth_level} ({rules.LEVELS[who.auth_level]})"
if manager:
    st.caption(f"Your authorisation level is {level}. You manage the arsenal: every tactic is "
               "listed, and “may pick” says which you may pick yourself.")
else:
    st.caption(f"Your authorisation level is {level}: you see and may pick the tactics of "
               "that level and below.")


def yuan(value: float) -> str:
    return format_value(value, "yuan_per_sub")


if tactics.empty:
    st.info("No tactics yet — an administrator loads assets/arsenal.csv (the starter "
            "catalogue) on this page, or adds tactics in its editor.")
    if manager and st.button("Load the starter catalogue 载入初始目录", key="arsenal_seed"):
        try:
            st.toast(f"{store.load_starter_catalogue(engine, who)} tactic(s) loaded ✓")
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.rerun()
else:
    st.subheader("Catalogue 武器目录")
    left, right = st.columns(2)
    kinds = left.multiselect("Kind 类型", list(rules.KINDS), format_func=rules.KINDS.get,
                             key="arsenal_kinds")
    reasons = right.multiselect("Answers 针对问题", list(rules.REASONS),
                                format_func=rules.REASONS.get, key="arsenal_reasons")
    shown = rules.answering(tactics[tactics["kind"].isin(kinds)] if kinds else tactics, reasons)
    table = rules.describe_tactics(shown).assign(cost=shown["unit_cost"].map(yuan))
    columns = ["code", "name", "kind_label", "cost", "level_label", "target_label",
               "eligibility", "answers_label", "max_per_customer", "may_pick",
               *(["active"] if manager else [])]
    show_table(table[columns], key="arsenal_catalogue", labels={
        "code": "Code 编码", "name": "Tactic 手段", "kind_label": "Kind 类型",
        "cost": "Unit cost 单价", "level_label": "Level 权限", "target_label": "For 对象",
        "eligibility": "Eligible 适用", "answers_label": "Answers 针对",
        "max_per_customer": "Most per customer 每客上限", "may_pick": "May pick 可选用",
        "active": "Active 启用"})
    st.caption(f"{len(shown)} of {len(tactics)} tactic(s).")
    st.download_button("Download the catalogue (CSV)",
                       csv_file(shown[list(rules.COLUMNS)], encoding="utf-8-sig"),
                       "arsenal.csv", "text/csv", key="arsenal_catalogue_csv")

pickable = tactics[tactics["may_pick"]]
if who.can("pick_tactics") and not pickable.empty:
    st.subheader("Pick for a work order 选用到工单")
    names = dict(zip(pickable["tactic_id"], pickable["code"] + " · " + pickable["name"]))
    cols = st.columns([3, 1, 1])
    tactic_id = cols[0].selectbox("Tactic 手段", list(names), format_func=names.get,
                                  key="arsenal_pick_tactic")
    order_id = cols[1].number_input("Work order # 工单号", min_value=1, step=1, value=None,
                                    key="arsenal_pick_order")
    quantity = cols[2].number_input("Quantity 数量", min_value=1, step=1, value=1,
                                    key="arsenal_pick_quantity")
    chosen = pickable[pickable["tactic_id"] == tactic_id].iloc[0]
    st.caption(f"{yuan(chosen['unit_cost'])} each, at most {chosen['max_per_customer']} per "
               f"customer · {rules.TARGETS[chosen['target']]} · {chosen['description']}")
    order = None
    if order_id is not None:
        try:
            order = picks.check_order_for_pick(engine, who, int(order_id))
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.success(f"Work order #{order['order_id']}: {plain(order['title'])} "
                       f"({order['state']}, {order['assignee'] or 'unassigned'})")
    cols = st.columns(2)
    target_key = cols[0].text_input("For 对象 (subscriber, group or channel id)",
                                    key="arsenal_pick_target")
    note = cols[1].text_input("Note 备注", key="arsenal_pick_note")
    if st.button("Pick 选用", type="primary", disabled=order is None, key="arsenal_pick"):
        try:
            pick_id = picks.pick_tactic(engine, who, int(tactic_id), int(order_id),
                                        quantity=int(quantity), target_key=target_key, note=note)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.success(f"Pick #{pick_id} attached to work order #{order_id} ✓")

if who.can("pick_tactics") or manager:
    st.subheader("Recent picks 最近选用")
    everyone = manager or who.can("view_all_orders")
    recent = picks.list_picks(engine, picked_by=None if everyone else who.username, limit=200)
    if recent.empty:
        st.info("No picks yet — pick a tactic above for a work order assigned to you.")
    else:
        show_table(recent.assign(unit_cost=recent["unit_cost"].map(yuan),
                                 total_cost=recent["total_cost"].map(yuan)).drop(
            columns=["tactic_id", "cancelled_by", "cancelled_at"]),
            {"picked_at": "time", "quantity": "count"}, key="arsenal_recent", labels={
                "pick_id": "Pick 选用", "picked_at": "Picked 选用时间", "picked_by": "By 选用人",
                "unit_cost": "Unit cost 单价", "total_cost": "Total 合计",
                "order_id": "Work order 工单", "target_key": "For 对象", "note": "Note 备注",
                "quantity": "Quantity 数量"})
        st.download_button("Download picks (CSV)", csv_file(recent, encoding="utf-8-sig"),
                           "arsenal_picks.csv", "text/csv", key="arsenal_picks_csv")
        live = recent[recent["status"] == "picked"]
        if not live.empty:
            cols = st.columns([3, 1], vertical_alignment="bottom")
            which = dict(zip(live["pick_id"], "#" + live["pick_id"].astype(str) + " " + live["code"]
                             + " on order #" + live["order_id"].astype(str)))
            gone = cols[0].selectbox("Cancel a pick 撤销选用", list(which), format_func=which.get,
                                     key="arsenal_cancel_pick")
            if cols[1].button("Cancel pick 撤销", key="arsenal_cancel"):
                try:
                    picks.cancel_pick(engine, who, int(gone))
                except ConcertoError as exc:
                    st.error(plain(exc))
                else:
                    st.rerun()

if manager:
    render_editor(engine, who, tactics)

render_tactic_effects()  # which tactics and order kinds measurably worked

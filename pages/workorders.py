"""Work orders 工单: my queue, a board by state, one order's detail, and new orders."""

import datetime as dt

import pandas as pd
import streamlit as st

from analytics.ops import workorders as rules
from pages.common import cache
from data_access.store import dispatch
from data_access.store import order_actions
from data_access.store import workorders
from data_access.db import ConcertoError
from data_access.store.auth import ROLES
from analytics.formatting import column_label
from pages.common import urlstate
from pages.sections import orderview
from pages.common.empty import require_mart
from pages.sections.orderextras import checklist, order_extras
from pages.sections.group_view import rescue_panel
from pages.common.session import principal
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text
from pages.sections.order_effect import render_order_effect

st.title("Work orders 工单")
require_mart()
who = principal()
engine = cache.workflow_engine()
now = pd.Timestamp.now(tz="UTC")

if (linked := urlstate.incoming("order")) is not None:
    if linked.isdigit():
        st.session_state[orderview.SELECTED] = int(linked)
    else:
        st.warning(f"URL parameter order={plain(repr(linked))} is not an order number; showing "
                   "the queue.")

if (made := st.session_state.pop("orders_created", None)) is not None:
    st.success(f"Created work order #{made}.")
top = st.container()
orderview.kpi_strip(order_actions.load_kpi_frame(
    engine, who, since=(now - pd.Timedelta(days=90)).to_pydatetime()), now, top)
top.caption("Open orders, and response and resolution over the orders of the last 90 days.")
if who.can("dispatch_orders"):
    if top.button("Dispatch open alerts now 告警派单", key="orders_dispatch"):
        try:
            made = dispatch.dispatch_open_alerts(engine, cache.mart_engine(), actor=who)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.success(f"{len(made)} new order(s) from open alerts." if made
                       else "No open alert was waiting for an order.")

visible = workorders.list_orders(engine, who, limit=2000)
mine = visible[(visible["assignee"] == who.username) & (visible["state"] != "closed")]
queue, board, everything, new = st.tabs([f"My queue 我的待办 ({len(mine)})", "Board 看板",
                                         f"All I can see 全部 ({len(visible)})",
                                         "New order 新建工单"])


def pick_from(frame: pd.DataFrame, key: str, where) -> None:
    """A selectable table; choosing a row opens that order below."""
    # Not a fragment: the order opens below the tabs, and its actions change the lists and
    # counts above, so a pick reruns the whole page.
    if frame.empty:
        where.info("Nothing here. Orders arrive from alerts (dispatch rules) or are created "
                   "by hand in the last tab.")
        return
    shown = orderview.table(frame, now)
    event = where.dataframe(shown, hide_index=True, width="stretch",
                            column_config=orderview.TABLE_COLUMNS, on_select="rerun",
                            selection_mode="single-row", key=key)
    if event.selection.rows:
        st.session_state[orderview.SELECTED] = int(shown["order"].iloc[event.selection.rows[0]])
    where.download_button("Download (CSV)", csv_file(shown),
                          f"{key}.csv", "text/csv", key=f"{key}_csv")


with queue:
    pick_from(mine, "orders_queue", queue)
with board:
    if visible.empty:
        st.info("No orders yet.")
    else:
        orderview.board(visible[visible["state"] != "closed"], workorders.recently_closed(
            engine, who, since=(now - pd.Timedelta(days=orderview.CLOSED_DAYS)).to_pydatetime(),
            limit=orderview.CLOSED_LIMIT), now)
with everything:
    states = st.multiselect("State 状态", list(rules.STATES), format_func=rules.STATES.get,
                            key="orders_states")
    pick_from(visible[visible["state"].isin(states)] if states else visible, "orders_all",
              everything)
with new:
    if not who.can("create_orders"):
        st.info("Your role does not create orders.")
    else:
        with st.form("order_new"):
            cols = st.columns(3)
            kind = cols[0].selectbox("Kind 类型", list(rules.KINDS), format_func=rules.KINDS.get)
            priority = cols[1].selectbox("Priority 优先级", rules.PRIORITIES, index=1)
            first = rules.first_due_day(now)
            day = cols[2].date_input("Due 截止 (18:00 UTC+8 that day)", first
                                     + dt.timedelta(days=2), min_value=first, format="YYYY-MM-DD",
                                     key="order_new_due")
            title = st.text_input("Title 标题", key="order_new_title")
            detail = st.text_area("Detail 描述")
            cols = st.columns(3)
            level = cols[0].selectbox("Unit 单元", ["micro_region", "branch", "channel", "group",
                                                    "subscriber", "city"],
                                      format_func=column_label)
            key_text = cols[1].text_input("Unit key (name or number) 单元编码",
                                          key="order_new_unit")
            role = cols[2].selectbox("Owner role 责任角色", ["regional_manager",
                                     "channel_manager", "account_manager", "marketer",
                                     "analyst", "administrator"], format_func=ROLES.get)
            assign = st.text_input("Assign to (username; empty leaves it new) 指派给",
                                   value="" if who.can("dispatch_orders") else who.username,
                                   key="order_new_assignee")
            created = st.form_submit_button("Create order 创建", type="primary",
                                            key="order_new_create")
        if created:
            try:
                key_text = key_text.strip() or "all"
                branch, region = dispatch.locate_unit(cache.mart_engine(), level, key_text)
                order_id = workorders.create_order(
                    engine, who, kind=kind, title=title, detail=detail, unit_level=level,
                    unit_key=key_text, unit_label=f"{level} {key_text}", branch=branch,
                    micro_region=region, owner_role=role, assignee=assign.strip() or None,
                    priority=priority, due_at=rules.due_at_for_day(day))
            except ConcertoError as exc:
                st.error(plain(exc))
            else:
                st.session_state[orderview.SELECTED] = order_id
                st.session_state["orders_created"] = order_id
                st.rerun()  # the lists and the board then hold the new order

selected = st.session_state.get(orderview.SELECTED)
urlstate.write("order", str(selected) if selected else None)
st.divider()
if not selected:
    st.caption("Choose an order in a list or on the board to see its detail here.")
    st.stop()
try:
    order = workorders.load_order(engine, who, selected)
except ConcertoError as exc:
    st.error(plain(exc))
    st.session_state.pop(orderview.SELECTED, None)
    st.stop()
orderview.header(order, now)
orderview.actions(engine, who, order)
todo = checklist(engine, who, order)
order_extras(engine, who, order, todo)
rescue_panel(engine, order)  # a group early warning's rescue: offer and outcome
render_order_effect(order)  # did the action work: the unit against comparable units
st.markdown("#### History 处理记录")
orderview.history(engine, who, order["order_id"])

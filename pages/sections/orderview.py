"""Work-order widgets: the response KPIs, the board, one order's detail, history and checklist."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics.ops import workorders as rules
from data_access.store import order_actions
from data_access.store import workorders
from data_access.store.auth import Principal, list_users
from data_access.db import ConcertoError
from pages.common.csvexport import safe_frame  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

STATE_ICON = {"new": "🆕", "dispatched": "📨", "accepted": "👍", "in_progress": "🔧",
              "resolved": "✅", "verified": "🔍", "closed": "📁", "rejected": "↩️"}
PRIORITY_ICON = {"high": "🔴", "normal": "🟡", "low": "⚪"}
BADGE = {"green": "🟢", "amber": "🟠", "red": "🔴", "grey": "⚪"}
SELECTED = "orders_selected"


def _hours(value: float) -> str:
    if value != value:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def kpi_strip(frame: pd.DataFrame, now: pd.Timestamp, where: st.delta_generator.DeltaGenerator
              ) -> None:
    """Open, overdue, response, resolution and on-time figures with their status."""
    kpis = rules.order_kpis(frame, now)
    status = rules.order_kpi_status(kpis)
    cols = where.columns(5)
    cols[0].metric("Open orders 未完成", f"{kpis['open']:,}")
    cols[1].metric("Overdue 超时", f"{kpis['overdue']:,}")
    cols[2].metric(f"{BADGE[status['response_hours']]} Response time 响应时长",
                   _hours(kpis["response_hours"]),
                   help=f"Median hours from dispatch to accept; target ≤ "
                        f"{rules.RESPONSE_TARGET_HOURS:.0f} h.")
    cols[3].metric(f"{BADGE[status['resolution_hours']]} Resolution time 处理时长",
                   _hours(kpis["resolution_hours"]),
                   help=f"Median hours from creation to resolution; target ≤ "
                        f"{rules.RESOLUTION_TARGET_HOURS:.0f} h.")
    on_time = kpis["on_time_rate"]
    cols[4].metric(f"{BADGE[status['on_time_rate']]} On time 及时率",
                   "—" if on_time != on_time else f"{on_time:.0%}",
                   help=f"Share of resolved orders resolved by their deadline; target ≥ "
                        f"{rules.ON_TIME_TARGET:.0%}.")


def response_strip(engine, who: Principal, branch: str | None, micro_region: str | None) -> None:
    """The sandbox's row of work-order KPIs over the last 30 days, for the filtered region."""
    now = pd.Timestamp.now(tz="UTC")
    frame = order_actions.load_kpi_frame(engine, who, since=(now - pd.Timedelta(days=30))
                                         .to_pydatetime())
    if micro_region:
        frame = frame[frame["micro_region"] == micro_region]
    elif branch:
        frame = frame[frame["branch"] == branch]
    box = st.container(border=True)
    head = box.columns([4, 1])
    head[0].markdown("**Response to problems 工单响应** · open work orders and those created "
                     "in the last 30 days")
    head[1].page_link("pages/workorders.py", label="Work orders ▸")
    if frame.empty:
        box.caption("No work orders in the last 30 days here. Alerts become orders by the "
                    "dispatch rules (alerts page, or `python -m jobs.scheduler dispatch`).")
        return
    kpi_strip(frame, now, box)


def table(orders: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The columns a queue shows, readable."""
    overdue = orders["state"].isin(rules.OPEN_STATES) & (orders["due_at"] < now)
    return pd.DataFrame({
        "order": orders["order_id"],
        "state": [f"{STATE_ICON[s]} {rules.STATES[s]}" for s in orders["state"]],
        "kind": [rules.KINDS[k] for k in orders["kind"]],
        "priority": [f"{PRIORITY_ICON[p]} {p}" for p in orders["priority"]],
        "title": orders["title"],
        "where": orders["micro_region"].fillna(orders["branch"]).fillna("city 全市"),
        "assignee": orders["assignee"].fillna("— unassigned"),
        "due": orders["due_at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%m-%d %H:%M")
        + overdue.map({True: " ⏰ overdue", False: ""}),
    })


def board(orders: pd.DataFrame, now: pd.Timestamp) -> None:
    """One column per state with a card per order (the newest 8 per state)."""
    shown = [s for s in rules.STATES if s != "closed"]
    columns = st.columns(len(shown))
    for column, state in zip(columns, shown):
        in_state = orders[orders["state"] == state]
        column.markdown(f"**{STATE_ICON[state]} {rules.STATES[state]}** · {len(in_state)}")
        for _, row in in_state.head(8).iterrows():
            late = " ⏰" if state in rules.OPEN_STATES and row["due_at"] < now else ""
            card = column.container(border=True)
            card.markdown(f"{PRIORITY_ICON[row['priority']]} **#{row['order_id']}** "
                          f"{plain(row['title'][:60])}{late}")
            card.caption(f"{row['assignee'] or 'unassigned'} · due "
                         f"{row['due_at'].tz_convert('Asia/Shanghai'):%m-%d %H:%M}")
            if card.button("Open", key=f"board_open_{row['order_id']}"):
                st.session_state[SELECTED] = int(row["order_id"])
        if len(in_state) > 8:
            column.caption(f"… and {len(in_state) - 8} more (see the list)")


def _act(engine, who: Principal, order: dict, action: str, **kw) -> None:
    try:
        order_actions.transition(engine, who, order["order_id"], action,
                                 version=order["version"], **kw)
    except ConcertoError as exc:
        st.error(plain(exc))
    else:
        st.toast(f"Order #{order['order_id']}: {rules.TRANSITIONS[action].label} ✓")
        st.rerun()


def actions(engine, who: Principal, order: dict) -> None:
    """Buttons for the moves this person may make now, with the note or person they need."""
    possible = []
    for action in rules.allowed_actions(order["state"]):
        move = rules.TRANSITIONS[action]
        if move.who == "assignee":
            if order["assignee"] == who.username:
                possible.append(action)
        elif who.can(move.who) and not (action == "verify" and order["assignee"] == who.username):
            possible.append(action)
    if not possible:
        st.caption("Nothing for you to do on this order now 当前无可执行操作.")
        return
    with st.form(f"order_actions_{order['order_id']}", border=True):
        note = st.text_area("Note 说明 (needed to reject, resolve or send back)", key="order_note")
        person = None
        if {"dispatch", "reassign"} & set(possible):
            users = list_users(engine)
            users = users[users["active"].astype(bool)]
            role_of = dict(zip(users["username"], users["role"]))
            person = st.selectbox("Assign to 指派给", users["username"],
                                  format_func=lambda u: f"{u} · {role_of[u]}",
                                  key="order_assignee")
        pressed = []
        for i, (action, col) in enumerate(zip(possible, st.columns(len(possible)))):
            if col.form_submit_button(rules.TRANSITIONS[action].label or action,
                                      type="primary" if i == 0 else "secondary"):
                pressed.append(action)
    if pressed:
        action = pressed[0]
        extra = {"assignee": person} if action in ("dispatch", "reassign") else {}
        _act(engine, who, order, action, note=note, **extra)


def checklist(engine, who: Principal, order: dict) -> list[rules.Question]:
    """The activation-drop checklist: answers, notes, and the actions the answers lead to."""
    questions = rules.order_checklist(order)
    if not questions:
        return []
    answers = order_actions.checklist_answers(order)
    editable = order["assignee"] == who.username and order["state"] in ("accepted", "in_progress")
    st.markdown("#### Front-line checklist 一线排查清单")
    if not editable:
        st.caption("Answered by the assignee." if order["state"] in rules.DONE_STATES
                   else "The assignee answers this once the order is accepted.")
    with st.form(f"checklist_{order['order_id']}", border=True):
        given, notes = {}, {}
        for q in questions:
            left, right = st.columns([3, 2])
            current = answers.get(q.key, "unknown")
            given[q.key] = left.radio(q.text, rules.ANSWERS, index=rules.ANSWERS.index(current),
                                      horizontal=True, key=f"check_{q.key}",
                                      disabled=not editable)
            notes[q.key] = right.text_input("What you saw 现场情况",
                                            answers.get(f"{q.key}__note", ""),
                                            key=f"check_note_{q.key}", disabled=not editable)
        saved = st.form_submit_button("Save answers 保存", disabled=not editable)
    if saved:
        try:
            order_actions.save_checklist(engine, who, order["order_id"], given,
                                         version=order["version"], notes=notes)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.rerun()
    todo = rules.checklist_actions(questions, answers)
    for q in todo:
        st.info(f"**{q.key.replace('_', ' ')}** → {q.action}")
    if not rules.checklist_complete(questions, answers):
        st.caption("Answer every question yes or no before resolving.")
    return todo


def history(engine, who: Principal, order_id: int) -> None:
    events = workorders.order_history(engine, who, order_id)
    events["at"] = pd.to_datetime(events["at"], utc=True).dt.tz_convert("Asia/Shanghai")
    shown = events[["at", "actor", "action", "from_state", "to_state", "assignee", "note"]]
    st.dataframe(shown, hide_index=True, use_container_width=True, column_config={
        "at": st.column_config.DatetimeColumn("when 时间", format="YYYY-MM-DD HH:mm")})
    st.download_button("Download history (CSV)", shown.pipe(safe_frame).to_csv(index=False).encode(),
                       f"order_{order_id}_history.csv", "text/csv", key="order_history_csv")


def header(order: dict, now: dt.datetime) -> None:
    due = pd.Timestamp(order["due_at"])
    due = due.tz_localize("UTC") if due.tzinfo is None else due
    late = order["state"] in rules.OPEN_STATES and due < now
    st.subheader(f"{STATE_ICON[order['state']]} #{order['order_id']} {plain(order['title'])}")
    cols = st.columns(4)
    cols[0].markdown(f"**State** {rules.STATES[order['state']]}  \n**Kind** "
                     f"{rules.KINDS[order['kind']]}")
    cols[1].markdown(f"**Assignee** {order['assignee'] or '— unassigned'}  \n**Owner role** "
                     f"{order['owner_role']}")
    cols[2].markdown(f"**Unit** {plain(order['unit_level'])} · {plain(order['unit_label'])}  \n"
                     f"**Where** {plain(order['micro_region'] or order['branch'] or 'city 全市')}")
    cols[3].markdown(f"**Priority** {PRIORITY_ICON[order['priority']]} {order['priority']}  \n"
                     f"**Due** {due.tz_convert('Asia/Shanghai'):%Y-%m-%d %H:%M}"
                     f"{' ⏰ overdue' if late else ''}")
    if order["detail"]:
        st.markdown(f"> {plain(order['detail'])}")
    if order["resolution"]:
        st.success(f"Resolution 处理结果: {plain(order['resolution'])}")

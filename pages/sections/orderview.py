"""Work-order widgets: the response KPIs, the board, one order's detail, its moves and history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.formatting import (MISSING, column_label, format_day, format_time,
                                  format_times)
from analytics.ops import workorders as rules
from data_access.store import order_actions
from data_access.store import workorders
from data_access.store.auth import ROLES, Principal, list_users
from data_access.db import ConcertoError
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

STATE_ICON = {"new": "🆕", "dispatched": "📨", "accepted": "👍", "in_progress": "🔧",
              "resolved": "✅", "verified": "🔍", "closed": "📁", "rejected": "↩️"}
PRIORITY_ICON = {"high": "🔴", "normal": "🟡", "low": "⚪"}
BADGE = {"green": "🟢", "amber": "🟠", "red": "🔴", "grey": "⚪"}
SELECTED = "orders_selected"
#: The move waiting for confirmation: order, version seen, action, note and assignee.
PENDING = "orders_pending_move"
#: How far back the board's closed column reaches, and how many orders it holds at most.
CLOSED_DAYS = 30
CLOSED_LIMIT = 100


def _hours(value: float) -> str:
    if value != value:
        return MISSING
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
                   MISSING if on_time != on_time else f"{on_time:.0%}",
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
    """The columns a queue shows, readable (deadlines in local time, labelled)."""
    overdue = orders["state"].isin(rules.OPEN_STATES) & (orders["due_at"] < now)
    return pd.DataFrame({
        "order": orders["order_id"],
        "state": [f"{STATE_ICON[s]} {rules.STATES[s]}" for s in orders["state"]],
        "kind": [rules.KINDS[k] for k in orders["kind"]],
        "priority": [f"{PRIORITY_ICON[p]} {p}" for p in orders["priority"]],
        "title": orders["title"],
        "where": orders["micro_region"].fillna(orders["branch"]).fillna("city 全市"),
        "assignee": orders["assignee"].fillna("— unassigned"),
        "due": format_times(orders["due_at"]) + overdue.map({True: " ⏰ overdue", False: ""}),
    })


TABLE_COLUMNS = {"order": "Order 工单", "state": "State 状态", "kind": "Kind 类型",
                 "priority": column_label("priority"), "title": column_label("title"),
                 "where": "Where 区域", "assignee": column_label("assignee"),
                 "due": column_label("due_at")}


def board(orders: pd.DataFrame, closed: pd.DataFrame, now: pd.Timestamp) -> None:
    """One column per step of the lifecycle, with a card per order (8 at most per column);
    the last column holds the orders closed in the last ``CLOSED_DAYS`` days and how they
    ended."""
    lanes = rules.board_lanes(orders, closed)
    for column, lane in zip(st.columns(len(lanes)), lanes):
        icon = STATE_ICON[lane.states[0]]
        column.markdown(f"**{icon} {lane.title}** · {lane.total}"
                        + ("+" if lane.states == ("closed",) and lane.total >= CLOSED_LIMIT
                           else ""))
        if lane.states == ("closed",):
            column.caption(f"closed in the last {CLOSED_DAYS} days")
        ended = rules.outcomes(lane.cards) if lane.states == ("closed",) else None
        for _, row in lane.cards.iterrows():
            card = column.container(border=True)
            late = " ⏰" if row["state"] in rules.OPEN_STATES and row["due_at"] < now else ""
            mark = f"{STATE_ICON[row['state']]} " if len(lane.states) > 1 else ""
            card.markdown(f"{mark}{PRIORITY_ICON[row['priority']]} **#{row['order_id']}** "
                          f"{plain(row['title'][:60])}{late}")
            # Cards name the day only; the order's own page gives the time, labelled.
            who = "unassigned" if pd.isna(row["assignee"]) else plain(row["assignee"])
            if ended is not None:
                card.caption(f"{plain(ended[row.name])}  \n{who} · closed "
                             f"{format_day(row['closed_at'])}")
            else:
                card.caption(f"{who} · due {format_day(row['due_at'])}")
            if card.button("Open 查看", key=f"board_open_{row['order_id']}"):
                st.session_state[SELECTED] = int(row["order_id"])
        if lane.total > len(lane.cards):
            column.caption(f"… and {lane.total - len(lane.cards)} more (see the list)")


def _possible(who: Principal, order: dict) -> list[str]:
    """The moves this person may make on the order now, in lifecycle order."""
    possible = []
    for action in rules.allowed_actions(order["state"]):
        move = rules.TRANSITIONS[action]
        if move.who == "assignee":
            if order["assignee"] == who.username:
                possible.append(action)
        elif who.can(move.who) and not (action == "verify" and order["assignee"] == who.username):
            possible.append(action)
    return possible


def _whose(order: dict, action: str) -> str:
    """Who makes ``action`` on the order, in words."""
    who = rules.TRANSITIONS[action].who
    if who == "assignee":
        return plain(order["assignee"] or "the assignee")
    return {"dispatch_orders": "a dispatcher", "verify_orders": "a verifier"}.get(who, who)


def _act(engine, who: Principal, order: dict, action: str, *, version: int, **kw) -> bool:
    try:
        order_actions.transition(engine, who, order["order_id"], action, version=version, **kw)
    except ConcertoError as exc:
        st.error(plain(exc))
        return False
    st.session_state.pop(PENDING, None)
    st.toast(f"Order #{order['order_id']}: {rules.TRANSITIONS[action].label} ✓")
    st.rerun()
    return True


def _confirm(engine, who: Principal, order: dict, pending: dict) -> None:
    """The second step of a final or destructive move: what it will do, its reason, and
    nothing written until "Yes" is pressed."""
    action = pending["action"]
    move = rules.TRANSITIONS[action]
    box = st.container(border=True, key="order_confirm_box")
    box.warning(rules.consequence(action, order["order_id"]), icon="⚠️")
    reason = box.text_area("Reason 原因 (required)" if move.needs_note
                           else "Note 说明 (optional)", key="order_confirm_note")
    cols = box.columns([1, 1, 2])
    yes = cols[0].button(f"Yes, {move.label} 确认", type="primary", key="order_confirm_yes")
    if cols[1].button("Cancel 取消", key="order_confirm_no"):
        st.session_state.pop(PENDING, None)
        st.rerun()
    if yes:
        _act(engine, who, order, action, version=pending["version"], note=reason,
             **({"assignee": pending["assignee"]} if pending["assignee"] else {}))


def actions(engine, who: Principal, order: dict) -> None:
    """Buttons for the moves this person may make now: the state's expected next move is the
    one primary button; reject and close ask for confirmation before anything is written."""
    possible = _possible(who, order)
    expected = rules.NEXT_MOVE.get(order["state"])
    if not possible:
        st.caption("Nothing for you to do on this order now 当前无可执行操作"
                   + (f" · next: {rules.TRANSITIONS[expected].label}, by "
                      f"{_whose(order, expected)}" if expected else "") + ".")
        return
    pending = st.session_state.get(PENDING)
    if pending:
        if (pending["order_id"] == order["order_id"] and pending["version"] == order["version"]
                and pending["action"] in possible):
            _confirm(engine, who, order, pending)
            return
        # Another order is open, or this one moved on: the question is not asked again
        # unprompted; the person starts from the order's moves as they are now.
        st.session_state.pop(PENDING, None)
    primary = rules.primary_action(order["state"], possible)
    ordered = ([primary] if primary else []) + [a for a in possible if a != primary]
    if primary is None and expected:
        st.caption(f"Next on this order: {rules.TRANSITIONS[expected].label}, by "
                   f"{_whose(order, expected)}.")
    with st.form(f"order_actions_{order['order_id']}", border=True):
        note = st.text_area("Note 说明 (needed to resolve or send back)", key="order_note")
        person = None
        if {"dispatch", "reassign"} & set(possible):
            users = list_users(engine)
            users = users[users["active"].astype(bool)]
            role_of = dict(zip(users["username"], users["role"]))
            person = st.selectbox("Assign to 指派给", users["username"],
                                  format_func=lambda u: f"{u} · {ROLES.get(role_of[u], role_of[u])}",
                                  key="order_assignee")
        pressed = []
        for action, col in zip(ordered, st.columns(len(ordered))):
            label = rules.TRANSITIONS[action].label + (" …" if action in rules.CONFIRM else "")
            if col.form_submit_button(label, key=f"order_move_{action}",
                                      type="primary" if action == primary else "secondary"):
                pressed.append(action)
    if not pressed:
        return
    action = pressed[0]
    extra = {"assignee": person} if action in ("dispatch", "reassign") else {}
    if action in rules.CONFIRM:
        st.session_state[PENDING] = {"order_id": order["order_id"], "version": order["version"],
                                     "action": action, "assignee": extra.get("assignee")}
        st.session_state["order_confirm_note"] = note
        st.rerun()
    _act(engine, who, order, action, version=order["version"], note=note, **extra)


HISTORY_COLUMNS = {"at": "When 时间", "actor": "By 操作人", "action": "Action 操作",
                   "from_state": "From 原状态", "to_state": "To 新状态",
                   "assignee": column_label("assignee"), "note": "Note 说明"}


def history(engine, who: Principal, order_id: int) -> None:
    """Every change to the order, oldest first, at local times labelled UTC+8."""
    events = workorders.order_history(engine, who, order_id)
    moves = {"create": "Create 创建", "comment": "Comment 备注", "checklist": "Checklist 清单",
             **{name: move.label for name, move in rules.TRANSITIONS.items()}}
    shown = pd.DataFrame({
        "at": format_times(events["at"]),
        "actor": events["actor"],
        "action": events["action"].map(lambda a: moves.get(a) or a),
        "from_state": events["from_state"].map(rules.STATES).fillna(MISSING),
        "to_state": events["to_state"].map(rules.STATES).fillna(MISSING),
        "assignee": events["assignee"].fillna(MISSING),
        "note": events["note"],
    })
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config=HISTORY_COLUMNS)
    st.download_button("Download history (CSV)",
                       csv_file(shown),
                       f"order_{order_id}_history.csv", "text/csv", key="order_history_csv")


def header(order: dict, now: pd.Timestamp) -> None:
    """Title, state, people, place, deadline and the order's times (local, labelled)."""
    due = pd.Timestamp(order["due_at"])
    due = due.tz_localize("UTC") if due.tzinfo is None else due
    late = order["state"] in rules.OPEN_STATES and due < now
    st.subheader(f"{STATE_ICON[order['state']]} #{order['order_id']} {plain(order['title'])}")
    cols = st.columns(4)
    cols[0].markdown(f"**State** {rules.STATES[order['state']]}  \n**Kind** "
                     f"{rules.KINDS[order['kind']]}")
    cols[1].markdown(f"**Assignee** {plain(order['assignee'] or '— unassigned')}  \n"
                     f"**Owner role** {ROLES.get(order['owner_role'], order['owner_role'])}")
    cols[2].markdown(f"**Unit** {plain(order['unit_level'])} · {plain(order['unit_label'])}  \n"
                     f"**Where** {plain(order['micro_region'] or order['branch'] or 'city 全市')}")
    cols[3].markdown(f"**Priority** {PRIORITY_ICON[order['priority']]} {order['priority']}  \n"
                     f"**Due** {format_time(due)}{' ⏰ overdue' if late else ''}")
    steps = [("created", "created_at"), ("dispatched", "dispatched_at"),
             ("accepted", "accepted_at"), ("resolved", "resolved_at"), ("closed", "closed_at")]
    st.caption(" · ".join(f"{name} {format_time(order[column])}" for name, column in steps
                          if order.get(column) is not None)
               + f" · by {plain(order['created_by'])}")
    if order["detail"]:
        st.markdown(f"> {plain(order['detail'])}")
    if order["resolution"]:
        st.success(f"Resolution 处理结果: {plain(order['resolution'])}")

"""What an order carries besides its lifecycle: the front-line checklist, tactics picked from
the arsenal and the budget booked for them (picked and booked in one transaction)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.formatting import MISSING, column_label, format_times, format_value
from analytics.ops import workorders as rules
from analytics.ops.arsenal import answering
from data_access.store import order_actions
from data_access.store.budgets import bookings as budget_bookings
from data_access.store.arsenal import list_tactics
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from data_access.store.order_spend import bookable_units, order_spend, pick_and_book
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

_NO_BUDGET = "— do not book budget 不占预算"


def _yuan(value: float) -> str:
    return format_value(value, "yuan")


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


def _pick_form(engine, who: Principal, order: dict, tags: list[str]) -> None:
    tactics = list_tactics(engine, who)
    tactics = tactics[tactics["may_pick"].astype(bool)]
    if tactics.empty:
        st.caption("No tactic in the arsenal is open to your authorisation level.")
        return
    suited = answering(tactics, tags) if tags else tactics.iloc[0:0]
    ordered = list(suited["tactic_id"]) + [t for t in tactics["tactic_id"]
                                           if t not in set(suited["tactic_id"])]
    rows = tactics.set_index("tactic_id")
    units = bookable_units(engine, who)
    unit_label = {int(u["unit_id"]): f"{u['name']} · {u['period']} · "
                  f"{_yuan(u['quota'] - u['booked'] - u['spent'] - u['allocated'])} left"
                  for _, u in units.iterrows()}
    with st.form(f"order_pick_{order['order_id']}", border=True):
        st.markdown("**Pick a tactic for this order 选择营销工具**"
                    + (" · ⭐ answers your checklist" if len(suited) else ""))
        chosen = st.selectbox(
            "Tactic 工具", ordered, key="order_tactic",
            format_func=lambda t: ("⭐ " if t in set(suited["tactic_id"]) else "")
            + f"{rows.loc[t, 'code']} · {rows.loc[t, 'name']} · "
              f"{format_value(rows.loc[t, 'unit_cost'], 'yuan_per_sub')} each")
        cols = st.columns([1, 2])
        quantity = cols[0].number_input("Quantity 数量", 1, 1000, 1, key="order_quantity")
        target = cols[1].text_input("For (subscriber, group or channel id; optional)",
                                    key="order_target")
        unit = st.selectbox("Book the cost on 预占预算", [None, *unit_label],
                            format_func=lambda u: _NO_BUDGET if u is None else unit_label[u],
                            index=1 if unit_label else 0, key="order_budget")
        note = st.text_input("Note 备注", key="order_pick_note")
        # Secondary: the order's one primary button is its next lifecycle move.
        submitted = st.form_submit_button("Pick and book 领用并预占")
    if submitted:
        try:
            pick_id, booking_id = pick_and_book(
                engine, who, int(chosen), order["order_id"], quantity=int(quantity),
                target_key=target or None, note=note, unit_id=unit)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            booked = f" and booked budget #{booking_id}" if booking_id else ""
            st.toast(f"Picked #{pick_id}{booked} ✓")
            st.rerun()


def _readable(frame: pd.DataFrame, money: dict[str, str], times: tuple[str, ...]
              ) -> pd.DataFrame:
    """Amounts in ¥/万 (``money``: column → unit) and times local and labelled, for reading
    (the CSV keeps the exact values)."""
    shown = frame.copy()
    for column, unit in money.items():
        shown[column] = [format_value(v, unit) for v in shown[column]]
    for column in times:
        shown[column] = format_times(shown[column])
    return shown.fillna(MISSING)


def _labels(frame: pd.DataFrame, **own: str) -> dict[str, str]:
    return {c: own.get(c) or column_label(c) for c in frame.columns}


#: Settling a booking is final: what each way does, shown before anything is written.
_SETTLE = "orders_pending_settle"
_SETTLE_TEXT = {
    "confirm": ("Confirm booking #{booking} as spent: {money} on {budget} counts as spent and "
                "the booking is settled; this cannot be undone."),
    "release": ("Release booking #{booking}: its {money} goes back to the quota of {budget} and "
                "the booking is settled; this cannot be undone."),
}


def _settle_confirmation(engine, who: Principal, booking: int, what: str, money: str,
                         budget: str) -> None:
    """The second step of confirming or releasing a booking; nothing is written before "Yes"."""
    box = st.container(border=True)
    box.warning(_SETTLE_TEXT[what].format(booking=booking, money=money, budget=budget),
                icon="⚠️")
    cols = box.columns(2)
    yes = cols[0].button("Yes, confirm spent 确认" if what == "confirm" else "Yes, release 释放",
                         key=f"order_settle_yes_{booking}")
    if cols[1].button("Cancel 取消", key=f"order_settle_no_{booking}"):
        st.session_state.pop(_SETTLE, None)
        st.rerun()
    if yes:
        settle = budget_bookings.confirm if what == "confirm" else budget_bookings.release
        try:
            settle(engine, who, booking)
        except ConcertoError as exc:
            box.error(plain(exc))
            return
        st.session_state.pop(_SETTLE, None)
        st.rerun()


def _bookings(engine, who: Principal, bookings: pd.DataFrame, order_id: int) -> None:
    shown = _readable(bookings.drop(columns=["tactic_pick_id"]),
                      {"amount": "yuan", "spent_amount": "yuan"}, ("created_at", "settled_at"))
    st.dataframe(shown, hide_index=True, width="stretch", column_config=_labels(
        shown, booking_id="Booking 预占单", period="Period 期间", spent_amount="Spent 已用",
        created_by="Booked by 预占人", created_at="Booked 预占时间",
        settled_by="Settled by 结算人", settled_at="Settled 结算时间"))
    open_ = bookings[bookings["status"] == "booked"]
    pending = st.session_state.get(_SETTLE)
    if pending and pending["booking_id"] not in set(open_["booking_id"]):
        st.session_state.pop(_SETTLE, None)  # settled meanwhile, or another order's
        pending = None
    for _, row in open_.iterrows():
        booking = int(row["booking_id"])
        money, budget = _yuan(row["amount"]), plain(row["budget"])
        if pending and pending["booking_id"] == booking:
            _settle_confirmation(engine, who, booking, pending["what"], money, budget)
            continue
        st.caption(f"Booking #{booking}: {money} on {budget} is pre-booked.")
        cols = st.columns(2)
        for col, what, label in ((cols[0], "confirm", "Confirm spent 确认 …"),
                                 (cols[1], "release", "Release 释放 …")):
            if col.button(label, key=f"order_{what}_{booking}"):
                st.session_state[_SETTLE] = {"booking_id": booking, "what": what}
                st.rerun()
    st.download_button("Download bookings (CSV)",
                       csv_file(bookings),
                       f"order_{order_id}_bookings.csv", "text/csv", key="order_bookings_csv")


def order_extras(engine, who: Principal, order: dict, todo: list[rules.Question]) -> None:
    """The order's picks and bookings, and the form to pick and book when the user may."""
    picks, bookings = order_spend(engine, who, order["order_id"])
    st.markdown("#### Arsenal and budget 营销资源与预算")
    works_it = order["assignee"] == who.username or who.can("dispatch_orders")
    if (order["state"] in rules.OPEN_STATES and order["state"] != "rejected"
            and who.can("pick_tactics") and works_it):
        _pick_form(engine, who, order, [q.tag for q in todo])
    left, right = st.columns(2)
    with left:
        st.markdown("**Picked 已领用**")
        if picks.empty:
            st.caption("No tactic picked for this order yet.")
        else:
            shown = _readable(picks, {"unit_cost": "yuan_per_sub", "total_cost": "yuan"},
                              ("picked_at",))
            st.dataframe(shown, hide_index=True, width="stretch",
                         column_config=_labels(
                             shown, pick_id="Pick 领用单", code="Code 编码", name="Tactic 工具",
                             kind="Kind 类型", quantity="Quantity 数量",
                             unit_cost="Unit cost 单价", total_cost="Total 合计",
                             target_key="For 对象", picked_by="Picked by 领用人",
                             picked_at="Picked 领用时间", note="Note 备注"))
            st.download_button("Download picks (CSV)",
                               csv_file(picks),
                               f"order_{order['order_id']}_picks.csv", "text/csv",
                               key="order_picks_csv")
    with right:
        st.markdown("**Budget 预算**")
        if bookings.empty:
            st.session_state.pop(_SETTLE, None)
            st.caption("No budget booked for this order yet.")
        else:
            _bookings(engine, who, bookings, order["order_id"])

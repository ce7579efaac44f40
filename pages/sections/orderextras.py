"""What an order carries besides its lifecycle: tactics picked from the arsenal and the
budget booked for them (picked and booked in one transaction)."""

from __future__ import annotations

import streamlit as st

from analytics.ops import workorders as rules
from analytics.ops.arsenal import answering
from data_access.store.budgets import bookings as budget_bookings
from data_access.store.arsenal import list_tactics
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from data_access.store.order_spend import bookable_units, order_spend, pick_and_book
from pages.common.csvexport import safe_frame  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

_NO_BUDGET = "— do not book budget 不占预算"


def _yuan(value: float) -> str:
    return f"¥{value:,.2f}"


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
            + f"{rows.loc[t, 'code']} · {rows.loc[t, 'name']} · {_yuan(rows.loc[t, 'unit_cost'])}")
        cols = st.columns([1, 2])
        quantity = cols[0].number_input("Quantity 数量", 1, 1000, 1, key="order_quantity")
        target = cols[1].text_input("For (subscriber, group or channel id; optional)",
                                    key="order_target")
        unit = st.selectbox("Book the cost on 预占预算", [None, *unit_label],
                            format_func=lambda u: _NO_BUDGET if u is None else unit_label[u],
                            index=1 if unit_label else 0, key="order_budget")
        note = st.text_input("Note 备注", key="order_pick_note")
        submitted = st.form_submit_button("Pick and book 领用并预占", type="primary")
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


def _bookings(engine, who: Principal, bookings, order_id: int) -> None:
    st.dataframe(bookings.drop(columns=["tactic_pick_id"]), hide_index=True,
                 use_container_width=True, column_config={
                     "amount": st.column_config.NumberColumn("amount", format="¥%.2f"),
                     "spent_amount": st.column_config.NumberColumn("spent", format="¥%.2f")})
    open_ = bookings[bookings["status"] == "booked"]
    for _, row in open_.iterrows():
        cols = st.columns([3, 1, 1])
        cols[0].caption(f"Booking #{row['booking_id']}: {_yuan(row['amount'])} on "
                        f"{plain(row['budget'])} is pre-booked.")
        try:
            if cols[1].button("Confirm spent 确认", key=f"order_confirm_{row['booking_id']}"):
                budget_bookings.confirm(engine, who, int(row["booking_id"]))
                st.rerun()
            if cols[2].button("Release 释放", key=f"order_release_{row['booking_id']}"):
                budget_bookings.release(engine, who, int(row["booking_id"]))
                st.rerun()
        except ConcertoError as exc:
            st.error(plain(exc))
    st.download_button("Download bookings (CSV)", bookings.pipe(safe_frame).to_csv(index=False).encode(),
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
            st.dataframe(picks, hide_index=True, use_container_width=True, column_config={
                "unit_cost": st.column_config.NumberColumn("unit cost", format="¥%.2f"),
                "total_cost": st.column_config.NumberColumn("total", format="¥%.2f")})
            st.download_button("Download picks (CSV)", picks.pipe(safe_frame).to_csv(index=False).encode(),
                               f"order_{order['order_id']}_picks.csv", "text/csv",
                               key="order_picks_csv")
    with right:
        st.markdown("**Budget 预算**")
        if bookings.empty:
            st.caption("No budget booked for this order yet.")
        else:
            _bookings(engine, who, bookings, order["order_id"])

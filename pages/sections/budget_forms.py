"""The budgets page's forms: pre-book and settle one's own bookings; allocate and set alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from analytics.ops import budget as arith
from data_access.store.budgets import allocation as budget_allocation
from data_access.store.budgets import bookings as budget_bookings
from data_access.store.auth import Principal, list_users
from data_access.db import ConcertoError
from data_access.mart.geography import load_regions
from pages.common.plaintext import plain  # user text shown as text

FLASH = "budgets_flash"


def show_flash() -> None:
    """The message of the write that the last run made, once."""
    if FLASH in st.session_state:
        st.success(st.session_state.pop(FLASH))


def attempt(action: Callable[[], object], done: str) -> None:
    """Run one write: its refusal (ConcertoError, Forbidden) shows as an error, else rerun."""
    try:
        action()
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    st.session_state[FLASH] = done
    st.rerun()


def _labels(table: pd.DataFrame) -> dict[int, str]:
    return {int(r.unit_id): f"{r.name} · {r.level} · {arith.yuan_exact(r.left)} left"
            for r in table.itertuples()}


def my_budget(engine: Any, who: Principal, table: pd.DataFrame,
              bookings: pd.DataFrame) -> None:
    """The signed-in person's own units, a pre-booking form and their open bookings."""
    bookable = table[table["can_book"]] if not table.empty else table
    if not who.can("book_budget"):
        return
    st.subheader("My budget 我的预算")
    if bookable.empty:
        st.info("You have no budget of your own in this period, so there is nothing to "
                "pre-book against; ask an executive to allocate you a quota.")
        return
    for row in bookable[bookable["owner"] == who.username].itertuples():
        cols = st.columns(4)
        cols[0].metric(f"{row.name} quota 额度", arith.yuan_exact(row.quota))
        cols[1].metric("Left 剩余", arith.yuan_exact(row.left))
        cols[2].metric("Booked 预占", arith.yuan_exact(row.booked))
        cols[3].metric("Spent 已用", arith.yuan_exact(row.spent))
    labels = _labels(bookable)
    with st.form("budgets_prebook", clear_on_submit=True):
        unit_id = st.selectbox("Budget 预算", list(labels), format_func=labels.get,
                               key="budgets_book_unit")
        amount = st.number_input("Amount 金额 (¥)", min_value=0.0, step=100.0, format="%.2f",
                                 key="budgets_book_amount")
        note = st.text_input("What for 用途", max_chars=400, key="budgets_book_note")
        order = st.text_input("Work order # 工单号 (optional)", key="budgets_book_order")
        if st.form_submit_button("Pre-book 预占", type="primary", key="budgets_book_submit"):
            attempt(lambda: budget_bookings.prebook(
                engine, who, int(unit_id), amount, work_order_id=order.strip() or None,
                note=note), f"Pre-booked {arith.yuan_exact(amount)} on {labels[unit_id]}.")
    _open_bookings(engine, who, bookings[bookings["can_settle"]])


def _open_bookings(engine: Any, who: Principal, open_: pd.DataFrame) -> None:
    if open_.empty:
        st.caption("No open bookings to confirm or release.")
        return
    st.markdown("**Open bookings 待确认** — confirm what was spent (the rest goes back), or "
                "release the whole amount.")
    for row in open_.head(30).itertuples():
        cols = st.columns([4, 2, 1, 1], vertical_alignment="bottom")
        cols[0].markdown(f"\\#{row.booking_id} · {plain(row.unit)} · "
                         f"**{arith.yuan_exact(row.amount)}**"
                         f"{' · ' + plain(row.note) if row.note else ''}")
        spent = cols[1].number_input("Spent 实际支出 (¥)", min_value=0.0,
                                     value=float(row.amount), step=100.0, format="%.2f",
                                     key=f"budgets_spent_{row.booking_id}")
        if cols[2].button("Confirm 确认", key=f"budgets_confirm_{row.booking_id}"):
            attempt(lambda: budget_bookings.confirm(engine, who, row.booking_id, spent),
                    f"Booking #{row.booking_id} confirmed: {arith.yuan_exact(spent)} spent.")
        if cols[3].button("Release 释放", key=f"budgets_release_{row.booking_id}"):
            attempt(lambda: budget_bookings.release(engine, who, row.booking_id),
                    f"Booking #{row.booking_id} released: {arith.yuan_exact(row.amount)} "
                    "is free again.")


def allocation(engine: Any, who: Principal, period: str, table: pd.DataFrame) -> None:
    """Allocation, quota and threshold forms, for those who may allocate budgets."""
    if not who.can("allocate_budgets"):
        return
    st.subheader("Allocate 分配预算")
    parents = table[table["level"] != "person"] if not table.empty else table
    labels = _labels(parents)
    regions = load_regions()
    with st.form("budgets_allocate", clear_on_submit=True):
        st.caption(f"A new unit in {period}, one level below the one it comes under; its "
                   "quota is handed down from there.")
        parent = st.selectbox("Under 上级", [None, *labels], key="budgets_alloc_parent",
                              format_func=lambda u: "— nothing: the company —" if u is None
                              else labels[u])
        name = st.text_input("Name 名称", max_chars=80, key="budgets_alloc_name")
        quota = st.number_input("Quota 额度 (¥)", min_value=0.0, step=1000.0, format="%.2f",
                                key="budgets_alloc_quota")
        owner = st.selectbox("Owner 负责人 (username; a person needs one)",
                             list(list_users(engine)["username"]), index=None,
                             accept_new_options=True, key="budgets_alloc_owner")
        cols = st.columns(2)
        branch = cols[0].selectbox("Branch 分公司", [None, *sorted(regions["branch"].unique())],
                                   format_func=lambda b: b or "— as above / city-wide —",
                                   key="budgets_alloc_branch")
        micro = cols[1].selectbox("Micro-region 微区域", [None, *regions["micro_region"]],
                                  format_func=lambda m: m or "— as above / none —",
                                  key="budgets_alloc_micro")
        if st.form_submit_button("Allocate 分配", type="primary", key="budgets_alloc_submit"):
            level = arith.child_level(None if parent is None else
                                      str(parents.set_index("unit_id").at[parent, "level"]))
            attempt(lambda: budget_allocation.allocate(
                engine, who, period, level, name, parent, quota, owner=owner, branch=branch,
                micro_region=micro), f"Allocated {arith.yuan_exact(quota)} to {name} ({level}).")
    if table.empty:
        return
    _quota_and_thresholds(engine, who, table)


def _quota_and_thresholds(engine: Any, who: Principal, table: pd.DataFrame) -> None:
    units = {int(r.unit_id): f"{r.name} · quota {arith.yuan_exact(r.quota)} · alerts at "
             f"{r.thresholds}" for r in table.itertuples()}
    left, right = st.columns(2)
    with left.form("budgets_quota"):
        unit = st.selectbox("Unit 单元", list(units), format_func=units.get,
                            key="budgets_quota_unit")
        quota = st.number_input("New quota 新额度 (¥)", min_value=0.0, step=1000.0,
                                format="%.2f", key="budgets_quota_value")
        if st.form_submit_button("Set quota 调整额度", key="budgets_quota_submit"):
            attempt(lambda: budget_allocation.set_quota(engine, who, unit, quota),
                    f"Quota set to {arith.yuan_exact(quota)}.")
    with right.form("budgets_thresholds"):
        unit_t = st.selectbox("Unit 单元", list(units), format_func=units.get,
                              key="budgets_thresholds_unit")
        text = st.text_input("Alert thresholds 预警阈值", value="0.8,1.0",
                             key="budgets_thresholds_value",
                             help="Shares of the quota booked or spent, e.g. 0.8,1.0 or "
                                  "80%,100%; each raises one alert per period.")
        if st.form_submit_button("Set thresholds 设置阈值", key="budgets_thresholds_submit"):
            attempt(lambda: budget_allocation.set_thresholds(engine, who, unit_t, text),
                    f"Alert thresholds set to {text}.")

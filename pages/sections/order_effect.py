"""Did the action work? (效果跟踪) One resolved work order's KPI on its unit against
comparable units without an order, before and after the action day.

Call ``render_order_effect(order_row)`` from the work-order view with the order as a mapping
(``order_id`` and ``state`` are read; everything else comes from the measured book).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import MISSING, column_label, format_change, format_day
from analytics.ops.action_effect import VERDICTS, ActionEffect
from analytics.ops.workorders import DONE_STATES
from data_access.db import ConcertoError
from data_access.store import scope
from jobs.action_effects import EffectBook, evaluate_orders
from pages.common.cache import mart_available, mart_engine, viewer, workflow_engine
from pages.common.plaintext import plain

_VERDICT_ICON = {"worked": "✅", "no_effect": "➖", "worse": "⚠️", "not_enough_data": "…"}


def relative(value: float) -> str:
    """A relative change for the reader (▲ 12.0%), or the missing mark."""
    return format_change(None, "pct", pct=value)


def interval(effect: ActionEffect) -> str:
    """The effect's interval as text, with its level."""
    if pd.isna(effect.ci_low):
        return MISSING
    return f"{relative(effect.ci_low)} to {relative(effect.ci_high)} ({effect.level:.0%})"


def load_book() -> EffectBook:
    """The measured orders of the viewer's scope (computed once per mart version and
    state of the orders, in ``jobs.action_effects``)."""
    with scope.acting_as(viewer()):
        return evaluate_orders(mart_engine(), workflow_engine())


def render_order_effect(order_row: Mapping[str, Any]) -> None:
    """Show whether the order's action moved its KPI: verdict, estimate with its interval,
    and a chart of the unit against the controls' average with the action day marked."""
    st.markdown("#### Did it work? 效果跟踪")
    if order_row.get("state") not in DONE_STATES:
        st.caption("The effect is measured once the order is resolved: its KPI after the "
                   "action day against comparable units without an order.")
        return
    if not mart_available():
        st.info("The mart has not been built yet, so no effect can be measured.")
        return
    try:
        book = load_book()
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    order_id = int(order_row["order_id"])
    effect = book.effects.get(order_id)
    if effect is None:
        st.info("Only orders on a micro-region or a channel are measured (their KPI has "
                "daily figures per unit).")
        return
    if effect.verdict == "not_enough_data":
        st.warning(plain(f"{VERDICTS[effect.verdict]}: {effect.message}"))
        return
    cols = st.columns(3)
    cols[0].metric("Verdict 结论", f"{_VERDICT_ICON[effect.verdict]} {VERDICTS[effect.verdict]}")
    cols[1].metric(f"Effect on {column_label(effect.kpi)}", relative(effect.estimate),
                   help="Relative change of the unit after the action, minus the change of "
                        "comparable units without an order (difference in differences).")
    cols[2].metric("Interval 区间", interval(effect))
    _chart(book.series(order_id), effect)
    st.caption(plain(
        f"{effect.message} Action day {format_day(effect.action_day)}"
        f"{' with ' + effect.tactic if effect.tactic else ''}; {effect.days_before} days before "
        f"and {effect.days_after} after; the unit moved {relative(effect.treated_change)}, the "
        f"{effect.n_controls} comparable units {relative(effect.control_change)}. The interval "
        "is how far a unit's change strays from the comparable units' by itself (t, from "
        "their spread)."))


def _chart(series: pd.DataFrame, effect: ActionEffect) -> None:
    if series.empty:
        return
    long = series.melt("day", ["treated", "controls"], var_name="line", value_name="index")
    long["line"] = long["line"].map({"treated": str(effect.unit_label)[:60],
                                     "controls": "comparable units (average)"})
    lines = alt.Chart(long).mark_line().encode(
        x=alt.X("day:T", title="Day 日期"),
        y=alt.Y("index:Q", title="Index (before the action = 100), 7-day mean",
                scale=alt.Scale(zero=False)),
        color=alt.Color("line:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("day:T"), alt.Tooltip("line:N"),
                 alt.Tooltip("index:Q", format=".1f")])
    action = alt.Chart(pd.DataFrame({"day": [pd.Timestamp(effect.action_day)],
                                     "what": ["action day"]})).mark_rule(
        strokeDash=[4, 4], color="#888").encode(x="day:T", tooltip=["what:N"])
    st.altair_chart(lines + action, width="stretch")

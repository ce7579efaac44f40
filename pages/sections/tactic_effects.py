"""Which tactics and order kinds work? (效果跟踪) Resolved orders' measured effects, pooled
and ranked, with a CSV export.

Call ``render_tactic_effects()`` from the arsenal page.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.formatting import format_day
from analytics.ops.action_effect import VERDICTS
from data_access.db import ConcertoError
from data_access.store import scope
from jobs.action_effects import rank_measured, visible_effects
from pages.common.cache import mart_available, mart_engine, viewer, workflow_engine
from pages.common.csvexport import csv_file
from pages.common.plaintext import plain
from pages.sections.order_effect import relative

_BY = {"tactic": "Tactic 工具", "order_kind": "Order kind 工单类型", "kpi": "KPI 指标"}
_COUNTS = {"orders": "Orders 工单", "measured": "Measured 可测",
           **{k: v for k, v in VERDICTS.items()}}


def ranked_table(effects: pd.DataFrame, by: str) -> pd.DataFrame:
    """The ranking as the reader sees it: counts, pooled improvement and its interval."""
    ranked = rank_measured(effects, by)
    shown = ranked[[by, *_COUNTS]].rename(columns={by: _BY[by], **_COUNTS})
    shown["Improvement 改善"] = ranked["improvement"].map(relative)
    shown["Interval (95%) 区间"] = [
        f"{relative(lo)} to {relative(hi)}" if pd.notna(lo) else relative(lo)
        for lo, hi in zip(ranked["ci_low"], ranked["ci_high"], strict=True)]
    return shown


def render_tactic_effects() -> None:
    """Tactics (or order kinds) ranked by the measured effect of the orders that used them."""
    st.subheader("What worked 效果排行")
    if not mart_available():
        st.info("The mart has not been built yet, so no effect can be measured.")
        return
    try:
        with scope.acting_as(viewer()):
            effects = visible_effects(mart_engine(), workflow_engine())
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    if effects.empty:
        st.info("No resolved work order on a micro-region or channel to measure yet.")
        return
    by = st.radio("Rank by 排序依据", list(_BY), format_func=_BY.get, horizontal=True,
                  key="arsenal_effect_by")
    table = ranked_table(effects, by)
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Improvement is the change of the KPI on the order's unit after the action, "
               "against comparable units without an order (positive is better), pooled over "
               "the orders with enough data; orders measured in the same weeks share controls.")
    st.download_button("Download the ranking (CSV)",
                       csv_file(table, encoding="utf-8-sig"),
                       f"effects_by_{by}.csv", "text/csv", key="arsenal_effect_csv")
    with st.expander(f"Every measured order ({len(effects)})"):
        orders = pd.DataFrame({
            "Order 工单": effects["order_id"], "Unit 单元": effects["unit_label"],
            "KPI": effects["kpi"], "Action day 行动日": effects["action_day"].map(format_day),
            "Tactic 工具": effects["tactic"], "Verdict 结论": effects["verdict"].map(VERDICTS),
            "Effect 效果": effects["estimate"].map(relative),
            "Low 下限": effects["ci_low"].map(relative),
            "High 上限": effects["ci_high"].map(relative)})
        st.dataframe(orders, hide_index=True, width="stretch")
        st.download_button("Download every order (CSV)",
                           csv_file(orders, encoding="utf-8-sig"),
                           "effects_by_order.csv", "text/csv", key="arsenal_effect_orders_csv")

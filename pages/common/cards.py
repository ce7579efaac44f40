"""KPI cards (value, status, change, sparkline) and the KPI-tree waterfall."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import format_value

STATUS_BADGE = {"green": ("on target 达标", "green"), "amber": ("watch 预警", "orange"),
                "red": ("off target 未达标", "red"), "grey": ("no target 无目标", "gray")}
KPI_STATE = "sandbox_kpi"


def _delta(row: pd.Series) -> str | None:
    """Signed change against last month as st.metric reads it ('-' means down)."""
    change, pct = row["change"], row["change_pct"]
    if not math.isfinite(change):
        return None
    if row["unit"] == "pct":
        return f"{change * 100:+.2f} pp vs last month"
    if math.isfinite(pct):
        return f"{pct:+.1%} vs last month"
    return f"{change:+,.0f} vs last month"


def _yoy(row: pd.Series) -> str:
    if row["unit"] == "pct" and math.isfinite(row["last_year"]):
        return f"{(row['value'] - row['last_year']) * 100:+.2f} pp on last year"
    if math.isfinite(row["yoy_pct"]):
        return f"{row['yoy_pct']:+.1%} on last year"
    return "no value last year"


def _select(key: str) -> None:
    st.session_state[KPI_STATE] = key


def render_cards(cards: pd.DataFrame, expected: dict[str, float] | None = None,
                 per_row: int = 5) -> None:
    """A grid of KPI cards; each card's button selects that KPI for the drill below."""
    expected = expected or {}
    for start in range(0, len(cards), per_row):
        columns = st.columns(per_row)
        for column, (_, row) in zip(columns, cards.iloc[start:start + per_row].iterrows(),
                                    strict=False):
            with column.container(border=True):
                text, colour = STATUS_BADGE[row["status"]]
                st.badge(text, color=colour)
                trend = [v for v in row["trend"] if math.isfinite(v)]
                st.metric(row["label"], format_value(row["value"], row["unit"]),
                          delta=_delta(row),
                          delta_color="normal" if row["direction"] == "higher" else "inverse",
                          chart_data=trend or None, chart_type="line",
                          help=f"Target: {row['target_basis']}")
                st.caption(f"target {format_value(row['target'], row['unit'])} · expected "
                           f"{format_value(expected.get(row['key']), row['unit'])} · {_yoy(row)}")
                chosen = st.session_state.get(KPI_STATE) == row["key"]
                st.button("Drilling ▾" if chosen else "Drill ▸", key=f"sandbox_card_{row['key']}",
                          on_click=_select, args=(row["key"],), width="stretch",
                          type="primary" if chosen else "secondary")


def tree_waterfall(bridge: pd.DataFrame) -> alt.Chart:
    """Revenue last month → each effect → revenue this month (from ``revenue_bridge``)."""
    frame = bridge.reset_index(drop=True).assign(order=lambda f: f.index)
    level, starts, ends = 0.0, [], []
    for amount, kind in zip(frame["amount"], frame["kind"], strict=True):
        start, level = (0.0, amount) if kind == "total" else (level, level + amount)
        starts.append(start)
        ends.append(level)
    frame["start"], frame["end"] = starts, ends
    frame["direction"] = ["total" if k == "total" else ("up" if a >= 0 else "down")
                          for k, a in zip(frame["kind"], frame["amount"], strict=True)]
    frame["shown"] = [format_value(a, "yuan") for a in frame["amount"]]
    low = min(frame["start"].where(frame["kind"] != "total").min(), frame["end"].min())
    frame.loc[frame["kind"] == "total", "start"] = low * 0.95 if low > 0 else low
    colours = alt.Scale(domain=["total", "up", "down"], range=["#0B6E99", "#2EA043", "#D63939"])
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("step:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=220)),
        x=alt.X("start:Q", title="revenue 收入 (yuan)", scale=alt.Scale(zero=False)),
        x2="end:Q",
        color=alt.Color("direction:N", scale=colours, legend=None),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("shown:N", title="amount")],
    )
    labels = bars.mark_text(align="left", dx=4, fontSize=11).encode(
        x=alt.X("max_end:Q"), text="shown:N", color=alt.value("#1F2A33"))
    return (bars + labels.transform_calculate(max_end="max(datum.start, datum.end)")
            ).properties(height=34 * len(frame) + 20)

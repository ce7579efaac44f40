"""KPI cards (value, status, change, sparkline) and the KPI-tree waterfall."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from analytics.formatting import (MISSING, column_label, format_change, format_share,
                                  format_value)

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
            with column.container(border=True, key=f"sandbox_cardbox_{row['key']}"):
                text, colour = STATUS_BADGE[row["status"]]
                st.badge(text, color=colour)
                # The label as text of its own: st.metric cuts a long one to "active subscri…".
                st.markdown(f"**{row['label']}**", help=f"Target: {row['target_basis']}")
                trend = [v for v in row["trend"] if math.isfinite(v)]
                st.metric(row["label"], format_value(row["value"], row["unit"]),
                          label_visibility="collapsed",
                          delta=_delta(row),
                          delta_color="normal" if row["direction"] == "higher" else "inverse",
                          chart_data=trend or None, chart_type="line")
                st.caption(f"target {format_value(row['target'], row['unit'])} · expected "
                           f"{format_value(expected.get(row['key']), row['unit'])} · {_yoy(row)}")
                chosen = st.session_state.get(KPI_STATE) == row["key"]
                st.button("Drilling ▾" if chosen else "Drill ▸", key=f"sandbox_card_{row['key']}",
                          on_click=_select, args=(row["key"],), width="stretch",
                          type="primary" if chosen else "secondary")


def _scale(unit: str, size: float) -> tuple[float, str, str]:
    """How a waterfall reads amounts of ``unit``: (divisor, axis words, label format), one
    scale per chart chosen from its biggest amount, for the axis and the labels alike."""
    if unit == "yuan":
        if size >= 1e8:
            return 1e8, "亿 yuan", "¥{:,.2f}亿"
        if size >= 1e4:
            return 1e4, "万 yuan", "¥{:,.1f}万"
        return 1.0, "yuan", "¥{:,.0f}"
    if unit == "subs":
        if size >= 1e5:
            return 1e4, "万 subscribers", "{:,.1f}万"
        return 1.0, "subscribers", "{:,.0f}"
    if unit == "yuan_per_sub":
        return 1.0, "yuan per subscriber", "¥{:,.2f}"
    return 1.0, unit, "{:,.2f}"


def _label(amount: float, kind: str, divisor: float, pattern: str) -> str:
    if not math.isfinite(amount):
        return MISSING
    scaled = abs(amount) / divisor
    if divisor > 1 and 0 < scaled < 0.1:  # a small effect in 万 still shows its size
        pattern = pattern.replace(",.1f", ",.2f")
    text = pattern.format(scaled)
    if kind == "total":
        return ("−" if amount < 0 else "") + text
    return ("+" if amount >= 0 else "−") + text


def tree_waterfall(bridge: pd.DataFrame, title: str = "revenue 收入") -> alt.Chart:
    """Last month → each effect → this month (from ``revenue_bridge``), with the axis and the
    labels in one unit: 万 (or 亿) yuan, yuan per subscriber, or subscribers."""
    frame = bridge.reset_index(drop=True).assign(order=lambda f: f.index)
    unit = str(frame["unit"].iloc[0]) if "unit" in frame.columns and len(frame) else "yuan"
    size = float(frame["amount"].abs().max()) if len(frame) else 0.0
    divisor, words, pattern = _scale(unit, size if math.isfinite(size) else 0.0)
    frame["amount"] = frame["amount"].fillna(0.0)
    level, starts, ends = 0.0, [], []
    for amount, kind in zip(frame["amount"], frame["kind"], strict=True):
        start, level = (0.0, amount) if kind == "total" else (level, level + amount)
        starts.append(start / divisor)
        ends.append(level / divisor)
    frame["start"], frame["end"] = starts, ends
    frame["direction"] = ["total" if k == "total" else ("up" if a >= 0 else "down")
                          for k, a in zip(frame["kind"], frame["amount"], strict=True)]
    frame["shown"] = [_label(a, k, divisor, pattern)
                      for a, k in zip(frame["amount"], frame["kind"], strict=True)]
    low = min(frame["start"].where(frame["kind"] != "total").min(), frame["end"].min())
    if math.isfinite(low) and low > 0:  # totals far from zero: cut the axis below the steps
        frame.loc[frame["kind"] == "total", "start"] = low * 0.95
    colours = alt.Scale(domain=["total", "up", "down"], range=["#0B6E99", "#2EA043", "#D63939"])
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("step:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=260)),
        x=alt.X("start:Q", title=f"{title} ({words})", scale=alt.Scale(zero=False)),
        x2="end:Q",
        color=alt.Color("direction:N", scale=colours, legend=None),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("shown:N", title="amount")],
    )
    labels = bars.mark_text(align="left", dx=4, fontSize=11).encode(
        x=alt.X("max_end:Q"), text="shown:N", color=alt.value("#1F2A33"))
    return (bars + labels.transform_calculate(max_end="max(datum.start, datum.end)")
            ).properties(height=alt.Step(30))


def tree_table(nodes: pd.DataFrame) -> pd.DataFrame:
    """A KPI tree's rows (``TreeNode.to_frame``) for reading: each node indented under its
    parent, values in its own unit, its contribution in the parent's unit, and no share of a
    parent's change when that parent barely moved."""
    return pd.DataFrame({
        column_label("kpi"): ["\u2003" * d + str(label)
                              for d, label in zip(nodes["depth"], nodes["label"], strict=True)],
        column_label("current"): [format_value(v, u) for v, u in
                                  zip(nodes["current"], nodes["unit"], strict=True)],
        column_label("previous"): [format_value(v, u) for v, u in
                                   zip(nodes["previous"], nodes["unit"], strict=True)],
        column_label("change"): [format_change(v, u) for v, u in
                                 zip(nodes["change"], nodes["unit"], strict=True)],
        column_label("contribution"): [format_change(v, u) for v, u in
                                       zip(nodes["contribution"], nodes["parent_unit"],
                                           strict=True)],
        column_label("share_of_parent_change"): [
            format_share(v, c, p) for v, c, p in
            zip(nodes["share_of_parent_change"], nodes["parent_change"],
                nodes["parent_level"], strict=True)],
    })

"""Charts and cached scoring for the competitor monitor page."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analytics import competitors as ac
from analytics.formatting import format_value
from data_access.mart.schema import OPERATORS

#: How each metric is formatted (``analytics.formatting`` units).
UNIT_OF = {"share": "pct", "subscribers": "subs", "new_adds": "subs", "net_adds": "subs",
           "arpu": "yuan_per_sub"}
_AXIS = {"share": ".0%", "arpu": "¥,.0f"}
#: Headers of the competitor tables.
LABELS = {"unit": "Unit 单元", "operator": "Operator 运营商", "metric": "Metric 指标",
          "value": "Value 数值", "share_before": "Share last month 上月份额",
          "share_now": "Share now 本月份额", "points": "Change 变化", "event_id": "Event 事件",
          "day": "Day 日期", "kind": "Kind 类型", "description": "What happened 内容"}
OPERATOR_COLOURS = alt.Scale(domain=["us", "rival_a", "rival_b"],
                             range=["#1f77b4", "#d62728", "#ff7f0e"])


@st.cache_data(ttl=600, max_entries=16, show_spinner="Scoring every rival series…")
def flags_of(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`analytics.competitors.flag_series` of the figures, cached by their content."""
    return ac.flag_series(frame)


def formatted(points: pd.DataFrame) -> pd.DataFrame:
    """Unusual points with value and expected formatted for the reader."""
    def show(column: str) -> list[str]:
        return [format_value(v, UNIT_OF[m]) for v, m in zip(points[column], points["metric"])]

    return points.assign(month=points["month"].dt.strftime("%Y-%m"), value=show("value"),
                         expected=show("expected"), metric=points["metric"].map(ac.METRICS),
                         operator=points["operator"].map(lambda o: OPERATORS.get(o, o)))


def side_by_side_chart(frame: pd.DataFrame, flags: pd.DataFrame, metric: str,
                       units: list[str]) -> alt.Chart:
    """Lines per operator, one panel per unit, unusual rival points ringed in black."""
    data = ac.add_shares(frame) if metric == "share" else frame
    data = data[data["unit"].isin(units)].assign(value=lambda f: f[metric].astype(float))
    data["shown"] = [format_value(v, UNIT_OF[metric]) for v in data["value"]]
    odd = flags[flags["unusual"] & (flags["metric"] == metric) & flags["unit"].isin(units)]
    odd = odd.assign(shown=[format_value(v, UNIT_OF[metric]) for v in odd["value"]],
                     expected_shown=[format_value(v, UNIT_OF[metric]) for v in odd["expected"]])
    y = alt.Y("value:Q", title=ac.METRICS[metric], axis=alt.Axis(format=_AXIS.get(metric, ",.0f")),
              scale=alt.Scale(zero=False))
    lines = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=20)).encode(
        x=alt.X("month:T", title=None), y=y,
        color=alt.Color("operator:N", scale=OPERATOR_COLOURS, title="operator"),
        tooltip=["unit", "operator", alt.Tooltip("month:T", format="%Y-%m"), "shown"])
    rings = alt.Chart(odd).mark_point(shape="circle", size=180, strokeWidth=2.5, color="black"
                                      ).encode(
        x="month:T", y="value:Q",
        tooltip=["unit", "operator", alt.Tooltip("month:T", format="%Y-%m"),
                 alt.Tooltip("shown", title="value"),
                 alt.Tooltip("expected_shown", title="expected"),
                 alt.Tooltip("score:Q", format=".2f")])
    return _facet(lines, rings, units)


def _facet(lines: alt.Chart, rings: alt.Chart, units: list[str]) -> alt.Chart:
    # Layers with different data cannot share one facet; concatenate one panel per unit.
    panels = [alt.layer(lines.transform_filter(alt.datum.unit == u),
                        rings.transform_filter(alt.datum.unit == u)
                        ).properties(title=u, height=200, width=300) for u in units]
    return alt.concat(*panels, columns=2).resolve_scale(y="independent").configure_legend(
        orient="top")


def events_chart(events: pd.DataFrame) -> alt.Chart:
    """Rivals' events on a time line: one row per operator, coloured by kind."""
    data = events.assign(where=events["micro_region"].fillna("city-wide 全市"))
    return alt.Chart(data).mark_point(filled=True, size=90).encode(
        x=alt.X("day:T", title=None), y=alt.Y("operator:N", title=None),
        color=alt.Color("kind:N", title="kind"), shape=alt.Shape("kind:N", legend=None),
        tooltip=[alt.Tooltip("day:T", format="%Y-%m-%d"), "operator", "kind", "where",
                 "description"]).properties(height=140).configure_legend(orient="top")

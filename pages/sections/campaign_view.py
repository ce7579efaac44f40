"""Charts and tables of the campaign page (Altair; no data access, no arithmetic)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analytics.campaigns.effect import METRICS, CampaignEffect
from analytics.formatting import MISSING, format_value
from pages.common.csvexport import csv_file  # formula-like cells neutralised

_LABELS = {**METRICS, "churn_rate": "churn rate 离网率"}
#: Campaign list columns and their units (the raw CSV keeps the numbers as they are).
CAMPAIGN_UNITS = {"budget": "yuan", "spend": "yuan", "participants": "subs", "controls": "subs",
                  "roi": "pct", "start_month": "month", "end_month": "month"}
#: Each measure's unit, for its estimate and interval.
_UNITS = {"arpu": "yuan_per_sub", "mou": "min", "dou": "mb", "churn_rate": "pct"}
SIGNIFICANT = "significant 显著"
NOT_SIGNIFICANT = "not significant 不显著 (interval crosses 0)"


def show_headline(effect: CampaignEffect) -> None:
    """Participants, spend, incremental revenue (with its interval), net effect and ROI."""
    cols = st.columns(5)
    cols[0].metric("Participants 参与用户", format_value(effect.participants, "subs"))
    cols[1].metric("Spend 投入", format_value(effect.cost, "yuan"))
    cols[2].metric("Incremental revenue 增量收入", format_value(effect.incremental_revenue, "yuan"),
                   help=f"95% interval {format_value(effect.incremental_low, 'yuan')} to "
                        f"{format_value(effect.incremental_high, 'yuan')}: ARPU uplift × "
                        f"{effect.participants:,} participants × {effect.months} month(s).")
    cols[3].metric("Net effect 净效益", format_value(effect.net_effect, "yuan"))
    cols[4].metric("ROI 投入产出比", MISSING if effect.roi is None else format_value(effect.roi, "pct"),
                   help="Incremental revenue ÷ spend (100% = the campaign paid for itself).")
    st.caption(f"Control group: {effect.method}.")


def _signed(value: float, unit: str) -> str:
    """An effect with its sign; a rate's effect in percentage points."""
    if pd.isna(value):
        return MISSING
    if unit == "pct":
        return f"{value * 100:+.2f} pp"
    text = format_value(value, unit)
    return text if text.startswith("-") else "+" + text


def significance(low: float, high: float) -> str:
    """Whether a 95% interval excludes zero (missing bounds are not evidence)."""
    if pd.isna(low) or pd.isna(high):
        return MISSING
    return NOT_SIGNIFICANT if low <= 0 <= high else SIGNIFICANT


def effects_table(effect: CampaignEffect) -> pd.DataFrame:
    """The effects as the reader sees them: each measure in its unit, its 95% interval and
    whether the interval excludes zero."""
    rows = []
    for row in effect.table().itertuples(index=False):
        unit = _UNITS.get(row.metric, "yuan_per_sub")
        rows.append({"measure": _LABELS.get(row.metric, row.metric),
                     "estimate": _signed(row.estimate, unit), "low": _signed(row.low, unit),
                     "high": _signed(row.high, unit), "significant": significance(row.low, row.high),
                     "n_treated": row.n_treated, "n_control": row.n_control})
    return pd.DataFrame(rows)


def forest_rows(estimates: dict[str, object]) -> pd.DataFrame:
    """One row per campaign (name → its ``Estimate`` of ARPU uplift): estimate, 95% interval
    and significance, in the order given."""
    rows = [{"campaign": name, "estimate": e.estimate, "low": e.low, "high": e.high,
             "significance": significance(e.low, e.high)} for name, e in estimates.items()]
    return pd.DataFrame(rows, columns=["campaign", "estimate", "low", "high", "significance"])


def forest_chart(rows: pd.DataFrame, *, highlight: str | None = None) -> alt.Chart:
    """A forest plot: each campaign's ARPU uplift with its 95% interval on one axis, a zero
    line, and intervals that cross zero drawn grey and marked "not significant"."""
    colour = alt.Color("significance:N", title=None, scale=alt.Scale(
        domain=[SIGNIFICANT, NOT_SIGNIFICANT], range=["#1f77b4", "#9AA5AD"]),
        legend=alt.Legend(orient="bottom", labelFontSize=13, labelLimit=400))
    base = alt.Chart(rows).encode(y=alt.Y("campaign:N", sort=list(rows["campaign"]), title=None,
                                          axis=alt.Axis(labelLimit=280, labelFontSize=13)))
    tooltip = ["campaign", alt.Tooltip("estimate:Q", format=",.2f", title="uplift (¥)"),
               alt.Tooltip("low:Q", format=",.2f", title="95% low (¥)"),
               alt.Tooltip("high:Q", format=",.2f", title="95% high (¥)"), "significance"]
    bars = base.mark_rule(strokeWidth=4).encode(
        x=alt.X("low:Q", title="ARPU uplift per participant and month (¥), 95% interval",
                axis=alt.Axis(labelFontSize=12, titleFontSize=13)),
        x2="high:Q", color=colour, tooltip=tooltip)
    dots = base.mark_point(filled=True, size=120).encode(
        x="estimate:Q", color=colour, tooltip=tooltip,
        shape=alt.condition(alt.datum.campaign == (highlight or ""), alt.value("diamond"),
                            alt.value("circle")))
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(
        strokeDash=[4, 4], color="black").encode(x="zero:Q")
    return (bars + dots + zero).properties(height=max(160, 36 * len(rows)))


def uplift_chart(frame: pd.DataFrame, column: str, title: str) -> alt.Chart:
    """ARPU uplift per group with its 95% interval."""
    base = alt.Chart(frame).encode(y=alt.Y(f"{column}:N", title=title, sort="-x"))
    return (base.mark_rule(strokeWidth=3).encode(x=alt.X("low:Q", title="ARPU uplift (yuan)"),
                                                 x2="high:Q")
            + base.mark_point(filled=True, size=80).encode(
                x="estimate:Q", tooltip=[column, "estimate", "low", "high", "n_treated",
                                         "n_control"])
            + alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(
                strokeDash=[4, 4], color="grey").encode(x="zero:Q"))


def burn_chart(burn: pd.DataFrame) -> alt.Chart:
    """Spend to date against the straight-line plan."""
    long = burn.melt("month", ["spent_to_date", "plan_to_date"], var_name="series",
                     value_name="yuan")
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("yearmonth(month):T", title="month"), y=alt.Y("yuan:Q", title="yuan (to date)"),
        color=alt.Color("series:N", title=None), tooltip=["month:T", "series", "yuan"])


def csv_button(frame: pd.DataFrame, label: str, name: str) -> None:
    """A CSV download of ``frame`` (raw rows)."""
    st.download_button(label, csv_file(frame), name, "text/csv", key=f"dl_{name}")

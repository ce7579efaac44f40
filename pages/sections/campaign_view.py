"""Charts and tables of the campaign page (Altair; no data access, no arithmetic)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from analytics.campaigns.effect import METRICS, CampaignEffect
from analytics.formatting import MISSING, format_value
from pages.common.csvexport import safe_frame  # formula-like cells neutralised

_LABELS = {**METRICS, "churn_rate": "churn rate 离网率"}


def readable_campaigns(frame: pd.DataFrame) -> pd.DataFrame:
    """The campaign list with money in ¥ (万 where large) and ROI in %, for display."""
    out = frame.copy()
    for col in ("budget", "spend"):
        out[col] = out[col].map(lambda v: format_value(v, "yuan"))
    out["roi"] = out["roi"].map(lambda v: format_value(v, "pct"))
    return out


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


def effects_table(effect: CampaignEffect) -> pd.DataFrame:
    """The effects as a table a reader can take away."""
    table = effect.table()
    table.insert(0, "measure", table["metric"].map(_LABELS))
    return table.drop(columns="metric").round(4)


def show_effects(effect: CampaignEffect) -> None:
    """One interval chart per measure: the estimate, its 95% interval and zero."""
    table = effect.table()
    table["measure"] = table["metric"].map(_LABELS)
    cols = st.columns(len(table))
    for col, (_, row) in zip(cols, table.iterrows(), strict=True):
        frame = pd.DataFrame([row])
        base = alt.Chart(frame).encode(y=alt.Y("measure:N", title=None))
        chart = (base.mark_rule(strokeWidth=3).encode(x=alt.X("low:Q", title="uplift"), x2="high:Q")
                 + base.mark_point(filled=True, size=90).encode(x="estimate:Q",
                                                                tooltip=["estimate", "low", "high"])
                 + alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 4],
                                                                      color="grey").encode(x="zero:Q"))
        col.altair_chart(chart.properties(height=90), width="stretch")


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
    """A CSV download of ``frame``."""
    st.download_button(label, frame.pipe(safe_frame).to_csv(index=False).encode(), name, "text/csv", key=f"dl_{name}")

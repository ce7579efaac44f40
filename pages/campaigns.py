"""Campaigns 营销活动: each campaign's effect against a control group, its ROI and budget burn."""

import pandas as pd
import streamlit as st

from analytics.campaigns.effect import BREAKDOWNS, budget_burn, participant_breakdown, uplift_by
from analytics.formatting import format_value
from pages.common import cache
from data_access.db import ConcertoError
from pages.sections import campaign_view as view
from pages.common.empty import require_mart
from pages.common.session import principal
from pages.common.plaintext import plain  # user text shown as text

st.title("Campaigns 营销活动")
require_mart()
who = principal()

campaigns = cache.campaign_list()
if campaigns.empty:
    st.info("The mart has no campaigns. Load an extract with `campaign` and `campaign_member` "
            "tables (`python -m data_access.mart.load DIR`) or build the demo mart.")
    st.stop()


def _roi(campaign_id: int) -> float | None:
    try:
        return cache.campaign_evaluation(campaign_id).effect.roi
    except ConcertoError:  # not started, or nobody in this person's scope
        return None


with st.spinner("Estimating each campaign's effect… 正在评估活动效果"):
    listing = campaigns.assign(roi=[_roi(int(c)) if s != "planned" else None
                                    for c, s in zip(campaigns["campaign_id"], campaigns["status"],
                                                    strict=True)])
columns = ["campaign_id", "campaign_name", "department", "status", "start_month", "end_month",
           "has_control", "budget", "spend", "participants", "controls", "roi"]
shown = listing[columns]
st.dataframe(view.readable_campaigns(shown), hide_index=True, column_config={
    "roi": st.column_config.TextColumn("ROI", help="Incremental revenue ÷ spend"),
    "start_month": st.column_config.DateColumn("start", format="YYYY-MM"),
    "end_month": st.column_config.DateColumn("end", format="YYYY-MM"),
    "has_control": st.column_config.CheckboxColumn("hold-out")})
view.csv_button(shown, "Download campaigns (CSV)", "campaigns.csv")
if who.scope_level:
    st.caption(f"Participants, spend and effects count members in {who.scope_value} only.")

names = dict(zip(listing["campaign_id"].astype(int), listing["campaign_name"], strict=True))
running = [i for i, s in enumerate(listing["status"]) if s == "running"]
picked = st.selectbox("Campaign 活动", list(names), index=running[0] if running else 0,
                      format_func=lambda c: f"{c} · {names[c]}", key="campaigns_pick")
row = listing.set_index("campaign_id").loc[picked]
st.subheader(f"{plain(row['campaign_name'])} · {row['status']}")
st.caption(f"{plain(row['offer'])} — {plain(row['department'])}, for "
           f"{plain(row['target_segment'])} customers via "
           f"{plain(row['channel_types'].replace(',', ', '))}; "
           f"budget {format_value(row['budget'], 'yuan')}.")
try:
    evaluation = cache.campaign_evaluation(picked)
except ConcertoError as exc:
    st.info(f"No effect to show yet: {plain(exc)}")
    st.stop()
effect, panel = evaluation.effect, evaluation.panel

view.show_headline(effect)
st.markdown("**Effect per participant and month 单用户月均效果** "
            "(difference-in-differences, 95% interval)")
view.show_effects(effect)
effects = view.effects_table(effect)
st.dataframe(effects, hide_index=True)
view.csv_button(effects, "Download effects (CSV)", f"campaign_{picked}_effects.csv")

st.markdown("**ARPU uplift by segment, branch and channel type 分群提升**")
tabs = st.tabs([label for label in BREAKDOWNS.values()])
for tab, (column, label) in zip(tabs, BREAKDOWNS.items(), strict=True):
    uplift = uplift_by(panel, column)
    if uplift.empty:
        tab.info("Too few participants and controls per group (at least 5 of each) to split.")
        continue
    tab.altair_chart(view.uplift_chart(uplift, column, label), width="stretch")
    with tab:
        view.csv_button(uplift, f"Download uplift by {column} (CSV)", f"campaign_{picked}_{column}.csv")

st.markdown("**Budget burn 预算消耗**")
window = evaluation.window
burn = budget_burn(cache.campaign_spend(window), window.budget, [pd.Timestamp(m) for m in window.life])
st.altair_chart(view.burn_chart(burn), width="stretch")
st.caption("The mart records each participant's cost, not when it was paid: it is spread evenly "
           "over the campaign's months and booked in the months the participant was billed. "
           "The plan spreads the budget evenly.")
view.csv_button(burn, "Download budget burn (CSV)", f"campaign_{picked}_burn.csv")

st.markdown("**Participants 参与用户**")
by = st.segmented_control("Break down by", list(BREAKDOWNS), default="branch",
                          format_func=BREAKDOWNS.get, key="campaigns_breakdown") or "branch"
st.dataframe(participant_breakdown(panel, by), hide_index=True)
members = cache.campaign_participants(picked)
st.caption(f"{len(members):,} member(s) listed (participants first; at most 5,000). "
           + ("" if who.sees_full_numbers else "Numbers are masked for your role."))
st.dataframe(members, hide_index=True)
view.csv_button(members, "Download participants (CSV)", f"campaign_{picked}_participants.csv")

"""Campaigns 营销活动: each campaign's effect against a control group, its ROI and budget burn."""

import pandas as pd
import streamlit as st

from analytics.campaigns.effect import BREAKDOWNS, budget_burn
from analytics.formatting import format_value
from pages.common import cache, fragments
from data_access.db import ConcertoError
from pages.sections import campaign_view as view
from pages.common.empty import require_mart
from pages.common.session import principal
from pages.common.plaintext import plain  # user text shown as text
from pages.common.tables import show_table
from pages.common.lazy import lazy_expander, lazy_tabs
from pages.common.links import open_customer_button

st.title("Campaigns 营销活动")
require_mart()
who = principal()

campaigns = cache.campaign_list()
if campaigns.empty:
    st.info("The mart has no campaigns. Load an extract with `campaign` and `campaign_member` "
            "tables (`python -m data_access.mart.load DIR`) or build the demo mart.")
    st.stop()

started = [int(c) for c, s in zip(campaigns["campaign_id"], campaigns["status"], strict=True)
           if s != "planned"]
with st.spinner("Estimating each campaign's effect… 正在评估活动效果"):
    effects, note = cache.campaign_effects(started)  # stored by jobs.precompute, else now
if note:
    st.caption(note)
listing = campaigns.assign(roi=[getattr(effects.get(int(c)), "roi", None)
                                    for c in campaigns["campaign_id"]])
columns = ["campaign_id", "campaign_name", "department", "status", "start_month", "end_month",
           "has_control", "budget", "spend", "participants", "controls", "roi"]
shown = listing[columns]
show_table(shown, view.CAMPAIGN_UNITS, key="campaigns_list",
           csv=("Download campaigns (CSV)", "campaigns.csv"))
st.caption("ROI = incremental revenue ÷ spend (100% = the campaign paid for itself).")
forest = view.forest_rows({
    name: next(e for e in effects[int(c)].effects if e.metric == "arpu")
    for c, name in zip(listing["campaign_id"], listing["campaign_name"], strict=True)
    if effects.get(int(c)) is not None
    and any(e.metric == "arpu" for e in effects[int(c)].effects)})
if not forest.empty:
    st.markdown("**Every campaign's effect 活动效果一览** — ARPU uplift per participant and "
                "month against its control group, with its 95% interval")
    st.altair_chart(view.forest_chart(forest), width="stretch")
    st.caption("Dots are the estimates, bars their 95% intervals, the dashed line zero. A grey "
               "bar crosses zero: that campaign's effect is not significant — it may be "
               "nothing at all.")
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
    summary = cache.campaign_details(picked)  # stored by jobs.precompute, else worked out
except ConcertoError as exc:
    st.info(f"No effect to show yet: {plain(exc)}")
    st.stop()
effect = summary.effect

view.show_headline(effect)
st.markdown("**Effect per participant and month 单用户月均效果** "
            "(difference-in-differences, 95% interval)")
show_table(view.effects_table(effect), key="campaigns_effects",
           csv=("Download effects (CSV)", f"campaign_{picked}_effects.csv"))

st.markdown("**ARPU uplift by segment, branch and channel type 分群提升**")
tabs = lazy_tabs(list(BREAKDOWNS.values()), key="campaigns_uplift_tab")
for tab, (column, label) in zip(tabs, BREAKDOWNS.items(), strict=True):
    if not tab.open:
        continue
    uplift = summary.uplift[column]
    if uplift.empty:
        tab.info("Too few participants and controls per group (at least 5 of each) to split.")
        continue
    tab.altair_chart(view.uplift_chart(uplift, column, label), width="stretch")
    with tab:
        view.csv_button(uplift, f"Download uplift by {column.replace('_', ' ')} (CSV)",
                        f"campaign_{picked}_{column}.csv")

st.markdown("**Budget burn 预算消耗**")
window = summary.window
burn = budget_burn(summary.spend, window.budget, [pd.Timestamp(m) for m in window.life])
st.altair_chart(view.burn_chart(burn), width="stretch")
st.caption("The mart records each participant's cost, not when it was paid: it is spread evenly "
           "over the campaign's months and booked in the months the participant was billed. "
           "The plan spreads the budget evenly.")
view.csv_button(burn, "Download budget burn (CSV)", f"campaign_{picked}_burn.csv")

st.markdown("**Participants 参与用户**")


@fragments.section()
def participants(breakdowns: dict[str, pd.DataFrame], picked: int, full_numbers: bool) -> None:
    """Another breakdown or a picked member reruns this section, not the campaign's effect
    estimates and charts above."""
    by = st.segmented_control("Break down by", list(BREAKDOWNS), default="branch",
                              format_func=BREAKDOWNS.get, key="campaigns_breakdown") or "branch"
    show_table(breakdowns[by], {"cost": "yuan", "subscribers": "subs"},
               key="campaigns_participant_breakdown")
    # up to 5,000 rows: read and sent only when someone opens them (a fifth of the
    # marketer's landing in the browser)
    shelf = lazy_expander("Member list 成员名单: participants first, then controls",
                          key="campaigns_members_open")
    if not shelf.open:
        return
    with shelf:
        members = cache.campaign_participants(picked)
        st.caption(f"{len(members):,} member(s) listed (participants first; at most 5,000). "
                   + ("" if full_numbers else "Numbers are masked for your role."))
        member = show_table(members, {"cost": "yuan"}, key="campaigns_members", select=True,
                            csv=("Download participants (CSV)",
                                 f"campaign_{picked}_participants.csv"))
        if member is None:
            st.caption("Click a member's row to open their customer view 客户视图.")
        else:
            open_customer_button(members["subscriber_id"].iloc[member],
                                 key="campaigns_open_customer")


participants(summary.participants, picked, who.sees_full_numbers)

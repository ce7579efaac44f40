"""Channels 渠道管理: the channel value evaluator, three channel alerts, one channel's view."""

import pandas as pd
import streamlit as st

from analytics import channels as channel_eval
from analytics.formatting import MISSING, format_day, format_value
from pages.common import cache, fragments
from data_access.store import channel_orders
from data_access.db import ConcertoError
from pages.sections import channel_view as view
from pages.common.empty import require_mart
from pages.common.session import principal
from pages.common.tables import show_table
from pages.common.lazy import lazy_tabs, show_open
from pages.common.links import open_customer_button
from pages.common.plaintext import plain  # user text shown as text

st.title("Channels 渠道管理")
require_mart()
who = principal()
workflow = cache.workflow_engine()

span = st.slider("Evaluation window (months) 评估窗口", 3, 12, 6, key="channels_window")
months = cache.channel_window(span)
run_id, note = cache.stored_run("channel_value")
if run_id is not None:  # evaluated once for this mart by jobs.precompute
    ranked, every_alert = cache.stored_channel_values(run_id, span)
    alerts = {kind: every_alert[every_alert["metric"].eq(kind)].reset_index(drop=True)
              for kind in view.METRIC_NAMES}
else:
    st.caption(note)
    metrics = cache.channel_metrics(months)
    ranked, alerts = (channel_eval.judge_channels(metrics, cache.channel_stock())
                      if not metrics.empty else (metrics, {}))
    every_alert = pd.concat(alerts.values(), ignore_index=True) if alerts else None
if ranked.empty:
    st.info("No channels lie inside your scope. Ask an administrator to widen it, or open the "
            "micro-region page for your own area.")
    st.stop()
st.caption(f"New numbers activated {months[0]:%Y-%m} – {months[-1]:%Y-%m}; money summed over "
           f"the same months; {len(ranked)} channel(s) in your scope.")
evaluate_tab, alert_tab, channel_tab = lazy_tabs(
    ["Value evaluator 价值评估", f"Alerts 告警 ({len(every_alert)})", "Channel view 渠道全息"],
    key="channels_tab", keep=["channels_pick"])


def evaluator() -> None:
    """The ranked channels and how their type and action are decided."""
    with st.expander("How the type and the action are decided 判定规则"):
        st.markdown("Net value = revenue − service cost − commission − campaign cost; "
                    "ROI = net value ÷ (commission + campaign cost). Commission per new number "
                    "(assumed; the mart holds no commission ledger): " + ", ".join(
                        f"{k} ¥{v:.0f}" for k, v in channel_eval.COMMISSION_PER_ACTIVATION.items())
                    + ". The first rule that matches gives the type.")
        show_table(channel_eval.rule_table(), key="channels_rules",
                   labels={"order": "Order 顺序", "type": "Type 类型", "rule": "Rule 规则",
                           "action": "Action 动作"})
    view.evaluator_table(ranked)


def alert_lists() -> None:
    """The three channel alerts, and recording them for dispatch."""
    with st.expander("How each alert is judged 告警规则"):
        rules = channel_eval.alert_rule_table()
        show_table(rules.assign(alert=rules["alert"].map(view.METRIC_NAMES)),
                   key="channels_alert_rules", labels={"alert": "Alert 告警",
                                                       "compared with": "Compared with 对比对象",
                                                       "rule": "Rule 规则"})
    view.alert_list(alerts["sim_farming"], "sim_farming",
                    "No channel's new numbers stand out for lack of use.")
    view.alert_list(alerts["cross_region"], "cross_region",
                    "No physical channel sells mainly to subscribers of another branch.")
    view.alert_list(alerts["stock_shortage"], "stock_shortage",
                    "No channel has been short of stock while its sales fell.")
    if not every_alert.empty and who.can("act_on_alerts"):
        if st.button("Record these as alerts for dispatch 写入告警", key="channels_record"):
            try:
                added = channel_orders.record_channel_alerts(workflow, every_alert,
                                                             f"{months[-1]:%Y-%m}")
            except ConcertoError as exc:
                st.error(plain(exc))
            else:
                st.success(f"{added} new alert(s) recorded; the Alerts page and the nightly "
                           "dispatch pick them up.")


@fragments.section()
def low_use_numbers(low: pd.DataFrame, channel_id: int) -> None:
    """Picking a number reruns this table only, not the channel evaluation above it."""
    picked = show_table(low, {"revenue": "yuan_per_sub", "mou": "min", "data_mb": "mb",
                              "activated_on": "day"}, key="channels_low_use",
                        csv=("Download the low-use numbers (CSV)",
                             f"channel_{channel_id}_low_use.csv"), select=True)
    if picked is None:
        st.caption("Click a number's row to open its customer view 客户视图.")
    else:
        open_customer_button(low["subscriber_id"].iloc[picked], key="channels_open_customer")


def channel_page() -> None:
    """One channel: its figures, alerts, history, low-use numbers and an order."""
    flagged = list(dict.fromkeys(every_alert["channel_id"].astype(int)))
    order = flagged + [c for c in ranked["channel_id"].astype(int) if c not in flagged]
    names = ranked.set_index("channel_id")["channel_name"]
    channel_id = st.selectbox(
        "Channel 渠道", order, key="channels_pick",
        format_func=lambda c: f"{'⚠ ' if c in flagged else ''}{c} · {names[c]}")
    row = ranked[ranked["channel_id"] == channel_id].iloc[0]
    st.subheader(plain(row["channel_name"]))
    st.caption(plain(f"{row['channel_type']} · {row['branch']} / {row['micro_region']} · "
                     f"manager {row['manager']} · opened {format_day(row['opened_on'])}"))
    cols = st.columns(5)
    cols[0].metric("New numbers 新增", format_value(row["new_numbers"], "subs"))
    cols[1].metric("Low use 低使用", format_value(row["low_use_share"], "pct"))
    cols[2].metric("Net value 净价值", format_value(row["net_value"], "yuan"))
    cols[3].metric("ROI", "n/a" if row["roi_suspect"] else  # a long word is cut off here
                   format_value(row["roi"], "pct"),
                   help=(f"ROI not meaningful 无意义 ({row['roi_note']}): commissions paid for "
                         "numbers that are not real customers" if row["roi_suspect"] else
                         "Net value ÷ (commission + campaign cost)"))
    days = cache.channel_days(channel_id)  # its last 90 days, drawn below too
    last = days.dropna(subset=["stock_level"]).tail(1)
    cols[4].metric("Stock now 库存", MISSING if last.empty else
                   f"{int(last['stock_level'].iloc[0]):,}",
                   help=None if last.empty else
                   f"End of day {format_day(last['day'].iloc[0])}")
    st.markdown(f"Type **{row['behaviour']}** → recommended action **{row['action']}**; "
                f"new-customer ARPU {format_value(row['new_arpu'], 'yuan_per_sub')}.")
    mine = every_alert[every_alert["channel_id"] == channel_id]
    for reason, metric in zip(mine["reason"], mine["metric"], strict=True):
        st.warning(f"{view.METRIC_NAMES[metric]}: {reason}")
    # The low-use lines are the scope's, not the channel's: read once, not on every pick.
    view.history_charts(cache.channel_history(channel_id, cache.low_use_lines(
        run_id, cache.available_months())), days)
    low = cache.channel_low_use(channel_id, months, cutoffs=cache.low_use_lines(run_id, months))
    if not low.empty:
        with st.expander(f"Low-use new numbers 低使用号码 ({len(low)})"):
            low_use_numbers(low, channel_id)
    view.order_form(workflow, who, row, mine)


show_open((evaluate_tab, alert_tab, channel_tab), (evaluator, alert_lists, channel_page))

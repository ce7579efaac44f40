"""Channel value evaluator and the three channel alerts (SIM farming, cross-region, stock).

Everything here is pure: per-channel metrics in (one row per channel, as built by
``data_access.mart.channels.load_channel_metrics``), DataFrames out.

Net value and ROI
-----------------
``cost = commission + campaign_cost`` where ``commission`` is ``COMMISSION_PER_ACTIVATION``
of the channel type times its new numbers (an assumption: the mart holds no commission
ledger; own halls carry a handling cost instead) and ``campaign_cost`` is what campaigns spent
on the channel's subscribers. ``net_value = revenue - service_cost - cost``;
``roi = net_value / cost`` (NaN without cost).

Behaviour type (``TYPE_RULES``, first match wins)
-------------------------------------------------
1. arbitrage — low-use share of new numbers ≥ 30 % (at least 5 low-use numbers).
2. pioneering — opened less than 12 months before the window's end.
3. growing — new numbers in the window's second half ≥ 1.2 × its first half (≥ 5 in it).
4. activation-driven — new numbers at or above the type's median but new-customer ARPU
   below 70 % of the city's.
5. competitive — its micro-region's market share below the city's by 5 points or more.
6. mature — everything else.

Recommended action (``ACTIONS``): arbitrage → penalty and rectification, or termination when
the low-use share reaches 50 % or the net value is negative; pioneering and competitive → more
promotion; growing → increase stock orders; activation-driven → staff training; mature →
reward when its ROI is at or above the median ROI of all channels evaluated, else staff
training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.value.netvalue import net_value

#: Commission (yuan) paid per new number, by channel type (assumed; no ledger in the mart).
COMMISSION_PER_ACTIVATION: dict[str, float] = {
    "own_hall": 30.0, "franchise": 60.0, "social_outlet": 50.0, "e_channel": 20.0}
#: A number counts as "low use" when its monthly averages after activation are all below these.
LOW_USE = {"mou": 5.0, "data_mb": 20.0, "revenue": 3.0}
#: Thresholds of the rules, in one place (the page shows them).
ARBITRAGE_SHARE, TERMINATE_SHARE, MIN_LOW_USE = 0.30, 0.50, 5
PIONEER_MONTHS, GROWTH_RATIO, MIN_GROWTH_BASE = 12, 1.2, 5
WEAK_ARPU_RATIO, SHARE_GAP = 0.70, 0.05
#: SIM farming: a channel's low-use share must be ≥ FARM_SHARE and ≥ FARM_LIFT × the rest's.
FARM_SHARE, FARM_LIFT = 0.25, 5.0
#: Cross-region: physical channels whose new numbers live in another branch this often.
CROSS_SHARE, CROSS_MIN = 0.30, 5
#: Stock shortage: stock ≤ SHORT_LEVEL on ≥ SHORT_DAYS of the recent days, and sales fell to
#: ≤ SHORT_SALES × the baseline rate (with at least SHORT_MIN_EXPECTED sales expected).
SHORT_LEVEL, SHORT_DAYS, SHORT_SALES, SHORT_MIN_EXPECTED = 2, 7, 0.60, 2.0

TYPES = ("arbitrage", "pioneering", "growing", "activation_driven", "competitive", "mature")
ACTIONS = ("reward", "increase stock orders", "staff training", "penalty and rectification",
           "termination", "more promotion")


@dataclass(frozen=True)
class TypeRule:
    """One row of the behaviour-type rule table: the type, the rule in words, its test."""

    kind: str
    rule: str
    test: Callable[[pd.DataFrame], pd.Series]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator.astype(float) / denominator.astype(float).where(denominator > 0)


TYPE_RULES: tuple[TypeRule, ...] = (
    TypeRule("arbitrage", f"low-use share of new numbers ≥ {ARBITRAGE_SHARE:.0%} "
             f"(≥ {MIN_LOW_USE} numbers)",
             lambda m: (m["low_use_share"] >= ARBITRAGE_SHARE) & (m["low_use"] >= MIN_LOW_USE)),
    TypeRule("pioneering", f"opened under {PIONEER_MONTHS} months before the window's end",
             lambda m: m["age_months"] < PIONEER_MONTHS),
    TypeRule("growing", f"new numbers in the 2nd half ≥ {GROWTH_RATIO}× the 1st "
             f"(≥ {MIN_GROWTH_BASE} in the 1st)",
             lambda m: (m["new_before"] >= MIN_GROWTH_BASE)
             & (m["new_recent"] >= GROWTH_RATIO * m["new_before"])),
    TypeRule("activation_driven", f"new numbers ≥ the type's median, new-customer ARPU < "
             f"{WEAK_ARPU_RATIO:.0%} of the city's",
             lambda m: (m["new_numbers"] >= m["type_median_new"])
             & (m["new_arpu"] < WEAK_ARPU_RATIO * m["city_new_arpu"])),
    TypeRule("competitive", f"micro-region market share ≥ {SHARE_GAP * 100:.0f} points "
             "below the city's", lambda m: m["market_share"] <= m["city_share"] - SHARE_GAP),
    TypeRule("mature", "none of the above", lambda m: pd.Series(True, index=m.index)),
)


def rule_table() -> pd.DataFrame:
    """The behaviour-type rules and their actions, as shown to users."""
    actions = {"arbitrage": "penalty and rectification; termination when low-use share ≥ "
               f"{TERMINATE_SHARE:.0%} or net value < 0",
               "pioneering": "more promotion", "growing": "increase stock orders",
               "activation_driven": "staff training", "competitive": "more promotion",
               "mature": "reward when ROI ≥ the median ROI of all channels, else staff training"}
    return pd.DataFrame([{"order": i + 1, "type": r.kind, "rule": r.rule,
                          "action": actions[r.kind]} for i, r in enumerate(TYPE_RULES)])


def value_channels(metrics: pd.DataFrame) -> pd.DataFrame:
    """Add ``commission``, ``cost``, ``net_value``, ``roi``, ``low_use_share``, ``new_arpu``.

    Parameters
    ----------
    metrics : DataFrame
        One row per channel with ``channel_type``, ``new_numbers``, ``low_use``, ``revenue``,
        ``service_cost``, ``campaign_cost`` and ``new_revenue_month`` (mean monthly revenue of
        a new number).
    """
    m = metrics.copy()
    rate = m["channel_type"].map(COMMISSION_PER_ACTIVATION).fillna(0.0)
    m["commission"] = (rate * m["new_numbers"]).round(2)
    m["cost"] = (m["commission"] + m["campaign_cost"]).round(2)
    m["net_value"] = net_value(m["revenue"], m["service_cost"], m["cost"]).round(2)
    m["roi"] = _ratio(m["net_value"], m["cost"])
    m["low_use_share"] = _ratio(m["low_use"], m["new_numbers"]).fillna(0.0)
    m["new_arpu"] = m["new_revenue_month"]
    return m


def evaluate_channels(metrics: pd.DataFrame) -> pd.DataFrame:
    """Net value, ROI, behaviour type (``TYPE_RULES``) and recommended action per channel.

    ``metrics`` needs the columns of :func:`value_channels` plus ``age_months``,
    ``new_before``, ``new_recent`` and ``market_share`` (NaN when unknown). City references
    (the type's median new numbers, the city's new-customer ARPU and market share) come from
    the frame itself, weighted by new numbers.

    Examples
    --------
    >>> row = dict(channel_id=1, channel_type="franchise", new_numbers=40, low_use=20,
    ...            revenue=900.0, service_cost=50.0, campaign_cost=0.0, new_revenue_month=2.0,
    ...            age_months=60, new_before=20, new_recent=20, market_share=0.5)
    >>> evaluate_channels(pd.DataFrame([row]))[["behaviour", "action"]].iloc[0].tolist()
    ['arbitrage', 'termination']
    """
    m = value_channels(metrics)
    m["type_median_new"] = m.groupby("channel_type")["new_numbers"].transform("median")
    weights = m["new_numbers"].clip(lower=0)
    m["city_new_arpu"] = (float(np.average(m["new_arpu"].fillna(0), weights=weights))
                          if weights.sum() > 0 else np.nan)
    shares = m["market_share"].astype(float)
    known = shares.notna()
    m["city_share"] = float(shares[known].mean()) if known.any() else np.nan
    behaviour = pd.Series("", index=m.index, dtype=object)
    for rule in TYPE_RULES:
        hit = rule.test(m).fillna(False).astype(bool) & (behaviour == "")
        behaviour[hit] = rule.kind
    m["behaviour"] = behaviour
    median_roi = float(m["roi"].median()) if m["roi"].notna().any() else np.nan
    m["action"] = [_action(r, median_roi) for r in m.itertuples(index=False)]
    return m.drop(columns=["type_median_new", "city_new_arpu", "city_share"])


def _action(row: object, median_roi: float) -> str:
    kind = row.behaviour
    if kind == "arbitrage":
        severe = row.low_use_share >= TERMINATE_SHARE or row.net_value < 0
        return "termination" if severe else "penalty and rectification"
    if kind in ("pioneering", "competitive"):
        return "more promotion"
    if kind == "growing":
        return "increase stock orders"
    if kind == "activation_driven":
        return "staff training"
    return "reward" if row.roi >= median_roi else "staff training"  # NaN is not a reward


ALERT_COLUMNS = ["channel_id", "channel_name", "channel_type", "branch", "micro_region",
                 "metric", "score", "actual", "expected", "reason"]


def _alerts(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    out = frame.assign(metric=metric)
    for column in ALERT_COLUMNS:
        if column not in out:
            out[column] = None
    return out[ALERT_COLUMNS].sort_values("score", ascending=False).reset_index(drop=True)


def detect_sim_farming(metrics: pd.DataFrame) -> pd.DataFrame:
    """Channels whose new numbers have little or no real use, far more than elsewhere.

    Fires when a channel has ≥ ``MIN_LOW_USE`` low-use new numbers (``LOW_USE``), a low-use
    share ≥ ``FARM_SHARE`` and ≥ ``FARM_LIFT`` × the share of all other channels together.
    ``score`` is the channel's low-use share; ``expected`` the other channels' share.
    """
    n, low = metrics["new_numbers"].astype(float), metrics["low_use"].astype(float)
    rest = _ratio(low.sum() - low, n.sum() - n).fillna(0.0)
    share = _ratio(low, n).fillna(0.0)
    hit = (low >= MIN_LOW_USE) & (share >= FARM_SHARE) & (share >= FARM_LIFT * rest)
    found = metrics[hit].assign(score=share[hit].round(4), actual=share[hit],
                                expected=rest[hit])
    found["reason"] = [
        f"{int(r.low_use)} of {int(r.new_numbers)} new numbers ({r.actual:.0%}) had almost no "
        f"use after activation (MOU < {LOW_USE['mou']:.0f} min, data < "
        f"{LOW_USE['data_mb']:.0f} MB, revenue < ¥{LOW_USE['revenue']:.0f} a month), against "
        f"{r.expected:.1%} at all other channels." for r in found.itertuples()]
    return _alerts(found, "sim_farming")


def detect_cross_region(metrics: pd.DataFrame) -> pd.DataFrame:
    """Physical channels whose new numbers are used mainly in another branch.

    A number's home is the subscriber's region (``dim_subscriber.region_id``); e-channels sell
    city-wide and are exempt. Fires when ≥ ``CROSS_MIN`` new numbers and ≥ ``CROSS_SHARE`` of
    them live in another branch than the channel's. ``score`` is that share.
    """
    n, other = metrics["new_numbers"].astype(float), metrics["other_branch"].astype(float)
    share = _ratio(other, n).fillna(0.0)
    hit = ((metrics["channel_type"] != "e_channel") & (other >= CROSS_MIN)
           & (share >= CROSS_SHARE))
    found = metrics[hit].assign(score=share[hit].round(4), actual=share[hit],
                                expected=CROSS_SHARE)
    found["reason"] = [
        f"{int(r.other_branch)} of {int(r.new_numbers)} new numbers ({r.actual:.0%}) are "
        f"registered in another branch than the channel's ({r.branch}): sold here, used "
        "elsewhere." for r in found.itertuples()]
    return _alerts(found, "cross_region")


def detect_stock_shortage(stock: pd.DataFrame) -> pd.DataFrame:
    """Channels out of stock on most recent days whose sales fell below their usual rate.

    ``stock`` has one row per channel with ``low_days`` (recent days with stock ≤
    ``SHORT_LEVEL``), ``recent_days``, ``recent_sales`` and ``expected_sales`` (the baseline
    daily rate × ``recent_days``). Fires when ``low_days ≥ SHORT_DAYS``, ``expected_sales ≥
    SHORT_MIN_EXPECTED`` and ``recent_sales ≤ SHORT_SALES × expected_sales``; ``score`` is the
    share of recent days short of stock.
    """
    s = stock
    hit = ((s["low_days"] >= SHORT_DAYS) & (s["expected_sales"] >= SHORT_MIN_EXPECTED)
           & (s["recent_sales"] <= SHORT_SALES * s["expected_sales"]))
    found = s[hit].assign(score=_ratio(s["low_days"], s["recent_days"])[hit].round(4),
                          actual=s["recent_sales"][hit].astype(float),
                          expected=s["expected_sales"][hit].astype(float))
    found["reason"] = [
        f"Stock at {SHORT_LEVEL} or fewer on {int(r.low_days)} of the last "
        f"{int(r.recent_days)} days; {int(r.recent_sales)} activations against "
        f"{r.expected_sales:.0f} expected from the weeks before." for r in found.itertuples()]
    return _alerts(found, "stock_shortage")


def false_alarm_rate(alerts: pd.DataFrame, all_ids: pd.Series, planted: set[int]) -> float:
    """Share of channels without a planted case on which ``alerts`` fired."""
    clean = set(all_ids.astype(int)) - planted
    if not clean:
        return float("nan")
    return len(set(alerts["channel_id"].astype(int)) & clean) / len(clean)

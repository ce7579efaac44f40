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
1. arbitrage — the SIM-farming alert fires on it (its low-use share stands out from its
   peers'; see :func:`detect_sim_farming`).
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

Alerts judge a channel against its peers and its own history (``alert_rule_table``)
-----------------------------------------------------------------------------------
No alert compares a figure with a fixed amount of minutes, megabytes, yuan or stock units:

- **low use** — a new number is "low use" when its monthly minutes, data and revenue are all
  below ``LOW_USE_FRACTION`` of the median new number's in the same window
  (:func:`low_use_cutoffs`): the population's own usage sets the line.
- **SIM farming** — a channel's low-use share of new numbers is far above its peers' (same
  channel type): above the peers' upper fence (Q3 + 3 × IQR of their shares) and so many
  low-use numbers that the binomial chance of seeing them at the peer rate (the peers' median
  share, or their pooled rate when that is higher) is below ``ALPHA`` ÷ channels tested.
- **cross-region** — the same test on the share of new numbers living in another branch,
  for physical channels.
- **stock shortage** — judged against the channel's own history: stock below
  ``STOCK_SHORT_FRACTION`` of its own mean level of the baseline weeks on at least half of the
  recent days (and on more than twice the share of baseline days that were short), while
  activations fell below its own baseline rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scipy import stats

from analytics.value.netvalue import net_value

#: Commission (yuan) paid per new number, by channel type (assumed; no ledger in the mart).
COMMISSION_PER_ACTIVATION: dict[str, float] = {
    "own_hall": 30.0, "franchise": 60.0, "social_outlet": 50.0, "e_channel": 20.0}
#: A new number is "low use" when its monthly minutes, data and revenue are all below this
#: share of the median new number's (the population's own usage, not a fixed amount).
LOW_USE_FRACTION = 1 / 8
USAGE_MEASURES = ("mou", "data_mb", "revenue")
#: Alerts: family-wise false-alarm chance, spread over the channels tested (Bonferroni); the
#: least evidence (numbers) an alert stands on; the far-out fence over the peers' shares.
ALPHA, MIN_EVIDENCE, FENCE_IQR = 0.01, 5, 3.0
#: Peer groups smaller than this are pooled with every other channel.
MIN_PEERS = 4
#: Stock shortage: a day is short when stock is below this share of the channel's own mean
#: stock over the baseline weeks; the recent days must be short at least this often.
STOCK_SHORT_FRACTION, SHORT_DAY_SHARE = 0.25, 0.5
#: Thresholds of the behaviour rules, in one place (the page shows them).
TERMINATE_SHARE = 0.50
PIONEER_MONTHS, GROWTH_RATIO, MIN_GROWTH_BASE = 12, 1.2, 5
WEAK_ARPU_RATIO, SHARE_GAP = 0.70, 0.05

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
    TypeRule("arbitrage", "the SIM-farming alert fires: low-use share of new numbers far above "
             "its peers' (same channel type)", lambda m: m["farming"]),
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
    m["farming"] = _peer_outliers(m, "low_use", m["channel_type"].notna())["hit"]
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
    m = m.drop(columns=["farming"])
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


def low_use_cutoffs(usage: pd.DataFrame) -> dict[str, float]:
    """The low-use line of each measure: ``LOW_USE_FRACTION`` of the median new number's.

    ``usage`` has one row per new number with its monthly averages ``mou``, ``data_mb`` and
    ``revenue``. The median is robust: even a channel farming many numbers barely moves it.

    Examples
    --------
    >>> cut = low_use_cutoffs(pd.DataFrame({"mou": [80, 240, 400], "data_mb": [800, 4000, 9000],
    ...                                     "revenue": [16, 48, 90]}))
    >>> cut["mou"], cut["data_mb"], cut["revenue"]
    (30.0, 500.0, 6.0)
    """
    out = {}
    for measure in USAGE_MEASURES:
        values = pd.to_numeric(usage[measure], errors="coerce") if measure in usage else None
        median = float(values.median()) if values is not None and values.notna().any() else np.nan
        out[measure] = round(LOW_USE_FRACTION * median, 2) if np.isfinite(median) else 0.0
    return out


def _peer_outliers(frame: pd.DataFrame, count_column: str, eligible: pd.Series) -> pd.DataFrame:
    """Per channel: its share ``count_column / new_numbers``, the peer rate it is judged
    against, the binomial tail probability of its count at that rate, and whether it stands
    out (``hit``).

    Peers are the other eligible channels of the same ``channel_type`` (all other eligible
    channels when the type has fewer than ``MIN_PEERS``). The peer rate is the larger of the
    peers' median share and their pooled rate (one added to the count, two to the numbers,
    so that it is never zero). A channel stands out when it has at least ``MIN_EVIDENCE``
    such numbers, its share lies above the peers' far-out fence (Q3 + ``FENCE_IQR`` × IQR of
    their shares), and the tail probability is below ``ALPHA`` ÷ the channels tested.
    """
    n = frame["new_numbers"].astype(float).to_numpy()
    k = frame[count_column].astype(float).to_numpy()
    ok = eligible.fillna(False).to_numpy(dtype=bool) & (n > 0)
    share = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    kinds = frame["channel_type"].astype(str).to_numpy()
    rate = np.full(len(frame), np.nan)
    fence = np.full(len(frame), np.nan)
    for i in np.flatnonzero(ok):
        peers = ok.copy()
        peers[i] = False
        same = peers & (kinds == kinds[i])
        if same.sum() >= MIN_PEERS:
            peers = same
        if not peers.any():
            continue
        pooled = (k[peers].sum() + 1.0) / (n[peers].sum() + 2.0)
        rate[i] = max(float(np.median(share[peers])), pooled)
        q1, q3 = np.quantile(share[peers], [0.25, 0.75])
        fence[i] = q3 + FENCE_IQR * (q3 - q1)
    tested = max(int(np.isfinite(rate).sum()), 1)
    with np.errstate(invalid="ignore"):
        tail = np.where(np.isfinite(rate), stats.binom.sf(k - 1, n, np.nan_to_num(rate)), np.nan)
    hit = (np.isfinite(rate) & (k >= MIN_EVIDENCE) & (share > fence)
           & (np.nan_to_num(tail, nan=1.0) < ALPHA / tested))
    return pd.DataFrame({"share": share, "peer_rate": rate, "tail": tail, "hit": hit},
                        index=frame.index)


def _peer_words(row: object) -> str:
    return f"against {row.expected:.1%} at its peers ({row.channel_type}); chance ≈ {row.tail:.0e}"


def detect_sim_farming(metrics: pd.DataFrame) -> pd.DataFrame:
    """Channels whose new numbers have little real use far more often than their peers'.

    A new number is low use when its minutes, data and revenue are all below
    ``LOW_USE_FRACTION`` of the median new number's (the mart read counts them as
    ``low_use`` and carries the lines as ``low_mou_cut``, ``low_data_cut``,
    ``low_revenue_cut``). A channel fires when its low-use share stands out from its peers'
    (same channel type) as :func:`_peer_outliers` states: at least ``MIN_EVIDENCE``
    low-use numbers, a share above the peers' far-out fence, and a binomial tail probability
    at the peer rate below ``ALPHA`` ÷ channels tested. ``score`` is the channel's low-use
    share; ``expected`` the peer rate.
    """
    judged = _peer_outliers(metrics, "low_use", metrics["channel_type"].notna())
    hit = judged["hit"]
    found = metrics[hit].assign(score=judged["share"][hit].round(4), actual=judged["share"][hit],
                                expected=judged["peer_rate"][hit], tail=judged["tail"][hit])
    lines = ""
    if {"low_mou_cut", "low_data_cut", "low_revenue_cut"} <= set(metrics.columns) and len(found):
        first = found.iloc[0]
        lines = (f" (under {first.low_mou_cut:.0f} min, {first.low_data_cut:.0f} MB and "
                 f"¥{first.low_revenue_cut:.1f} a month: {LOW_USE_FRACTION:.3g} × the median new number's)")
    found["reason"] = [
        f"{int(r.low_use)} of {int(r.new_numbers)} new numbers ({r.actual:.0%}) had little real "
        f"use after activation{lines}, {_peer_words(r)}." for r in found.itertuples()]
    return _alerts(found, "sim_farming")


def detect_cross_region(metrics: pd.DataFrame) -> pd.DataFrame:
    """Physical channels whose new numbers live in another branch far more often than their
    peers'.

    A number's home is the subscriber's region (``dim_subscriber.region_id``); e-channels sell
    city-wide and are exempt. The share of new numbers living in another branch than the
    channel's is judged against the peers' (same channel type) as in
    :func:`detect_sim_farming`. ``score`` is that share; ``expected`` the peer rate.
    """
    judged = _peer_outliers(metrics, "other_branch", metrics["channel_type"] != "e_channel")
    hit = judged["hit"]
    found = metrics[hit].assign(score=judged["share"][hit].round(4), actual=judged["share"][hit],
                                expected=judged["peer_rate"][hit], tail=judged["tail"][hit])
    found["reason"] = [
        f"{int(r.other_branch)} of {int(r.new_numbers)} new numbers ({r.actual:.0%}) are "
        f"registered in another branch than the channel's ({r.branch}), {_peer_words(r)}: "
        "sold here, used elsewhere." for r in found.itertuples()]
    return _alerts(found, "cross_region")


def detect_stock_shortage(stock: pd.DataFrame) -> pd.DataFrame:
    """Channels short of stock on most recent days, against their own history, whose sales
    fell below their own usual rate.

    ``stock`` has one row per channel with ``recent_days``, ``low_days`` (recent days with
    stock below ``STOCK_SHORT_FRACTION`` of the channel's own mean stock over the baseline
    weeks, ``normal_stock``), ``baseline_low_share`` (the share of baseline days that short),
    ``recent_sales`` and ``expected_sales`` (its baseline daily rate × ``recent_days``). Fires
    when the recent days were short at least ``SHORT_DAY_SHARE`` of the time and more than
    twice as often as in the baseline, and ``recent_sales < expected_sales``. ``score`` is the
    share of recent days short of stock.
    """
    s = stock
    short = _ratio(s["low_days"], s["recent_days"]).fillna(0.0)
    usual = s["baseline_low_share"].astype(float).fillna(0.0) if "baseline_low_share" in s \
        else pd.Series(0.0, index=s.index)
    hit = ((short >= SHORT_DAY_SHARE) & (short > 2 * usual) & (s["expected_sales"] > 0)
           & (s["recent_sales"] < s["expected_sales"]))
    found = s[hit].assign(score=short[hit].round(4), actual=s["recent_sales"][hit].astype(float),
                          expected=s["expected_sales"][hit].astype(float))
    found["reason"] = [
        f"Stock below a quarter of its usual level ({r.normal_stock:.0f}) on {int(r.low_days)} "
        f"of the last {int(r.recent_days)} days; {int(r.recent_sales)} activations against "
        f"{r.expected_sales:.1f} expected from the weeks before."
        if "normal_stock" in s else
        f"Stock short on {int(r.low_days)} of the last {int(r.recent_days)} days; "
        f"{int(r.recent_sales)} activations against {r.expected_sales:.1f} expected."
        for r in found.itertuples()]
    return _alerts(found, "stock_shortage")


def alert_rule_table() -> pd.DataFrame:
    """The three alerts' rules in words, as shown to users."""
    peers = (f"at least {MIN_EVIDENCE} such numbers, a share above the peers' far-out fence "
             f"(Q3 + {FENCE_IQR:g} × IQR), and a binomial chance at the peer rate below "
             f"{ALPHA:g} ÷ channels tested")
    return pd.DataFrame([
        {"alert": "sim_farming", "compared with": "peers: same channel type",
         "rule": f"share of new numbers with minutes, data and revenue all under "
                 f"{LOW_USE_FRACTION:.3g} of the median new number's; " + peers},
        {"alert": "cross_region", "compared with": "peers: same channel type (not e-channels)",
         "rule": "share of new numbers living in another branch; " + peers},
        {"alert": "stock_shortage", "compared with": "the channel's own baseline weeks",
         "rule": f"stock under {STOCK_SHORT_FRACTION:.0%} of its own mean level on at least "
                 f"{SHORT_DAY_SHARE:.0%} of the recent days (and over twice its baseline share "
                 "of short days), with activations below its own baseline rate"},
    ])


def false_alarm_rate(alerts: pd.DataFrame, all_ids: pd.Series, planted: set[int]) -> float:
    """Share of channels without a planted case on which ``alerts`` fired."""
    clean = set(all_ids.astype(int)) - planted
    if not clean:
        return float("nan")
    return len(set(alerts["channel_id"].astype(int)) & clean) / len(clean)


#: Alerts that say a channel's sales are not what they seem: its ROI is then not meaningful.
INTEGRITY_ALERTS: dict[str, str] = {"sim_farming": "SIM farming 养卡",
                                    "cross_region": "cross-region selling 跨区销售"}


def rank_channels(evaluated: pd.DataFrame, alerts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The evaluated channels, most valuable first, with ROI marked where it cannot be trusted.

    Sorted by net value, then ROI, both descending (channel id breaks ties). A channel of
    type ``arbitrage`` or named in an integrity alert (``INTEGRITY_ALERTS``: SIM farming,
    cross-region selling) gets ``roi_suspect`` True and a ``roi_note`` naming why: its
    commissions pay for numbers nobody uses, so a high ROI is an artefact, not a success.

    Examples
    --------
    >>> frame = pd.DataFrame({"channel_id": [1, 2], "net_value": [10.0, 50.0],
    ...                       "roi": [8.1, 0.5], "behaviour": ["arbitrage", "mature"]})
    >>> ranked = rank_channels(frame)
    >>> ranked["channel_id"].tolist(), ranked["roi_suspect"].tolist()
    ([2, 1], [False, True])
    """
    out = evaluated.copy()
    reasons: dict[int, list[str]] = {}
    if alerts is not None and not alerts.empty:
        for channel, metric in zip(alerts["channel_id"], alerts["metric"], strict=True):
            if metric in INTEGRITY_ALERTS:
                reasons.setdefault(int(channel), []).append(INTEGRITY_ALERTS[metric])
    notes = []
    for channel, kind in zip(out["channel_id"], out["behaviour"], strict=True):
        why = list(dict.fromkeys(reasons.get(int(channel), [])))
        if kind == "arbitrage" and INTEGRITY_ALERTS["sim_farming"] not in why:
            why.insert(0, INTEGRITY_ALERTS["sim_farming"])
        notes.append(f"not meaningful: {', '.join(why)} alert" if why else "")
    out["roi_note"] = notes
    out["roi_suspect"] = out["roi_note"] != ""
    return out.sort_values(["net_value", "roi", "channel_id"], ascending=[False, False, True],
                           na_position="last", kind="mergesort").reset_index(drop=True)


def judge_channels(metrics: pd.DataFrame, stock: pd.DataFrame
                   ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Everything the channel page shows for one window: the ranked evaluation
    (:func:`rank_channels`) and the three alerts by kind (``stock`` is
    ``load_stock_summary``'s frame; it gets the channels' names and places from ``metrics``).
    """
    evaluated = evaluate_channels(metrics)
    ids = metrics[["channel_id", "channel_name", "channel_type", "branch", "micro_region"]]
    alerts = {
        "sim_farming": detect_sim_farming(metrics),
        "cross_region": detect_cross_region(metrics),
        "stock_shortage": detect_stock_shortage(stock.merge(ids, on="channel_id")),
    }
    return rank_channels(evaluated, pd.concat(alerts.values(), ignore_index=True)), alerts

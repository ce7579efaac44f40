"""Churn features from the mart's reads, and the time split that keeps labels out of them.

A snapshot at month ``t`` describes every subscriber billed in ``t`` with what was known at
the end of ``t``: tenure and plan, ARPU / MOU / DOU levels and their trends, discount
dependency, benefits received, enterprise-group membership, activation channel type and
rivals' pressure in the micro-region. The label (churned within the next ``horizon`` months)
is read separately and only for judging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from analytics.periods import month_number, months_between

CATEGORICAL_FEATURES = ("plan_family", "segment", "channel_type", "branch")
#: Feature → the driver it belongs to (drivers are what the reasons and importances speak of).
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "arpu_trend": ("arpu_trend_3m", "arpu_trend_1m"),
    "usage_trend": ("mou_trend_3m", "mou_trend_1m", "dou_trend_3m", "dou_trend_1m"),
    "usage_level": ("mou", "mou_3m", "dou", "dou_3m", "sms"),
    "spend_level": ("arpu", "arpu_3m", "spend_vs_fee", "service_cost_3m"),
    "discount": ("discount_share", "discount_months_6m", "discount_streak", "contract_month"),
    "data_quota": ("quota_use", "quota_use_3m"),
    "tenure": ("tenure_months", "months_billed"),
    "plan": ("plan_family", "monthly_fee", "data_quota_mb"),
    "enterprise_group": ("in_group", "group_leased_line", "group_size", "group_spend_trend"),
    "channel": ("channel_type",),
    "segment": ("segment", "age"),
    "competitors": ("rival_events_local", "rival_months_since_local", "rival_events_city",
                    "rival_price_events", "rival_new_adds_rate", "rival_share_change"),
    "benefits": ("benefits_12m", "benefit_cost_12m", "months_since_benefit",
                 "benefit_ends_now"),
    "network": ("network_quality", "network_quality_prev"),
    "region": ("branch",),
}
FEATURES: tuple[str, ...] = tuple(f for group in FEATURE_GROUPS.values() for f in group)
#: Rival event kinds that compete on price, and the months of events a snapshot looks back
#: on (counts and the recency of the latest: the model learns how pressure fades).
PRICE_EVENT_KINDS = ("tariff", "promotion", "handset_subsidy", "campus")
RIVAL_MONTHS = 6
_OFFSET = {"gross": 1.0, "mou": 1.0, "data_mb": 10.0}
#: Months of each measure the features read, the snapshot month first (``<measure>_0`` …):
#: trends over three months, three-month means, six months of discounts. The snapshot's
#: reader fetches these and no more (25 columns of 42; tests/test_churn_features.py holds
#: that each is needed and enough).
SNAPSHOT_LAGS = {"gross": 4, "revenue": 3, "discount": 6, "mou": 4, "data_mb": 4,
                 "sms_cnt": 1, "service_cost": 3}


@dataclass(frozen=True)
class TimeSplit:
    """Snapshot months to train on, to test on, and the label horizon in months.

    Every training label ends by the first test snapshot, so the test window is later than
    anything the model was trained on.
    """

    train: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]
    horizon: int
    latest: pd.Timestamp


def _index(month: pd.Timestamp) -> int:
    return month_number(month)


def plan_time_split(months: Sequence, *, horizon: int = 1, train_months: int = 6,
                    test_months: int = 1, history: int = 3) -> TimeSplit:
    """Choose the snapshots for a mart holding ``months``.

    The test snapshots are the latest whose labels are known (``t + horizon`` within the
    mart); training snapshots end ``horizon`` months before the first test snapshot and start
    no earlier than ``history`` months into the mart (trends need them).

    Examples
    --------
    >>> months = pd.date_range("2025-09-01", periods=14, freq="MS")
    >>> split = plan_time_split(months, horizon=1, train_months=3)
    >>> [m.strftime("%Y-%m") for m in split.train], [m.strftime("%Y-%m") for m in split.test]
    (['2026-06', '2026-07', '2026-08'], ['2026-09'])
    """
    if horizon < 1 or train_months < 1 or test_months < 1:
        raise ValueError("horizon, train_months and test_months must be at least 1")
    stamps = sorted(pd.Timestamp(m) for m in months)
    if not stamps:
        raise ValueError("The mart has no months")
    first, latest = stamps[0], stamps[-1]
    step = pd.DateOffset(months=1)
    test_last = latest - horizon * step
    test = tuple(test_last - k * step for k in reversed(range(test_months)))
    train_last = test[0] - horizon * step
    earliest = first + history * step
    train = tuple(m for m in (train_last - k * step for k in reversed(range(train_months)))
                  if m >= earliest)
    if not train:
        need = history + 2 * horizon + test_months
        raise ValueError(f"The mart's {len(stamps)} months are too few for a time split with a "
                         f"{horizon}-month horizon: at least {need} are needed")
    return TimeSplit(train, test, horizon, latest)


def _lags(snapshot: pd.DataFrame, measure: str, months: int) -> np.ndarray:
    """The measure's latest ``months`` months as columns, the snapshot month first."""
    columns = [f"{measure}_{lag}" for lag in range(months)]
    missing = [c for c in columns if c not in snapshot.columns]
    if missing:
        raise ValueError(f"The snapshot lacks {', '.join(missing)}: the features read "
                         f"{months} month(s) of {measure} (SNAPSHOT_LAGS)")
    return snapshot[columns].to_numpy(dtype=float, na_value=np.nan)


def _trend(values: np.ndarray, lag: np.ndarray, offset: float) -> np.ndarray:
    """log((x_0 + offset) / (x_lag + offset)), NaN where the lag is 0 or missing."""
    rows, lag = np.arange(len(values)), np.maximum(lag, 0)
    if len(lag) and lag.max() >= values.shape[1]:
        raise ValueError(f"A trend over {lag.max()} month(s) needs the measure's month that "
                         f"long ago; SNAPSHOT_LAGS gives {values.shape[1]} month(s)")
    past = values[rows, lag]
    with np.errstate(invalid="ignore", divide="ignore"):
        trend = np.log((values[:, 0] + offset) / (past + offset))
    return np.where(lag > 0, trend, np.nan)


def _recent_mean(values: np.ndarray, months: int = 3) -> np.ndarray:
    if values.shape[1] < months:
        raise ValueError(f"A mean over {months} months; SNAPSHOT_LAGS gives "
                         f"{values.shape[1]} month(s)")
    with np.errstate(invalid="ignore"):
        return np.nanmean(values[:, :months], axis=1)


def rival_pressure(events: pd.DataFrame, figures: pd.DataFrame, month: pd.Timestamp,
                   region_ids: Sequence[int]) -> pd.DataFrame:
    """Rivals' pressure per micro-region at ``month``.

    Events of ``month`` and the ``RIVAL_MONTHS - 1`` before it are counted (no assumed decay):
    ``rival_events_local`` counts the region's own events, ``rival_months_since_local`` the
    months since the latest of them (NaN without one), ``rival_price_events`` those of them
    that compete on price, ``rival_events_city`` the city-wide ones (the same in every
    region). ``rival_new_adds_rate`` is rivals' new numbers per own subscriber this month,
    ``rival_share_change`` the change of rivals' share of the region's subscribers over the
    figures' two months.
    """
    index = pd.Index(sorted({int(r) for r in region_ids}), name="region_id")
    out = pd.DataFrame(0.0, index=index, columns=["rival_events_local", "rival_events_city",
                                                  "rival_price_events"])
    out.insert(1, "rival_months_since_local", np.nan)
    if not events.empty:
        ago = months_between(month, events["day"]).to_numpy(dtype=float)
        inside = (ago >= 0) & (ago < RIVAL_MONTHS)
        events, ago = events[inside], ago[inside]
        weight = np.ones(len(events))
        price = events["kind"].isin(PRICE_EVENT_KINDS).to_numpy()
        city = events["region_id"].isna().to_numpy()
        out["rival_events_city"] = float(weight[city].sum())
        local = pd.Series(weight[~city], index=events.loc[~city, "region_id"].astype(int))
        out["rival_events_local"] = local.groupby(level=0).sum().reindex(index, fill_value=0.0)
        latest = pd.Series(ago[~city], index=local.index).groupby(level=0).min()
        out["rival_months_since_local"] = latest.reindex(index).astype(float)
        local_price = pd.Series(weight[~city & price],
                                index=events.loc[~city & price, "region_id"].astype(int))
        out["rival_price_events"] = local_price.groupby(level=0).sum().reindex(index,
                                                                              fill_value=0.0)
    out["rival_new_adds_rate"] = np.nan
    out["rival_share_change"] = np.nan
    if not figures.empty:
        rival = figures["operator"] != "us"
        now = figures[figures["month"] == month]
        ours = now[now["operator"] == "us"].set_index("region_id")["subscribers"]
        adds = now[now["operator"] != "us"].groupby("region_id")["new_adds"].sum()
        out["rival_new_adds_rate"] = (adds / ours.where(ours > 0)).reindex(index)
        share = (figures[rival].groupby(["month", "region_id"])["subscribers"].sum()
                 / figures.groupby(["month", "region_id"])["subscribers"].sum()).unstack(0)
        if share.shape[1] == 2:
            out["rival_share_change"] = (share.iloc[:, 1] - share.iloc[:, 0]).reindex(index)
    return out


def group_figures(sizes: pd.DataFrame) -> pd.DataFrame:
    """Per enterprise group: members billed and the members' three-month trends (log ratios).

    ``sizes`` comes from ``data_access.mart.churn.load_group_sizes``: members and, summed over the
    members, spend (``gross``), minutes (``mou``) and data (``data_mb``) this month (``_0``)
    and three months earlier (``_3``). ``group_usage_trend`` is the mean of the minutes' and
    the data's trend: usage, unlike spend, does not move with tariffs and billing errors.
    """
    sizes = sizes.set_index("group_id")

    def trend(name: str) -> pd.Series:
        offset = _OFFSET[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log((sizes[f"{name}_0"] + offset) / (sizes[f"{name}_3"] + offset))

    return pd.DataFrame({"group_size": sizes["members"].astype(float),
                         "group_spend_trend": trend("gross").astype(float),
                         "group_usage_trend": ((trend("mou") + trend("data_mb")) / 2)
                         .astype(float)})


def build_features(snapshot: pd.DataFrame, month: pd.Timestamp, *, benefits: pd.DataFrame,
                   rivals: pd.DataFrame, groups: pd.DataFrame,
                   network: pd.DataFrame | None = None) -> pd.DataFrame:
    """The model's feature frame (``FEATURES``), one row per subscriber, indexed by id.

    ``snapshot`` comes from ``data_access.mart.churn.load_churn_snapshot``; ``benefits`` from
    ``load_benefits``; ``rivals`` from :func:`rival_pressure`; ``groups`` from
    :func:`group_figures`; ``network`` from ``analytics.network.causal_quality`` (indexed by
    micro-region; None or a missing area: unknown). Trends are log ratios of this month to three months earlier (or
    to the first month for newer subscribers): -0.43 means down 35%.
    """
    month = pd.Timestamp(month)
    out = pd.DataFrame(index=pd.Index(snapshot["subscriber_id"].to_numpy(), name="subscriber_id"))
    joined = snapshot["join_month"]
    tenure = months_between(month, joined).to_numpy()
    lag3, lag1 = np.minimum(tenure, 3), np.minimum(tenure, 1)
    gross, revenue = _lags(snapshot, "gross", 4), _lags(snapshot, "revenue", 3)
    mou, data = _lags(snapshot, "mou", 4), _lags(snapshot, "data_mb", 4)
    discount = _lags(snapshot, "discount", 6)
    out["arpu_trend_3m"] = _trend(gross, lag3, _OFFSET["gross"])
    out["arpu_trend_1m"] = _trend(gross, lag1, _OFFSET["gross"])
    out["mou_trend_3m"] = _trend(mou, lag3, _OFFSET["mou"])
    out["mou_trend_1m"] = _trend(mou, lag1, _OFFSET["mou"])
    out["dou_trend_3m"] = _trend(data, lag3, _OFFSET["data_mb"])
    out["dou_trend_1m"] = _trend(data, lag1, _OFFSET["data_mb"])
    out["mou"], out["mou_3m"] = mou[:, 0], _recent_mean(mou)
    out["dou"], out["dou_3m"] = data[:, 0], _recent_mean(data)
    out["sms"] = _lags(snapshot, "sms_cnt", 1)[:, 0]
    fee = snapshot["monthly_fee"].to_numpy(dtype=float)
    out["arpu"], out["arpu_3m"] = revenue[:, 0], _recent_mean(revenue)
    out["spend_vs_fee"] = gross[:, 0] / np.where(fee > 0, fee, np.nan)
    out["service_cost_3m"] = _recent_mean(_lags(snapshot, "service_cost", 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["discount_share"] = np.where(gross[:, 0] > 0, discount[:, 0] / gross[:, 0], 0.0)
    out["discount_months_6m"] = (np.nan_to_num(discount) > 0).sum(axis=1).astype(float)
    out["contract_month"] = (tenure % 12).astype(float)
    on = np.nan_to_num(discount) > 0
    out["discount_streak"] = np.where(on.all(axis=1), on.shape[1], np.argmin(on, axis=1)) \
        .astype(float)  # consecutive discounted months up to this one
    quota = snapshot["data_quota_mb"].to_numpy(dtype=float)
    quota = np.where(quota > 0, quota, np.nan)
    out["quota_use"], out["quota_use_3m"] = data[:, 0] / quota, _recent_mean(data) / quota
    out["tenure_months"] = tenure.astype(float)
    out["months_billed"] = snapshot["months_billed"].to_numpy(dtype=float)
    out["plan_family"] = snapshot["plan_family"].to_numpy(dtype=object)
    out["monthly_fee"], out["data_quota_mb"] = fee, snapshot["data_quota_mb"].to_numpy(dtype=float)
    group_id = snapshot["group_id"]
    out["in_group"] = group_id.notna().to_numpy(dtype=float)
    out["group_leased_line"] = snapshot["has_leased_line"].astype("boolean").fillna(False) \
        .to_numpy(dtype=float)
    per_group = groups.reindex(group_id.astype("float").to_numpy())
    out["group_size"] = np.nan_to_num(per_group["group_size"].to_numpy(dtype=float))
    out["group_spend_trend"] = per_group["group_spend_trend"].to_numpy(dtype=float)
    out["channel_type"] = snapshot["channel_type"].to_numpy(dtype=object)
    out["segment"] = snapshot["segment"].to_numpy(dtype=object)
    out["age"] = snapshot["age"].to_numpy(dtype=float)
    pressure = rivals.reindex(snapshot["region_id"].astype(int).to_numpy())
    for column in FEATURE_GROUPS["competitors"]:
        out[column] = pressure[column].to_numpy(dtype=float)
    got = benefits.set_index("subscriber_id").reindex(out.index)
    out["benefits_12m"] = got["benefits_12m"].fillna(0).to_numpy(dtype=float)
    out["benefit_cost_12m"] = got["benefit_cost_12m"].fillna(0.0).to_numpy(dtype=float)
    start = got["last_benefit_start"]
    out["months_since_benefit"] = months_between(month, start).to_numpy(dtype=float,
                                                                            na_value=np.nan)
    out["benefit_ends_now"] = (got["last_benefit_end"] == month).to_numpy(dtype=float)
    quality = (network if network is not None else pd.DataFrame(
        columns=list(FEATURE_GROUPS["network"]), dtype=float)).reindex(
        snapshot["micro_region"].to_numpy())
    for column in FEATURE_GROUPS["network"]:
        out[column] = quality[column].to_numpy(dtype=float)
    out["branch"] = snapshot["branch"].to_numpy(dtype=object)
    return out[list(FEATURES)]


def feature_schema(features: pd.DataFrame) -> dict[str, str]:
    """Column → kind ("numeric" or "categorical"): what a saved model expects."""
    return {str(c): "categorical" if c in CATEGORICAL_FEATURES else "numeric"
            for c in features.columns}

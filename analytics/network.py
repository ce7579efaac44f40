"""Network beside the market 网络监控: a quality index per micro-region and month, and whether
churn rises where quality fell once everything else is accounted for.

**Quality index.** Each network KPI of a micro-region's month is compared with the same
micro-region's own usual level (median over the months given) in units of its own usual
spread (MAD scaled to a standard deviation, floored), signed so that positive is worse:
lower coverage, more dropped calls, lower throughput, more complaints per subscriber. The
index is the mean of the four. A micro-region is judged against itself, so a hilly area
with always-weaker coverage is not "bad" every month.

**Churn against quality.** A two-way fixed-effects regression over micro-region × month,
weighted by subscribers: the churn rate of the following month on the quality index, with
a fixed effect per micro-region (its own churn level) and per month (what moved the whole
city: seasons, rivals' city-wide offers, price changes). The following month because a
line's ``churn_month`` is its first month no longer billed, so a customer lost to a bad
month is counted in the next one. Standard errors are clustered by micro-region (months of
one area are not independent), with a t interval on G − 1 degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: KPI → +1 when a higher value is worse, −1 when lower is worse.
KPI_SIGNS: dict[str, int] = {"coverage_pct": -1, "call_drop_rate": 1, "throughput_mbps": -1,
                             "complaints_per_10k": 1}
KPI_LABELS: dict[str, str] = {"coverage_pct": "Coverage 覆盖率 (%)",
                              "call_drop_rate": "Call drops 掉话率",
                              "throughput_mbps": "Throughput 速率 (Mbps)",
                              "complaints_per_10k": "Complaints per 10k subs 万户投诉"}
#: Smallest spread, as a share of the usual level, so a KPI that never moves cannot make
#: a tiny change look huge.
MIN_RELATIVE_SPREAD = 0.01


@dataclass(frozen=True)
class NetworkEffect:
    """Churn of the next month per unit of the quality index (a fraction: 0.002 = 0.2 pp)."""

    effect: float | None
    low: float | None
    high: float | None
    p_value: float | None
    regions: int
    months: int
    message: str

    @property
    def significant(self) -> bool:
        return self.low is not None and (self.low > 0 or (self.high is not None and self.high < 0))


def monthly_kpis(daily: pd.DataFrame, subscribers: pd.DataFrame) -> pd.DataFrame:
    """Per micro-region and month: mean coverage, drop rate and throughput, complaints per
    10,000 subscribers a day.

    Parameters
    ----------
    daily : DataFrame
        ``region``, ``month``, ``coverage_pct``, ``call_drop_rate``, ``throughput_mbps``
        (monthly means) and ``complaints`` (monthly sum) and ``days``.
    subscribers : DataFrame
        ``region``, ``month``, ``active_subs``.
    """
    frame = daily.merge(subscribers[["region", "month", "active_subs"]], on=["region", "month"],
                        how="left")
    per_day = frame["complaints"] / frame["days"].where(frame["days"] > 0)
    frame["complaints_per_10k"] = 1e4 * per_day / frame["active_subs"].where(
        frame["active_subs"] > 0)
    return frame[["region", "month", *KPI_SIGNS]]


def _signed_z(values: pd.Series, centre: pd.Series, mad: pd.Series, sign: int) -> pd.Series:
    """``values`` against ``centre`` in units of the MAD as a standard deviation, floored at
    ``MIN_RELATIVE_SPREAD`` of the level; signed so that positive is worse."""
    spread = np.maximum(1.4826 * mad, MIN_RELATIVE_SPREAD * centre.abs()).replace(0, np.nan)
    return sign * (values - centre) / spread


def quality_index(monthly: pd.DataFrame) -> pd.DataFrame:
    """``monthly`` with one signed robust z per KPI (``z_<kpi>``) and their mean ``index``.

    Examples
    --------
    >>> monthly = pd.DataFrame({"region": ["A"] * 5, "month": pd.date_range("2026-01-01",
    ...     periods=5, freq="MS"), "coverage_pct": [98.0, 98.1, 97.9, 98.0, 93.0],
    ...     "call_drop_rate": [0.01] * 5, "throughput_mbps": [50.0] * 5,
    ...     "complaints_per_10k": [1.0] * 5})
    >>> out = quality_index(monthly)
    >>> round(float(out["z_coverage_pct"].iloc[-1]), 1), round(float(out["index"].iloc[-1]), 2)
    (5.1, 1.28)
    """
    out = monthly.copy()
    zs = []
    for kpi, sign in KPI_SIGNS.items():
        centre = out.groupby("region")[kpi].transform("median")
        mad = (out[kpi] - centre).abs().groupby(out["region"]).transform("median")
        out[f"z_{kpi}"] = _signed_z(out[kpi], centre, mad, sign)
        zs.append(f"z_{kpi}")
    out["index"] = out[zs].mean(axis=1, skipna=True)
    return out


def causal_quality(monthly: pd.DataFrame, month: pd.Timestamp, *, history: int = 6
                   ) -> pd.DataFrame:
    """Each micro-region's quality index in ``month`` and the month before, each judged
    against the region's own ``history`` months before it only (nothing later is used, so
    a model trained on it sees what it would have seen then).

    Returns a frame indexed by ``region`` with ``network_quality`` and
    ``network_quality_prev`` (NaN where a month or its history is missing).

    Examples
    --------
    >>> months = pd.date_range("2026-01-01", periods=8, freq="MS")
    >>> monthly = pd.DataFrame({"region": "A", "month": months,
    ...     "coverage_pct": [98.0, 98.2, 97.8, 98.1, 97.9, 98.0, 98.0, 92.0],
    ...     "call_drop_rate": 0.01, "throughput_mbps": 50.0, "complaints_per_10k": 1.0})
    >>> out = causal_quality(monthly, months[-1])
    >>> bool(out.loc["A", "network_quality"] > 1), bool(abs(out.loc["A",
    ...     "network_quality_prev"]) < 0.5)
    (True, True)
    """
    month = pd.Timestamp(month)
    out = {}
    for name, target in (("network_quality", month),
                         ("network_quality_prev", month - pd.DateOffset(months=1))):
        start = target - pd.DateOffset(months=history)
        window = monthly[(monthly["month"] >= start) & (monthly["month"] <= target)]
        past = window[window["month"] < target]
        now = window[window["month"] == target].set_index("region")
        zs = []
        for kpi, sign in KPI_SIGNS.items():
            centre = past.groupby("region")[kpi].median()
            mad = (past[kpi] - past["region"].map(centre)).abs().groupby(past["region"]).median()
            zs.append(_signed_z(now[kpi], centre.reindex(now.index), mad.reindex(now.index), sign))
        out[name] = pd.concat(zs, axis=1).mean(axis=1, skipna=True) if zs else pd.Series(
            dtype=float)
    frame = pd.DataFrame(out)
    frame.index.name = "region"
    return frame


def churn_panel(index: pd.DataFrame, churn: pd.DataFrame) -> pd.DataFrame:
    """Micro-region months with their quality index and the next month's churn rate.

    ``churn``: ``region``, ``month``, ``active_subs``, ``churned_subs`` (lines whose
    churn_month is that month). The last month has no next month and is dropped.
    """
    following = churn[["region", "month", "churned_subs"]].assign(
        month=churn["month"] - pd.DateOffset(months=1)).rename(
        columns={"churned_subs": "churned_next"})
    panel = (index.merge(churn[["region", "month", "active_subs"]], on=["region", "month"])
             .merge(following, on=["region", "month"]))
    panel = panel[panel["active_subs"] > 0].dropna(subset=["index"])
    return panel.assign(churn_next=panel["churned_next"] / panel["active_subs"])


def network_effect(panel: pd.DataFrame, *, confidence: float = 0.95,
                   min_regions: int = 4, min_months: int = 3) -> NetworkEffect:
    """Two-way fixed-effects estimate of next month's churn rate on the quality index.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> regions, months = [f"r{i}" for i in range(12)], pd.date_range("2025-01-01",
    ...     periods=12, freq="MS")
    >>> panel = pd.DataFrame([(r, m) for r in regions for m in months], columns=["region",
    ...     "month"])
    >>> panel["index"] = rng.normal(0, 1, len(panel))
    >>> panel["active_subs"] = 2000
    >>> panel["churn_next"] = 0.015 + 0.004 * panel["index"] + rng.normal(0, 0.002, len(panel))
    >>> effect = network_effect(panel)
    >>> effect.low < 0.004 < effect.high and effect.significant
    True
    """
    data = panel.dropna(subset=["index", "churn_next"])
    regions, months = data["region"].nunique(), data["month"].nunique()
    if regions < min_regions or months < min_months:
        return NetworkEffect(None, None, None, None, regions, months,
                             f"Not enough to measure: {regions} micro-region(s) and {months} "
                             f"month(s) with network data and churn (need {min_regions} and "
                             f"{min_months}).")
    if float(data["index"].std()) == 0.0:
        return NetworkEffect(None, None, None, None, regions, months,
                             "The quality index does not vary: nothing to relate churn to.")
    region_d = pd.get_dummies(data["region"], drop_first=True, dtype=float)
    month_d = pd.get_dummies(data["month"], drop_first=True, dtype=float)
    X = np.column_stack([data["index"].to_numpy(float), np.ones(len(data)),
                         region_d.to_numpy(), month_d.to_numpy()])
    y = data["churn_next"].to_numpy(float)
    w = data["active_subs"].to_numpy(float)
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    bread = np.linalg.pinv(Xw.T @ Xw)
    beta = bread @ Xw.T @ yw
    resid = yw - Xw @ beta
    groups = data["region"].to_numpy()
    meat = np.zeros((X.shape[1], X.shape[1]))
    for g in np.unique(groups):
        rows = groups == g
        score = Xw[rows].T @ resid[rows]
        meat += np.outer(score, score)
    n, k = X.shape
    correction = regions / (regions - 1) * (n - 1) / max(n - k, 1)
    variance = correction * (bread @ meat @ bread)
    se = float(np.sqrt(max(variance[0, 0], 0.0)))
    effect = float(beta[0])
    df = regions - 1
    if se == 0.0:
        return NetworkEffect(effect, effect, effect, None, regions, months,
                             "The fit is exact: no interval can be given.")
    t_crit = float(stats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * stats.t.sf(abs(effect / se), df))
    low, high = effect - t_crit * se, effect + t_crit * se
    verdict = ("churn rises where network quality fell" if low > 0 else
               "churn falls where network quality fell (check the data)" if high < 0 else
               "no measurable link between network quality and churn")
    return NetworkEffect(effect, low, high, p, regions, months,
                         f"{verdict}: {effect * 100:+.2f} pp of next month's churn per unit "
                         f"of the quality index ({confidence:.0%} interval {low * 100:+.2f} to "
                         f"{high * 100:+.2f} pp; {regions} micro-regions × {months} months, "
                         "each area against its own level and each month against the city's).")


def worst_months(index: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The micro-region months with the worst quality index, worst first."""
    return index.sort_values("index", ascending=False).head(top).reset_index(drop=True)

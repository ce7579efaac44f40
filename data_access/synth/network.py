"""Planted network trouble: daily network KPIs per micro-region, with a few micro-regions whose
quality falls for a while, and churn that rises there because of it.

Every micro-region gets its own baseline (coverage, call-drop rate, throughput, complaints
per subscriber) with daily noise. In the troubled micro-regions a *degradation* d (0 to 1)
worsens every KPI, and the churn model of pass one adds ``churn_logit × d`` to the log-odds
of their subscribers in those months (``extra_logit``). Each troubled micro-region has its
own episode, an early one and a recent one, so a churn model can learn from the first.
Variant a plants a three-month **step** in two micro-regions (ending 8 and 1 months before
the latest); variant b a five-month **ramp** in two (ending 10 and 0 months before),
hurting throughput and complaints more than drops and coverage
(``docs/generator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_access.synth.calendar import Calendar, month_label
from data_access.synth.dims import Dimensions
from data_access.synth.variants import Variant


@dataclass(frozen=True)
class NetworkSettings:
    """What one variant plants."""

    #: One troubled micro-region per entry: its trouble ends this many months before the
    #: latest month (an early episode the churn model can learn from, a late one it must
    #: recognise), and lasts ``months``.
    end_backs: tuple[int, ...]
    months: int
    shape: str  # "step" or "ramp"
    churn_logit: float  # added to the churn log-odds at full degradation
    #: At full degradation: coverage lost (points), call drops × (1 + x), throughput × (1 − x),
    #: complaints × (1 + x).
    coverage_points: float
    drop_factor: float
    throughput_share: float
    complaint_factor: float


SETTINGS = {
    "a": NetworkSettings(end_backs=(8, 1), months=3, shape="step", churn_logit=0.9,
                         coverage_points=4.0, drop_factor=2.5, throughput_share=0.45,
                         complaint_factor=5.0),
    "b": NetworkSettings(end_backs=(10, 0), months=5, shape="ramp", churn_logit=0.8,
                         coverage_points=1.5, drop_factor=0.8, throughput_share=0.6,
                         complaint_factor=8.0),
}
#: Micro-regions other plants use (revenue drops, rival jumps, farming): left alone.
_AVOID = ("Gongbei", "Jida", "Sanzao")


@dataclass
class Network:
    """Degradation per micro-region position and window month, and each micro-region's
    baseline KPIs."""

    settings: NetworkSettings
    degradation: np.ndarray  # (regions, window months), 0..1
    troubled: np.ndarray  # region positions
    months: tuple[tuple[int, ...], ...]  # absolute months of each troubled region's trouble
    base_coverage: np.ndarray
    base_drop: np.ndarray
    base_throughput: np.ndarray
    base_complaints: np.ndarray  # per 10,000 subscribers a day

    @property
    def extra_logit(self) -> np.ndarray:
        """Added to the churn log-odds of each region position's subscribers, per window month."""
        return self.settings.churn_logit * self.degradation


def plan_network(rng: np.random.Generator, cal: Calendar, dims: Dimensions,
                 variant: Variant) -> Network:
    """Baselines for every micro-region and the troubled ones with their degradation."""
    s = SETTINGS[variant.name]
    names = dims.regions["micro_region"].to_numpy()
    n = len(names)
    pool = np.flatnonzero(~np.isin(names, _AVOID + (variant.jump_region,)))
    troubled = rng.choice(pool, size=min(len(s.end_backs), pool.size), replace=False)
    degradation = np.zeros((n, len(cal)))
    months = []
    for pos, back in zip(troubled, s.end_backs, strict=False):
        last = cal.last - back
        span = tuple(t for t in range(last - s.months + 1, last + 1) if t >= cal.first)
        for i, t in enumerate(span):
            degradation[pos, t - cal.first] = 1.0 if s.shape == "step" else (i + 1) / len(span)
        months.append(span)
    return Network(s, degradation, troubled, tuple(months),
                   base_coverage=rng.uniform(96.0, 99.5, n),
                   base_drop=rng.uniform(0.004, 0.012, n),
                   base_throughput=rng.uniform(30.0, 90.0, n),
                   base_complaints=rng.uniform(0.5, 2.0, n))


def network_days(rng: np.random.Generator, cal: Calendar, dims: Dimensions, network: Network,
                 t: int, subscribers: np.ndarray) -> pd.DataFrame:
    """``fact_network_day`` rows of month ``t`` (``subscribers``: billed per region position)."""
    s, n_days = network.settings, cal.n_days(t)
    n = len(dims.regions)
    d = network.degradation[:, t - cal.first][None, :] * rng.uniform(0.7, 1.3, (n_days, n))
    d = np.clip(d, 0.0, 1.0)
    coverage = np.clip(network.base_coverage[None, :] - s.coverage_points * d
                       + rng.normal(0.0, 0.25, (n_days, n)), 0.0, 100.0)
    drop = np.clip(network.base_drop[None, :] * (1 + s.drop_factor * d)
                   * rng.lognormal(0.0, 0.15, (n_days, n)), 0.0, 1.0)
    throughput = (network.base_throughput[None, :] * (1 - s.throughput_share * d)
                  * rng.lognormal(0.0, 0.10, (n_days, n)))
    expected = (network.base_complaints[None, :] * subscribers[None, :] / 1e4
                * (1 + s.complaint_factor * d))
    complaints = rng.poisson(expected)
    return pd.DataFrame({
        "day": np.repeat(cal.days(t), n),
        "region_id": np.tile(dims.regions["region_id"].to_numpy(), n_days),
        "coverage_pct": np.round(coverage.ravel(), 2),
        "call_drop_rate": np.round(drop.ravel(), 5),
        "throughput_mbps": np.round(throughput.ravel(), 1),
        "complaints": complaints.ravel().astype(np.int64),
    })


def truth_rows(cal: Calendar, dims: Dimensions, network: Network
               ) -> list[tuple[str, dict, float, str, dict]]:
    """One ``network_churn`` truth per troubled micro-region: size is the churn log-odds
    added at full degradation."""
    s = network.settings
    names = dims.regions["micro_region"].to_numpy()
    return [("network_churn", {"micro_region": str(names[pos])}, s.churn_logit,
             cal.months_range(span[0], span[-1]),
             {"shape": s.shape, "months": [month_label(t) for t in span],
              "degradation": [round(float(network.degradation[pos, t - cal.first]), 3)
                              for t in span],
              "kpis": {"coverage_points_lost": s.coverage_points,
                       "call_drop_factor": 1 + s.drop_factor,
                       "throughput_factor": round(1 - s.throughput_share, 3),
                       "complaint_factor": 1 + s.complaint_factor},
              "churn": "log-odds + churn_logit × degradation for the micro-region's subscribers"})
            for pos, span in zip(network.troubled, network.months, strict=True) if span]

"""Pass two of the simulation: each billed subscriber's monthly revenue, usage and costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_access.synth.behaviour import Behaviour
from data_access.synth.calendar import (COMPONENT_TREND, DATA_MB_SEASON, DATA_MB_TREND,
                                        DATA_REVENUE_SEASON, MOU_SEASON, MOU_TREND,
                                        REVENUE_SEASON, SMS_TREND, TREND_ORIGIN, Calendar,
                                        month_start)
from data_access.synth.dims import Dimensions
from data_access.synth.population import Population

_PARTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas")


@dataclass
class RevenueDrop:
    """A planted fall of every revenue component for the subscribers in ``mask``, in one month."""

    where: dict[str, str]  # the cells, in the mart's dimension names and values
    mask: np.ndarray = field(repr=False)
    factor: float
    month: int
    lost: float = 0.0
    subscribers: int = 0
    revenue_before: float = 0.0
    #: Factors of the months before ``month`` (a gradual ramp), as (month, factor) pairs.
    ramp: tuple[tuple[int, float], ...] = ()


@dataclass
class Uplift:
    """A planted rise of ``amount`` yuan in rev_data for treated members, in ``months``."""

    treated: np.ndarray
    months: tuple[int, ...]
    amount: float
    component: int = 1  # index into rev_voice, rev_data, rev_sms, rev_vas


@dataclass
class MonthTotals:
    """Aggregates of one month, by region position and by channel position."""

    billed: np.ndarray
    new: np.ndarray
    churned: np.ndarray
    revenue: np.ndarray
    channel_revenue: np.ndarray


@dataclass
class Billing:
    """State and results of the billing pass."""

    drops: list[RevenueDrop]
    uplift: Uplift | None = None
    value_from: int = 0  # first month of the net-value window
    farm_usage: str = "a"  # "a": almost none; "b": small but real use
    #: Planted revenue leakage (``data_access.synth.leakage.Leakage``), applied last.
    leaks: Any = None
    revenue3: np.ndarray | None = field(default=None, repr=False)
    service3: np.ndarray | None = field(default=None, repr=False)
    #: Cost to serve: fixed yuan a month, yuan per minute, yuan per GB (the variant's).
    serve: tuple[float, float, float] = (4.0, 0.012, 1.0)


def bill_month(rng: np.random.Generator, cal: Calendar, dims: Dimensions, pop: Population,
               beh: Behaviour, billing: Billing, t: int) -> tuple[pd.DataFrame, MonthTotals]:
    """The fact rows of month ``t`` and the month's aggregates."""
    k, moy, age = t - cal.first, t % 12, t - TREND_ORIGIN
    billed = np.flatnonzero((pop.join <= t) & (pop.churn > t))
    m = billed.size
    d = beh.latent[k, billed].astype(np.float64)
    gross = pop.level[billed] * np.exp(d + rng.normal(0.0, 0.06, m)) * REVENUE_SEASON[moy]
    factors = np.exp(COMPONENT_TREND * age) * np.array([1.0, DATA_REVENUE_SEASON[moy], 1.0, 1.0])
    parts = (gross[:, None] * pop.shares[billed] * factors
             * np.exp(rng.normal(0.0, 0.05, (m, 4))))
    discount = np.where(beh.discounted[k, billed], pop.disc_rate[billed], 0.0) * parts.sum(axis=1)
    up = billing.uplift
    if up is not None and t in up.months:
        parts[:, up.component] += up.amount * up.treated[billed]
    for drop in billing.drops:
        for month, factor in drop.ramp:
            if month == t:
                hit = drop.mask[billed]
                parts[hit] *= factor
                discount[hit] *= factor
        if drop.month == t:
            hit = drop.mask[billed]
            before = parts[hit].sum() - discount[hit].sum()
            parts[hit] *= drop.factor
            discount[hit] *= drop.factor
            drop.revenue_before, drop.subscribers = float(before), int(hit.sum())
            drop.lost = float(before * (1 - drop.factor))
    if billing.leaks is not None:
        billing.leaks.apply(t, billed, parts, discount, pop.disc_rate[billed].astype(np.float64))
    mou = (pop.mou_level[billed] * np.exp(d + rng.normal(0.0, 0.12, m)) * MOU_SEASON[moy]
           * np.exp(MOU_TREND * age))
    data_mb = (pop.data_level[billed] * np.exp(0.6 * d + rng.normal(0.0, 0.15, m))
               * DATA_MB_SEASON[moy] * np.exp(DATA_MB_TREND * age))
    sms = rng.poisson(pop.sms_level[billed] * np.exp(SMS_TREND * age)).astype(np.float64)
    fixed, per_min, per_gb = billing.serve
    # Care (by segment) and the network: a share of what the customer pays goes to serving them.
    service = ((pop.svc_base[billed] + fixed) * rng.uniform(0.8, 1.2, m)
               + per_min * mou + per_gb * data_mb / 1024
               + (rng.random(m) < pop.vip_p[billed]) * rng.uniform(100.0, 300.0, m))
    farmed = pop.farmed[billed]
    if farmed.any() and billing.farm_usage == "b":  # a little real use, to look alive
        f = int(farmed.sum())
        parts[farmed] = np.column_stack([rng.uniform(1.2, 2.4, f), rng.uniform(1.5, 2.5, f),
                                         rng.uniform(0.1, 0.3, f), np.zeros(f)])
        discount[farmed] = 0.0
        mou[farmed] = rng.uniform(8.0, 25.0, f)
        data_mb[farmed] = rng.uniform(40.0, 300.0, f)
        sms[farmed] = rng.integers(1, 6, f)
        service[farmed] = rng.uniform(0.4, 1.0, f)
    elif farmed.any():  # numbers that exist only for the commission: almost no use
        f = int(farmed.sum())
        parts[farmed] = np.column_stack([rng.uniform(0, 0.5, f), rng.uniform(0.5, 2.0, f),
                                         rng.uniform(0, 0.2, f), np.zeros(f)])
        discount[farmed] = 0.0
        mou[farmed] = rng.uniform(0.0, 4.5, f)
        data_mb[farmed] = rng.uniform(0.0, 18.0, f)
        sms[farmed] = rng.integers(0, 3, f)
        service[farmed] = 0.3
    parts, discount = np.round(parts, 2), np.round(discount, 2)
    revenue = np.round(parts.sum(axis=1) - discount, 2)
    is_new = pop.join[billed] == t
    frame = pd.DataFrame({
        "month": np.full(m, np.datetime64(month_start(t), "D")),
        "subscriber_id": billed.astype(np.int64) + 1,
        **{name: parts[:, i] for i, name in enumerate(_PARTS)},
        "discount": discount, "revenue": revenue,
        "mou": np.round(mou, 1), "data_mb": np.round(data_mb, 1), "sms_cnt": sms,
        "service_cost": np.round(service, 2), "is_new": is_new,
    })
    if t >= billing.value_from:
        billing.revenue3[billed] += revenue
        billing.service3[billed] += np.round(service, 2)
    regions, channels = len(dims.regions), len(dims.channels)
    region = pop.region[billed]
    totals = MonthTotals(
        billed=np.bincount(region, minlength=regions),
        new=np.bincount(region[is_new], minlength=regions),
        churned=np.bincount(pop.region[pop.churn == t], minlength=regions),
        revenue=np.bincount(region, weights=revenue, minlength=regions),
        channel_revenue=np.bincount(pop.channel[billed], weights=revenue, minlength=channels),
    )
    return frame, totals

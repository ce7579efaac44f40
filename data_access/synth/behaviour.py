"""Pass one of the simulation: spending trends, discount contracts and churn from a known model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from data_access.synth.calendar import (CHURN_SEASON, DATA_MB_SEASON, DATA_MB_TREND, MOU_SEASON,
                                        MOU_TREND, TREND_ORIGIN, Calendar)
from data_access.synth.dims import FRANCHISE, SOCIAL, YOUTH, Dimensions
from data_access.synth.population import Population
from data_access.synth.variants import VARIANT_A, Variant

#: Spending trend: AR(1) on the log scale, plus occasional disengagement episodes.
RHO, SIGMA = 0.85, 0.07
EPISODE_START, EPISODE_DRIFT, EPISODE_MONTHS = 0.012, 0.12, 3
#: Share of discount contracts renewed when they end.
RENEWAL = 0.75
#: The churn model: logit P(churn_month = t + 1 | billed in t) = intercept + season + sum(coef * x).
CHURN_INTERCEPT = -6.75
CHURN_COEF = {
    "decline3": 5.0,  # 1 - spend level now / three months ago, clipped to 0..1
    "discount_ending": 1.5,  # a discount contract's last month (not renewed)
    "competitor_pressure": 0.5,  # rival events in the region (decaying over 3 months)
    "short_tenure": 1.2,  # fewer than 6 months since joining
    "low_mou": 0.8,  # expected MOU this month below 100 minutes
    "no_group": 0.9,  # not a member of an enterprise group
    "social_outlet": 0.6,  # activated through a social outlet
    "prepaid": 1.0,  # on a prepaid plan
    "youth": 0.4,  # youth segment
}
LOW_MOU, SHORT_TENURE = 100.0, 6
#: Variant b's churn model: other drivers, smooth shapes and an interaction (see churn_logit_b).
CHURN_INTERCEPT_B = -6.6
CHURN_COEF_B = {
    "spend_fall2": 3.0,  # (fall of the spend level over two months / 25%) ** 1.5, capped at 1
    "quota_pressure": 1.4,  # logistic in expected data use / quota, centred at 70%
    "prepaid_youth": 1.3,  # a prepaid plan AND the youth segment (interaction only)
    "age_curve": 0.7,  # ((age - 42) / 18) ** 2, capped at 2: the young and the old leave more
    "competitor_pressure": 0.8,  # rival events, decaying 0.7 a month over five months
    "franchise": 0.7,  # activated through a franchise hall
    "new_customer": 1.1,  # exp(-months since joining / 3)
    "in_group": -0.9,  # member of an enterprise group
}
SPEND_FALL_SCALE, QUOTA_CENTRE, QUOTA_SLOPE, AGE_CENTRE, AGE_SCALE = 0.25, 0.7, 6.0, 42.0, 18.0

#: Called each month with (month, billed positions, true churn probabilities).
MonthSink = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass
class Behaviour:
    """Per month and subscriber: the spending trend (log scale) and whether a discount applies."""

    latent: np.ndarray  # float32, (months, subscribers)
    discounted: np.ndarray  # bool, (months, subscribers)
    mean_prob: list[float]


def simulate_behaviour(rng: np.random.Generator, cal: Calendar, dims: Dimensions, pop: Population,
                       pressure: np.ndarray, sink: MonthSink,
                       progress: Callable[[int], None], variant: Variant = VARIANT_A,
                       extra_logit: np.ndarray | None = None) -> Behaviour:
    """Walk the window month by month, drawing churn into ``pop.churn``.

    ``pressure`` is the competitor pressure per region position and window month. ``sink``
    receives every month's billed subscribers and their true churn probabilities (campaign
    enrolment and the truth table hang off it). ``extra_logit`` (region positions × window
    months) is added to the churn log-odds: the planted network trouble.
    """
    n = pop.n
    latent = np.empty((len(cal), n), dtype=np.float32)
    discounted = np.empty((len(cal), n), dtype=bool)
    d = rng.normal(0.0, SIGMA / np.sqrt(1 - RHO**2), n)
    ring = np.empty((4, n), dtype=np.float32)  # the last four months of d
    ring[(cal.first - 3) % 4] = d
    episode = np.zeros(n, dtype=np.int8)
    kind = dims.channels["type_code"].to_numpy()[pop.channel]
    prepaid = np.isin(pop.plan, dims.plans.loc[dims.plans["plan_family"] == "prepaid", "plan_id"])
    fixed = (CHURN_COEF["no_group"] * (pop.group == 0) + CHURN_COEF["social_outlet"] * (kind == SOCIAL)
             + CHURN_COEF["prepaid"] * prepaid + CHURN_COEF["youth"] * (pop.segment == YOUTH))
    mean_prob = []
    for t in range(cal.first - 2, cal.last + 1):
        starting = (episode == 0) & (rng.random(n) < EPISODE_START)
        episode[starting] = EPISODE_MONTHS
        d = RHO * d + SIGMA * rng.standard_normal(n) - EPISODE_DRIFT * (episode > 0)
        episode = np.maximum(episode - 1, 0).astype(np.int8)
        ring[t % 4] = d
        if t < cal.first:
            continue
        k = t - cal.first
        latent[k] = d
        billed = np.flatnonzero((pop.join <= t) & (pop.churn > t))
        ending = _discount_contracts(rng, pop, billed, t)
        discounted[k] = (pop.disc_rate > 0) & (pop.disc_end > t)
        lag = np.clip(t - pop.join[billed], 0, 3)
        decline = np.clip(1.0 - np.exp(ring[t % 4, billed] - ring[(t - lag) % 4, billed]), 0.0, 1.0)
        mou = (pop.mou_level[billed] * np.exp(ring[t % 4, billed]) * MOU_SEASON[t % 12]
               * np.exp(MOU_TREND * (t - TREND_ORIGIN)))
        if variant.name == "a":
            logit = (CHURN_INTERCEPT + CHURN_SEASON[t % 12] + fixed[billed]
                     + CHURN_COEF["decline3"] * decline
                     + CHURN_COEF["discount_ending"] * ending
                     + CHURN_COEF["competitor_pressure"] * pressure[pop.region[billed], k]
                     + CHURN_COEF["short_tenure"] * (t - pop.join[billed] < SHORT_TENURE)
                     + CHURN_COEF["low_mou"] * (mou < LOW_MOU))
        else:
            logit = churn_logit_b(dims, pop, billed, t, ring, pressure[pop.region[billed], k],
                                  kind[billed], prepaid[billed])
        if extra_logit is not None:
            logit = logit + extra_logit[pop.region[billed], k]
        prob = 1.0 / (1.0 + np.exp(-logit))
        farmed = pop.farmed[billed]
        if farmed.any():  # farmed numbers are dropped after three or four months, not modelled
            months_billed = t - pop.join[billed] + 1
            if variant.name == "a":
                prob = np.where(farmed, np.select([months_billed == 3, months_billed >= 4],
                                                  [0.5, 1.0], 0.0), prob)
            else:  # dropped after one of farm_churn_after months, each equally likely
                after = variant.farm_churn_after
                left = len(after) - (months_billed - after[0])
                prob = np.where(farmed, np.where(months_billed >= after[0],
                                                 1.0 / np.maximum(left, 1), 0.0), prob)
        mean_prob.append(float(prob.mean()))
        sink(t, billed, prob)
        if t < cal.last:  # churn after the latest month is not yet known
            leaving = billed[(rng.random(billed.size) < prob) & ~farmed]
            pop.churn[leaving] = t + 1
        progress(k)
    return Behaviour(latent, discounted, mean_prob)


def churn_logit_b(dims: Dimensions, pop: Population, billed: np.ndarray, t: int,
                  ring: np.ndarray, pressure: np.ndarray, kind: np.ndarray,
                  prepaid: np.ndarray) -> np.ndarray:
    """Variant b's churn log-odds of the ``billed`` subscribers in month ``t``.

    No discount, low-usage or social-outlet effect; a convex response to a two-month fall in
    spend, a logistic response to data use near the plan's quota, an interaction of prepaid
    plans with youth, a U-shape in age, a smooth new-customer effect and franchise halls.
    """
    c = CHURN_COEF_B
    lag = np.clip(t - pop.join[billed], 0, 2)
    fall = np.clip((ring[(t - lag) % 4, billed] - ring[t % 4, billed]) / SPEND_FALL_SCALE, 0, 1)
    quota = dims.plans.set_index("plan_id")["data_quota_mb"].reindex(pop.plan[billed]).to_numpy()
    data = (pop.data_level[billed] * np.exp(0.6 * ring[t % 4, billed]) * DATA_MB_SEASON[t % 12]
            * np.exp(DATA_MB_TREND * (t - TREND_ORIGIN)))
    pressure_on_quota = 1 / (1 + np.exp(-QUOTA_SLOPE * (data / quota - QUOTA_CENTRE)))
    age = np.minimum(((pop.age[billed] - AGE_CENTRE) / AGE_SCALE) ** 2, 2.0)
    tenure = (t - pop.join[billed]).astype(float)
    return (CHURN_INTERCEPT_B + CHURN_SEASON[t % 12] + c["spend_fall2"] * fall**1.5
            + c["quota_pressure"] * pressure_on_quota
            + c["prepaid_youth"] * (prepaid & (pop.segment[billed] == YOUTH))
            + c["age_curve"] * age + c["competitor_pressure"] * pressure
            + c["franchise"] * (kind == FRANCHISE) + c["new_customer"] * np.exp(-tenure / 3)
            + c["in_group"] * (pop.group[billed] > 0))


def _discount_contracts(rng: np.random.Generator, pop: Population, billed: np.ndarray,
                        t: int) -> np.ndarray:
    """Renew some contracts ending after this month; flag the others (their last month)."""
    due = (pop.disc_rate[billed] > 0) & (pop.disc_end[billed] == t + 1)
    renew = billed[due][rng.random(int(due.sum())) < RENEWAL]
    pop.disc_end[renew] += 12
    return (pop.disc_rate[billed] > 0) & (pop.disc_end[billed] == t + 1)

"""Generated churn tables of different shapes, to compare estimators off the demo mart.

An operator's churn table may be wide and mostly additive (many usage and billing columns,
each nudging the risk) or narrow with thresholds and interactions (contract ends × price
rise). Each generator returns a raw frame (skewed amounts, gaps, text categories with rare
values and a few values that appear only in the later rows), binary labels and the true
probabilities, so an estimator can be judged against the oracle as well as the baselines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

SHAPES = ("wide_additive", "narrow_interactions")


@dataclass(frozen=True)
class ChurnTable:
    """A generated table: features, labels and the true churn probabilities."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    prob: np.ndarray


def _categories(rng: np.random.Generator, n: int, count: int, prefix: str) -> np.ndarray:
    weights = rng.dirichlet(np.full(count, 0.6))
    return np.array([f"{prefix}{i:02d}" for i in range(count)], dtype=object)[
        rng.choice(count, n, p=weights)]


def _with_gaps(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    out = values.astype(float).copy()
    out[rng.random(len(out)) < share] = np.nan
    return out


def _calibrate_rate(z: np.ndarray, rate: float) -> np.ndarray:
    """Shift logits so that the mean probability is ``rate``."""
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if expit(z + mid).mean() < rate else (low, mid)
    return expit(z + (low + high) / 2)


def wide_additive(n: int, random_state: int = 0, *, rate: float = 0.08) -> ChurnTable:
    """Thirty columns whose effects add up on the log-odds scale, several through log amounts.

    Amounts are log-normal (spend, minutes, data, top-ups), some columns have gaps, a region
    column has forty values of very different sizes, and effects are smooth but not linear in
    the raw amounts.
    """
    rng = np.random.default_rng(random_state)
    X = pd.DataFrame({"tenure_months": rng.gamma(1.5, 18.0, n).round()})
    z = -0.9 * np.log1p(X["tenure_months"].to_numpy() / 6)
    for i in range(8):  # amounts: risk falls with the log of spend, rises with its fall
        amount = rng.lognormal(3.5 + 0.2 * i, 1.0, n)
        X[f"amount_{i}"] = _with_gaps(rng, amount, 0.04 * (i % 3))
        z += (0.35 if i % 2 else -0.35) * (np.log(amount) - 3.5 - 0.2 * i)
    for i in range(8):  # trends in [-1, 1]
        trend = np.tanh(rng.normal(0.0, 0.4, n))
        X[f"trend_{i}"] = trend
        z += -1.2 * np.minimum(trend, 0) * (1 if i < 4 else 0.3)
    for i in range(10):  # noise columns
        X[f"noise_{i}"] = rng.normal(size=n) if i % 2 else rng.lognormal(0, 1.5, n)
    region = _categories(rng, n, 40, "region_")
    effect = dict(zip(np.unique(region), rng.normal(0.0, 0.5, 40), strict=False))
    X["region"] = region
    X["plan"] = rng.choice(np.array(["prepaid", "postpaid", "family", "data"], dtype=object), n,
                           p=[0.3, 0.4, 0.1, 0.2])
    z += np.vectorize(effect.get)(region) + np.where(X["plan"] == "prepaid", 0.7, 0.0)
    prob = _calibrate_rate(z, rate)
    return ChurnTable("wide_additive", X, (rng.random(n) < prob).astype(int), prob)


def narrow_interactions(n: int, random_state: int = 0, *, rate: float = 0.10) -> ChurnTable:
    """Eight columns where risk comes from thresholds and their combinations.

    A contract in its last month matters only without a loyalty benefit; a price rise matters
    only on some plans; heavy data users near their quota leave, light ones do not.
    """
    rng = np.random.default_rng(random_state)
    months_left = rng.integers(0, 24, n)
    benefit = rng.random(n) < 0.3
    price_rise = rng.lognormal(0.0, 0.8, n) - 1.0
    plan = rng.choice(np.array(["A", "B", "C", "D", "E"], dtype=object), n)
    quota_use = rng.beta(2, 2, n) * 1.3
    data_gb = rng.lognormal(1.5, 1.0, n)
    complaints = rng.poisson(0.3, n)
    channel = _categories(rng, n, 12, "ch_")
    late = np.arange(n) >= int(0.85 * n)  # the last rows bring channels never seen before
    channel[late & (rng.random(n) < 0.2)] = "ch_new"
    z = (-0.5 + 2.2 * ((months_left == 0) & ~benefit)
         + 1.6 * ((price_rise > 0.3) & np.isin(plan, ["A", "C"]))
         + 1.8 * ((quota_use > 0.95) & (data_gb > 5.0))
         + 0.9 * (complaints >= 2) - 0.8 * benefit)
    X = pd.DataFrame({
        "months_left": months_left.astype(float), "loyalty_benefit": benefit,
        "price_rise": _with_gaps(rng, price_rise, 0.05), "plan": plan,
        "quota_use": quota_use, "data_gb": data_gb, "complaints": complaints.astype(float),
        "channel": channel,
    })
    prob = _calibrate_rate(z, rate)
    return ChurnTable("narrow_interactions", X, (rng.random(n) < prob).astype(int), prob)


def make_churn_table(shape: str, n: int = 20_000, random_state: int = 0) -> ChurnTable:
    """One generated table by shape name (see ``SHAPES``).

    Examples
    --------
    >>> table = make_churn_table("narrow_interactions", 1000, random_state=1)
    >>> table.X.shape, table.y.shape
    ((1000, 8), (1000,))
    """
    if shape not in SHAPES:
        raise ValueError(f"Unknown table shape {shape!r}; choose one of {', '.join(SHAPES)}")
    return (wide_additive if shape == "wide_additive" else narrow_interactions)(n, random_state)

"""Causal anomaly scores in [0, 1] for KPI series of any frequency, without per-series tuning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from analytics.anomaly.forecast import check_series, forecast_one_step

#: Score at and above which a point is flagged: a robust z of 4.
DEFAULT_THRESHOLD = 0.9
_Z_AT_THRESHOLD = 4.0
_FULL_ERRORS = 20   # errors behind the scale before scores reach full strength
# score = 1 − exp(−(|z| / _WIDTH)³), _WIDTH = 3.03: 0.5 at |z| = 2.65, 0.9 at 4, 0.95 at 4.4
_WIDTH = _Z_AT_THRESHOLD / math.log(10) ** (1 / 3)
_COUNT_WINDOW = 400  # past errors behind a count series' dispersion and rate floor
_DISPERSED = 0.5     # squared errors / expected counts at least this: counts, not a stock
_RUN = 3             # longest run of same-way surprises of a count series judged together
_FORECAST_NOISE = 0.75  # the forecast's own error variance over a point's (measured on Poisson)


def scores_from_z(z: np.ndarray | pd.Series | float) -> np.ndarray:
    """Map robust z-scores to [0, 1]: 1 − exp(−(|z| / 3.03)³); NaN maps to 0.

    Ordinary noise (|z| < 2.65, 99% of a normal distribution) scores below 0.5, |z| = 4
    scores 0.9 (:data:`DEFAULT_THRESHOLD`) and |z| = 5 scores 0.99.

    >>> scores_from_z(np.array([0.0, 2.0, 4.0, 5.0, np.nan])).round(3).tolist()
    [0.0, 0.25, 0.9, 0.989, 0.0]
    """
    z = np.minimum(np.abs(np.asarray(z, dtype=float)), 1e6)  # beyond this the score is 1.0
    return np.where(np.isnan(z), 0.0, -np.expm1(-((z / _WIDTH) ** 3)))


def anomaly_scores(series: pd.Series, *, season: str | int | None = "auto") -> pd.Series:
    """Score how surprising each point is given the points before it, from 0 to 1.

    A point's error against its causal one-step-ahead expected value
    (:func:`analytics.anomaly.forecast.forecast_one_step`: a trimmed running level, offsets of the
    same phase in past cycles, bias correction, the model chosen by recent accuracy) is
    divided by the robust scale of that model's past errors (1.4826 × median absolute
    error), and the robust z is mapped to [0, 1] by :func:`scores_from_z`.

    Count series (every value so far a non-negative integer, and errors at least as wide as
    Poisson noise) are judged by the tail probability of a count distribution instead: mean
    the expected value (floored by the mean absolute error, so a mostly-zero series expects
    its occasional 1), variance the model's squared scale net of the forecast's own noise,
    at least the mean (Poisson, else negative binomial); a run of up to 3 points surprising
    the same way is judged together. The probability is read as a one-sided normal z.

    - Causal: a point's score is the same whether or not later points exist.
    - Scale-free: multiplying the series or adding a constant leaves the scores unchanged
      (up to rounding); nothing is tuned per series.
    - A spike scores high and does not poison later points: the level is a trimmed mean, the
      scale a median, and a value found anomalous is not used as a seasonal reference.
    - A level shift scores high on its first 3 to 4 points; then the running level has moved
      and the new level is normal.
    - Warm-up: a model gives no scale before 6 errors, so at least the first 7 points score
      0; scores grow to full strength over the first 20 errors. Seasonal patterns are learnt
      from the cycles seen: the first weekend of an hourly series, or the first December of
      a monthly one, can score high.
    - Missing values (NaN, NA, ±inf) score 0.0, so that alerts never fire on missing data.

    Parameters
    ----------
    series : Series
        Numbers indexed by a sorted DatetimeIndex without repeats, any frequency from minutes
        to months, regular or not; gaps and NaN are allowed.
    season : 'auto', None, 'day', 'week', 'year' or int
        Seasonality to model (see :func:`analytics.anomaly.forecast.forecast_one_step`).

    Returns
    -------
    Series
        Same index and name, floats in [0, 1].

    Raises
    ------
    ValueError
        (:class:`analytics.anomaly.forecast.SeriesError`) naming the problem: no DatetimeIndex, an
        unsorted or repeated index, non-numeric values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = pd.Series(100 + rng.normal(0, 1, 60), index=pd.date_range("2026-01-01", periods=60))
    >>> s.iloc[50] = 110
    >>> scores = anomaly_scores(s)
    >>> bool(scores.iloc[50] > 0.99), bool(scores.drop(s.index[50]).max() < 0.9)
    (True, True)
    """
    values = check_series(series, "anomaly_scores")
    frame = forecast_one_step(series, season=season)
    expected = frame["expected"].to_numpy()
    error = values - expected
    scale = frame["scale"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(error == 0, 0.0, error / scale)  # a zero scale makes any change infinite
    valid = ~np.isnan(values)
    z[valid] = _count_z(values[valid], expected[valid], scale[valid], z[valid])
    z = z * np.minimum(frame["errors"].to_numpy() / _FULL_ERRORS, 1.0)
    return pd.Series(scores_from_z(z), index=series.index, name=series.name)


def _past_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of the ``window`` values before each position (NaN counts as 0)."""
    seen = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values))])
    here = np.arange(len(values))
    return seen[here] - seen[np.maximum(here - window, 0)]


def _counts_regime(y: np.ndarray, expected: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Where a series reads as event counts, judged from the points up to each one.

    Every value so far a non-negative integer, and the past squared errors at least half the
    expected counts (Poisson noise at least): a stock such as a subscriber base moves far less
    than the square root of its size, and a constant integer series does not move at all.
    Half a pseudo-count on each side lets a series of zeros read as (rare) counts.
    """
    integer = np.cumsum((y < 0) | (y != np.floor(y))) == 0
    squared = _past_sum(error ** 2, _COUNT_WINDOW)
    level = _past_sum(np.fmax(expected, 0.0), _COUNT_WINDOW)
    return integer & ((squared + 0.5) >= _DISPERSED * (level + 0.5))


def _tail_p(x: np.ndarray, mean: np.ndarray, variance: np.ndarray,
            up: np.ndarray) -> np.ndarray:
    """P(X ≥ x) where ``up``, else P(X ≤ x), for a count X of this mean and variance: Poisson,
    or a negative binomial where the variance exceeds the mean."""
    mean = np.maximum(mean, 1e-12)
    over = variance > mean * (1 + 1e-9)
    p = np.where(up, stats.poisson.sf(x - 1, mean), stats.poisson.cdf(x, mean))
    if over.any():
        m, v, k, u = mean[over], variance[over], x[over], up[over]
        size, prob = m * m / (v - m), m / v
        p[over] = np.where(u, stats.nbinom.sf(k - 1, size, prob), stats.nbinom.cdf(k, size, prob))
    return p


def _count_z(y: np.ndarray, expected: np.ndarray, scale: np.ndarray,
             z: np.ndarray) -> np.ndarray:
    """``z`` with the points of count series replaced by the normal z of a count tail.

    Expected count: the forecast, floored by the mean absolute error of the last 400 errors
    (with half a pseudo-count), so that a mostly-zero series whose forecast is 0 still
    expects its occasional 1. Variance: the squared model scale less the forecast's own noise
    (on Poisson series the squared scale is about 1.75 × the mean), at least the mean.
    A run of up to 3 points surprising the same way is judged by its least surprising point:
    k points each with a tail probability of at most p happen with probability p^k.
    """
    error = y - expected
    counts = _counts_regime(y, expected, error) & np.isfinite(scale) & np.isfinite(expected)
    if not counts.any():
        return z
    size = np.abs(error)
    rate = (_past_sum(size, _COUNT_WINDOW) + 0.5) / (
        np.minimum(np.arange(len(y)), _COUNT_WINDOW) + 1)
    mean = np.fmax(expected, rate)[counts]
    x = y[counts]
    way = np.sign(x - mean)
    p = _tail_p(x, mean, np.fmax(scale[counts] ** 2 / (1 + _FORECAST_NOISE), mean), way > 0)
    p = np.where(way == 0, 1.0, np.minimum(p, 1.0))
    own = np.where(counts, 0.0, np.nan)
    own[counts] = way * np.maximum(stats.norm.isf(p), 0.0)
    worst = np.where(counts, 1.0, np.nan)
    worst[counts] = np.where(way == 0, 1.0, p)
    sign = np.sign(np.nan_to_num(own))
    best = np.abs(np.nan_to_num(own))
    for k in range(2, _RUN + 1):
        same = np.ones(len(y), bool)
        least = worst.copy()
        for lag in range(1, k):
            shifted_sign = np.concatenate([np.zeros(lag), sign[:-lag]])
            shifted_p = np.concatenate([np.full(lag, np.nan), worst[:-lag]])
            same &= (shifted_sign == sign) & (sign != 0)
            least = np.fmax(least, shifted_p)
        run = np.where(same & np.isfinite(least), stats.norm.isf(least ** k), 0.0)
        best = np.where(counts, np.maximum(best, np.maximum(run, 0.0)), best)
    return np.where(counts, sign * best, z)


class AnomalyDetector:
    """Flag anomalous points of KPI series: :func:`anomaly_scores` at a threshold.

    The scores need no training: ``fit`` only checks the parameters (and the series, if
    given) and returns ``self``.

    Parameters
    ----------
    threshold : float
        Points scoring at least this are flagged (0 < threshold ≤ 1).
    season : 'auto', None, 'day', 'week', 'year' or int
        As for :func:`anomaly_scores`.

    Examples
    --------
    >>> s = pd.Series([5.0, 5.2, 4.9, 5.1, 5.0, 4.8, 5.1, 5.0, 4.9, 5.2] * 3 + [9.0],
    ...               index=pd.date_range("2026-01-01", periods=31))
    >>> AnomalyDetector().fit().flag(s).iloc[-3:].tolist()
    [False, False, True]
    """

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD,
                 season: str | int | None = "auto") -> None:
        self.threshold = threshold
        self.season = season

    def fit(self, series: pd.Series | None = None, y: object = None) -> AnomalyDetector:
        """Check the parameters (and ``series``, if given); nothing is learned."""
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if series is not None:
            check_series(series)
        self.fitted_ = True
        return self

    def score(self, series: pd.Series) -> pd.Series:
        """:func:`anomaly_scores` of ``series``."""
        if not getattr(self, "fitted_", False):
            self.fit()
        return anomaly_scores(series, season=self.season)

    def flag(self, series: pd.Series) -> pd.Series:
        """True where the score reaches the threshold."""
        return (self.score(series) >= self.threshold).rename(series.name)

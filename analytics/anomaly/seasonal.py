"""The engine behind :mod:`analytics.anomaly.forecast`: running level, seasonal offsets, error scales."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_LEVEL = 5          # points in the running level (trimmed: a spike does not move it)
_BIAS = 24          # past errors whose median corrects the model's bias (the lag of a trend)
_SCALE = 400        # past errors behind the robust scale (stable: few false alarms)
_RECENT = 50        # and the last few (the scale follows a sudden rise of the noise)
_MIN_ERRORS = 6     # errors needed before a scale is given
_ELIGIBLE = 6       # errors a seasonal model needs before it may replace another
_CLIP = 4.0         # |error| / scale beyond which a value is not trusted as a seasonal reference
_STEP_POINTS = 9    # the first points, whose spacing fixes the series' step once and for all
_DAY = 86_400       # seconds: time is handled in whole seconds (any year, any index unit)


@dataclass(frozen=True)
class _Season:
    """A seasonality: its name, its period and how many past cycles are consulted."""

    name: str
    period: pd.Timedelta | pd.DateOffset | int   # a duration, a calendar offset or a point count
    cycles: int                                  # past cycles whose same phase is consulted


def _times(index: pd.DatetimeIndex) -> np.ndarray:
    """Timestamps as whole seconds (fine for minutes to months, and for any year)."""
    return index.as_unit("s").asi8


def _seconds(delta: pd.Timedelta) -> int:
    return int(delta.total_seconds())


def _cycle(season: _Season, step: float) -> tuple[float, int]:
    """Points in one cycle of ``season`` at this step (s), and its length in s (0: counted)."""
    if isinstance(season.period, int):
        return float(season.period), 0
    length = pd.Timedelta(days=365) if isinstance(season.period, pd.DateOffset) else season.period
    return (_seconds(length) / step if step > 0 else 0.0), _seconds(length)


def _references(index: pd.DatetimeIndex, season: _Season,
                step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same phase in each of the last ``2 × cycles`` cycles: positions before and after it
    and the weight of the one after (equal positions, weight 0 for an exact match), −1 where
    there is none.

    A missing sub-daily slot is interpolated between its neighbours; other frequencies need
    the exact phase (the day before a Monday is no Monday). A reference must lie half a cycle
    before the point, so that its centred level (see :func:`_centred_levels`) is known then.
    """
    ts = _times(index)
    n = len(ts)
    here = np.arange(n)
    points, length = _cycle(season, step)
    shape = (n, 2 * season.cycles)
    before, after, weight = np.full(shape, -1), np.full(shape, -1), np.zeros(shape)
    for k in range(1, 2 * season.cycles + 1):
        if isinstance(season.period, int):
            pos = here - k * season.period
            before[:, k - 1] = after[:, k - 1] = np.where(pos + int(points) // 2 < here, pos, -1)
            continue
        target = (_times(index - season.period * k) if isinstance(season.period, pd.DateOffset)
                  else ts - k * _seconds(season.period))
        right = np.searchsorted(ts, target)
        left = (right - 1).clip(0)
        right = right.clip(max=n - 1)
        gap_right, gap_left = ts[right] - target, target - ts[left]
        exact = np.where((gap_right >= 0) & (gap_right <= step / 2), right,
                         np.where((gap_left >= 0) & (gap_left <= step / 2), left, -1))
        span = ts[right] - ts[left]
        between = (exact < 0) & (step < _DAY) & (gap_left > 0) & (gap_right > 0) \
            & (span <= 2.5 * step)
        lo, hi = np.where(between, left, exact), np.where(between, right, exact)
        known = ts[hi.clip(0)] + length // 2 < ts
        before[:, k - 1] = np.where(known, lo, -1)
        after[:, k - 1] = np.where(known, hi, -1)
        weight[:, k - 1] = np.where(between, gap_left / np.maximum(span, 1), 0.0)
    return before, after, weight


def _centred_levels(y: np.ndarray, index: pd.DatetimeIndex, season: _Season,
                    step: float) -> np.ndarray:
    """The median of the cycle centred on each point (NaN where the cycle is too sparse).

    Over a whole cycle the seasonal shape cancels out, and centring removes a trend's lag.
    A median, not a mean: a missing phase (a gap) would bias a mean by its seasonal offset.
    """
    points, length = _cycle(season, step)
    least = max(int(np.ceil(0.75 * points)), 1)
    if length:
        trailing = pd.Series(y, index=index).rolling(pd.Timedelta(seconds=length))
        end = np.searchsorted(_times(index), _times(index) + length // 2, side="right") - 1
    else:
        trailing = pd.Series(y).rolling(int(points))
        end = np.minimum(np.arange(len(y)) + int(points) // 2, len(y) - 1)
    level = trailing.median().to_numpy()
    level = np.where(trailing.count().to_numpy() >= least, level, np.nan)
    return level[end]


def _row_medians(values: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for an empty row), without a Python loop."""
    ordered = np.sort(values, axis=1)  # NaN sorts last
    count = np.sum(~np.isnan(ordered), axis=1)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
    high = np.take_along_axis(ordered, (count // 2).clip(max=values.shape[1] - 1)[:, None],
                              axis=1)[:, 0]
    return np.where(count > 0, (low + high) / 2, np.nan)


def _past(values: np.ndarray, window: int, how: str, least: int = 1) -> np.ndarray:
    """A rolling statistic of the ``window`` values before each point (NaN values skipped)."""
    stat = getattr(pd.Series(values).rolling(window, min_periods=least), how)()
    return np.concatenate([[np.nan], stat.to_numpy()[:-1]])


def _past_count(values: np.ndarray, window: int) -> np.ndarray:
    """How many of the ``window`` values before each point are not NaN."""
    seen = np.concatenate([[0], np.cumsum(~np.isnan(values))])
    return seen[:-1] - seen[np.maximum(np.arange(len(values)) - window, 0)]


def _running_level(values: np.ndarray) -> np.ndarray:
    """Mean of the last 5 values without the highest and the lowest (their plain mean while
    fewer than 3): a spike does not move it, and unlike a median it does not degrade to a
    single value when the values trend."""
    rolling = pd.Series(values).rolling(_LEVEL, min_periods=1)
    total = rolling.sum().to_numpy()
    count = _past_count(np.append(values, 0.0), _LEVEL)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        trimmed = (total - rolling.max().to_numpy() - rolling.min().to_numpy()) / (count - 2)
        level = np.where(count >= 3, trimmed, total / count)
    return np.concatenate([[np.nan], level[:-1]])


def _errors(y: np.ndarray, predicted: np.ndarray, span: int) -> dict[str, np.ndarray]:
    """The bias-corrected expectation, its errors, their robust scale and how many errors
    the scale rests on.

    The scale is 1.4826 × the median absolute error (the standard deviation for normal
    errors), over the last 400 errors or over the last 50 if that is larger: steady, yet
    quick to follow a rise of the noise.
    """
    bias = np.nan_to_num(_past(y - predicted, _BIAS, "median", least=_MIN_ERRORS))
    expected = predicted + bias
    error = y - expected
    size = np.abs(error)
    count = _past_count(error, _SCALE)
    scale = 1.4826 * np.fmax(_past(size, _SCALE, "median"), _past(size, _RECENT, "median"))
    if (scale[count >= _MIN_ERRORS] == 0).any():
        # Half the errors exactly zero (counts, flat stretches): use the mean absolute error,
        # scaled to a normal distribution's standard deviation.
        scale = np.where(scale > 0, scale, 1.2533 * _past(size, _SCALE, "mean"))
    scale = np.where(count >= _MIN_ERRORS, scale, np.nan)
    return {"expected": expected, "error": error, "scale": scale, "count": count}


def _seasonal(y: np.ndarray, index: pd.DatetimeIndex, season: _Season, step: float,
              references: tuple[np.ndarray, np.ndarray, np.ndarray],
              trusted: np.ndarray) -> np.ndarray:
    """Seasonal offset (median over the references of value − centred level) plus the running
    level of the values net of their offsets."""
    before, after, weight = references
    y_trusted = np.where(trusted, y, np.nan)
    lo, hi = before.clip(0), after.clip(0)

    def offsets_from(centred: np.ndarray) -> np.ndarray:
        deviation = y_trusted - centred
        offsets = np.where((before >= 0) & (after >= 0),
                           (1 - weight) * deviation[lo] + weight * deviation[hi], np.nan)
        # the latest ``cycles`` usable references (further back where recent ones are not)
        usable = np.isfinite(offsets)
        return _row_medians(np.where(usable & (np.cumsum(usable, axis=1) <= season.cycles),
                                     offsets, np.nan))

    # The median of a cycle of raw values jumps between phases when the series trends; the
    # median of the values net of a first estimate of their offsets does not.
    rough = _centred_levels(y_trusted, index, season, step)
    refined = _centred_levels(y_trusted - offsets_from(rough), index, season, step)
    offset = offsets_from(np.where(np.isfinite(refined), refined, rough))
    offset[:_STEP_POINTS] = np.nan  # only the level model until the step is fixed
    level = _running_level(y - offset)
    return offset + level


def _choose(models: list[dict[str, np.ndarray]], forced: bool, span: int) -> np.ndarray:
    """Index of the model each point uses: the forced season where it has a reference, else
    the model with the smallest running mean absolute error (errors clipped at 10 scales, so
    that one anomaly does not decide), seasonal models once they have 6 errors."""
    if len(models) == 1:
        return np.zeros(len(models[0]["expected"]), dtype=int)
    if forced:
        return np.where(np.isfinite(models[1]["expected"]), 1, 0)
    best = np.full(len(models[0]["expected"]), np.inf)
    chosen = np.zeros(len(best), dtype=int)
    for i, m in enumerate(models):
        size = np.abs(m["error"])
        clipped = np.where(m["scale"] > 0, np.fmin(size, 10 * m["scale"]), size)
        running = pd.Series(clipped).ewm(span=span, ignore_na=True).mean().to_numpy()
        running = np.concatenate([[np.nan], running[:-1]])
        better = np.isfinite(running) & (running < best)
        if i:
            better &= np.isfinite(m["expected"]) & (m["count"] >= _ELIGIBLE)
        chosen, best = np.where(better, i, chosen), np.where(better, running, best)
    return chosen

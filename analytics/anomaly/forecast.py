"""Causal one-step-ahead expected values of KPI series, with the scale of their errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.anomaly.seasonal import (_CLIP, _DAY, _LEVEL, _STEP_POINTS, _choose, _cycle, _errors,
                                _references, _row_medians, _running_level, _Season, _seasonal,
                                _seconds, _times)


class SeriesError(ValueError):
    """A series that cannot be analysed; the message says what is wrong with it."""


def check_index(series: object, who: str) -> pd.DatetimeIndex:
    """The index of ``series``, which must be a pandas Series on timestamps with none missing."""
    if not isinstance(series, pd.Series):
        raise SeriesError(f"{who}: expected a pandas Series, got {type(series).__name__}")
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise SeriesError(f"{who}: the index must be a DatetimeIndex, got {type(index).__name__}")
    if index.hasnans:
        raise SeriesError(f"{who}: the index has missing timestamps (NaT)")
    return index


def check_series(series: pd.Series, who: str = "the series") -> np.ndarray:
    """Check a KPI series and return its values as floats (inf and NA become NaN).

    Parameters
    ----------
    series : Series
        Should be numbers indexed by a sorted DatetimeIndex without repeats.
    who : str
        Names the series in error messages.

    Raises
    ------
    SeriesError
        A ``ValueError`` naming the problem: not a Series, no ``DatetimeIndex``, missing,
        unsorted or repeated timestamps, or values that are not numbers.

    Examples
    --------
    >>> check_series(pd.Series([1, None], index=pd.to_datetime(["2026-01-01", "2026-01-02"])))
    array([ 1., nan])
    >>> check_series(pd.Series(["a"], index=pd.to_datetime(["2026-01-01"])), "revenue")
    Traceback (most recent call last):
    ...
    analytics.anomaly.forecast.SeriesError: revenue: values must be numbers, got dtype str
    """
    index = check_index(series, who)
    steps = np.diff(index.asi8)
    if (steps < 0).any():
        at = int(np.argmax(steps < 0))
        raise SeriesError(f"{who}: the index is not sorted: {index[at + 1]} comes after "
                          f"{index[at]}")
    if (steps == 0).any():
        raise SeriesError(f"{who}: the index repeats {index[int(np.argmax(steps == 0))]}")
    dtype = series.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise SeriesError(f"{who}: values must be numbers, got dtype {dtype}")
    values = series.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _seasons(season: str | int | None, step: float) -> tuple[list[_Season], bool]:
    """The seasonal models worth trying for this step (s), and whether ``season`` forces one."""
    sub_daily = step < _DAY
    week = _Season("week", pd.Timedelta(days=7), 3 if sub_daily else 4)
    known = {"day": _Season("day", pd.Timedelta(days=1), 3), "week": week,
             "year": _Season("year", pd.DateOffset(years=1), 3)}
    if season is None or season == "none":
        return [], False
    if season == "auto":
        hours = step / 3600
        if hours <= 6:
            return [known["day"], week], False
        if hours <= 42:
            return [week], False
        return ([known["year"]] if 120 <= hours <= 92 * 24 else []), False
    if isinstance(season, (int, np.integer)) and not isinstance(season, bool):
        if season < 2:
            raise SeriesError(f"season must be at least 2 points, got {season}")
        return [_Season(str(season), int(season), 3)], True
    if season not in known:
        raise SeriesError(f"season must be 'auto', None, 'day', 'week', 'year' or a number of "
                          f"points, got {season!r}")
    chosen = known[str(season)]
    shortest = pd.Timedelta(days=365) if chosen.name == "year" else chosen.period
    if step > 0 and _seconds(shortest) < 2 * step:
        raise SeriesError(f"season {season!r} is shorter than two steps of this series "
                          f"({pd.Timedelta(seconds=step)})")
    return [chosen], True


def forecast_one_step(series: pd.Series, *, season: str | int | None = "auto") -> pd.DataFrame:
    """Each point's expected value from its past alone, and the typical size of such errors.

    Models (a point's expectation uses earlier points only):

    - level: the mean of the last 5 values without the highest and the lowest;
    - seasonal, per period: the median over the same phase in the last cycles (3 days or
      weeks for sub-daily data, a missing slot interpolated; 4 weeks for daily data; 3 years
      for weekly to quarterly data, same calendar date; further back, up to twice as far,
      where recent ones are missing or held back) of the value's offset from the level of
      the cycle centred on it, plus the running level of the values net of their offsets.
      The cycle's level is the median of the values net of a first estimate of their
      offsets: robust to spikes and gaps, and it does not jump between phases on a trend.

    Each expectation is corrected by the median of the model's last 24 errors (a trend's
    lag). The scale is 1.4826 × the median absolute error over the last 400 errors, or over
    the last 50 when larger. With ``season='auto'`` each point takes the model with the
    smallest running mean absolute error (once a seasonal model has 6 errors); a forced
    season is used wherever it has a reference. A value a seasonal model found anomalous
    (error over 4 scales) is not used as a seasonal reference, so a spike or the first points
    of a level shift do not echo a cycle later. The step (median spacing) is set by the
    first 9 points, and only the level model runs on them.

    Parameters
    ----------
    series : Series
        Numbers indexed by a sorted DatetimeIndex without repeats; gaps and NaN are allowed.
    season : 'auto', None, 'day', 'week', 'year' or int
        'auto' tries time of day and weekday for sub-daily data, weekday for daily data and
        calendar month for weekly to quarterly data. An int is a period in points.

    Returns
    -------
    DataFrame
        Same index; ``expected`` (NaN without history or where the value is missing),
        ``scale`` (NaN before 6 errors), ``errors`` (errors behind the scale, up to 400) and
        ``model`` ('level' or the season's name).

    Examples
    --------
    >>> days = pd.date_range("2026-01-05", periods=42, freq="D")   # six weeks from a Monday
    >>> s = pd.Series(np.where(days.day_of_week >= 5, 70.0, 100.0), index=days)
    >>> forecast_one_step(s).iloc[-3:]        # Friday, then a weekend
                expected  scale  errors model
    2026-02-13     100.0    0.0      29  week
    2026-02-14      70.0    0.0      30  week
    2026-02-15      70.0    0.0      31  week
    """
    values = check_series(series, "forecast_one_step")
    valid = ~np.isnan(values)
    index, y = series.index[valid], values[valid]
    n = len(y)
    out = pd.DataFrame({"expected": np.nan, "scale": np.nan, "errors": 0, "model": "level"},
                       index=series.index)
    if n == 0:
        return out
    step = float(np.median(np.diff(_times(index[:_STEP_POINTS])))) if n > 1 else 0.0
    seasons, forced = _seasons(season, step) if n > 1 else ([], False)
    span = int(np.clip(max([0.0] + [3 * _cycle(s, step)[0] for s in seasons]), 20, 3000))
    refs = [_references(index, s, step) for s in seasons]
    models = [_errors(y, _running_level(y), span)]
    models += [_errors(y, _seasonal(y, index, s, step, r, np.ones(n, bool)), span)
               for s, r in zip(seasons, refs)]
    chosen = _choose(models, forced, span)
    pick = {key: np.choose(chosen, [m[key] for m in models]) for key in models[0]}
    # Only a seasonal model's surprises are held back: to the level model a first cycle's
    # seasonal peak looks like a spike, and holding it back would lose the peak.
    doubtful = (chosen > 0) & (np.abs(pick["error"]) > _CLIP * pick["scale"])
    if doubtful.any():
        models[1:] = [_errors(y, _seasonal(y, index, s, step, r, ~doubtful), span)
                      for s, r in zip(seasons, refs)]
        chosen = _choose(models, forced, span)
        pick = {key: np.choose(chosen, [m[key] for m in models]) for key in models[0]}
    out.loc[valid, "expected"] = pick["expected"]
    out.loc[valid, "scale"] = pick["scale"]
    out.loc[valid, "errors"] = pick["count"].astype(int)
    out.loc[valid, "model"] = np.array(["level"] + [s.name for s in seasons])[chosen]
    return out


def expected_values(series: pd.Series, *, season: str | int | None = "auto") -> pd.Series:
    """The causal one-step-ahead expected value of every point.

    See :func:`forecast_one_step` for the method: the same month of up to 3 earlier years
    (its offset from its year's level) on top of the recent level for monthly data, the same
    weekday for daily data, time of day and weekday for sub-daily data, each corrected for a
    trend's lag; the recent level alone while there is no such history or it predicts worse.
    NaN for the first point and where the value is missing.

    Examples
    --------
    >>> months = pd.date_range("2023-01-01", periods=36, freq="MS")
    >>> noise = np.random.default_rng(0).normal(0, 1, 36)
    >>> s = pd.Series(100 + 20 * (months.month == 12) + noise, index=months)
    >>> expected_values(s).iloc[-2:].round(1).tolist()  # Nov, Dec 2025 were 100.2, 120.4
    [99.4, 120.4]
    """
    return forecast_one_step(series, season=season)["expected"].rename(series.name)


def expected_by_member(frame: pd.DataFrame, keys: Sequence[str], value: str, month: object,
                       *, month_column: str = "month", method: str = "seasonal",
                       start: object = None) -> pd.DataFrame:
    """Each member's actual and expected ``value`` in ``month``, from its own earlier months.

    Vectorised across members (one members × months table), for the root-cause localiser's
    leaves. ``method``:

    - 'seasonal' (default): a one-month version of the yearly model of
      :func:`forecast_one_step` (without its bias correction and refined cycle level) — the
      median over up to 3 earlier years of the same month's offset from the median of the 12
      months centred on it, plus the trimmed mean of the last 5 months net of their offsets
      (with less than a year of history: the trimmed mean of the last 5 values);
    - 'last_year': the same month a year earlier; 'last_month': the month before.

    Parameters
    ----------
    frame : DataFrame
        Long: the ``keys`` columns, ``month_column`` (any day of the month) and ``value``;
        several rows of a member and month are summed.
    keys : sequence of str
        Columns that name a member.
    value : str
        The additive measure.
    month : str, date, Timestamp or Period
        The month to explain.
    start : month, optional
        Open the members × months table at this month at the latest (it opens at the
        earliest month in ``frame`` otherwise). Give the first month of a larger frame to get,
        for a subset of its members, exactly the values the whole frame would give them.

    Returns
    -------
    DataFrame
        One row per member seen in ``month`` or before, with ``keys``, ``actual`` (NaN if the
        member has no row in ``month``) and ``expected`` (NaN without history).

    Examples
    --------
    >>> months = pd.period_range("2024-01", "2026-03", freq="M").to_timestamp()
    >>> rows = [{"region": r, "month": m, "revenue": 100.0 + 10 * (m.month == 3)}
    ...         for r in ("north", "south") for m in months]
    >>> out = expected_by_member(pd.DataFrame(rows), ["region"], "revenue", "2026-03")
    >>> out.to_dict("list")
    {'region': ['north', 'south'], 'actual': [110.0, 110.0], 'expected': [110.0, 110.0]}
    """
    keys = list(keys)
    missing = [c for c in [*keys, month_column, value] if c not in frame.columns]
    if missing:
        raise SeriesError(f"the member frame lacks columns: {', '.join(missing)}")
    if method not in ("seasonal", "last_year", "last_month"):
        raise SeriesError(f"method must be 'seasonal', 'last_year' or 'last_month', got {method!r}")
    target = month.asfreq("M") if isinstance(month, pd.Period) else pd.Period(month, freq="M")
    data = frame.assign(_month=pd.to_datetime(frame[month_column]).dt.to_period("M"))
    data = data[data["_month"] <= target]
    wide = data.groupby([*keys, "_month"], observed=True, sort=True)[value].sum().unstack()
    opens = [target] if start is None else [target, pd.Period(start, freq="M")]
    start = min(wide.columns.min(), *opens) if len(wide.columns) else min(opens)
    wide = wide.reindex(columns=pd.period_range(start, target, freq="M"))
    y = wide.to_numpy(dtype=float)
    at = y.shape[1] - 1  # the target month's column
    if method == "seasonal":
        expected = _seasonal_month(y, at)
    else:
        lag = 12 if method == "last_year" else 1
        expected = y[:, at - lag] if at >= lag else np.full(len(y), np.nan)
    out = wide.index.to_frame(index=False)
    return out.assign(actual=y[:, at], expected=expected)


def _seasonal_month(y: np.ndarray, at: int) -> np.ndarray:
    """The yearly model's expectation of column ``at`` of a members × months table."""
    def offset(j: int) -> np.ndarray:  # median offset of month j's column in earlier years
        stack = [np.full(len(y), np.nan)]
        for ref in (j - 12, j - 24, j - 36):
            if ref >= 0 and ref + 6 < at:  # its centred 12 months are known by month ``at``
                cycle = y[:, max(ref - 5, 0): ref + 7]
                enough = np.sum(~np.isnan(cycle), axis=1) >= 9
                centred = np.where(enough, _row_medians(cycle), np.nan)
                stack.append(y[:, ref] - centred)
        return _row_medians(np.column_stack(stack))

    recent = list(range(max(at - _LEVEL, 0), at))
    if not recent:
        return np.full(len(y), np.nan)
    # The level is the trimmed mean of the last months, centred len(recent)/2 months back;
    # a robust slope over the last year carries it forward to ``at``, so growing members are
    # not always read as above expectation.
    ahead = at - np.mean(recent)
    year = list(range(max(at - 12, 0), at))
    adjusted = np.column_stack([y[:, j] - offset(j) for j in recent])
    adjusted_year = np.column_stack([y[:, j] - offset(j) for j in year])
    seasonal = offset(at) + _trimmed_rows(adjusted) + ahead * _slopes(adjusted_year)
    plain = _trimmed_rows(y[:, recent]) + ahead * _slopes(y[:, year])
    return np.where(np.isfinite(seasonal), seasonal, plain)


def _slopes(values: np.ndarray) -> np.ndarray:
    """Each row's Theil–Sen slope per column (median of pairwise slopes; 0 under 6 points)."""
    n = values.shape[1]
    i, j = np.triu_indices(n, k=1)
    enough = np.sum(~np.isnan(values), axis=1) >= 6
    if not len(i) or not enough.any():
        return np.zeros(len(values))
    pairs = (values[enough][:, j] - values[enough][:, i]) / (j - i)
    slope = np.zeros(len(values))
    slope[enough] = np.nanmedian(pairs, axis=1)
    return np.where(np.isfinite(slope), slope, 0.0)


def _trimmed_rows(values: np.ndarray) -> np.ndarray:
    """Each row's mean without its highest and lowest value (plain mean under 3 values)."""
    seen = ~np.isnan(values)
    count = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.nansum(values, axis=1)
        extremes = (np.max(values, axis=1, initial=-np.inf, where=seen)
                    + np.min(values, axis=1, initial=np.inf, where=seen))
        return np.where(count >= 3, (total - extremes) / (count - 2),
                        np.where(count > 0, total / count, np.nan))

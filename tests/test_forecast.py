"""Expected values: causal one-step-ahead forecasts and each member's expected month."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from analytics.anomaly import forecast
from analytics.anomaly.forecast import expected_by_member, expected_values, forecast_one_step


def monthly_series(seed: int, months: int = 72) -> pd.Series:
    """Trend (+0.2% to +1% a month), yearly seasonality (a wave and a December peak), noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2019-01-01", periods=months, freq="MS")
    phase = 2 * np.pi * (index.month - 1) / 12 + rng.uniform(0, 2 * np.pi)
    season = rng.uniform(0.05, 0.15) * np.sin(phase) + (index.month == 12) * rng.uniform(0, 0.1)
    trend = rng.uniform(0.002, 0.01) * np.arange(months)
    noise = rng.normal(0, rng.uniform(0.5, 2.0), months)
    return pd.Series(100 * (1 + trend + season) + noise, index=index, name="revenue")


def test_docstring_examples_run() -> None:
    result = doctest.testmod(forecast)
    assert result.attempted > 0 and result.failed == 0


def test_monthly_expected_values_beat_naive_and_seasonal_naive() -> None:
    ours, naive, seasonal_naive = [], [], []
    for seed in range(30):
        s = monthly_series(seed)
        later = slice(30, None)  # the yearly model takes over after two years and a half
        ours.append((s - expected_values(s)).iloc[later].abs().mean())
        naive.append((s - s.shift(1)).iloc[later].abs().mean())
        seasonal_naive.append((s - s.shift(12)).iloc[later].abs().mean())
    ours, naive, seasonal_naive = map(np.array, (ours, naive, seasonal_naive))
    assert ours.mean() < 0.6 * naive.mean() and ours.mean() < 0.6 * seasonal_naive.mean()
    assert np.mean(ours < np.minimum(naive, seasonal_naive)) >= 0.9


def test_daily_expected_values_follow_the_weekday_pattern() -> None:
    days = pd.date_range("2025-01-06", periods=200, freq="D")
    rng = np.random.default_rng(1)
    weekday = np.array([1.0, 1.02, 1.03, 1.04, 1.1, 0.75, 0.7])[days.day_of_week]
    s = pd.Series(1000 * weekday + np.arange(200) + rng.normal(0, 5, 200), index=days)
    frame = forecast_one_step(s)
    later = frame.index >= days[60]
    assert (frame.loc[later, "model"] == "week").mean() > 0.9
    ours = (s - frame["expected"])[later].abs().mean()
    assert ours < 0.75 * (s - s.shift(7))[later].abs().mean()
    assert ours < 0.2 * (s - s.shift(1))[later].abs().mean()


def test_expected_values_are_causal_and_nan_without_history() -> None:
    s = monthly_series(3)
    s.iloc[[20, 41]] = np.nan
    whole = expected_values(s)
    assert whole.index.equals(s.index) and whole.name == s.name
    assert np.isnan(whole.iloc[0]) and whole.iloc[[20, 41]].isna().all()
    assert whole.drop(s.index[[0, 20, 41]]).notna().all()
    for cut in (1, 2, 5, 9, 10, 13, 25, 40, 60):
        prefix = expected_values(s.iloc[:cut]).to_numpy()
        assert np.array_equal(prefix, whole.iloc[:cut].to_numpy(), equal_nan=True), cut


def test_forced_and_disabled_seasons() -> None:
    s = monthly_series(4)
    assert set(forecast_one_step(s, season=None)["model"]) == {"level"}
    forced = forecast_one_step(s, season="year")["model"]
    assert (forced.iloc[24:] == "year").all()
    counted = forecast_one_step(s, season=12)["model"]
    assert (counted.iloc[24:] == "12").all()
    with pytest.raises(ValueError, match="season"):
        forecast_one_step(s, season="quarter")
    with pytest.raises(ValueError, match="at least 2"):
        forecast_one_step(s, season=1)


def test_scale_is_the_typical_error() -> None:
    s = monthly_series(5, months=120)
    frame = forecast_one_step(s)
    errors = (s - frame["expected"]).iloc[60:]
    typical = frame["scale"].iloc[60:].median()
    assert 0.7 < errors.abs().median() * 1.4826 / typical < 1.4


def members_frame(members: int = 300, months: int = 36, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.period_range("2023-01", periods=months, freq="M").to_timestamp()
    t = np.arange(months)
    base = rng.lognormal(5, 1, members)[:, None]
    shape = 1 + rng.uniform(-0.01, 0.02, members)[:, None] * t \
        + rng.uniform(0, 0.2, members)[:, None] * np.sin(2 * np.pi * t / 12)
    values = base * shape * (1 + rng.normal(0, 0.02, (members, months)))
    return pd.DataFrame({
        "region": np.repeat([f"r{m % 5}" for m in range(members)], months),
        "channel": np.repeat([f"c{m}" for m in range(members)], months),
        "month": np.tile(index, members),
        "revenue": values.ravel(),
    })


def test_expected_by_member_beats_last_month_and_last_year() -> None:
    frame = members_frame()
    keys = ["region", "channel"]
    errors = {}
    for method in ("seasonal", "last_month", "last_year"):
        out = expected_by_member(frame, keys, "revenue", "2025-12", method=method)
        assert len(out) == 300 and list(out.columns) == [*keys, "actual", "expected"]
        errors[method] = ((out["actual"] - out["expected"]).abs() / out["actual"]).mean()
    assert errors["seasonal"] < 0.8 * min(errors["last_month"], errors["last_year"]), errors


def test_expected_by_member_uses_only_earlier_months_and_handles_missing_members() -> None:
    frame = members_frame(members=20, months=30)
    later = frame.assign(revenue=frame["revenue"] * 100)[frame["month"] > "2025-03-01"]
    month = "2025-03"
    base = expected_by_member(frame, ["channel"], "revenue", month)
    with_future = expected_by_member(pd.concat([frame[frame["month"] <= "2025-03-01"], later]),
                                     ["channel"], "revenue", month)
    pd.testing.assert_frame_equal(base, with_future)
    gone = frame[~((frame["channel"] == "c3") & (frame["month"] == "2025-03-01"))]
    new = pd.DataFrame({"channel": ["new"], "month": ["2025-03-01"], "revenue": [5.0]})
    out = expected_by_member(pd.concat([gone, new]), ["channel"], "revenue", month)
    out = out.set_index("channel")
    assert np.isnan(out.loc["c3", "actual"]) and np.isfinite(out.loc["c3", "expected"])
    assert out.loc["new", "actual"] == 5.0 and np.isnan(out.loc["new", "expected"])
    last_year = expected_by_member(frame, ["channel"], "revenue", month, method="last_year")
    a_year_ago = frame[frame["month"] == "2024-03-01"].set_index("channel")["revenue"]
    assert np.allclose(last_year["expected"], a_year_ago.reindex(last_year["channel"]))


def test_expected_by_member_rejects_bad_arguments() -> None:
    frame = members_frame(members=3, months=14)
    with pytest.raises(ValueError, match="lacks columns: segment"):
        expected_by_member(frame, ["segment"], "revenue", "2024-02")
    with pytest.raises(ValueError, match="method"):
        expected_by_member(frame, ["channel"], "revenue", "2024-02", method="prophet")

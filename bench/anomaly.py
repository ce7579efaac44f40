"""Benchmark: anomaly-scoring throughput, and detection quality on generated KPI series.

    python -m bench.anomaly [--runs 5] [--series 60]

Prints each figure and writes the section between the markers in bench/RESULTS.md. Timings
are medians over ``--runs`` runs after one warm-up; the detection figures count points
flagged at ``DEFAULT_THRESHOLD`` on ``--series`` generated series of several shapes (the
generator is also what tests/test_anomaly.py asserts on).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results import RESULTS, record_section
from analytics.anomaly.scores import DEFAULT_THRESHOLD, anomaly_scores

HERE = Path(__file__).resolve().parent
#: Shapes of generated series: frequency, length, seasonality, trend and noise.
SHAPES: tuple[str, ...] = ("15min_daily", "hourly_weekly", "5min_flat", "daily_weekly",
                           "monthly_yearly", "hourly_counts")
_SETTLE = 3  # points after a level shift's first point that are neither normal nor anomalies


@dataclass(frozen=True)
class Case:
    """A generated series, its injected anomalies, and points left out of the counts."""

    shape: str
    series: pd.Series
    anomaly: np.ndarray   # bool: a spike or the first point of a level shift
    ignore: np.ndarray    # bool: the points right after a level shift, still settling


def _intraday(index: pd.DatetimeIndex) -> np.ndarray:
    """A mobile network's daily load: low at night, peaks late morning and evening."""
    hour = np.asarray(index.hour + index.minute / 60)

    def bump(at: float, width: float) -> np.ndarray:
        return np.exp(-(((hour - at) / width) ** 2))

    return 0.55 + 0.35 * bump(11, 3) + 0.45 * bump(20.5, 2.5) - 0.4 * bump(4, 2.5)


def make_case(shape: str, seed: int, *, gaps: float = 0.10) -> Case:
    """One generated series of ``shape`` with spikes, level shifts, gaps and NaN values.

    Spikes are 6 to 12 noise standard deviations, shifts 8 to 15; anomalies are placed after a
    warm-up of three seasonal cycles (30 points for non-seasonal shapes). A share ``gaps`` of
    the timestamps is dropped and 1% of the values become NaN.
    """
    rng = np.random.default_rng(seed)
    if shape == "15min_daily":
        index = pd.date_range("2026-03-02", periods=96 * 35, freq="15min")
        growth = 1 + 0.004 * np.arange(len(index)) / 96
        base, noise, warm = 1000 * _intraday(index) * growth, 12.0, 96 * 3
    elif shape == "hourly_weekly":
        index = pd.date_range("2026-01-05", periods=24 * 7 * 12, freq="h")
        weekend = np.where(index.day_of_week >= 5, 0.8, 1.0)
        base = 500 * _intraday(index) * weekend + 0.05 * np.arange(len(index))
        noise, warm = 8.0, 24 * 7 * 3
    elif shape == "5min_flat":
        index = pd.date_range("2026-05-01", periods=4000, freq="5min")
        base = 50 + np.cumsum(rng.normal(0, 0.05, len(index)))
        noise, warm = 1.0, 30
    elif shape == "daily_weekly":
        index = pd.date_range("2023-01-02", periods=3 * 365, freq="D")
        weekday = np.array([1.0, 1.02, 1.03, 1.04, 1.1, 0.75, 0.7])[index.day_of_week]
        base, noise, warm = 2e4 * weekday * (1 + 0.0004 * np.arange(len(index))), 300.0, 21
    elif shape == "monthly_yearly":
        index = pd.date_range("2016-01-01", periods=120, freq="MS")
        month = np.array([0.95, 0.85, 1.0, 1.0, 1.02, 1.03, 1.05, 1.06, 1.0, 0.98, 1.0, 1.12])
        base = 8e6 * month[index.month - 1] * (1 + 0.006 * np.arange(len(index)))
        noise, warm = 8e4, 36
    elif shape == "hourly_counts":
        index = pd.date_range("2026-02-02", periods=24 * 7 * 10, freq="h")
        base, noise, warm = 60 * _intraday(index), None, 24 * 7 * 3
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    n, base = len(index), np.asarray(base, dtype=float)
    if noise is None:  # Poisson counts: the noise grows with the level
        values = rng.poisson(base).astype(float)
        sigma = np.sqrt(base)
    else:
        values = base + rng.normal(0, noise, n)
        sigma = np.full(n, noise)
    anomaly, ignore = np.zeros(n, bool), np.zeros(n, bool)
    shift_at = int(rng.integers(warm + (n - warm) // 3, n - 20))
    values[shift_at:] += rng.choice([-1, 1]) * rng.uniform(8, 15) * sigma[shift_at]
    anomaly[shift_at], ignore[shift_at + 1: shift_at + 1 + _SETTLE] = True, True
    spikes = rng.choice(np.arange(warm, n), size=max(3, (n - warm) // 250), replace=False)
    spikes = spikes[np.abs(spikes[:, None] - np.flatnonzero(anomaly | ignore)).min(axis=1) > 3]
    size = rng.choice([-1, 1], len(spikes)) * rng.uniform(6, 12, len(spikes))
    values[spikes] += size * sigma[spikes]
    anomaly[spikes] = True
    keep = rng.random(n) >= gaps
    keep[anomaly] = True
    values[keep & ~anomaly & (rng.random(n) < 0.01)] = np.nan
    series = pd.Series(values, index=index, name=shape)[keep]
    return Case(shape, series, anomaly[keep], ignore[keep])


def make_suite(count: int = 60, seed: int = 0, *, gaps: float = 0.10) -> list[Case]:
    """``count`` generated series, cycling through :data:`SHAPES`."""
    return [make_case(SHAPES[i % len(SHAPES)], seed * 10_000 + i, gaps=gaps) for i in range(count)]


def detection(cases: list[Case], threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Points flagged at ``threshold``: true/false positives, misses and the rates, by shape."""
    rows = []
    for case in cases:
        flagged = anomaly_scores(case.series).to_numpy() >= threshold
        counted = ~case.ignore & case.series.notna().to_numpy()
        rows.append({"shape": case.shape,
                     "tp": int(np.sum(flagged & case.anomaly)),
                     "fn": int(np.sum(~flagged & case.anomaly)),
                     "fp": int(np.sum(flagged & ~case.anomaly & counted)),
                     "normal": int(np.sum(~case.anomaly & counted))})
    table = pd.DataFrame(rows).groupby("shape", sort=False).sum()
    table.loc["all"] = table.sum()
    table["precision"] = table["tp"] / (table["tp"] + table["fp"])
    table["recall"] = table["tp"] / (table["tp"] + table["fn"])
    table["f1"] = 2 * table["precision"] * table["recall"] / (table["precision"] + table["recall"])
    table["false_alarm_rate"] = table["fp"] / table["normal"]
    return table


def count_figures(series: int = 200, seed: int = 0) -> dict[str, float]:
    """Count series as the alert scan sees them (daily channel activations).

    ``sparse_share``: share of points scoring at least the threshold over ``series`` series of
    Poisson(0.05–0.4)/day for 400 days (no anomalies); ``busy_share``: the same over 40 series
    of ~17/day with a weekday pattern; ``collapse``: share of those where a last day of 2
    alerts; ``drop_first3``: share where a 70% drop over the last 14 days alerts on one of
    its first 3 days.
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range("2025-01-06", periods=400, freq="D")
    sparse = np.concatenate([anomaly_scores(pd.Series(
        rng.poisson(rng.uniform(0.05, 0.4), 400).astype(float), index=days)).to_numpy()
        for _ in range(series)])
    weekday = np.array([0.9, 0.95, 1.0, 1.0, 1.05, 1.2, 1.1])[days[:240].day_of_week]
    busy, collapse, drop = [], 0, 0
    for _ in range(40):
        mean = 17 * weekday
        calm = pd.Series(rng.poisson(mean).astype(float), index=days[:240])
        scores = anomaly_scores(calm).to_numpy()
        busy.append(scores[:-1])
        calm.iloc[-1] = 2.0
        collapse += anomaly_scores(calm).iloc[-1] >= DEFAULT_THRESHOLD
        mean = mean.copy()
        mean[-14:] *= 0.3
        fall = anomaly_scores(pd.Series(rng.poisson(mean).astype(float), index=days[:240]))
        drop += bool((fall.iloc[-14:-11] >= DEFAULT_THRESHOLD).any())
    return {"sparse_share": float(np.mean(sparse >= DEFAULT_THRESHOLD)),
            "busy_share": float(np.mean(np.concatenate(busy) >= DEFAULT_THRESHOLD)),
            "collapse": collapse / 40, "drop_first3": drop / 40}


def mart_scan(url: str, recent: int = 14) -> dict[str, object]:
    """The alert scan of ``channel_new_activations`` on a generated mart: channels flagged in
    the last ``recent`` days, whether the planted activation drop is among them, run time."""
    import json

    import sqlalchemy as sa

    from analytics.anomaly.alerting import scan_panel
    from data_access.db import create_mart_engine
    from data_access.mart.series import load_series_panel

    engine = create_mart_engine(url, read_only=True)
    with engine.connect() as conn:
        where = conn.execute(sa.text("select where_json from planted_truth "
                                     "where kind = 'activation_drop'")).scalar_one()
    planted = str(json.loads(where)["channel_id"])
    panel = load_series_panel(engine, "channel_new_activations")
    engine.dispose()
    start = time.perf_counter()
    alerts = scan_panel(panel, "new_activations", "channel", recent=recent)
    seconds = time.perf_counter() - start
    flagged = {a["unit_key"] for a in alerts}
    mine = panel[panel["unit"].astype(str) == planted].set_index("time")["value"].sort_index()
    top = float(anomaly_scores(mine).iloc[-recent:].max())
    return {"channels": int(panel["unit"].nunique()), "flagged": len(flagged),
            "alerts": len(alerts), "planted": planted, "planted_flagged": planted in flagged,
            "planted_top": top, "seconds": seconds, "recent": recent}


def _throughput(n: int, freq: str, runs: int) -> float:
    """Median seconds to score an ``n``-point series at ``freq`` (daily load, weekly pattern)."""
    rng = np.random.default_rng(n)
    index = pd.date_range("2000-01-03", periods=n, freq=freq)
    weekday = np.where(index.day_of_week >= 5, 0.8, 1.0)
    series = pd.Series(100 * _intraday(index) * weekday + rng.normal(0, 2, n), index=index)
    anomaly_scores(series)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        anomaly_scores(series)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _detection_rows(table: pd.DataFrame) -> list[str]:
    rows = ["| shape | anomalies | found | false alarms | normal points | precision | recall "
            "| F1 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for shape, r in table.iterrows():
        tp, fn, fp, normal = (int(r[c]) for c in ("tp", "fn", "fp", "normal"))
        rows.append(f"| {shape} | {tp + fn:,} | {tp:,} | {fp:,} | {normal:,} | "
                    f"{r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--series", type=int, default=60)
    parser.add_argument("--mart", default=str(HERE / "out" / "mart_1000000x24.duckdb"),
                        help="a generated DuckDB mart for the alert-scan figures (skipped if absent)")
    args = parser.parse_args(argv)
    speed = ["| points | frequency | median ms | points / s |", "| ---: | --- | ---: | ---: |"]
    for freq, label in (("5min", "5-minute"), ("D", "daily")):
        for n in (1_000, 20_000, 200_000):
            seconds = _throughput(n, freq, args.runs)
            speed.append(f"| {n:,} | {label} | **{seconds * 1000:.1f}** | {n / seconds:,.0f} |")
            print(f"{n:>8,} {label:9s} median {seconds * 1000:8.1f} ms "
                  f"{n / seconds:>12,.0f} points/s", flush=True)
    cases = make_suite(args.series)
    quality = detection(cases)
    print(quality.to_string(float_format=lambda v: f"{v:.4f}"), flush=True)
    no_gaps = detection(make_suite(args.series, gaps=0.0)).loc["all"]
    thresholds = ["| threshold | precision | recall | F1 | false-alarm rate |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
    for threshold in (0.8, 0.85, DEFAULT_THRESHOLD, 0.95, 0.99):
        r = quality.loc["all"] if threshold == DEFAULT_THRESHOLD else \
            detection(cases, threshold).loc["all"]
        thresholds.append(f"| {threshold} | {r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} | "
                          f"{r.false_alarm_rate:.4%} |")
    print("\n".join(thresholds))
    counts = count_figures()
    print(counts, flush=True)
    count_lines = [
        "Count series (daily channel activations; judged by a Poisson or negative-binomial tail "
        "once the series reads as counts):", "",
        "| case | figure |", "| --- | ---: |",
        f"| sparse: 200 series of Poisson(0.05–0.4)/day × 400 days, points ≥ {DEFAULT_THRESHOLD} "
        f"| {counts['sparse_share']:.4%} |",
        f"| busy: 40 series of ~17/day (weekday pattern) × 240 days, points ≥ "
        f"{DEFAULT_THRESHOLD} | {counts['busy_share']:.4%} |",
        f"| a last day of 2 where ~17 is expected alerts | {counts['collapse']:.0%} of 40 |",
        f"| a 70% drop alerts on one of its first 3 days | {counts['drop_first3']:.0%} of 40 |"]
    if Path(args.mart).exists():
        scan = mart_scan(f"duckdb:///{Path(args.mart).resolve()}")
        print(scan, flush=True)
        count_lines += ["", f"Alert scan (`scan_panel(..., recent={scan['recent']})`) of "
                        f"`channel_new_activations` on `{Path(args.mart).name}`: "
                        f"**{scan['flagged']:,} of {scan['channels']:,} channels** flagged "
                        f"({scan['alerts']} alerts) in {scan['seconds']:.1f} s; the planted "
                        f"activation drop (channel {scan['planted']}) is "
                        f"{'flagged' if scan['planted_flagged'] else '**not** flagged'} "
                        f"(its highest score in those days: {scan['planted_top']:.2f})."]
    header = (f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}.")
    section = "\n".join([
        header, "",
        f"Throughput of `anomaly_scores` (median of {args.runs} runs after a warm-up; a daily "
        "load shape and a weekend dip plus noise, so the seasonal models run):", "", *speed, "",
        f"Detection at the default threshold {DEFAULT_THRESHOLD} on {len(cases)} generated "
        "series (`bench.anomaly.make_suite`: spikes of 6–12σ and one level shift of 8–15σ per "
        "series, placed after three cycles; 10% of timestamps dropped, 1% NaN). Every point "
        "counts, warm-up included; a level shift counts once, at its first point, and the "
        f"{_SETTLE} points after it are left out:", "", *_detection_rows(quality), "",
        f"Without the gaps: precision {no_gaps.precision:.3f}, recall {no_gaps.recall:.3f}, "
        f"F1 {no_gaps.f1:.3f}. Other thresholds on the same series:", "", *thresholds, "", *count_lines])
    record_section("anomaly", "## Anomaly scoring (issue 4)", section,
                   "Run `python -m bench.anomaly`.")
    print(f"recorded in {RESULTS.relative_to(HERE.parent)}")
    return 0



if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

"""Benchmark: measuring resolved orders' effects (效果跟踪) on synthetic daily panels.

    python -m bench.action_effects [--units 600] [--orders 500]

Times the estimator alone (no mart needed): ``--orders`` orders, each on one of ``--units``
units with a year of daily values, against every other unit as a control, then the ranking
of tactics. Prints the medians (it does not touch bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import numpy as np
import pandas as pd

from analytics.ops.action_effect import ActionCase, estimate_action_effect, rank_effects


def _panel(rng: np.random.Generator, units: int, days: int) -> pd.DataFrame:
    level = np.exp(rng.normal(4, 1, units))[:, None] * np.exp(rng.normal(0, 0.1, (units, days)))
    day = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(days), unit="D")
    return pd.DataFrame({"unit_id": np.repeat(np.arange(units), days),
                         "day": np.tile(day, units), "value": level.ravel()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.action_effects")
    parser.add_argument("--units", type=int, default=600)
    parser.add_argument("--orders", type=int, default=500)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    panel = _panel(rng, args.units, 365)
    tactics = ["ROADSHOW", "POSKIT", "STOCKXFER", "CHANBONUS", "GIFTPACK"]
    samples, effects = [], []
    for i in range(args.orders):
        case = ActionCase(i, "channel", int(rng.integers(args.units)), f"unit {i}", "revenue",
                          dt.date(2026, 3, 1) + dt.timedelta(days=int(rng.integers(0, 200))),
                          tactics[i % len(tactics)], "task")
        started = time.perf_counter()
        effects.append(estimate_action_effect(panel, case))
        samples.append(time.perf_counter() - started)
    started = time.perf_counter()
    rank_effects(effects)
    ranking = time.perf_counter() - started
    print(f"{args.orders} orders on {args.units} units x 365 days "
          f"({len(panel):,} rows): median {statistics.median(samples) * 1000:.1f} ms per order, "
          f"total {sum(samples):.2f} s; ranking {ranking * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

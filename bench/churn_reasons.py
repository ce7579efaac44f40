"""Benchmark: per-subscriber churn reasons — the fast path against scoring swapped copies,
with one and with two OpenMP threads.

    python -m bench.churn_reasons [--mart PATH] [--model-dir DIR] [--rows 20000] [--runs 3]

Loads the live churn model and the latest month's features of the mart, then times
``analytics.churn.reasons.driver_effects`` on ``--rows`` subscribers (reference: the whole
month, as the score job does):

- ``swap_effects``: ChurnModel's own path (only the trees that read a driver, the additive
  logistic terms);
- ``swapped copies``: the model-agnostic path (every driver's reference values scored on a
  whole copy of the rows), the one the score job used before;

each with the trees' OpenMP team capped at 1 and at 2 threads. Median, min and max over
``--runs`` runs after a warm-up, CPU time (``time.process_time``, all threads) beside wall
time, and the machine's load average. Writes its section in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from analytics.churn import model as churn_model
from analytics.churn.reasons import driver_effects
from bench.results import record_section, timed_runs
from data_access.db import DEFAULT_MART_PATH, ConcertoError, create_mart_engine
from data_access.mart import churn as reads
from data_access.mart.queries import available_months
from data_access.store import churn as store
from data_access.store.scope import SYSTEM, acting_as
from jobs.churn_pipeline import load_snapshot


class _AnyModel:
    """The model seen only through ``decision_function``: the model-agnostic path."""

    def __init__(self, model) -> None:
        self.model = model

    def decision_function(self, X):
        return self.model.decision_function(X)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mart", default=str(DEFAULT_MART_PATH))
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not Path(args.mart).exists():
        print(f"No mart at {args.mart}: build one with `python -m data_access.synth.generate`.",
              file=sys.stderr)
        return 2
    if args.rows < 1 or args.runs < 1:
        print("--rows and --runs must be at least 1", file=sys.stderr)
        return 2
    load_start = os.getloadavg()
    try:
        with acting_as(SYSTEM):
            engine = create_mart_engine(f"duckdb:///{args.mart}", read_only=True)
            model, manifest = store.load_model(model_dir=args.model_dir)
            month = pd.Timestamp(available_months(engine)[-1])
            snapshot = load_snapshot(engine, month)
    except ConcertoError as exc:
        print(exc, file=sys.stderr)
        return 2
    features = snapshot.features
    rows = features.sample(min(args.rows, len(features)), random_state=0)
    lines = []
    original = churn_model.tree_threads
    try:
        for threads in (1, 2):
            churn_model.tree_threads = lambda n=threads: n  # the fast path asks per call
            for name, subject in (("swap_effects", model), ("swapped copies", _AnyModel(model))):
                with threadpool_limits(limits=threads, user_api="openmp"):
                    walls, cpus = timed_runs(lambda s=subject: driver_effects(s, rows, features),
                                        args.runs)
                lines.append((name, threads, walls, cpus))
                print(f"{name:15s} threads={threads}: wall median {statistics.median(walls):.2f} s"
                      f" (min {min(walls):.2f}, max {max(walls):.2f}), CPU median "
                      f"{statistics.median(cpus):.2f} s")
    finally:
        churn_model.tree_threads = original
    load_end = os.getloadavg()
    table = ["| path | OpenMP threads | wall median s | min | max | CPU median s | "
             "subscribers/s (wall) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, threads, walls, cpus in lines:
        median = statistics.median(walls)
        table.append(f"| {name} | {threads} | **{median:.2f}** | {min(walls):.2f} | "
                     f"{max(walls):.2f} | {statistics.median(cpus):.2f} | "
                     f"{len(rows) / median:,.0f} |")
    body = (f"Measured {dt.date.today():%Y-%m-%d} on {os.cpu_count()} cores, load average "
            f"{load_start[0]:.1f} at the start and {load_end[0]:.1f} at the end; "
            f"{Path(args.mart).name}, {month:%Y-%m}, {len(rows):,} subscribers explained "
            f"against {len(features):,} (reference values), model {manifest.get('version')}; "
            f"{args.runs} runs after a warm-up.\n\n" + "\n".join(table))
    print(body)
    record_section("churn-reasons", "## Churn reasons: the fast path and OpenMP threads", body,
                   "Run `python -m bench.churn_reasons`. The score job explains every "
                   "subscriber at or above the average risk; this is the step that dominated "
                   "it at 1M (`bench.churn`).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

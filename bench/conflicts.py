"""Benchmark: the campaign conflict check against 200 existing campaigns, and the value reads,
on the 1M-subscriber mart.

    python -m bench.conflicts [--plans 50] [--runs 3]

The 200 existing campaigns are synthetic (fixed seed) and spread over the mart's months; they
have no members, so duplicate benefits are counted against the mart's own campaigns and their
members (the crowded high-end months included), in SQL. Prints the figures and writes a
section in bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics.campaigns import conflicts as cf
from bench.results import mart_benchmark, record_section
from data_access.mart import value
from data_access.mart.calendar import count_duplicates, load_mart_campaigns
from data_access.store.campaign_plans import DEFAULT_RULES
from data_access.db import read_frame
from data_access.mart.schema import CHANNEL_TYPES, DEPARTMENTS, SEGMENTS, planted_truth

RULES = pd.DataFrame([{"benefit_kind": k, "allowed_channel_types": a, "max_per_month": m}
                      for k, (a, m) in DEFAULT_RULES.items()])


def synthetic_campaigns(rng: np.random.Generator, months: list[dt.date], n: int) -> pd.DataFrame:
    """``n`` campaigns of the five departments over ``months``: 1–4 months long, one or two
    segments, one to three channel types."""
    rows = []
    for i in range(n):
        start = months[int(rng.integers(0, len(months)))]
        length = int(rng.integers(1, 5))
        end = cf.month_end((pd.Timestamp(start) + pd.DateOffset(months=length - 1)).date())
        rows.append({
            "campaign_id": f"S{i + 1}", "campaign_name": f"Synthetic campaign {i + 1}",
            "department": str(rng.choice(list(DEPARTMENTS))),
            "benefit_kind": str(rng.choice(list(DEFAULT_RULES))),
            "segments": ",".join(rng.choice(list(SEGMENTS), int(rng.integers(1, 3)), False)),
            "channel_types": ",".join(rng.choice(list(CHANNEL_TYPES), int(rng.integers(1, 4)),
                                                 False)),
            "start": start, "end": end})
    return pd.DataFrame(rows)


def _timed(func, runs: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def main() -> int:
    args, engine = mart_benchmark(__doc__.splitlines()[0], 3, lambda p: p.add_argument("--plans", type=int, default=50))
    rng = np.random.default_rng(7)
    window = value.load_value_window(engine)
    months = [d.date() for d in pd.date_range(window[1] - pd.DateOffset(months=23), window[1],
                                              freq="MS")]
    mart_campaigns = load_mart_campaigns(engine)
    calendar = pd.concat([synthetic_campaigns(rng, months, 200), mart_campaigns],
                         ignore_index=True)
    plans = synthetic_campaigns(rng, months, args.plans).drop(columns="campaign_id")

    pure, full, kinds = [], [], {k: 0 for k in cf.KINDS}
    for plan in plans.to_dict("records"):
        started = time.perf_counter()
        cf.check_plan(plan, calendar, RULES)
        pure.append(time.perf_counter() - started)
        started = time.perf_counter()
        live = cf.overlapping(plan, mart_campaigns)
        dup = count_duplicates(engine, plan, [int(c[1:]) for c in live["campaign_id"]])
        found = cf.check_plan(plan, calendar, RULES, {f"C{k}": v for k, v in dup.items()})
        full.append(time.perf_counter() - started)
        for kind in set(found["kind"]):
            kinds[kind] += 1
    rows = ["| step | median s | max s |", "| --- | ---: | ---: |",
            f"| check without duplicates (pure, 212 campaigns) | {statistics.median(pure):.3f} | "
            f"{max(pure):.3f} |",
            f"| full check incl. duplicate customers in SQL | **{statistics.median(full):.3f}** | "
            f"{max(full):.3f} |"]
    reads = {
        "value window": lambda: value.load_value_window(engine),
        "customer ROI bands": lambda: value.load_customer_bands(engine, window),
        "channel values": lambda: value.load_unit_values(engine, window, "channel"),
        "group values": lambda: value.load_unit_values(engine, window, "group"),
        "micro-region values (map)": lambda: value.load_unit_values(engine, window,
                                                                    "micro_region"),
        "negative high-end list (500)": lambda: value.load_value_customers(
            engine, window, "negative_high_end"),
        "duplicate-benefit list (500)": lambda: value.load_value_customers(
            engine, window, "duplicate_benefit"),
        "high-end summary": lambda: value.load_high_end_summary(engine, window),
    }
    rows += ["", "| value read | median s |", "| --- | ---: |"]
    summary = None
    for name, func in reads.items():
        seconds, result = _timed(func, args.runs)
        rows.append(f"| {name} | {seconds:.2f} |")
        print(rows[-1], flush=True)
        if name == "high-end summary":
            summary = result
    truth = json.loads(read_frame(engine, sa.select(planted_truth.c.detail).where(
        planted_truth.c.kind == "unprofitable_high_end")).iloc[0, 0])
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, mart {os.path.basename(args.mart)}"
        f", value window {window[0]:%Y-%m}..{window[1]:%Y-%m}. {args.plans} random plans checked "
        f"against 200 synthetic campaigns plus the mart's {len(mart_campaigns)}; plans with each "
        f"kind of conflict: " + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ".", "",
        *rows, "",
        f"High-end customers {summary['high_end']:,} (planted {truth['high_end']:,}); losing "
        f"money {summary['unprofitable_share']:.2%} (planted {truth['unprofitable_share']:.2%}); "
        f"of those with duplicate benefits {summary['duplicate_share_of_unprofitable']:.2%} "
        f"(planted {truth['duplicate_share_of_unprofitable']:.2%})."])
    print(body)
    record_section("conflicts", "## Campaign conflicts and customer value (issue 7)", body,
                   "Run `python -m bench.conflicts` (after `make bench` built the mart).")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

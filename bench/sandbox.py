"""Benchmark: build the 1M-subscriber × 24-month mart, then time every sandbox query.

    python -m bench.sandbox [--subscribers 1000000] [--months 24] [--runs 7] [--rebuild]

Prints each figure and writes the section between the markers in bench/RESULTS.md.
Timings are medians over ``--runs`` runs after one warm-up, in one process on a read-only
engine (what the app does); peak memory is the process's maximum resident set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from analytics.kpis.drill import history_months, member_expected, member_kpis, months_needed
from analytics.kpis.registry import kpi_cards
from analytics.kpis.tree import kpi_tree
from data_access.mart import queries
from data_access.db import create_mart_engine
from data_access.mart.queries import Slice
from bench.results import RESULTS, record_section

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _time(func: Callable[[], object], runs: int) -> tuple[float, float, float]:
    func()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples), statistics.median(samples), max(samples)


def build(path: Path, subscribers: int, months: int) -> tuple[float, float]:
    """Build the mart in a child process; returns (seconds, the child's peak RSS in MB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "data_access.synth.generate", "--subscribers",
                    str(subscribers), "--months", str(months), "--seed", "7", "--url",
                    f"duckdb:///{path}"], check=True, cwd=HERE.parent)
    return time.perf_counter() - start, _peak_mb(resource.RUSAGE_CHILDREN)


def sandbox_cases(engine) -> list[tuple[str, Callable[[], object]]]:
    months = queries.available_months(engine)
    month, previous = months[-1], months[-2]
    needed = [m.date() for m in months_needed(pd.Timestamp(month))]
    history = [m.date() for m in history_months(pd.Timestamp(month))]  # what drill tables read
    region = Slice(micro_region="Gongbei")
    cube = Slice(micro_region="Gongbei", channel_type="social_outlet")
    city = queries.load_monthly_totals(engine)
    channels = queries.load_breakdown(engine, "channel", history, measures=("revenue", "active_subs"))
    return [
        ("available months", lambda: queries.available_months(engine)),
        ("monthly totals, city (cards)", lambda: queries.load_monthly_totals(engine)),
        ("monthly totals, one branch", lambda: queries.load_monthly_totals(engine, Slice(branch="Doumen"))),
        ("monthly totals, one micro-region", lambda: queries.load_monthly_totals(engine, region)),
        ("KPI cards from the totals (analytics)", lambda: kpi_cards(city, month)),
        ("KPI tree (analytics)", lambda: kpi_tree(city.loc[pd.Timestamp(month)], city.iloc[-2])),
        ("map: micro-regions × 5 months", lambda: queries.load_breakdown(engine, "micro_region", needed)),
        ("market share by micro-region", lambda: queries.load_market_breakdown(engine, "micro_region", needed)),
        ("drill: branches, 25 months", lambda: queries.load_breakdown(engine, "branch", history)),
        ("drill: channels, whole city, 25 months, all measures", lambda: queries.load_breakdown(engine, "channel", history)),
        ("drill: channels, whole city, 25 months, ARPU's measures", lambda: queries.load_breakdown(engine, "channel", history, measures=("revenue", "active_subs"))),
        ("drill: channels in a micro-region, 25 months", lambda: queries.load_breakdown(engine, "channel", history, region)),
        ("drill: plans in a micro-region × channel type", lambda: queries.load_breakdown(engine, "plan", history, cube)),
        ("drill: enterprise groups, 25 months", lambda: queries.load_breakdown(engine, "group", history)),
        ("member KPIs for all channels (analytics)",
         lambda: member_kpis(channels, ["channel_id", "channel_name", "channel_type"], "arpu", pd.Timestamp(month))),
        ("expected ARPU for all channels (analytics)",
         lambda: member_expected(channels, ["channel_id", "channel_name", "channel_type"], "arpu", pd.Timestamp(month))),
        ("subscriber rows: micro-region × channel type", lambda: queries.load_subscriber_rows(engine, month, previous, cube)),
        ("subscriber rows: one micro-region, churned", lambda: queries.load_subscriber_rows(engine, month, previous, region, only="churned")),
        ("subscriber rows: whole city, top 500", lambda: queries.load_subscriber_rows(engine, month, previous)),
        ("ledger: one subscriber", lambda: queries.load_subscriber_ledger(engine, 12345)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = OUT / f"mart_{args.subscribers}x{args.months}.duckdb"
    lines = []
    if args.rebuild or not path.exists():
        seconds, peak = build(path, args.subscribers, args.months)
        lines.append(f"- generation: **{seconds:.0f} s**, peak memory {peak:,.0f} MB, "
                     f"file {path.stat().st_size / 2**20:,.0f} MB")
        print(lines[-1], flush=True)
    else:
        print(f"using the existing {path} (--rebuild to time a new build)", flush=True)
    engine = create_mart_engine(f"duckdb:///{path}", read_only=True)
    opened = time.perf_counter()
    rows = queries.load_table_counts(engine).set_index("table")["rows"]
    print(f"opened in {(time.perf_counter() - opened) * 1000:.0f} ms; "
          f"{rows['fact_subscriber_month']:,} monthly rows", flush=True)
    table = ["| query | min ms | median ms | max ms |", "| --- | ---: | ---: | ---: |"]
    for name, func in sandbox_cases(engine):
        low, mid, high = _time(func, args.runs)
        table.append(f"| {name} | {low:.1f} | **{mid:.1f}** | {high:.1f} |")
        print(f"{name:55s} median {mid:8.1f} ms  (min {low:.1f}, max {high:.1f})", flush=True)
    lines.append(f"- queries: {args.runs} runs after a warm-up, read-only DuckDB engine; peak "
                 f"memory of the query process {_peak_mb():,.0f} MB")
    header = (f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, {args.subscribers:,} subscribers × {args.months} "
              f"months ({rows['fact_subscriber_month']:,} monthly rows).")
    body = "\n".join([header, "", *lines, "", *table])
    record_section("sandbox", "## Operations sandbox (issue 3)", body,
                   "Run `make bench` (or `python -m bench.sandbox [--rebuild]`).")
    print(f"recorded in {RESULTS.relative_to(HERE.parent)}")
    return 0



if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

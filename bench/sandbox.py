"""Benchmark: build the 1M-subscriber × 24-month mart, then time every sandbox query.

    python -m bench.sandbox [--subscribers 1000000] [--months 24] [--runs 7] [--rebuild]
                            [--only TEXT] [--no-record]

Prints each figure and writes the section between the markers in bench/RESULTS.md
(``--no-record``: print only, e.g. at another size than the 1M the section holds): every
query the sandbox makes, then the five-step drill company → branch → micro-region → channel →
number as the page makes it (each step's queries and analytics, and their sum).
Timings are medians over ``--runs`` runs after one warm-up, in one process on a read-only
engine (what the app does); peak memory is the process's maximum resident set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from analytics.kpis.drill import (SUBSCRIBER_STEP, history_months, measures_for,
                                  member_expected, months_needed, rank_members)
from analytics.kpis.registry import kpi_cards
from analytics.kpis.tree import kpi_tree
from data_access.mart import queries
from data_access.db import APP_MEMORY_LIMIT, create_mart_engine
from data_access.mart.queries import Slice
from bench.results import RESULTS, record_section


def _drilldown():
    """The drill section (imported late: its Streamlit caches warn that no app is running)."""
    import streamlit  # noqa: F401  (creates the logger silenced below)

    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    from pages.sections import drilldown

    return drilldown

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
    keys = ["channel_id", "channel_name", "channel_type"]
    arpu = measures_for("arpu")
    drilldown = _drilldown()
    ranking = queries.load_drill_members(engine, "channel", needed, history, measures=arpu)
    ranked = rank_members(ranking.drop(columns="first_month"), keys, "arpu", pd.Timestamp(month))
    shown = tuple(ranked["channel_id"].head(drilldown.MEMBER_CAP))
    past = queries.load_breakdown(engine, "channel", history, measures=arpu, members=shown)
    first = ranking["first_month"].min()
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
        ("drill: channels, whole city, ranking months, all measures", lambda: queries.load_drill_members(engine, "channel", needed, history)),
        ("drill: channels, whole city, ranking months, ARPU's measures", lambda: queries.load_drill_members(engine, "channel", needed, history, measures=arpu)),
        ("drill: the 200 shown channels, 25 months, ARPU's measures", lambda: queries.load_breakdown(engine, "channel", history, measures=arpu, members=shown)),
        ("drill: channels in a branch, ranking months", lambda: queries.load_drill_members(engine, "channel", needed, history, Slice(branch="Xiangzhou"), measures=arpu)),
        ("drill: channels in a micro-region, ranking months", lambda: queries.load_drill_members(engine, "channel", needed, history, region, measures=arpu)),
        ("drill: plans in a micro-region × channel type", lambda: queries.load_breakdown(engine, "plan", history, cube)),
        ("drill: enterprise groups, ranking months", lambda: queries.load_drill_members(engine, "group", needed, history, measures=arpu)),
        ("ARPU ranking of all channels (analytics)",
         lambda: rank_members(ranking.drop(columns="first_month"), keys, "arpu", pd.Timestamp(month))),
        ("expected ARPU for the 200 shown channels (analytics)",
         lambda: member_expected(past, keys, "arpu", pd.Timestamp(month), start=first)),
        ("subscriber rows: micro-region × channel type", lambda: queries.load_subscriber_rows(engine, month, previous, cube)),
        ("subscriber rows: one micro-region, churned", lambda: queries.load_subscriber_rows(engine, month, previous, region, only="churned")),
        ("subscriber rows: whole city, top 500", lambda: queries.load_subscriber_rows(engine, month, previous)),
        ("subscriber rows: whole city, top 500 by data", lambda: queries.load_subscriber_rows(engine, month, previous, order_by="data_mb")),
        ("subscriber rows: one branch, top 500", lambda: queries.load_subscriber_rows(engine, month, previous, Slice(branch="Xiangzhou"))),
        ("subscriber rows: one micro-region, top 500", lambda: queries.load_subscriber_rows(engine, month, previous, region)),
        ("ledger: one subscriber", lambda: queries.load_subscriber_ledger(engine, 12345)),
    ]


def drill_steps(engine, kpi: str = "revenue") -> list[tuple[str, Callable[[], object]]]:
    """The five clicks company → branch → micro-region → channel → number, each as the page
    makes it (uncached): the table the step shows by default, then at the channel the
    subscriber rows and at the number the ledger. Each step's member is the first row the
    step before listed."""
    months = queries.available_months(engine)
    month, previous = months[-1], months[-2]
    drilldown = _drilldown()
    loaders = {"drill_members": partial(queries.load_drill_members, engine),
               "breakdown": partial(queries.load_breakdown, engine),
               "market_breakdown": partial(queries.load_market_breakdown, engine)}

    def table(level: str, slice_: Slice) -> pd.DataFrame:
        return drilldown.member_rows(level, slice_, kpi, month, **loaders)[0]

    branch = str(table("branch", Slice())["branch"].iloc[0])
    in_branch = Slice(branch=branch)
    micro = Slice(branch=branch, micro_region=str(table("micro_region", in_branch)
                                                  ["micro_region"].iloc[0]))
    channel = micro.narrowed("channel", int(table("channel", micro)["channel_id"].iloc[0]))
    order_by, only = SUBSCRIBER_STEP.get(kpi, ("revenue", None))
    rows = queries.load_subscriber_rows(engine, month, previous, channel, order_by=order_by,
                                        only=only)
    number = int(rows["subscriber_id"].iloc[0])
    first_level = drilldown.next_levels(channel, kpi)[0]  # the channel's default table
    return [
        ("1 company: KPI cards' totals + branches", lambda: (queries.load_monthly_totals(engine), table("branch", Slice()))),
        (f"2 branch {branch}: micro-regions", lambda: table("micro_region", in_branch)),
        (f"3 micro-region {micro.micro_region}: channels (top {drilldown.MEMBER_CAP})", lambda: table("channel", micro)),
        (f"4 channel {channel.channel_id}: {first_level} table + subscriber rows", lambda: (
            table(first_level, channel) if first_level != drilldown.SUBSCRIBERS else None,
            queries.load_subscriber_rows(engine, month, previous, channel, order_by=order_by, only=only))),
        ("5 number: the ledger", lambda: queries.load_subscriber_ledger(engine, number)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", default="", help="run only the cases whose name holds this "
                                                   "(and no drill steps)")
    parser.add_argument("--no-record", action="store_true", help="print only")
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
    # as the app opens it: read-only, the buffer pool capped at the app's limit
    engine = create_mart_engine(f"duckdb:///{path}", read_only=True,
                                memory_limit=APP_MEMORY_LIMIT)
    opened = time.perf_counter()
    rows = queries.load_table_counts(engine).set_index("table")["rows"]
    print(f"opened in {(time.perf_counter() - opened) * 1000:.0f} ms; "
          f"{rows['fact_subscriber_month']:,} monthly rows", flush=True)
    table = ["| query | min ms | median ms | max ms |", "| --- | ---: | ---: | ---: |"]
    for name, func in sandbox_cases(engine):
        if args.only and args.only not in name:
            continue
        low, mid, high = _time(func, args.runs)
        table.append(f"| {name} | {low:.1f} | **{mid:.1f}** | {high:.1f} |")
        print(f"{name:55s} median {mid:8.1f} ms  (min {low:.1f}, max {high:.1f})", flush=True)
    for kpi in () if args.only else ("revenue", "arpu"):
        table.append(f"| **five-step drill ({kpi})** | | | |")
        total = 0.0
        for name, func in drill_steps(engine, kpi):
            low, mid, high = _time(func, args.runs)
            total += mid
            table.append(f"| drill step {name} (queries + analytics) | {low:.1f} | **{mid:.1f}** | {high:.1f} |")
            print(f"drill ({kpi}) step {name:55s} median {mid:8.1f} ms", flush=True)
        table.append(f"| five-step drill ({kpi}), sum of the step medians | | **{total:.1f}** | |")
        print(f"five-step drill ({kpi}) total {total:.1f} ms", flush=True)
    lines.append(f"- queries: {args.runs} runs after a warm-up, read-only DuckDB engine; peak "
                 f"memory of the query process {_peak_mb():,.0f} MB")
    header = (f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, {args.subscribers:,} subscribers × {args.months} "
              f"months ({rows['fact_subscriber_month']:,} monthly rows).")
    body = "\n".join([header, "", *lines, "", *table])
    if args.no_record:
        print("\n" + body)
        return 0
    record_section("sandbox", "## Operations sandbox (issue 3)", body,
                   "Run `make bench` (or `python -m bench.sandbox [--rebuild]`).")
    print(f"recorded in {RESULTS.relative_to(HERE.parent)}")
    return 0



if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

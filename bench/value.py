"""Benchmark: the value page's reads, from the value summaries and summed from the fact.

    python -m bench.value [--mart PATH | --mart-url URL] [--runs 5] [--windows 3,12]
                          [--no-fact] [--no-record]

Per value window (``--windows``, months) it times each read the value page makes on a visit
(bands, channels, groups, micro-regions, the high-end figures and both customer lists) as
the page makes it: from ``sum_value_cell``, ``sum_value_unit`` and ``sum_value_customer``
when the mart was built with them, and, unless ``--no-fact``, the same read summed from the
monthly fact as before those summaries (and as for any window they do not hold). Median,
min and max over ``--runs`` runs after a warm-up, CPU time (this process) beside wall time,
city-wide as an administrator. Writes section ``value`` (``value-postgres`` for a PostgreSQL
mart) of bench/RESULTS.md unless ``--no-record``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
from collections.abc import Callable
from unittest import mock

from bench.marts import add_mart_options, mart_facts, mart_line, mart_target, section_name
from bench.results import record_section, timed_runs
from bench.sandbox import OUT
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import value
from data_access.store.principal import SYSTEM
from data_access.store.scope import acting_as

READS: dict[str, Callable] = {
    "ROI bands": lambda e, w: value.load_customer_bands(e, w),
    "channels": lambda e, w: value.load_unit_values(e, w, "channel"),
    "enterprise groups": lambda e, w: value.load_unit_values(e, w, "group"),
    "micro-regions (map)": lambda e, w: value.load_unit_values(e, w, "micro_region"),
    "high-end figures": lambda e, w: value.load_high_end_summary(e, w),
    "list: high-end losing money": lambda e, w: value.load_value_customers(
        e, w, "negative_high_end"),
    "list: duplicate benefits": lambda e, w: value.load_value_customers(e, w, "duplicate_benefit"),
}


def _ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mart_options(parser, str(OUT / "mart_1000000x24.duckdb"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--windows", default="3,12", help="value windows in months, e.g. 3,12")
    parser.add_argument("--no-fact", action="store_true",
                        help="time only the reads as the page makes them")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    try:
        target = mart_target(args.mart, args.mart_url, OUT / "mart_1000000x24.duckdb")
        facts = mart_facts(target)
        windows = [int(w) for w in args.windows.split(",")]
    except (ConcertoError, ValueError) as exc:
        print(f"bench.value: {exc}", file=sys.stderr)
        return 2
    engine = create_mart_engine(target.url, read_only=target.engine == "duckdb")
    load_before = os.getloadavg()
    rows = []
    with acting_as(SYSTEM):
        for months in windows:
            window = value.load_value_window(engine, months)
            summarised = value._summarised(engine, window)
            ways = [("as the page reads", None)] + ([] if args.no_fact else [
                ("summed from the fact", mock.patch.object(value, "_summarised",
                                                           lambda *_: False))])
            for name, read in READS.items():
                cells = []
                for _, patch in ways:
                    if patch is None:
                        walls, cpus = timed_runs(lambda: read(engine, window), args.runs)
                    else:
                        with patch:
                            walls, cpus = timed_runs(lambda: read(engine, window), args.runs)
                    cells.append(f"**{_ms(walls)}** ({1000 * min(walls):,.1f}–"
                                 f"{1000 * max(walls):,.1f}) | {_ms(cpus)}")
                    print(f"{months:>2} months  {name:<30} {cells[-1]}", flush=True)
                rows.append(f"| {months} ({'summarised' if summarised else 'not summarised'}) "
                            f"| {name} | " + " | ".join(cells) + " |")
    engine.dispose()
    load_after = os.getloadavg()
    head = ["| window (months) | read | as the page reads: ms median (min–max) | CPU ms"
            + ("" if args.no_fact else " | summed from the fact: ms median (min–max) | CPU ms")
            + " |", "| --- | --- | ---: | ---: |" + ("" if args.no_fact else " ---: | ---: |")]
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, {mart_line(target, facts)}; "
        f"{args.runs} runs after a warm-up, city-wide; load average {load_before[0]:.1f} "
        f"before and {load_after[0]:.1f} after (CPU: this process; a PostgreSQL server's "
        "own work is in the wall time only).", "", *head, *rows])
    print(body)
    if not args.no_record:
        record_section(section_name("value", target), "## Value page reads (issue 16)", body,
                       "Run `python -m bench.value [--mart-url URL]`. The page's seven reads per "
                       "window; the value summaries are built with the mart "
                       "(`data_access.mart.summaries.rebuild_value_summaries`).",
                       after="value" if target.engine == "postgresql" else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

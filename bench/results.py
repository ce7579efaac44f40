"""bench/RESULTS.md: each benchmark owns a section between its markers and rewrites only it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def record_section(name: str, heading: str, body: str, intro: str = "", *,
                   after: str | None = None) -> None:
    """Replace the ``<!-- name:begin -->`` … ``<!-- name:end -->`` section; a new one goes
    right after section ``after`` when the file has it (a PostgreSQL run beside the DuckDB
    one, under the same heading), else at the end under ``heading``. The file is re-read
    first: other benchmarks write their own sections."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body}\n{end}"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    neighbour = f"<!-- {after}:end -->" if after and after != name else None
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + section + rest.split(end, 1)[1]
    elif neighbour and neighbour in text:
        before, rest = text.split(neighbour, 1)
        text = before + neighbour + "\n\n" + section + rest
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n" + (f"{intro}\n\n" if intro else "") \
            + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def timed_runs(call: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (``time.process_time``: this process, all its threads) of
    ``runs`` calls of ``call`` after one warm-up call."""
    call()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def mart_benchmark(description: str, runs: int, extra: Callable[[argparse.ArgumentParser], None]
                   | None = None) -> tuple[argparse.Namespace, sa.Engine]:
    """The options every benchmark on the 1M mart takes (``--runs``, ``--mart``, plus
    ``extra``'s), parsed, and a read-only engine on that mart."""
    from bench.sandbox import OUT
    from data_access.db import create_mart_engine

    parser = argparse.ArgumentParser(description=description)
    if extra is not None:
        extra(parser)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--mart", default=str(OUT / "mart_1000000x24.duckdb"))
    args = parser.parse_args()
    return args, create_mart_engine(f"duckdb:///{args.mart}", read_only=True)

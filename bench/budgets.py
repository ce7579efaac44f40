"""Benchmark: pre-book + confirm throughput with 4 threads, on SQLite and on PostgreSQL.

    python -m bench.budgets [--pairs 150]

Two scenarios per store: each thread books on its own unit (no contention on a row), and all
threads book on one shared unit (every booking waits for the row). Each pair is a ``prebook``
then a ``confirm`` of 100 yuan, two write transactions with their audit rows. At the end the
unit's figures must equal the sum of the confirmed pairs. PostgreSQL is a private server
started here (fsync off, as in the tests). Prints the figures and writes a section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from data_access.store.auth import SYSTEM, Principal
from data_access.store.budgets.allocation import allocate
from data_access.store.budgets.bookings import confirm, prebook
from data_access.store.budgets.ledger import budget_unit
from bench.results import record_section
from data_access.store.workflow import create_workflow_engine
from tests.pgserver import private_server

THREADS = 4
PERIOD = "2026-Q4"


def _units(engine: sa.Engine, pairs: int) -> tuple[list[int], int]:
    """One unit per thread and one shared unit, each big enough for every pair."""
    need = 100.0 * pairs * THREADS
    total = need * (THREADS + 1)
    company = allocate(engine, SYSTEM, PERIOD, "company", "Bench city", None, total)
    dept = allocate(engine, SYSTEM, PERIOD, "department", "Bench dept", company, total)
    team = allocate(engine, SYSTEM, PERIOD, "team", "Bench team", dept, total)
    own = [allocate(engine, SYSTEM, PERIOD, "person", f"Bench {i}", team, need,
                    owner=f"bench{i}") for i in range(THREADS)]
    shared = allocate(engine, SYSTEM, PERIOD, "person", "Bench shared", team, need,
                      owner="bench0")
    return own, shared


def _run(engine: sa.Engine, units: list[int], pairs: int) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS + 1)

    def work(i: int) -> None:
        who = Principal(f"bench{i}", f"Bench {i}", "administrator")
        barrier.wait()
        for _ in range(pairs):
            started = time.perf_counter()
            confirm(engine, who, prebook(engine, who, units[i], 100.0))
            latencies[i].append(time.perf_counter() - started)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    flat = sorted(x for per in latencies for x in per)
    with engine.connect() as conn:
        spent, booked = conn.execute(sa.select(sa.func.sum(budget_unit.c.spent),
                                               sa.func.sum(budget_unit.c.booked)).where(
            budget_unit.c.unit_id.in_(set(units)))).one()
    assert booked == 0 and spent == 100.0 * pairs * THREADS, (booked, spent)
    return {"pairs_per_s": len(flat) / seconds, "p50_ms": 1000 * statistics.median(flat),
            "p95_ms": 1000 * flat[int(0.95 * (len(flat) - 1))], "max_ms": 1000 * flat[-1],
            "seconds": seconds}


def _bench(name: str, url: str, pairs: int) -> list[str]:
    engine = create_workflow_engine(url)
    own, shared = _units(engine, pairs)
    lines = []
    for scenario, units in (("own unit per thread", own), ("one shared unit", [shared] * 4)):
        r = _run(engine, units, pairs)
        lines.append(f"{name:10s} {scenario:20s} {THREADS} threads × {pairs} pairs: "
                     f"{r['pairs_per_s']:7.0f} pairs/s, p50 {r['p50_ms']:6.1f} ms, "
                     f"p95 {r['p95_ms']:6.1f} ms, max {r['max_ms']:6.0f} ms "
                     f"({r['seconds']:.1f} s); nothing lost")
    engine.dispose()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=150, help="pairs per thread")
    pairs = parser.parse_args().pairs
    lines = [f"Measured on {os.cpu_count()} cores; a pair is prebook + confirm (two write "
             "transactions, each with its audit row)."]
    with tempfile.TemporaryDirectory() as tmp:
        lines += _bench("SQLite", f"sqlite:///{Path(tmp) / 'wf.sqlite'}", pairs)
    with private_server() as pg:
        lines += _bench("PostgreSQL", pg, pairs)
    body = "```\n" + "\n".join(lines) + "\n```"
    print(body)
    record_section("budgets", "## Budget pre-booking (issue 5)", body,
                   intro="`python -m bench.budgets`: throughput of pre-book + confirm pairs on "
                         "4 threads; the unit's totals are checked against the pairs after "
                         "every run, so a lost or doubled booking would stop the benchmark.")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

"""Benchmark on PostgreSQL: build the mart into a throwaway server, then time the sandbox queries.

    python -m bench.postgres [--subscribers 1000000] [--months 24] [--runs 5]
                             [--url URL [--rebuild]] [--keep]

Without ``--url`` a private PostgreSQL server is started in a new directory under /tmp
(settings in ``SERVER_SETTINGS``), the mart is built into it by the generator (COPY, then
summaries, then ANALYZE) and the server and its directory are removed at the end (``--keep``
leaves them and prints the URL, to rerun the queries with ``--url``). With ``--url`` an
existing database is used; it is built only when it holds no mart of the asked size, or with
``--rebuild``. A build is followed by ``VACUUM (ANALYZE)``, timed apart: autovacuum would do
it within minutes of the load, and queries timed while it works read slower (the city's top
500 subscribers: 46 instead of 13 ms at 250,000 subscribers).

The cases are :func:`bench.sandbox.sandbox_cases` (whatever it lists). Each is run once to
warm up, then ``--runs`` times; for each the wall time (min, median, max), the client's CPU
time (this process) and the server's (the postmaster's process tree, parallel workers
included) are printed, medians over the runs. The load average is printed before and after,
since other work on the machine moves the figures. Prints a markdown table; with ``--record`` also writes it into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.proctree import process_tree, tree_cpu_seconds
from bench.results import record_section
from bench.sandbox import sandbox_cases
from data_access.db import create_mart_engine
from data_access.mart import queries
from data_access.mart.build import vacuum_mart
from data_access.mart.storage import load_database_size, load_server_settings, load_table_sizes

HERE = Path(__file__).resolve().parent

#: The throwaway server's settings: a modest production server's, not a tuned laptop's.
#: fsync stays on so that the build time includes what a real load pays for durability;
#: max_wal_size is raised as any server taking nightly bulk loads would be (checkpoints
#: every 1 GB of WAL would dominate the load otherwise).
SERVER_SETTINGS = {"fsync": "on", "shared_buffers": "1GB", "maintenance_work_mem": "512MB",
                   "max_wal_size": "8GB", "checkpoint_timeout": "30min"}


@dataclass(frozen=True)
class Timing:
    """One case's figures over the runs (milliseconds)."""

    name: str
    low: float
    median: float
    high: float
    client_cpu: float
    server_cpu: float | None


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _server_root(backend_pid: int) -> int | None:
    """The postmaster's pid: the parent of the backend that answered (None when the server is
    not on this machine)."""
    tree = process_tree(backend_pid)
    return tree[backend_pid].ppid if backend_pid in tree else None


def time_case(name: str, func: Callable[[], object], runs: int, server: int | None) -> Timing:
    """Warm up once, then time ``runs`` runs: wall, this process's CPU, the server's CPU."""
    func()
    walls, clients, servers = [], [], []
    for _ in range(runs):
        before = tree_cpu_seconds(server) if server else 0.0
        cpu, start = time.process_time(), time.perf_counter()
        func()
        walls.append((time.perf_counter() - start) * 1000)
        clients.append((time.process_time() - cpu) * 1000)
        if server:
            servers.append((tree_cpu_seconds(server) - before) * 1000)
    return Timing(name, min(walls), statistics.median(walls), max(walls),
                  statistics.median(clients), statistics.median(servers) if servers else None)


def build(url: str, subscribers: int, months: int, server: int | None) -> dict[str, object]:
    """Build the mart at ``url`` in a child process; wall seconds, the child's CPU seconds, the
    server's CPU seconds (COPY, summaries, ANALYZE), the child's peak memory and the load
    averages at the start and the end."""
    loads = [load_average()]
    before_child = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = tree_cpu_seconds(server) if server else 0.0
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "data_access.synth.generate", "--subscribers",
                    str(subscribers), "--months", str(months), "--seed", "7", "--url", url],
                   check=True, cwd=HERE.parent)
    after_child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": time.perf_counter() - start,
            "client_cpu": (after_child.ru_utime + after_child.ru_stime
                           - before_child.ru_utime - before_child.ru_stime),
            "server_cpu": tree_cpu_seconds(server) - before_server if server else float("nan"),
            "peak_mb": after_child.ru_maxrss / 1024, "loads": (*loads, load_average())}


def _holds_mart(url: str, subscribers: int, months: int) -> bool:
    engine = create_mart_engine(url)
    try:
        info = queries.load_mart_info(engine)
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return info.get("subscribers") == str(subscribers) and info.get("months") == str(months)


@contextlib.contextmanager
def _database(url: str | None, keep: bool) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.pgserver import private_server  # the tests' private server, with our settings

    with private_server(SERVER_SETTINGS, keep=keep) as url:
        if keep:
            print(f"server kept running: {url} (stop it with pg_ctl, then remove its "
                  "directory)", flush=True)
        yield url


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def _du(path: str) -> int | None:
    try:
        out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return int(out.stdout.split()[0])


def report(args: argparse.Namespace, facts: dict[str, str], built: dict[str, object] | None,
           timings: list[Timing], sizes, database: int, datadir: int | None,
           loads: tuple[str, str]) -> str:
    """The markdown to paste: a header, the build and size lines, the table."""
    setting_names = ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit",
                     "fsync")
    lines = [f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, PostgreSQL {facts.get('server_version', '?')} ("
             + ", ".join(f"{n} {facts.get(n, '?')}" for n in setting_names) + "), "
             f"{args.subscribers:,} subscribers × {args.months} months.", ""]
    if built:
        lines.append(f"- build (generator → COPY → summaries → ANALYZE): **{built['wall']:.0f} s** "
                     f"wall; CPU {built['client_cpu']:.0f} s in the generator, "
                     f"{built['server_cpu']:.0f} s in the server; generator peak "
                     f"{built['peak_mb']:,.0f} MB; load average {built['loads'][0]} at the "
                     f"start, {built['loads'][1]} at the end")
        lines.append(f"- then `VACUUM (ANALYZE)` of the mart's tables: {built['vacuum']:.0f} s "
                     "(what autovacuum does within minutes of a load; the queries are timed "
                     "after it, not while it works)")
    lines.append(f"- database size {_mb(database)}" + (
        f"; data directory {_mb(datadir)} (with WAL)" if datadir else ""))
    big = sizes.head(4)
    lines.append("- largest tables: " + ", ".join(
        f"{r.table} {_mb(r.total_bytes)} ({r.rows:,} rows, indexes {_mb(r.index_bytes)})"
        for r in big.itertuples()))
    lines.append(f"- load average (1, 5, 15 min) before the queries {loads[0]}; after {loads[1]}")
    lines.append(f"- {args.runs} runs per query after a warm-up; CPU columns are medians per "
                 "run: client = this Python process, server = the PostgreSQL process tree")
    lines += ["", "| query | min ms | median ms | max ms | client CPU ms | server CPU ms |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for t in timings:
        server = "" if t.server_cpu is None else f"{t.server_cpu:.0f}"
        lines.append(f"| {t.name} | {t.low:.1f} | **{t.median:.1f}** | {t.high:.1f} | "
                     f"{t.client_cpu:.0f} | {server} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="an existing PostgreSQL database (default: a throwaway "
                                      "server under /tmp)")
    parser.add_argument("--rebuild", action="store_true", help="build even if --url holds the mart")
    parser.add_argument("--keep", action="store_true",
                        help="leave the throwaway server running (its URL is printed)")
    parser.add_argument("--record", action="store_true",
                        help="also write the report into bench/RESULTS.md (section per size)")
    parser.add_argument("--only", default="", help="run only the cases whose name holds this")
    args = parser.parse_args(argv)
    with _database(args.url, args.keep) as url:
        engine = create_mart_engine(url)
        try:
            facts = load_server_settings(engine)
            if not facts:
                parser.error("--url must name a PostgreSQL database")
            server = _server_root(int(facts["backend_pid"]))
            built = None
            if args.rebuild or not args.url or not _holds_mart(url, args.subscribers, args.months):
                print(f"building {args.subscribers:,} × {args.months} (load average "
                      f"{load_average()}) ...", flush=True)
                built = build(url, args.subscribers, args.months, server)
                print(f"built in {built['wall']:.0f} s; VACUUM (ANALYZE) …", flush=True)
                started = time.perf_counter()
                vacuum_mart(engine)
                built["vacuum"] = time.perf_counter() - started
            engine.dispose()
            sizes = load_table_sizes(engine)
            database = load_database_size(engine)
            datadir = _du(facts["data_directory"]) if server else None
            before = load_average()
            timings = []
            for name, func in sandbox_cases(engine):
                if args.only and args.only not in name:
                    continue
                timing = time_case(name, func, args.runs, server)
                timings.append(timing)
                print(f"{name:58s} median {timing.median:8.1f} ms (min {timing.low:.1f}, max "
                      f"{timing.high:.1f}; CPU client {timing.client_cpu:.0f} ms, server "
                      f"{timing.server_cpu or 0:.0f} ms)", flush=True)
            after = load_average()
        finally:
            engine.dispose()
        text = report(args, facts, built, timings, sizes, database, datadir, (before, after))
        print()
        print(text)
        if args.record:
            record_section(f"postgres-{args.subscribers}", "## PostgreSQL at scale (issue 16)",
                           text, "Run `python -m bench.postgres [--subscribers N] --record`.")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

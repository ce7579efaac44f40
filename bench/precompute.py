"""Benchmark: the precompute job on the 1M mart, and the page reads it saves a click.

    python -m bench.precompute [--runs 3] [--mart PATH] [--store URL] [--no-record]

Needs the mart built by ``python -m bench.sandbox``. Times ``jobs.precompute`` (each kind,
for the city and the demo users' four scopes) into a scratch SQLite store, then the reads the
campaign, competitor and channel pages make instead of computing: min, median and max wall
seconds with the CPU seconds of the process beside them (a busy machine shows as wall ≫ CPU).
Writes a section in bench/RESULTS.md unless ``--no-record``.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from bench.results import mart_benchmark, record_section
from data_access.mart.queries import load_mart_fingerprint
from data_access.store import precomputed as store
from data_access.store.principal import SYSTEM
from data_access.store.scope import acting_as
from data_access.store.workflow import create_workflow_engine
from jobs import precompute as job

#: The demo users' scopes (data_access.store.demo_users), computed beside the city.
SCOPES = [("city", ""), ("branch", "Doumen"), ("branch", "Jinwan"), ("branch", "Xiangzhou"),
          ("micro_region", "Gongbei")]


def _extra(parser) -> None:
    parser.add_argument("--store", help="workflow store URL (default: a scratch SQLite file)")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")


def _time(step: Callable[[], object], runs: int, warm: bool) -> tuple[list[float], list[float], object]:
    walls, cpus, last = [], [], None
    for i in range(runs + (1 if warm else 0)):
        wall, cpu = time.perf_counter(), time.process_time()
        last = step()
        if i or not warm:
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return walls, cpus, last


def _row(name: str, rows: int, walls: list[float], cpus: list[float]) -> str:
    return (f"| {name} | {rows:,} | {min(walls):.3f} | **{statistics.median(walls):.3f}** | "
            f"{max(walls):.3f} | {statistics.median(cpus):.3f} |")


def main() -> int:
    args, mart = mart_benchmark(__doc__.splitlines()[0], 3, _extra)
    scratch = tempfile.TemporaryDirectory()
    workflow = create_workflow_engine(args.store or f"sqlite:///{scratch.name}/store.sqlite")
    job.user_scopes = lambda workflow: SCOPES  # the demo users' scopes, whatever the store holds
    rows = ["| step | rows | min s | median s | max s | median CPU s |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    runs: dict[str, int] = {}
    for kind in store.KINDS:  # the job's kinds one by one (no warm-up: the nightly job is cold)
        walls, cpus, runs = _time(lambda k=kind: job.precompute(
            mart, workflow, kinds=[k], progress=lambda line: None), args.runs, warm=False)
        with workflow.connect() as conn:
            count = conn.execute(store.precompute_run.select().where(
                store.precompute_run.c.run_id == runs[kind])).first().rows
        rows.append(_row(f"job: {kind}, {len(SCOPES)} scope units", count, walls, cpus))
        print(rows[-1], flush=True)
    ids = {k: store.stored_run(workflow, k, load_mart_fingerprint(mart)).run_id for k in store.KINDS}
    reads = {
        "page read: campaign effects": lambda: job.effects_from_rows(
            store.load_campaign_effects(workflow, ids["campaign_effect"])),
        "page read: rival scores, micro-regions": lambda: store.load_rival_scores(
            workflow, ids["rival_score"], "micro_region"),
        "page read: channel values and alerts, 6 months": lambda: store.load_channel_values(
            workflow, ids["channel_value"], 6)[0],
        "page check: mart fingerprint and stored run": lambda: store.stored_run(
            workflow, "campaign_effect", load_mart_fingerprint(mart)),
    }
    for name, step in reads.items():
        walls, cpus, last = _time(step, max(args.runs, 5), warm=True)
        rows.append(_row(name, len(last) if hasattr(last, "__len__") else 1, walls, cpus))
        print(rows[-1], flush=True)
    body = "\n".join([f"Measured {dt.date.today()} on {os.cpu_count()} cores; job steps "
                      f"{args.runs} cold runs each, page reads {max(args.runs, 5)} after a "
                      f"warm-up; store {workflow.url.get_backend_name()}.", "", *rows])
    print(body)
    if not args.no_record:
        record_section("precompute", "## Precomputed results (issue 16)", body,
                       "Run `python -m bench.precompute` (after `make bench` built the mart).")
    workflow.dispose()
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    with acting_as(SYSTEM):
        raise SystemExit(as_system(main)())

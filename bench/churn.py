"""Benchmark: churn model training, scoring, the scores table and the page's reads.

    python -m bench.churn [--mart bench/out/mart_1000000x24.duckdb] [--max-rows 1000000]
                          [--runs 5] [--no-record]

Needs the mart built by ``python -m bench.sandbox`` (or any mart, e.g. the demo's). Runs
``python -m jobs.churn train`` and ``score`` as child processes (wall and CPU seconds, peak
resident memory, the score job's steps from its progress lines, including writing the
scores table into a fresh SQLite workflow store), times ``predict_proba`` alone, then times
the churn page's reads on that store (top 50, filtered, a deep page, one subscriber, the
aggregates; as the city and as a micro-region manager): median, min and max of ``--runs``,
CPU beside wall, and the machine's load. Writes the ``churn`` section of bench/RESULTS.md
unless ``--no-record``.

    python -m bench.churn --table-rows 1000000 [--store sqlite|postgresql] [--writes 3]

measures the scores table alone (no mart): synthetic runs written one after another into a
fresh store (PostgreSQL: a private server on this machine, the production store), then the
page's reads; the ``churn-table`` or ``churn-table-postgres`` section.
Aims (issue "Interactive at 1M subscribers"): score 1M in 30 s, train in 2 minutes, on 2
idle cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import statistics

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics.churn.retention import risk_band

from jobs.churn_pipeline import load_snapshot
from bench.proctree import tree_cpu_seconds
from bench.results import record_section
from bench.sandbox import OUT
from data_access.mart import churn as reads
from data_access.mart.queries import available_months
from data_access.store import churn as store
from data_access.store import churn_scores as scores
from data_access.store.churn_scores import RetentionFilter
from data_access.store.principal import SYSTEM, Principal
from data_access.store.scope import acting_as
from data_access.store.workflow import create_workflow_engine
from data_access.db import create_mart_engine


def _child(args: list[str]) -> tuple[float, float, float, str]:
    """Run a command; its wall seconds, CPU seconds, its own peak resident MiB and output."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output


def _repeat(step, runs: int) -> tuple[list[float], list[float], object]:
    """Wall and CPU seconds of ``runs`` calls (after one warm-up call), and the last value."""
    value = step()
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        value = step()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, value


def _ms(values: list[float]) -> str:
    return (f"{1000 * min(values):,.1f} | **{1000 * statistics.median(values):,.1f}** | "
            f"{1000 * max(values):,.1f}")


def _page_reads(workflow, run_id: int, runs: int) -> list[str]:
    """Table rows: each read the churn page makes, as the city and as one manager."""
    with acting_as(SYSTEM):
        top = scores.load_retention(workflow, run_id, limit=1000)
        region = top["micro_region"].iloc[0]
        action = next((a for a in top["action"] if a), None)
        subscriber = int(top["subscriber_id"].iloc[500])
    manager = Principal("rm_bench", "Bench manager", "regional_manager", "micro_region", region)
    risky = RetentionFilter(micro_region=region, min_prob=0.05)
    reads_ = [
        ("top 50, no filter", lambda: scores.load_retention(workflow, run_id)),
        (f"top 50 of {region}, risk ≥ 5%", lambda: scores.load_retention(workflow, run_id, risky)),
        ("top 50 of one tactic", lambda: scores.load_retention(
            workflow, run_id, RetentionFilter(action=action))),
        ("page 200 (rows 9,951–10,000), by offset", lambda: scores.load_retention(
            workflow, run_id, offset=9950)),
        ("one subscriber by key", lambda: scores.load_subscriber_score(workflow, run_id,
                                                                       subscriber)),
        ("count of the filtered list", lambda: scores.count_retention(workflow, run_id, risky)),
        ("aggregates: risk band × branch × micro-region × segment",
         lambda: scores.load_risk_summary(workflow, run_id)),
        ("tactics in the run", lambda: scores.load_actions(workflow, run_id)),
    ]
    rows = []
    for who, label in ((SYSTEM, "city"), (manager, f"manager of {region}")):
        with acting_as(who):
            for name, step in reads_:
                if label != "city" and name.startswith("top 50 of "):
                    continue  # a manager's filters are their scope
                walls, cpus, _ = _repeat(step, runs)
                rows.append(f"| {name} | {label} | {_ms(walls)} | "
                            f"{1000 * statistics.median(cpus):,.1f} |")
    return rows


def _steps(output: str) -> list[tuple[str, float]]:
    """The score job's steps and their seconds, from its "[  12.3s] step" progress lines."""
    marks = [(float(m.group(1)), m.group(2)) for m in re.finditer(r"\[\s*([\d.]+)s\] (.*)",
                                                                   output)]
    done = re.search(r"Scored [\d,]+ subscribers .*? in ([\d.]+)s; written as run \d+ in "
                     r"([\d.]+)s", output)
    end = marks[0][0] + float(done.group(1)) + float(done.group(2)) if done and marks else None
    out = []
    for (at, name), (after, _) in zip(marks, [*marks[1:], (end, "")], strict=True):
        if after is not None:
            out.append((name, after - at))
    return out


def _timed(step):
    started = time.perf_counter()
    value = step()
    return value, time.perf_counter() - started


def synthetic_scores(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` scored rows shaped like the scoring job's, over 4 branches × 8 micro-regions,
    ranked by expected loss, a tactic for the top 20,000 (as the job suggests)."""
    rng = np.random.default_rng(seed)
    prob = rng.beta(1.2, 60, n).round(5)
    value = rng.normal(150, 120, n).round(2)
    branch = rng.integers(0, 4, n)
    frame = pd.DataFrame({
        "subscriber_id": rng.permutation(n) + 1, "branch": np.array(["B0", "B1", "B2", "B3"])[branch],
        "micro_region": [f"B{b}-M{m}" for b, m in zip(branch, rng.integers(0, 8, n))],
        "segment": rng.choice(["youth", "family", "business", "senior", "student"], n),
        "group_id": np.where(rng.random(n) < 0.1, rng.integers(1, 900, n), np.nan),
        "group_name": None, "plan_family": "4G", "channel_type": "own_store",
        "tenure_months": rng.integers(1, 120, n), "arpu": rng.gamma(4, 14, n).round(2),
        "churn_prob": prob, "net_value": value, "expected_loss": (prob * value).round(2),
        "top_reason": "ARPU down 23% over 3 months",
        "reasons": "ARPU down 23% over 3 months; minutes down 40% over 3 months",
        "reason_tags": "arpu_drop,usage_fading"})
    frame["risk_band"] = risk_band(frame["churn_prob"], float(prob.mean())).to_numpy()
    frame = frame.sort_values(["expected_loss", "churn_prob"], ascending=False).reset_index(drop=True)
    frame["rank"] = np.arange(1, n + 1)
    frame["action"] = np.where(frame["rank"] <= 20_000,
                               rng.choice(["Data pack [DATA]", "Care call [CALL]", ""], n), "")
    return frame


@contextlib.contextmanager
def _score_store(kind: str) -> Iterator[tuple[sa.Engine, int | None, Callable[[], str]]]:
    """A fresh workflow store of ``kind``: its engine, its server's pid (PostgreSQL: a private
    server with the benchmarks' settings, removed afterwards) and a line on its size."""
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="churn-table-")) / "workflow.sqlite"
        engine = create_workflow_engine(f"sqlite:///{path}")
        yield engine, None, lambda: f"a fresh SQLite workflow store ({_mib(path)} after)"
        engine.dispose()
        return
    from bench.postgres import SERVER_SETTINGS, _server_root
    from tests.pgserver import private_server

    with private_server(SERVER_SETTINGS) as url:
        engine = create_workflow_engine(url, bulk=True)
        with engine.connect() as conn:
            server = _server_root(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
            version = conn.exec_driver_sql("SHOW server_version").scalar()

        def size() -> str:
            with engine.connect() as conn:
                used = conn.exec_driver_sql("SELECT pg_database_size(current_database())"
                                            ).scalar()
            return (f"a fresh PostgreSQL {version} workflow store on this machine (settings of "
                    f"`bench.postgres`; {used / 2**20:,.0f} MiB after)")

        yield engine, server, size
        engine.dispose()


def _mib(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:,.0f} MiB"


def table_only(rows: int, runs: int, record: bool, store: str = "sqlite",
               writes: int = 3) -> int:
    """The scores table alone at ``rows`` rows in a fresh ``store``: ``writes`` runs written
    one after another (each a whole run: opened, its rows in chunks, finished; no older run is
    deleted while ``writes`` ≤ the runs kept), then the page's reads of the last."""
    frame = synthetic_scores(rows)
    load = os.getloadavg()
    walls, clients, servers = [], [], []
    with _score_store(store) as (workflow, server, size), acting_as(SYSTEM):
        for month in range(1, max(1, min(writes, scores.KEEP_RUNS)) + 1):
            before = tree_cpu_seconds(server) if server else 0.0
            started, cpu = time.perf_counter(), time.process_time()
            run = scores.save_score_run(workflow, "churn-20261201-000000", f"2026-{month:02d}",
                                        frame, pd.DataFrame())
            walls.append(time.perf_counter() - started)
            clients.append(time.process_time() - cpu)
            if server:
                servers.append(tree_cpu_seconds(server) - before)
        read_rows = _page_reads(workflow, run.run_id, runs)
        where = size()
    server_part = (f"; the server's CPU {statistics.median(servers):.1f} s "
                   f"({min(servers):.1f}–{max(servers):.1f})" if servers else "")
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, load average {load[0]:.1f} at "
        f"the start and {os.getloadavg()[0]:.1f} at the end (the machine is shared: CPU beside "
        f"wall); synthetic runs of {rows:,} scored rows in {where}.",
        "",
        f"Writing a run ({len(walls)} runs one after another; its rows in transactions of "
        f"{scores.CHUNK_ROWS:,}, `data_access.bulk`): **{statistics.median(walls):.1f} s** wall "
        f"median ({min(walls):.1f}–{max(walls):.1f}), this process's CPU "
        f"{statistics.median(clients):.1f} s ({min(clients):.1f}–{max(clients):.1f})"
        f"{server_part}.",
        "",
        f"The churn page's reads ({runs} runs after a warm-up; ms):",
        "",
        "| read | as | min | median | max | CPU median |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *read_rows])
    print(body)
    if record:
        name, title = (("churn-table", "## Churn scores table: write and page reads")
                       if store == "sqlite" else
                       ("churn-table-postgres",
                        "## Churn scores table on PostgreSQL: write and page reads"))
        record_section(name, title, body, "Run `python -m bench.churn --table-rows 1000000 "
                       f"--store {store}` (no mart needed).")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mart", default=str(OUT / "mart_1000000x24.duckdb"))
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    parser.add_argument("--train-months", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each page read")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--table-rows", type=int, default=None,
                        help="measure only the scores table: write this many synthetic rows, "
                             "then the page's reads")
    parser.add_argument("--model-dir", default=None,
                        help="score with the live model of this directory instead of training")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="with --table-rows: the workflow store written (postgresql: a "
                             "private server on this machine)")
    parser.add_argument("--writes", type=int, default=3,
                        help=f"with --table-rows: runs written, at most {scores.KEEP_RUNS}")
    args = parser.parse_args()
    if args.table_rows is not None:
        return table_only(args.table_rows, args.runs, not args.no_record, args.store,
                          args.writes)
    url = f"duckdb:///{Path(args.mart).resolve()}"
    load = os.getloadavg()
    models = Path(args.model_dir or tempfile.mkdtemp(prefix="churn-bench-"))
    workflow_url = f"sqlite:///{models / 'workflow.sqlite'}"
    cli = [sys.executable, "-m", "jobs.churn"]
    (models / "workflow.sqlite").unlink(missing_ok=True)
    train_s = train_cpu = train_mb = None
    if args.model_dir is None:
        print("training…", flush=True)
        train_s, train_cpu, train_mb, out = _child(
            [*cli, "train", "--mart", url, "--model-dir", str(models), "--max-rows",
             str(args.max_rows), "--train-months", str(args.train_months)])
        print(out, flush=True)
    print("scoring…", flush=True)
    score_s, score_cpu, score_mb, out = _child(
        [*cli, "score", "--mart", url, "--model-dir", str(models), "--workflow", workflow_url])
    print(out, flush=True)
    workflow = create_workflow_engine(workflow_url)
    run = scores.latest_run(workflow)
    print("page reads…", flush=True)
    read_rows = _page_reads(workflow, run.run_id, args.runs)
    store_mb = (models / "workflow.sqlite").stat().st_size / 2**20
    load_mid = os.getloadavg()
    model, manifest = store.load_model(model_dir=models)
    engine = create_mart_engine(url, read_only=True)
    month = pd.Timestamp(available_months(engine)[-1])
    snapshot = load_snapshot(engine, month)
    rows = len(snapshot.features)
    model.predict_proba(snapshot.features.head(1000))  # warm up
    _, predict_s = _timed(lambda: model.predict_proba(snapshot.features))
    metrics, seconds = manifest["metrics"], manifest["seconds"]
    train, test = manifest["training_window"], manifest["test_window"]
    gap = metrics["oracle_roc_auc"] - metrics["roc_auc"] if metrics["oracle_roc_auc"] else None
    base = manifest["baselines"]
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores (load average "
        f"{load[0]:.1f} at the start, {load_mid[0]:.1f} after the page reads, "
        f"{os.getloadavg()[0]:.1f} at the end: the machine is shared, so CPU seconds are given "
        f"beside wall seconds), "
        f"Python {platform.python_version()}, {Path(args.mart).name}; churn within "
        f"{manifest['horizon_months']} month; trained on {len(train['snapshots'])} snapshots "
        f"({train['snapshots'][0]} … {train['snapshots'][-1]}) sampled to "
        f"{train['rows']:,} rows ({train['churners']:,} churners), judged on "
        f"{', '.join(test['snapshots'])} ({test['rows']:,} subscribers).",
        "",
        "| step | wall s | CPU s | peak MiB | note |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| `python -m jobs.churn train` (whole process) | **{train_s:.0f}** | {train_cpu:.0f} | "
        f"{train_mb:,.0f} | features {seconds['features']:.0f} s, fit {seconds['fit']:.0f} s, "
        f"scoring the test month {seconds['score_test']:.0f} s, drivers "
        f"{seconds['drivers']:.0f} s, the rest the two baselines |" if train_s is not None else
        f"| training | | | | not run: the model of {models} (trained on {train['rows']:,} "
        f"rows of another mart, in {sum(seconds.values()):.0f} s of steps) |",
        f"| `python -m jobs.churn score` (whole process) | **{score_s:.0f}** | {score_cpu:.0f} | "
        f"{score_mb:,.0f} | {rows:,} subscribers: features, scores, reasons, actions, "
        f"group warnings, the scores table (SQLite store {store_mb:,.0f} MiB after) |",
        *[f"| score job step: {name} | {seconds:.1f} | | | |" for name, seconds in _steps(out)],
        f"| `predict_proba` alone, in one process | {predict_s:.1f} | | | "
        f"**{rows / predict_s:,.0f} subscribers/s** |",
        "",
        f"The churn page's reads on that store (SQLite, run {run.run_id}, {run.subscribers:,} "
        f"rows; {args.runs} runs after a warm-up; ms):",
        "",
        "| read | as | min | median | max | CPU median |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *read_rows,
        "",
        "| model on the held-out month | ROC-AUC | PR-AUC | top-decile lift |",
        "| --- | ---: | ---: | ---: |",
        f"| ChurnModel | **{metrics['roc_auc']:.3f}** | {metrics['pr_auc']:.3f} | "
        f"{metrics['top_decile_lift']:.2f} |",
        *[f"| baseline: {name} | {b['roc_auc']:.3f} | {b['pr_auc']:.3f} | "
          f"{b['top_decile_lift']:.2f} |" for name, b in base.items()],
        f"| oracle (the generator's true probabilities) | {metrics['oracle_roc_auc']:.3f} | | |"
        if gap is not None else "",
        "",
        f"Oracle gap {gap:.3f}; mean predicted churn {metrics['mean_predicted']:.2%} against "
        f"{metrics['observed_rate']:.2%} observed." if gap is not None else "",
    ])
    print(body)
    if args.no_record:
        return 0
    record_section("churn", "## Churn prediction (issue 6)", body,
                   "Run `python -m bench.churn` (after `make bench` built the mart). Aims: score "
                   "1M subscribers in 30 s and train in 2 minutes on 2 idle cores.")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

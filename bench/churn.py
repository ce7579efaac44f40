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
Aims (issue "Interactive at 1M subscribers"): score 1M in 30 s, train in 2 minutes, on 2
idle cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import statistics

import numpy as np
import pandas as pd

from analytics.churn.retention import risk_band

from jobs.churn_pipeline import load_snapshot
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


def table_only(rows: int, runs: int, record: bool) -> int:
    """The scores table alone at ``rows`` rows: the write, then the page's reads."""
    folder = Path(tempfile.mkdtemp(prefix="churn-table-"))
    workflow = create_workflow_engine(f"sqlite:///{folder / 'workflow.sqlite'}")
    frame = synthetic_scores(rows)
    load = os.getloadavg()
    with acting_as(SYSTEM):
        started, cpu = time.perf_counter(), time.process_time()
        run = scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", frame,
                                    pd.DataFrame())
        write_s, write_cpu = time.perf_counter() - started, time.process_time() - cpu
    read_rows = _page_reads(workflow, run.run_id, runs)
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, load average {load[0]:.1f} at "
        f"the start and {os.getloadavg()[0]:.1f} at the end (the machine is shared: CPU beside "
        f"wall); a synthetic run of {rows:,} scored rows in a fresh SQLite workflow store "
        f"({(folder / 'workflow.sqlite').stat().st_size / 2**20:,.0f} MiB after).",
        "",
        f"Writing the run (one transaction, chunks of {scores.CHUNK_ROWS:,}, five indexes): "
        f"**{write_s:.1f} s** wall, {write_cpu:.1f} s CPU.",
        "",
        f"The churn page's reads ({runs} runs after a warm-up; ms):",
        "",
        "| read | as | min | median | max | CPU median |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *read_rows])
    print(body)
    if record:
        record_section("churn-table", "## Churn scores table: write and page reads", body,
                       "Run `python -m bench.churn --table-rows 1000000` (no mart needed).")
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
    args = parser.parse_args()
    if args.table_rows is not None:
        return table_only(args.table_rows, args.runs, not args.no_record)
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

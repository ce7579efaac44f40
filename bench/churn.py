"""Benchmark: churn model training, scoring and quality on the 1M-subscriber mart.

    python -m bench.churn [--mart bench/out/mart_1000000x24.duckdb] [--max-rows 1000000]

Needs the mart built by ``python -m bench.sandbox``. Runs ``python -m jobs.churn train``
and ``score`` as child processes (wall time, each one's peak resident memory, and the steps
of the score job from its progress lines), then times ``predict_proba`` alone on the latest
month in this process. Prints the figures and writes the ``churn`` section of
bench/RESULTS.md.
Aim: train in under 5 minutes, score a million subscribers in under a minute, on 2 cores.
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

import pandas as pd

from jobs.churn_pipeline import load_snapshot
from bench.results import record_section
from bench.sandbox import OUT
from data_access.mart import churn as reads
from data_access.store import churn as store
from data_access.db import create_mart_engine


def _child(args: list[str]) -> tuple[float, float, str]:
    """Run a command; its wall seconds, its own peak resident MiB and its output."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def _steps(output: str) -> list[tuple[str, float]]:
    """The score job's steps and their seconds, from its "[  12.3s] step" progress lines."""
    marks = [(float(m.group(1)), m.group(2)) for m in re.finditer(r"\[\s*([\d.]+)s\] (.*)",
                                                                   output)]
    done = re.search(r"Scored [\d,]+ subscribers .* in ([\d.]+)s", output)
    end = marks[0][0] + float(done.group(1)) if done and marks else None
    out = []
    for (at, name), (after, _) in zip(marks, [*marks[1:], (end, "")], strict=True):
        if after is not None:
            out.append((name, after - at))
    return out


def _timed(step):
    started = time.perf_counter()
    value = step()
    return value, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mart", default=str(OUT / "mart_1000000x24.duckdb"))
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    parser.add_argument("--train-months", type=int, default=6)
    args = parser.parse_args()
    url = f"duckdb:///{Path(args.mart).resolve()}"
    load = os.getloadavg()
    models = Path(tempfile.mkdtemp(prefix="churn-bench-"))
    cli = [sys.executable, "-m", "jobs.churn"]
    print("training…", flush=True)
    train_s, train_mb, out = _child([*cli, "train", "--mart", url, "--model-dir", str(models),
                                     "--max-rows", str(args.max_rows),
                                     "--train-months", str(args.train_months)])
    print(out, flush=True)
    print("scoring…", flush=True)
    score_s, score_mb, out = _child([*cli, "score", "--mart", url, "--model-dir", str(models)])
    print(out, flush=True)
    model, manifest = store.load_model(model_dir=models)
    engine = create_mart_engine(url, read_only=True)
    month = pd.Timestamp(reads.load_fact_months(engine)[-1])
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
        f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end: the machine is shared), "
        f"Python {platform.python_version()}, {Path(args.mart).name}; churn within "
        f"{manifest['horizon_months']} month; trained on {len(train['snapshots'])} snapshots "
        f"({train['snapshots'][0]} … {train['snapshots'][-1]}) sampled to "
        f"{train['rows']:,} rows ({train['churners']:,} churners), judged on "
        f"{', '.join(test['snapshots'])} ({test['rows']:,} subscribers).",
        "",
        "| step | wall s | peak MiB | note |",
        "| --- | ---: | ---: | --- |",
        f"| `python -m jobs.churn train` (whole process) | **{train_s:.0f}** | "
        f"{train_mb:,.0f} | features {seconds['features']:.0f} s, fit {seconds['fit']:.0f} s, "
        f"scoring the test month {seconds['score_test']:.0f} s, drivers "
        f"{seconds['drivers']:.0f} s, the rest the two baselines |",
        f"| `python -m jobs.churn score` (whole process) | **{score_s:.0f}** | "
        f"{score_mb:,.0f} | {rows:,} subscribers: features, scores, reasons, actions, "
        "group warnings, parquet |",
        *[f"| score job step: {name} | {seconds:.1f} | | |" for name, seconds in _steps(out)],
        f"| `predict_proba` alone, in one process | {predict_s:.1f} | | "
        f"**{rows / predict_s:,.0f} subscribers/s** |",
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
    record_section("churn", "## Churn prediction (issue 6)", body,
                   "Run `python -m bench.churn` (after `make bench` built the mart). Aim: train in "
                   "under 5 minutes and score a million subscribers in under a minute on 2 cores.")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

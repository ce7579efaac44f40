"""Benchmark: how cost grows with the subscriber base (250k, 1M, 4M subscribers × 24 months).

    python -m bench.growth [--sizes 250000,1000000,4000000] [--runs 5] [--rebuild]
                           [--no-churn] [--no-record]

For each size: builds the mart if absent (``bench/out/mart_<n>x24.duckdb``; whole generator
process: wall, CPU, peak resident memory, file size), then in a fresh child process per size
times every sandbox query (``bench.sandbox.sandbox_cases``), the nightly anomaly scan into a
throw-away store, and each starter diagnosis template; then the churn score job
(``python -m jobs.churn score``) with a copy of the demo's live model. Prints one table with
the growth factor between neighbouring sizes and writes the ``growth`` section of
bench/RESULTS.md unless ``--no-record``. Wall seconds are given with CPU seconds beside them
and the machine's load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.churn import _child, _steps
from bench.results import record_section, timed_runs
from bench.sandbox import HERE, OUT

_HEADING = "## How cost grows with the subscriber base (issue 16)"
_INTRO = ("Run `python -m bench.growth` (builds the 250k and 4M marts beside the 1M one if "
          "absent; the 4M build needs about 10 GB of memory).")


def _mart(size: int) -> Path:
    return OUT / f"mart_{size}x24.duckdb"


def _build(size: int) -> dict:
    path = _mart(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    wall, cpu, peak, _ = _child([sys.executable, "-m", "data_access.synth.generate",
                                 "--subscribers", str(size), "--months", "24", "--seed", "7",
                                 "--url", f"duckdb:///{path}"])
    return {"wall": wall, "cpu": cpu, "peak": peak, "file": path.stat().st_size / 2**20}


def _timed(step, runs: int) -> dict:
    walls, cpus = timed_runs(step, runs)
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "cpu": statistics.median(cpus)}


def measure(path: Path, runs: int) -> dict:
    """In this process: the sandbox queries, the nightly scan and the template runs."""
    import pandas as pd

    from analytics.diagnosis.runs import run_template
    from analytics.diagnosis.templates import parse_template
    from bench.sandbox import sandbox_cases
    from data_access.db import PROJECT_ROOT, create_mart_engine
    from data_access.mart import queries
    from data_access.store.diagnosis import MartDiagnosisData
    from data_access.store.workflow import create_workflow_engine
    from jobs.scheduler import scan_for_alerts

    engine = create_mart_engine(f"duckdb:///{path}", read_only=True)
    out: dict = {"rows": int(queries.load_table_counts(engine).set_index("table")["rows"]
                             ["fact_subscriber_month"]), "queries": {}, "templates": {}}
    for name, step in sandbox_cases(engine):
        out["queries"][name] = _timed(step, runs)
    month = pd.Timestamp(queries.available_months(engine)[-1])
    for template_path in sorted((PROJECT_ROOT / "assets" / "templates").glob("*.json")):
        template = parse_template(template_path.read_text(encoding="utf-8"))
        out["templates"][template.name] = _timed(
            lambda t=template: run_template(t, MartDiagnosisData(engine), month), runs)
    with tempfile.TemporaryDirectory() as tmp:
        workflow = create_workflow_engine(f"sqlite:///{Path(tmp) / 'wf.sqlite'}")
        started, cpu = time.perf_counter(), time.process_time()
        scan_for_alerts(workflow, engine, recent=1)
        out["scan"] = {"median": time.perf_counter() - started, "cpu": time.process_time() - cpu}
        workflow.dispose()
    import resource
    out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _score(size: int) -> dict:
    """The churn score job on the mart, with a copy of the demo's live model."""
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        shutil.copytree(HERE.parent / ".data" / "models" / "churn", models)
        wall, cpu, peak, output = _child(
            [sys.executable, "-m", "jobs.churn", "score", "--mart",
             f"duckdb:///{_mart(size).resolve()}", "--model-dir", str(models),
             "--workflow", f"sqlite:///{Path(tmp) / 'wf.sqlite'}"])
    return {"wall": wall, "cpu": cpu, "peak": peak, "steps": dict(_steps(output))}


def _step_label(step: str) -> str:
    """A score job step without its counts and month ("scoring 1,063,525 subscribers" →
    "scoring N subscribers"), so steps line up across sizes."""
    return re.sub(r"\d[\d,]*", "N", re.sub(r"\d{4}-\d{2}", "YYYY-MM", step))


def _factor(values: list[float | None]) -> str:
    parts = [f"×{b / a:.1f}" if a and b else "" for a, b in zip(values, values[1:], strict=False)]
    return " / ".join(parts)


def _table(sizes: list[int], results: dict[int, dict]) -> list[str]:
    head = " | ".join(f"{s / 1e6:g}M" for s in sizes)
    rows = [f"| step | unit | {head} | growth |",
            "| --- | --- |" + " ---: |" * len(sizes) + " --- |"]

    def row(name: str, unit: str, values: list[float | None], fmt: str,
            cpu: list[float | None] | None = None) -> None:
        cells = []
        for i, v in enumerate(values):
            text = "" if v is None else format(v, fmt)
            if cpu and cpu[i] is not None:
                text += f" (CPU {format(cpu[i], fmt)})"
            cells.append(text)
        rows.append(f"| {name} | {unit} | {' | '.join(cells)} | {_factor(values)} |")

    def get(size: int, *keys: str) -> float | None:
        value = results[size]
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    row("monthly rows", "", [get(s, "measure", "rows") for s in sizes], ",.0f")
    row("build: generator process", "s", [get(s, "build", "wall") for s in sizes], ",.1f",
        [get(s, "build", "cpu") for s in sizes])
    row("build: peak memory", "MiB", [get(s, "build", "peak") for s in sizes], ",.0f")
    row("mart file", "MiB", [get(s, "build", "file") for s in sizes], ",.0f")
    first = next(iter(results.values()))["measure"]
    for name in first["queries"]:
        row(f"query: {name}", "ms",
            [1000 * v if (v := get(s, "measure", "queries", name, "median")) is not None
             else None for s in sizes], ",.1f",
            [1000 * v if (v := get(s, "measure", "queries", name, "cpu")) is not None
             else None for s in sizes])
    for name in first["templates"]:
        row(f"template run: {name}", "s",
            [get(s, "measure", "templates", name, "median") for s in sizes], ".2f",
            [get(s, "measure", "templates", name, "cpu") for s in sizes])
    row("nightly anomaly scan (this process)", "s",
        [get(s, "measure", "scan", "median") for s in sizes], ",.1f",
        [get(s, "measure", "scan", "cpu") for s in sizes])
    row("query process peak memory", "MiB", [get(s, "measure", "peak") for s in sizes], ",.0f")
    if all("score" in results[s] for s in sizes):
        row("churn score job (whole process)", "s", [get(s, "score", "wall") for s in sizes],
            ",.1f", [get(s, "score", "cpu") for s in sizes])
        row("churn score job: peak memory", "MiB", [get(s, "score", "peak") for s in sizes],
            ",.0f")
        labelled = {s: {_step_label(k): v for k, v in results[s]["score"]["steps"].items()}
                    for s in sizes}
        for label in labelled[sizes[0]]:
            row(f"score job step: {label}", "s", [labelled[s].get(label) for s in sizes],
                ",.1f")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,1000000,4000000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="rebuild marts that exist")
    parser.add_argument("--no-churn", action="store_true", help="skip the churn score job")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child's entry
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.runs)))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    load_before, results = os.getloadavg(), {}
    for size in sizes:
        results[size] = {}
        if args.rebuild or not _mart(size).exists():
            print(f"building {size:,} subscribers…", flush=True)
            results[size]["build"] = _build(size)
            print(results[size]["build"], flush=True)
        print(f"measuring {size:,}…", flush=True)
        _, _, _, output = _child([sys.executable, "-m", "bench.growth", "--measure",
                                  str(_mart(size)), "--runs", str(args.runs)])
        results[size]["measure"] = json.loads(output.strip().splitlines()[-1])
        if not args.no_churn:
            print(f"scoring churn on {size:,}…", flush=True)
            results[size]["score"] = _score(size)
    table = _table(sizes, results)
    print("\n".join(table))
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores (load average "
        f"{load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end), "
        f"{args.runs} runs after a warm-up per query and template (medians; CPU in the query "
        "process beside wall, the mart's own threads included). Builds are one run each, "
        "timed only where the mart was (re)built in this run. Growth: the factor between "
        "neighbouring sizes (×4 is linear in the subscriber base).", "", *table])
    if not args.no_record:
        record_section("growth", _HEADING, body, _INTRO)
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

"""Page times and the load test on a PostgreSQL mart: prepare the workflow store for it, then
run bench.clicks and bench.load against it.

    python -m bench.postgres_app --url URL [--model-dir DIR] [--work DIR] [--max-rows N]
                                 [--runs 5] [--sessions 1,5,10] [--rounds 3] [--timeout 120]
                                 [--settle 180]
                                 [--no-record] [--skip-clicks] [--skip-load]

``URL`` is a PostgreSQL database holding a generated mart, e.g. the one ``python -m
bench.postgres --subscribers 1000000 --keep`` leaves running (it prints the URL). Each step
is a child process, one at a time, and prints the command it runs:

1. the churn model, in ``WORK/models``: the versions of ``--model-dir DIR`` copied there
   (the model files and which is live, not DIR's store: a model trained on the DuckDB mart
   of the same size and seed serves this one alike), else the one already there, else
   ``python -m jobs.churn train --mart URL --model-dir WORK/models [--max-rows N]``;
2. its scores of the mart's latest month: ``python -m jobs.churn score --mart URL
   --model-dir WORK/models --workflow sqlite:///WORK/models/workflow.sqlite``;
3. the precomputed campaign effects, rival scores and channel values for this mart:
   ``CONCERTO_MART_URL=URL CONCERTO_WORKFLOW_URL=sqlite:///WORK/models/workflow.sqlite
   python -m jobs.precompute --if-stale``. They are stored under the mart's fingerprint,
   ``build:<id>`` with a new id for every build, so a PostgreSQL mart generated with the same
   size and seed as a DuckDB file has its own and nothing of the file's store is reused;
4. ``python -m bench.clicks --mart-url URL --runs R --record NAME`` (section
   ``clicks-NAME-postgres`` of bench/RESULTS.md; NAME from the mart's size, e.g. ``1m``);
5. ``python -m bench.load --mart-url URL --model-dir WORK/models --sessions S --rounds R``
   (section ``load-postgres``).

``WORK`` defaults to ``bench/out/postgres-app-<subscribers>``; ``WORK/prepared.json`` notes
the mart (fingerprint) and model version steps 2-3 were done for, so a rerun on the same mart
goes straight to the measurements. Before the measurements it waits (``--settle``, at most 180
s) for the 1-minute load average to fall below 1, which the preparation raised, and says what
it was. ``--no-record`` passes on to both benchmarks (print only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import parse_sessions
from bench.marts import BadInput, MartTarget, mart_facts, postgres_url

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PREPARED = "prepared.json"


# ── pure parts (tests/test_bench_load.py) ───────────────────────────────────────────────────


@dataclass(frozen=True)
class Options:
    url: str
    model_dir: Path | None
    work: Path | None
    max_rows: int | None
    runs: int
    sessions: str
    rounds: int
    timeout: float
    settle: float
    record: bool
    clicks: bool
    load: bool


def parse_options(argv: list[str] | None = None) -> Options:
    """The command line, checked: BadInput names what is wrong (argparse exits 2 on its own
    errors, e.g. no --url)."""
    parser = argparse.ArgumentParser(prog="python -m bench.postgres_app",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True,
                        help="the PostgreSQL mart, e.g. postgresql+psycopg://postgres@127.0.0.1:"
                             "5432/postgres")
    parser.add_argument("--model-dir", default=None,
                        help="a churn model folder to take the model from (not trained again)")
    parser.add_argument("--work", default=None,
                        help="folder for the model and the workflow store (default "
                             "bench/out/postgres-app-<subscribers>)")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="training rows when a model is trained (jobs.churn's default)")
    parser.add_argument("--runs", type=int, default=5, help="bench.clicks runs")
    parser.add_argument("--sessions", default="1,5,10", help="bench.load session counts")
    parser.add_argument("--rounds", type=int, default=3, help="bench.load rounds")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a click may take")
    parser.add_argument("--settle", type=float, default=180,
                        help="seconds to wait at most for the load average to fall below 1 "
                             "before measuring")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; bench/RESULTS.md is not written")
    parser.add_argument("--skip-clicks", action="store_true", help="no bench.clicks")
    parser.add_argument("--skip-load", action="store_true", help="no bench.load")
    args = parser.parse_args(argv)
    url = postgres_url(args.url, "--url")
    parse_sessions(args.sessions)  # BadInput with bench.load's message
    if args.runs < 1 or args.rounds < 1 or args.timeout <= 0 or args.settle < 0:
        raise BadInput("--runs and --rounds must be at least 1, --timeout positive, --settle "
                       "at least 0")
    if args.max_rows is not None and args.max_rows < 1_000:
        raise BadInput(f"--max-rows: at least 1,000 training rows; got {args.max_rows}")
    model_dir = Path(args.model_dir).resolve() if args.model_dir else None
    if model_dir is not None and not (model_dir / "live.json").is_file():
        raise BadInput(f"--model-dir: {model_dir} holds no live churn model (live.json); "
                       "train one with `python -m jobs.churn train --model-dir DIR`")
    return Options(url, model_dir, Path(args.work).resolve() if args.work else None,
                   args.max_rows, args.runs, args.sessions, args.rounds, args.timeout,
                   args.settle, not args.no_record, not args.skip_clicks, not args.skip_load)


def size_name(subscribers: int) -> str:
    """A mart's size as record names write it.

    >>> size_name(1_000_000), size_name(250_000), size_name(1_234)
    ('1m', '250k', '1234')
    """
    if subscribers and subscribers % 1_000_000 == 0:
        return f"{subscribers // 1_000_000}m"
    if subscribers and subscribers % 1_000 == 0:
        return f"{subscribers // 1_000}k"
    return str(subscribers)


@dataclass(frozen=True)
class Step:
    """One child process: what it is for, its arguments after the interpreter, extra
    environment."""

    title: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


def plan(options: Options, models: Path, *, subscribers: int, has_model: bool,
         prepared: bool) -> list[Step]:
    """The steps to run, in order (see the module's docstring): training only without a
    model, scoring and precomputing only when not ``prepared`` for this mart and model."""
    store = f"sqlite:///{models / 'workflow.sqlite'}"
    steps = []
    if not has_model:
        steps.append(Step("train the churn model", [
            "-m", "jobs.churn", "train", "--mart", options.url, "--model-dir", str(models),
            *(["--max-rows", str(options.max_rows)] if options.max_rows else [])]))
    if not prepared:
        steps.append(Step("score the latest month into the store", [
            "-m", "jobs.churn", "score", "--mart", options.url, "--model-dir", str(models),
            "--workflow", store]))
        steps.append(Step("precompute results for this mart", ["-m", "jobs.precompute",
                                                               "--if-stale"],
                          {"CONCERTO_MART_URL": options.url, "CONCERTO_WORKFLOW_URL": store}))
    record = [] if not options.record else ["--record", size_name(subscribers)]
    if options.clicks:
        steps.append(Step("sign-in and drill clicks", [
            "-m", "bench.clicks", "--mart-url", options.url, "--runs", str(options.runs),
            *record]))
    if options.load:
        steps.append(Step("the load test", [
            "-m", "bench.load", "--mart-url", options.url, "--model-dir", str(models),
            "--sessions", options.sessions, "--rounds", str(options.rounds),
            "--timeout", str(options.timeout), *([] if options.record else ["--no-record"])]))
    return steps


# ── running ──────────────────────────────────────────────────────────────────────────────────


def _copy_models(source: Path, models: Path) -> None:
    """``source``'s model versions and live.json into ``models`` (its store stays behind)."""
    models.mkdir(parents=True, exist_ok=True)
    for folder in source.iterdir():
        if (folder / "manifest.json").is_file() and not (models / folder.name).exists():
            shutil.copytree(folder, models / folder.name)
    shutil.copy2(source / "live.json", models / "live.json")


def _live(models: Path) -> str | None:
    from data_access.store import churn

    return churn.live_version(model_dir=models)


def _fingerprint(url: str) -> str:
    from data_access.db import create_mart_engine
    from data_access.mart.queries import load_mart_fingerprint
    from data_access.store.principal import SYSTEM
    from data_access.store.scope import acting_as

    engine = create_mart_engine(url)
    try:
        with acting_as(SYSTEM):
            return load_mart_fingerprint(engine)
    finally:
        engine.dispose()


def _run(step: Step) -> None:
    shown = " ".join(f"{k}={v}" for k, v in step.env.items())
    print(f"\n== {step.title}: {shown + ' ' if shown else ''}python {' '.join(step.args)}",
          flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *step.args], cwd=ROOT, env={**os.environ, **step.env})
    if done.returncode:
        raise SystemExit(f"bench.postgres_app: {step.title} failed (exit {done.returncode})")
    print(f"== {step.title}: {time.perf_counter() - started:.0f} s", flush=True)


def _settle(most_s: float) -> None:
    """Wait up to ``most_s`` seconds for the 1-minute load average to fall below 1."""
    started = time.monotonic()
    while os.getloadavg()[0] >= 1 and time.monotonic() - started < most_s:
        time.sleep(5)
    print(f"\nload average {os.getloadavg()[0]:.2f} after waiting "
          f"{time.monotonic() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(argv)
        target = MartTarget(options.url, "postgresql")
        facts = mart_facts(target)
    except BadInput as exc:
        print(f"bench.postgres_app: {exc}", file=sys.stderr)
        return 2
    subscribers = int(facts.get("subscribers", 0))
    work = options.work or OUT / f"postgres-app-{size_name(subscribers)}"
    models = work / "models"
    if options.model_dir is not None:
        _copy_models(options.model_dir, models)
    fingerprint = _fingerprint(options.url)
    print(f"mart: {target.label} ({subscribers:,} subscribers × {facts.get('months', '?')} "
          f"months, {fingerprint}); work folder {work}", flush=True)
    marker = work / PREPARED
    wanted = {"mart": fingerprint, "model": _live(models)}
    prepared = (marker.is_file() and wanted["model"] is not None
                and json.loads(marker.read_text(encoding="utf-8")) == wanted)
    steps = plan(options, models, subscribers=subscribers, has_model=wanted["model"] is not None,
                 prepared=prepared)
    for step in steps:
        if step.args[1].startswith("bench."):
            _settle(options.settle)
        _run(step)
        if step.title.startswith("precompute"):
            marker.write_text(json.dumps({"mart": fingerprint, "model": _live(models)}),
                              encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

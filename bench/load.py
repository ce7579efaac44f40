"""Benchmark: several people at once — N concurrent browser sessions, p50/p95 per click, server
RSS and CPU (issue 16).

    python -m bench.load [--mart PATH | --mart-url URL] [--sessions 1,5,10] [--rounds 3]
                         [--model-dir DIR] [--timeout 120] [--think SECONDS]
                         [--first-visits] [--no-record]

Starts one app server on the mart (default: the 1M mart ``bench/out/mart_1000000x24.duckdb``
when it exists, else ``.data/mart.duckdb``; ``--mart-url`` a PostgreSQL mart, e.g. the one
``python -m bench.postgres --keep`` leaves running; the output says which) with a temporary
workflow store holding the demo users. For each N in ``--sessions`` it opens N browser sessions at once
in one headless Chromium (Debian's), each signed in as a different demo user (exec, analyst,
rm_gongbei, channel_mgr, account_mgr, marketer, admin, rm_xiangzhou, rm_doumen, rm_jinwan: N
takes the first N). After a barrier each session clicks its role's main journey
(``bench/load_journeys.py``: sign in → landing page, then 2–4 clicks that each cause a script
run: a KPI card, a drill row, a select box, a segmented control, a page from the sidebar) and
repeats it ``--rounds`` times, each round in a new tab (a new session, a new sign-in) of the
person's own browser profile, which keeps the app's scripts cached from round to round as a
returning person's browser does (round 1 is a first visit; ``--first-visits``: a new profile
every round, recorded in its own section, ``load-first-visits``). By default each click is made
as soon as the page before it settled: ten sessions that never stop to read, a stress test.
``--think T`` has each person read for a random 0.5–1.5 × T seconds before every click (and
type the password before signing in), as people at work do; it is recorded in its own
section (``load-think``), beside the stress figures, never instead of them.

Per click: wall seconds from the click until the page settled. Per N: p50, p95 and max over
all clicks and per step, the clicks that failed or timed out, the exception elements drawn,
tracebacks in the server's output, the server process tree's CPU seconds and resident memory
(sampled every 0.5 s from /proc: after start, peak, at the end), the browser side's CPU
seconds (Chromium runs on the same two cores and draws without a GPU, so the time until
the browser was free again is reported too) and the load average before and after. The aim
(at N = 10, p95 per click ≤ 3 s on the 1M mart on 2 cores) is reported, never asserted.
Prints a table and writes the ``load`` section of bench/RESULTS.md, ``load-postgres`` on a
PostgreSQL mart (``--no-record``: print only, for smoke runs).

With ``--model-dir DIR`` the app serves the churn model in DIR, and the churn page its scores
when DIR holds the store they were written to (``DIR/workflow.sqlite``, copied first):
``python -m jobs.churn train --mart M --model-dir DIR`` then ``python -m jobs.churn score
--mart M --model-dir DIR --workflow sqlite:///DIR/workflow.sqlite`` (``M``: a mart URL,
``duckdb:///…`` or ``postgresql+psycopg://…``). Without it the churn page has no model (the
account manager's last click draws the empty page). The campaign, rival and channel pages
read the results ``jobs.precompute`` stored for the mart (else they compute them on the
click); they are kept under the mart's fingerprint, ``build:<id>`` with a new id for every
build, so a PostgreSQL mart generated with the same size and seed as a DuckDB file has its
own: ``CONCERTO_MART_URL=M CONCERTO_WORKFLOW_URL=sqlite:///DIR/workflow.sqlite python -m
jobs.precompute``. ``python -m bench.postgres_app`` does all of it for a PostgreSQL mart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.marts import (BadInput, MartTarget, add_mart_options, mart_bytes, mart_facts,
                         mart_line, mart_target, section_name)
from bench.proctree import TreeSampler, tree_cpu_seconds
from bench.results import RESULTS, record_section
from bench.sandbox import OUT
from data_access.db import DEFAULT_MART_PATH

AIM_N, AIM_P95_S = 10, 3.0
BIG_MART = OUT / "mart_1000000x24.duckdb"
MAX_SESSIONS = 10  # distinct demo users (bench/load_journeys.USERS)
__all__ = ["BadInput", "main", "parse_sessions", "percentile", "summarize"]


# ── pure parts (tests/test_bench_load.py, with bench/proctree.py) ────────────────────────────────────────────────────


def parse_sessions(text: str, most: int = MAX_SESSIONS) -> list[int]:
    """``"1,5,10"`` → ``[1, 5, 10]``; BadInput for anything else.

    >>> parse_sessions("1, 5,10")
    [1, 5, 10]
    """
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p.isdigit() for p in parts):
        raise BadInput(f"--sessions wants whole numbers separated by commas, e.g. 1,5,10; "
                       f"got {text!r}")
    counts = [int(p) for p in parts]
    if any(not 1 <= c <= most for c in counts):
        raise BadInput(f"--sessions: each count must be between 1 and {most} (one demo user "
                       f"per session); got {text!r}")
    return counts


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between closest ranks (numpy's
    default).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    max: float


def summarize(values: list[float]) -> Summary | None:
    """Count, p50, p95 and max of some seconds; None when there are none."""
    if not values:
        return None
    return Summary(len(values), percentile(values, 50), percentile(values, 95), max(values))


# ── measuring ────────────────────────────────────────────────────────────────────────────────


@dataclass
class Level:
    """Everything measured at one N."""

    n: int
    clicks: list
    opens: list[float]
    wall_s: float
    server_cpu_s: float
    browser_cpu_s: float
    load: tuple[float, float]
    rss_peak_kb: int
    tracebacks: int
    #: the server's own record of its script runs in this N (``CONCERTO_RUN_LOG``, one dict each)
    runs: list = field(default_factory=list)


def read_runs(path: Path, since: float, until: float) -> list[dict]:
    """The server's runs (``pages/common/runlog.py``'s JSON lines) that started within
    [since, until] (epoch seconds); a line cut short is skipped."""
    runs = []
    if not path.exists():
        return runs
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            run = json.loads(line)
        except ValueError:
            continue
        if isinstance(run, dict) and since <= float(run.get("start", -1)) <= until:
            runs.append(run)
    return runs


def choose_mart(given: str | None, url: str | None = None) -> MartTarget:
    """The mart to use: ``--mart-url``'s database, ``--mart``'s file, else the 1M mart if
    built, else the demo mart."""
    return mart_target(given, url, BIG_MART if BIG_MART.exists() else DEFAULT_MART_PATH)


def measure(mart: MartTarget, counts: list[int], rounds: int, timeout_s: float,
            model_dir: Path | None, browser_nice: int = 0, think_s: float = 0.0,
            first_visits: bool = False
            ) -> tuple[list[Level], dict[str, float]]:
    """Start the app once and drive each N in turn; the levels, the server's RSS after start
    and at the end, and the load average before anything started. With ``browser_nice``
    this process takes that niceness once the server runs, so the browsers it starts do
    too and the server comes first for the cores."""
    from bench.load_journeys import USERS, drive_sessions
    from tests.browser_support import running_app

    levels, before = [], os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        store = Path(folder) / "workflow.sqlite"
        models = model_dir if model_dir is not None else Path(folder) / "no-models"
        if model_dir is not None and (model_dir / "workflow.sqlite").exists():
            for suffix in ("", "-wal", "-shm"):  # the store the scores were written to
                if (model_dir / f"workflow.sqlite{suffix}").exists():
                    shutil.copy(model_dir / f"workflow.sqlite{suffix}", f"{store}{suffix}")
        run_log = Path(folder) / "runs.jsonl"
        with running_app(mart.url, f"sqlite:///{store}", Path(folder) / "server.log",
                         model_dir=models, timeout=300,
                         extra_env={"CONCERTO_RUN_LOG": str(run_log)}) as server:
            pid = server.process.pid
            if browser_nice:
                os.nice(browser_nice)  # Playwright's driver and Chromium start after this
            sampler = TreeSampler(pid)
            sampler.start()
            for n in counts:
                load_start, mark = os.getloadavg()[0], server.mark()
                since, cpu, began = time.monotonic(), tree_cpu_seconds(pid), time.time()
                sampler.sample()
                browser = sampler.browser_cpu_seconds()
                print(f"N = {n}: {n} session(s) × {rounds} round(s)…", flush=True)
                clicks, opens = drive_sessions(server.url, USERS[:n], rounds, timeout_s,
                                               think_s, first_visits)
                sampler.sample()
                levels.append(Level(
                    n, clicks, opens, time.monotonic() - since, tree_cpu_seconds(pid) - cpu,
                    sampler.browser_cpu_seconds() - browser,
                    (load_start, os.getloadavg()[0]), sampler.peak_since(since),
                    server.output_since(mark).count("Traceback"),
                    read_runs(run_log, began, time.time())))
            rss = {"start": sampler.samples[0][1], "end": sampler.stop()}
    return levels, {**rss, "load_before": before}


# ── reporting ────────────────────────────────────────────────────────────────────────────────


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def _seconds(clicks, *, after_first_round: bool = False) -> list[float]:
    return [c.seconds for c in clicks if c.seconds is not None
            and (not after_first_round or c.round > 0)]


def level_table(levels: list[Level]) -> list[str]:
    """One row per N: clicks, failures, percentiles, CPU, memory, load."""
    rows = ["| N | clicks | failed / made twice | exception elements / server tracebacks | p50 s | p95 s | "
            "max s | p95 after round 1 s | p95 until the browser was free s | p50 / p95 until "
            "the server's answer was in s | server runs: n, p50 / p95 s, p95 CPU s | page main "
            "thread per click p50 / p95 s | sign-in page load "
            "p50 s | server CPU s | browser CPU s | wall s | server RSS peak MB | load avg start "
            "→ end |", "| ---: " * 17 + "| --- |"]
    for lv in levels:
        every, later = summarize(_seconds(lv.clicks)), summarize(
            _seconds(lv.clicks, after_first_round=True))
        opens = summarize(lv.opens)
        free = summarize([c.free_seconds for c in lv.clicks if c.free_seconds is not None])
        answered = summarize([c.answered_seconds for c in lv.clicks
                              if getattr(c, "answered_seconds", None) is not None])
        failed = sum(c.seconds is None for c in lv.clicks)
        tasks = summarize([c.browser_task_seconds for c in lv.clicks
                           if getattr(c, "browser_task_seconds", None) is not None])
        runs = summarize([float(r["wall_s"]) for r in lv.runs])
        run_cpu = summarize([float(r["cpu_s"]) for r in lv.runs])
        rows.append(
            f"| {lv.n} | {len(lv.clicks)} | {failed} / "
            f"{sum(getattr(c, 'repeated', False) for c in lv.clicks)} | "
            f"{sum(c.exceptions for c in lv.clicks)} / {lv.tracebacks} | "
            f"{_s(every and every.p50)} | **{_s(every and every.p95)}** | "
            f"{_s(every and every.max)} | {_s(later and later.p95)} | {_s(free and free.p95)} | "
            f"{_s(answered and answered.p50)} / {_s(answered and answered.p95)} | "
            + (f"{runs.n}, {runs.p50:.2f} / {runs.p95:.2f}, {run_cpu.p95:.2f} | " if runs
               else "— | ")
            + f"{_s(tasks and tasks.p50)} / {_s(tasks and tasks.p95)} | "
            + f"{_s(opens and opens.p50)} "
            f"| {lv.server_cpu_s:.1f} | {lv.browser_cpu_s:.1f} | {lv.wall_s:.0f} | "
            f"{_mb(lv.rss_peak_kb)} | {lv.load[0]:.1f} → {lv.load[1]:.1f} |")
    return rows


def step_table(levels: list[Level]) -> list[str]:
    """One row per role and step, one column per N: p50 / p95, max (clicks)."""
    steps = list(dict.fromkeys((c.role, c.step) for lv in levels for c in lv.clicks))
    rows = ["| role | step | " + " | ".join(f"N = {lv.n}" for lv in levels) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in levels) + " |"]
    for role, step in steps:
        cells = []
        for lv in levels:
            mine = [c for c in lv.clicks if (c.role, c.step) == (role, step)]
            got = summarize(_seconds(mine))
            failed = sum(c.seconds is None for c in mine)
            cell = "—" if got is None else (f"{got.p50:.2f} / {got.p95:.2f}, max {got.max:.2f} "
                                            f"({got.n})")
            cells.append(cell + (f", {failed} failed" if failed else ""))
        rows.append(f"| {role} | {step} | " + " | ".join(cells) + " |")
    return rows


def server_part(levels: list[Level]) -> list[str]:
    """The per-page table of the server's runs, with its legend (nothing when not logged)."""
    table = run_table(levels)
    if not table:
        return []
    return ["The server's own timing of each script run (`CONCERTO_RUN_LOG`): wall seconds "
            "from the start of the run to its end on the server, and the CPU seconds of the "
            "script's thread (a query's helper threads not counted; wall minus CPU is time "
            "spent waiting: for the database, a core or the interpreter lock). A click may "
            "cause two runs (a sign-in, then the landing page it switches to).", "",
            *table, ""]


def run_table(levels: list[Level]) -> list[str]:
    """The server's side, from its own log: per page (and per fragment rerun alone), one
    column per N: runs, p50 / p95 wall seconds, p95 CPU seconds of the script's thread."""
    pages = sorted({(str(r.get("kind")), str(r.get("page"))) for lv in levels for r in lv.runs})
    if not pages:
        return []
    rows = ["| server run | " + " | ".join(f"N = {lv.n}" for lv in levels) + " |",
            "| --- | " + " | ".join("---:" for _ in levels) + " |"]
    for kind, page in pages:
        cells = []
        for lv in levels:
            mine = [r for r in lv.runs if (str(r.get("kind")), str(r.get("page"))) == (kind, page)]
            wall = summarize([float(r["wall_s"]) for r in mine])
            cpu = summarize([float(r["cpu_s"]) for r in mine])
            cells.append("—" if wall is None else
                         f"{wall.n}: {wall.p50:.2f} / {wall.p95:.2f}, CPU {cpu.p95:.2f}")
        name = page or "(sign-in form)"
        rows.append(f"| {name if kind == 'app' else f'{name} (fragment)'} | "
                    + " | ".join(cells) + " |")
    return rows


def problem_lines(levels: list[Level], most: int = 20) -> list[str]:
    """Every click that failed, drew an exception or had to be made twice (the first started
    no script run), one line each (the first ``most``)."""
    bad = [(lv.n, c) for lv in levels for c in lv.clicks
           if c.seconds is None or c.exceptions or getattr(c, "repeated", False)]
    lines = [f"- N = {n}, {c.user} ({c.role}), round {c.round + 1}, {c.step}: "
             + (c.problem or (f"{c.exceptions} exception element(s) drawn" if c.exceptions
                              else f"made twice (the first click started no script run within "
                                   f"15 s); {c.seconds:.2f} s from the first click"))
             for n, c in bad[:most]]
    return lines + ([f"- … and {len(bad) - most} more"] if len(bad) > most else [])


def aim_statement(levels: list[Level], facts: dict[str, str]) -> str:
    aim = (f"Aim: at N = {AIM_N}, p95 per click ≤ {AIM_P95_S:.0f} s on the 1M mart on 2 cores "
           "(reported, not asserted).")
    at_aim = [lv for lv in levels if lv.n == AIM_N]
    if not at_aim:
        return f"{aim} Not judged: N = {AIM_N} was not measured."
    lv = at_aim[0]
    got, failed = summarize(_seconds(lv.clicks)), sum(c.seconds is None for c in lv.clicks)
    if got is None:
        return f"{aim} Not met: no click at N = {AIM_N} settled."
    drawn = sum(c.exceptions for c in lv.clicks)
    met = got.p95 <= AIM_P95_S and not failed and not drawn
    verdict = (f"{aim} At N = {AIM_N}, p95 = {got.p95:.2f} s over {got.n} clicks"
               + (f", {failed} click(s) failed" if failed else "")
               + (f", {drawn} exception element(s) drawn" if drawn else "")
               + f": {'met' if met else 'not met'}")
    if facts.get("subscribers") != "1000000" or os.cpu_count() != 2:
        verdict += (f" — but this was {int(facts.get('subscribers', 0)):,} subscribers on "
                    f"{os.cpu_count()} cores, so it does not decide the aim")
    return verdict + "."


def report(levels: list[Level], rss: dict[str, float], mart: MartTarget, facts: dict[str, str],
           rounds: int, model_dir: Path | None, size_bytes: int, browser_nice: int = 0,
           think_s: float = 0.0, first_visits: bool = False) -> str:
    cores = os.cpu_count() or 1
    header = (
        f"Measured {dt.date.today()} on {cores} cores, Python {platform.python_version()}, "
        "Chromium headless on the same machine"
        + (f" at nice {browser_nice} (the server first for the cores, as if the browsers ran "
           "on the users' own machines)" if browser_nice else "")
        + f", mart `{mart.label}` "
        f"({int(facts.get('subscribers', 0)):,} subscribers × {facts.get('months', '?')} "
        f"months, {size_bytes / 2**20:,.0f} MB"
        + (", the database on the same machine" if mart.engine == "postgresql" else "")
        + "); one app server; per N, N sessions "
        f"at once (one demo user each), {rounds} round(s) of each role's main journey, "
        + ("each round in a new browser profile (its cache empty: every round a first visit), "
           if first_visits else "each round a new tab (a new session, a new sign-in) in the "
           "person's own browser profile, kept across rounds as a returning person's browser "
           "keeps the app's scripts cached (round 1 a first visit), ")
        + (f"each person reading before every click (typing the password before signing in) "
           f"for a random {think_s / 2:g}–{think_s * 1.5:g} s, the same pauses in every run"
           if think_s > 0 else "each click made as soon as the page before it settled")
        + "; churn page "
        + (f"with the model in `{model_dir.name}`" if model_dir else "without a model")
        + f". Server RSS {_mb(rss['start'])} MB after start, {_mb(rss['end'])} MB at the end. "
        f"Load average {rss['load_before']:.1f} before the benchmark started"
        + (f", above the {cores} cores: the machine was busy with other work, so these figures "
           "are slower than on quiet cores." if rss["load_before"] > cores else
           " (during it, the sessions themselves load the machine)."))
    legend = ("Figures: seconds from the click until the page settled (script not running, "
              "nothing stale, the next frame drawn), over every click of every session and "
              "round; round 1 meets caches cold for users not seen before. \"Until the browser "
              "was free\" adds the drawing that goes on after that frame (Chromium "
              "draws without a GPU here). \"Until the server's answer was in\": from the "
              "click to the last websocket message of the run as the page received it "
              "(the server's share, still delayed by a busy browser's event loop). \"Page main thread\": the "
              "seconds the page's main thread spent in tasks from the click until settled "
              "(Chromium's TaskDuration counter; drawing after that not counted). Server CPU: "
              "the app's process "
              "tree; browser CPU: Chromium, Playwright's driver and this script (sampled every 0.5 s, so a little low); both over the "
              "whole N. RSS: the server's process tree, sampled every 0.5 s. Per step below: "
              "p50 / p95, max (clicks).")
    problems = problem_lines(levels)
    return "\n".join([header, "", aim_statement(levels, facts), "", legend, "",
                      *level_table(levels), "", *step_table(levels), "", *server_part(levels),
                      "Failed clicks and exception elements: "
                      + ("none." if not problems else ""), *problems])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mart_options(parser, "the 1M mart if built, else .data/mart.duckdb")
    parser.add_argument("--sessions", default="1,5,10", help="session counts, e.g. 1,5,10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model-dir", default=None, help="a churn model folder for the app")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a click may take")
    parser.add_argument("--browser-nice", type=int, default=0, metavar="0-19",
                        help="run the browsers at this niceness, the server at 0 (recorded "
                             "in its own section)")
    parser.add_argument("--think", type=float, default=0.0, metavar="SECONDS",
                        help="each person pauses a random 0.5–1.5 × SECONDS before every "
                             "click, as people read a page before they click (default 0: "
                             "click as soon as the page settled; recorded in its own section)")
    parser.add_argument("--first-visits", action="store_true",
                        help="every round in a new browser profile, its cache empty (default: "
                             "each person keeps their profile across rounds; recorded in its "
                             "own section)")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    try:
        counts = parse_sessions(args.sessions)
        if args.rounds < 1 or args.timeout <= 0:
            raise BadInput("--rounds must be at least 1 and --timeout positive")
        if not 0 <= args.think <= 60:  # NaN fails this too
            raise BadInput(f"--think must be 0 to 60 seconds, not {args.think}")
        if not 0 <= args.browser_nice <= 19:
            raise BadInput(f"--browser-nice must be 0 to 19, not {args.browser_nice}")
        model_dir = Path(args.model_dir).resolve() if args.model_dir else None
        if model_dir is not None and not model_dir.is_dir():
            raise BadInput(f"--model-dir: no folder at {model_dir}")
        from tests.browser_support import CHROMIUM
        if not Path(CHROMIUM).exists():
            raise BadInput(f"Chromium is not installed at {CHROMIUM} (apt-get install -y "
                           "chromium)")
        mart = choose_mart(args.mart, args.mart_url)
        facts = mart_facts(mart)
    except BadInput as exc:
        print(f"bench.load: {exc}", file=sys.stderr)
        return 2
    print(mart_line(mart, facts), flush=True)
    levels, rss = measure(mart, counts, args.rounds, args.timeout, model_dir,
                          args.browser_nice, args.think, args.first_visits)
    body = report(levels, rss, mart, facts, args.rounds, model_dir, mart_bytes(mart),
                  args.browser_nice, args.think, args.first_visits)
    print("\n" + body)
    if not args.no_record:
        base = ("load-browser-nice" if args.browser_nice else "load") + (
            "-think" if args.think > 0 else "") + ("-first-visits" if args.first_visits else "")
        record_section(section_name(base, mart), "## Several people at once, in the browser",
                       body, "Run `python -m bench.load [--mart PATH | --mart-url URL] "
                       "[--sessions 1,5,10] [--rounds 3]` (needs Chromium).", after="load")
        print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

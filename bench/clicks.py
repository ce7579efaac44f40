"""Benchmark: first render after sign-in and drill clicks in Chromium — wall and server CPU.

    python -m bench.clicks [--mart .data/mart.duckdb | --mart-url URL] [--runs 5] [--warmup 1]
                           [--before REF] [--pages sandbox,microregion] [--env NAME=VALUE ...]
                           [--record NAME]

Starts the app on the mart (a DuckDB file, or with ``--mart-url`` a PostgreSQL database such
as ``python -m bench.postgres --keep`` leaves running; a temporary workflow store with the
demo users) and, in a fresh browser session per run, as the executive:

- sign-in: open the sandbox's link (``/?kpi=revenue``), click "Sign in" → the page settled
  with the drill's first table drawn (the first render after sign-in);
- on each page: a row of the drill's first table → the next level's table drawn and the
  page settled; a row of that one → the level below; the level picker's "subscribers" →
  the subscriber rows; the top breadcrumb → the first table again.

With ``--before REF`` the same runs go first against that commit's app (exported with
``git archive`` into a temporary folder), e.g. the commit before the drill became a
fragment, so the table shows whole-page reruns beside fragment reruns on one machine.

Each figure is the median, min and max over ``--runs`` runs (the first run meets cold
caches; ``--warmup`` sessions before them are not counted); beside the wall time stand the
time until the server's last script run ended, the server process's CPU time (from /proc)
per action, and the machine's load average before and after each app's runs. Prints a table;
``--record NAME`` also writes it as section ``clicks-NAME`` of bench/RESULTS.md
(``clicks-NAME-postgres`` on a PostgreSQL mart; the figures to keep are taken on quiet cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.marts import (BadInput, MartTarget, add_mart_options, mart_bytes, mart_facts,
                         mart_line, mart_target, section_name)
from bench.pages import cpu_seconds
from bench.results import record_section
from data_access.db import DEFAULT_MART_PATH
from tests.browser_support import (APP_IDLE, NAV_LINK, NAV_MORE, PASSWORD, ROOT, STALE, STATUS,
                                   VIEWPORT, launch_chromium, running_app, settle)

SETTLE_S = 120
ROW_PX = 35  # tests.browser_support.Journey.click_row: a row is a position on the canvas
#: The drill's widget-key prefix and the heading of each page measured.
PAGES = {"sandbox": ("sandbox", "Operations sandbox"),
         "microregion": ("micro", "Micro-region management")}


# Records every change of the app's script state with its time, so a run that starts and
# ends between two polls is still seen, and the end of the server's last run is known.
_WATCH = """() => {
  window.__runs = window.__runs || [];
  if (window.__watching) return;
  window.__watching = true;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__runs.push(
      [app.getAttribute('data-test-script-state'), performance.now()]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def _done(selector: str) -> str:
    """A page function: a script run happened, none is going on, and ``selector`` is drawn;
    returns [now, when the last script run ended]."""
    return f"""() => window.__runs.some(([s]) => s !== 'notRunning')
      && document.querySelector('{APP_IDLE}') && !document.querySelector('{STATUS}, {STALE}')
      && document.querySelector('{selector}')
      && [performance.now(), Math.max(...window.__runs.filter(([s]) => s === 'notRunning')
                                                   .map(([, t]) => t))]"""


def _timed(page, pid: int, action, selector: str) -> tuple[float, float, float]:
    """Wall seconds from ``action`` until ``selector`` is drawn and the page settled, the
    server's CPU seconds meanwhile, and wall seconds until its last script run ended."""
    page.evaluate(_WATCH)
    started = page.evaluate("() => { window.__runs = []; return performance.now(); }")
    cpu = cpu_seconds(pid)
    action()
    ended, ran = page.wait_for_function(_done(selector), timeout=SETTLE_S * 1000,
                                        polling="raf").json_value()
    return (ended - started) / 1000, cpu_seconds(pid) - cpu, (ran - started) / 1000


def _table(prefix: str, depth: int) -> str:
    return f'[class*="st-key-{prefix}_table_{depth}_"] [data-testid="stDataFrameResizable"]'


def _click_row(page, prefix: str, depth: int):
    grid = page.locator(_table(prefix, depth)).first
    return lambda: grid.click(position={"x": 18, "y": ROW_PX + ROW_PX // 2})


def _session(chromium, url: str, pid: int, pages: list[str],
             figures: dict[str, list[tuple[float, float, float]]]) -> None:
    """One signed-in session: sign in, then the drill clicks on each page."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{url}/?kpi=revenue", timeout=120_000)
        settle(page)
        page.get_by_label("Username 用户名").fill("exec")
        page.get_by_label("Password 密码").fill(PASSWORD.format(role="executive"))
        button = page.get_by_role("button", name="Sign in 登录")
        figures["sign-in → sandbox drawn"].append(
            _timed(page, pid, button.click, _table("sandbox", 0)))
        for name in pages:
            prefix, _ = PAGES[name]
            if name != "sandbox":
                link = page.locator(f'{NAV_LINK}[href="{url}/{name}"]')
                if not link.is_visible():
                    page.locator(NAV_MORE).click()
                link.click()  # a page switch, not measured
                try:
                    page.wait_for_selector(_table(prefix, 0), timeout=SETTLE_S * 1000)
                except PlaywrightTimeout:
                    figures[f"{name}: page did not open (session skipped)"].append((0, 0, 0))
                    print(f"  /{name} did not draw its drill at {page.url}", flush=True)
                    continue
            settle(page)
            for depth in (0, 1):
                figures[f"{name}: row click, level {depth} → {depth + 1}"].append(
                    _timed(page, pid, _click_row(page, prefix, depth), _table(prefix, depth + 1)))
                settle(page)
            rows = page.locator(f'[class*="st-key-{prefix}_level_2"] button').filter(
                has_text="subscribers")
            figures[f"{name}: level picker → subscriber rows"].append(_timed(
                page, pid, rows.click,
                f'.st-key-{prefix}_subscribers [data-testid="stDataFrameResizable"]'))
            settle(page)
            top = page.locator(f".st-key-{prefix}_crumb_top button")
            figures[f"{name}: top breadcrumb → level 0"].append(
                _timed(page, pid, top.click, _table(prefix, 0)))
            settle(page)
    finally:
        context.close()


def _measure(root: Path, mart: MartTarget, runs: int, warmup: int, pages: list[str],
             env: dict[str, str]) -> dict:
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-clicks-") as folder, \
            running_app(mart.url, f"sqlite:///{folder}/workflow.sqlite",
                        Path(folder) / "server.log", root=root, extra_env=env) as server, \
            sync_playwright() as p:
        chromium = launch_chromium(p)
        for _ in range(warmup):
            _session(chromium, server.url, server.process.pid, pages, defaultdict(list))
        for run in range(runs):
            _session(chromium, server.url, server.process.pid, pages, figures)
            print(f"  run {run + 1}: " + ", ".join(
                f"{what} {values[-1][0]:.2f} s" for what, values in figures.items()), flush=True)
        chromium.close()
    return {"figures": figures, "load": (load_start, os.getloadavg())}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def _export(ref: str, folder: Path) -> Path:
    """The app as it was at ``ref`` (tracked files only), unpacked into ``folder``."""
    archive = folder / "app.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), ref], cwd=ROOT,
                   check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "app", filter="data")
    return folder / "app"


def parse_options(argv: list[str] | None = None) -> tuple[argparse.Namespace, MartTarget,
                                                          dict[str, str], list[str]]:
    """The options, the mart, the server's extra environment and the pages to measure;
    BadInput for a bad mart, ``--env`` item or ``--pages`` list (argparse exits 2 on its own
    errors, e.g. both --mart and --mart-url)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mart_options(parser, str(DEFAULT_MART_PATH))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="uncounted sessions first")
    parser.add_argument("--before", default=None, help="a commit whose app runs first")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated url paths")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="for the app server, e.g. STREAMLIT_RUNNER_POST_SCRIPT_GC=false")
    parser.add_argument("--record", default=None, metavar="NAME",
                        help="also write the table as section clicks-NAME of bench/RESULTS.md "
                             "(clicks-NAME-postgres on a PostgreSQL mart)")
    args = parser.parse_args(argv)
    bad = [item for item in args.env if "=" not in item or not item.split("=", 1)[0]]
    if bad:
        raise BadInput(f"--env wants NAME=VALUE; got {bad[0]!r}")
    pages = [name for name in args.pages.split(",") if name]
    unknown = [name for name in pages if name not in PAGES]
    if unknown or not pages:
        raise BadInput(f"--pages: choose among {', '.join(PAGES)}; got {args.pages!r}")
    if args.runs < 1 or args.warmup < 0:
        raise BadInput("--runs must be at least 1 and --warmup at least 0")
    mart = mart_target(args.mart, args.mart_url, DEFAULT_MART_PATH)
    return args, mart, dict(item.split("=", 1) for item in args.env), pages


def main(argv: list[str] | None = None) -> int:
    try:
        args, mart, env, pages = parse_options(argv)
        facts = mart_facts(mart)
    except BadInput as exc:
        print(f"bench.clicks: {exc}", file=sys.stderr)
        return 2
    print(mart_line(mart, facts), flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-clicks-ref-") as folder:
        apps = ([(f"before ({args.before})", _export(args.before, Path(folder)))]
                if args.before else []) + [("this tree", ROOT)]
        for label, root in apps:
            print(f"{label}: {root}", flush=True)
            results[label] = _measure(root, mart, args.runs, args.warmup, pages, env)
    lines = [
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Chromium headless, mart {mart.label} "
        f"({int(facts.get('subscribers', 0)):,} subscribers, {mart_bytes(mart) / 2**20:,.0f} MB"
        + (", the database on the same machine" if mart.engine == "postgresql" else "")
        + f"), {args.runs} run(s) per app after "
        f"{args.warmup} uncounted, a fresh signed-in session per run, as the executive."
        + (f" Server environment: {args.env}." if args.env else ""),
        "Wall: median (min–max) seconds from the click until the next table is drawn and "
        "the page settled; script: median seconds until the server's last script run "
        "ended (the rest is the browser drawing); CPU: the server's median CPU seconds per "
        "action.", "",
        "| action | app | wall s | script s | server CPU s | load average before → after |",
        "| --- | --- | ---: | ---: | ---: | --- |"]
    actions = list(dict.fromkeys(a for r in results.values() for a in r["figures"]))
    for action in actions:
        for label, result in results.items():
            values = result["figures"].get(action, [])
            if not values:
                continue
            (start, end) = result["load"]
            lines.append(f"| {action} | {label} | {_spread([w for w, _, _ in values])} | "
                         f"{statistics.median(r for _, _, r in values):.2f} | "
                         f"{statistics.median(c for _, c, _ in values):.2f} | "
                         f"{start[0]:.2f} → {end[0]:.2f} |")
    print("\n" + "\n".join(lines))
    if args.record:
        name = f"clicks-{args.record}"
        record_section(section_name(name, mart), "## Sign-in and drill clicks (issue 16)",
                       "\n".join(lines), "Run `python -m bench.clicks [--mart M | --mart-url "
                       "URL] --record NAME`.", after=name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

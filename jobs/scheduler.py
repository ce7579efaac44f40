"""Cron-friendly runner for diagnosis templates: ``python -m jobs.scheduler run-due``.

Commands
--------
run-due            run every template whose schedule slot has come (each slot exactly once)
scan               score the daily region and channel series and the rivals' monthly series;
                   the latest points at or above the threshold become alerts; then run the
                   revenue-assurance checks and raise their largest findings, then the
                   enterprise-group early warning as work orders, then store the
                   precomputed results of a new mart (jobs.precompute) (run it daily)
run NAME           run one template now for the latest month (``--period``, ``--compare``)
dispatch           turn every open alert into a work order by the dispatch rules
seed               add the shipped starter templates to the workflow store
list               templates with their schedules and next slots

The mart is opened read-only (a running app is never blocked); results and alerts go to the
workflow store (``CONCERTO_WORKFLOW_URL``), which takes concurrent writers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable

import pandas as pd

from analytics.anomaly.alerting import scan_panel, seven_day_totals
from analytics.anomaly.scores import DEFAULT_THRESHOLD
from jobs import assurance
from jobs import groups as group_warnings
from jobs.diagnosis import run_diagnosis, save_diagnosis
from jobs.precompute import precompute
from data_access.store import diagnosis as store
from data_access.mart import queries
from data_access.mart import series
from data_access.db import ConcertoError, create_mart_engine
from data_access.store.demo import demo_enabled, seed_demo
from data_access.store.workflow import create_workflow_engine
from data_access.store.dispatch import dispatch_open_alerts, seed_dispatch_rules
from data_access.store.scope import as_system


def _run_one(workflow, mart, stored, *, slot: str, trigger: str, period: str | None = None,
             compare: str | None = None) -> str:
    months = queries.available_months(mart)
    if not months:
        raise ConcertoError("The mart has no months: build or load it first.")
    when = pd.Timestamp(period) if period else pd.Timestamp(months[-1])
    result, seconds = run_diagnosis(mart, stored.template, when,
                                    pd.Timestamp(compare) if compare else None)
    run_id = save_diagnosis(workflow, stored.template_id, result, trigger=trigger, slot=slot,
                            seconds=seconds)
    if run_id is None:
        return f"{stored.template.name}: slot {slot} already ran, skipped"
    return (f"{stored.template.name} v{stored.template.version}: {result.period} against "
            f"{result.compare_period} in {seconds:.2f}s, {len(result.breaches)} node(s) breached "
            f"(run {run_id})")


#: The scan's series: name in data_access.mart.series → (metric, unit level) in the alerts.
SCANNED = {
    "region_new_activations": ("new_activations", "micro_region"),
    "region_revenue": ("revenue", "micro_region"),
    "region_churned": ("churned", "micro_region"),
    "channel_new_activations": ("new_activations", "channel"),
    "channel_new_activations_7d": ("new_activations_7d", "channel"),
    "rival_new_adds": ("rival_new_adds", "rival_region"),
}
_HISTORY_DAYS = 400  # enough for weekly and yearly patterns, bounded for speed


def scan_for_alerts(workflow, mart, threshold: float = DEFAULT_THRESHOLD, recent: int = 1,
                    progress: Callable[[float, str], None] | None = None) -> list[str]:
    """Score every scanned series and record the new alerts; returns one line per series."""
    months = queries.available_months(mart)
    since = (pd.Timestamp(months[-1]) - pd.Timedelta(days=_HISTORY_DAYS)).date() if months else None
    lines, total = [], 0
    for i, (name, (metric, level)) in enumerate(SCANNED.items()):
        if progress:
            progress(i / len(SCANNED), f"scoring {name}")
        started = time.perf_counter()
        daily = name.removesuffix("_7d")
        panel = series.load_series_panel(mart, daily, None if level == "rival_region" else since)
        if name.endswith("_7d"):
            panel = seven_day_totals(panel)
        rows = scan_panel(panel, metric, level, threshold=threshold, recent=recent)
        new = store.raise_alerts(workflow, rows)
        total += new
        lines.append(f"{name}: {panel['unit'].nunique()} series, {len(rows)} unusual point(s), "
                     f"{new} new alert(s) in {time.perf_counter() - started:.1f}s")
    if progress:
        progress(1.0, "done")
    lines.append(f"{total} new alert(s)")
    return lines


def _scan(workflow, mart, threshold: float, recent: int) -> int:
    for line in scan_for_alerts(workflow, mart, threshold, recent):
        print(line)
    result = assurance.run_checks(mart)
    for line in assurance.report_lines(result):
        print(line)
    print(f"{assurance.raise_assurance_alerts(workflow, result)} new revenue-assurance alert(s)")
    for line in group_warnings.run_nightly(workflow, mart):  # 集团预警 → account managers' orders
        print(line)
    precompute(mart, workflow, if_stale=True)  # a new mart's effects, scores and values
    return 0


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.scheduler",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    due = sub.add_parser("run-due", help="run every due template once")
    due.add_argument("--now", help="pretend it is this UTC time (ISO 8601), for testing")
    one = sub.add_parser("run", help="run one template now")
    one.add_argument("name")
    one.add_argument("--period", help="YYYY-MM (default: the latest month)")
    one.add_argument("--compare", help="YYYY-MM (default: the template's comparison)")
    scan = sub.add_parser("scan", help="raise anomaly alerts on the latest points")
    scan.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                      help=f"score from which a point alerts (default {DEFAULT_THRESHOLD})")
    scan.add_argument("--recent", type=int, default=1,
                      help="latest points of each series to check (default 1: a daily job)")
    sub.add_parser("dispatch", help="turn open alerts into work orders by the dispatch rules")
    sub.add_parser("seed", help="add the starter templates")
    sub.add_parser("list", help="list templates")
    args = parser.parse_args(argv)
    try:
        workflow = create_workflow_engine()
        if demo_enabled(workflow):  # the same demo users and rules the app seeds
            seed_demo(workflow)
        if args.command == "seed":
            print(f"added {store.seed_starter_templates(workflow)} starter template(s)")
            return 0
        if args.command == "list":
            for s in store.list_templates(workflow):
                print(f"{s.template_id:4d}  {s.template.name}  v{s.template.version}  "
                      f"{s.template.schedule}  next {s.next_run_at or '-'}")
            return 0
        mart = create_mart_engine(read_only=True)
        if args.command == "scan":
            if not 0 < args.threshold <= 1 or args.recent < 1:
                raise ConcertoError("--threshold must be in (0, 1] and --recent at least 1")
            return _scan(workflow, mart, args.threshold, args.recent)
        if args.command == "dispatch":

            seed_dispatch_rules(workflow)
            made = dispatch_open_alerts(workflow, mart)
            print(f"{len(made)} work order(s) made from open alerts")
            return 0
        if args.command == "run":
            matches = [s for s in store.list_templates(workflow) if s.template.name == args.name]
            if not matches:
                raise ConcertoError(f"No template named {args.name!r}; see `list`.")
            stamp = f"manual-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}"
            print(_run_one(workflow, mart, matches[0], slot=stamp, trigger="manual",
                           period=args.period, compare=args.compare))
            return 0
        now = dt.datetime.fromisoformat(args.now) if args.now else None
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        claimed = store.claim_due(workflow, now)
        failed = 0
        for stored, slot in claimed:
            try:  # one broken template must not stop the others
                print(_run_one(workflow, mart, stored, slot=slot, trigger="schedule"))
            except (ConcertoError, ValueError) as exc:
                failed += 1
                print(f"error: {stored.template.name}: {exc}", file=sys.stderr)
        print(f"{len(claimed)} template(s) were due, {failed} failed")
        return 1 if failed else 0
    except (ConcertoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

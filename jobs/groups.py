"""Group early warning 集团预警: judge every group's lines and members, raise each new warning
as an alert that dispatch turns into a work order for the group's account manager, record
the rescue on it, and settle earlier rescues from the mart (retained or lost).

    python -m jobs.groups [--as-of YYYY-MM] [--no-orders]

The nightly job (``python -m jobs.scheduler scan``) runs it after revenue assurance. Running
it twice raises nothing twice: an alert is one per group and month, an order one per alert,
and a subject (a line, a group's usage or members) with a rescue still pending is not warned
of again. ``--as-of`` judges an earlier month, as the scan would have on that night.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics.groups import (DEFAULT_POLICY, OFFERS, SIGNALS, WarningPolicy, classify_group_outcome,
                              classify_outcome, evidence, line_warnings, member_warnings,
                              month_index, month_number, subject)
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import groups as reads
from data_access.mart import queries
from data_access.store import diagnosis as alerts_store
from data_access.store.groups import rescue as rescues
from data_access.store.dispatch import dispatch_alert, seed_dispatch_rules
from data_access.store.auth import SYSTEM, Principal
from data_access.store.scope import as_system
from data_access.store.workflow import create_workflow_engine

SOURCE, METRIC = "groups", "group_early_warning"


@dataclass(frozen=True)
class GroupScan:
    """One scan: the month judged, every warning, and what was raised of them."""

    as_of: dt.date
    warnings: pd.DataFrame  # analytics.groups.WARNING_COLUMNS + subject, group_name, evidence
    new_alerts: int
    orders: tuple[int, ...]
    new_rescues: int
    has_lines: bool


def judge_groups(mart: sa.Engine, as_of: object = None,
                 policy: WarningPolicy = DEFAULT_POLICY) -> tuple[pd.Timestamp, pd.DataFrame, bool]:
    """Every warning in the acting scope as of a month (default the latest): the month, the
    warnings with their subject, group and evidence, and whether the mart has group lines."""
    months = queries.available_months(mart)
    if not months:
        raise ConcertoError("The mart has no months: build or load it first.")
    when = pd.Timestamp(as_of or months[-1])
    if when.date() not in months:
        raise ConcertoError(f"{when:%Y-%m} is not a month in the mart "
                            f"({months[0]:%Y-%m} to {months[-1]:%Y-%m}).")
    groups = reads.load_groups(mart)
    parts = [member_warnings(reads.load_group_months(mart), when, policy)]
    has_lines = reads.has_group_lines(mart)
    if has_lines:
        lines = reads.load_lines(mart)
        parts.insert(0, line_warnings(lines, reads.load_line_months(mart), when, policy))
    found = pd.concat([p for p in parts if not p.empty] or [parts[-1]], ignore_index=True)
    if found.empty:
        return when, found.assign(subject=[], group_name=[], evidence=[], product=[]), has_lines
    found["subject"] = [subject(s, g, ln) for s, g, ln in
                        zip(found["signal"], found["group_id"], found["line_id"], strict=True)]
    names = groups.set_index("group_id")
    found = found[found["group_id"].isin(names.index)].reset_index(drop=True)
    found["group_name"] = found["group_id"].map(names["group_name"])
    found["branch"] = found["group_id"].map(names["branch"])
    found["micro_region"] = found["group_id"].map(names["micro_region"])
    found["product"] = (found["line_id"].map(lines.set_index("line_id")["product"])
                        if has_lines else None)
    found["evidence"] = [evidence(row) for _, row in found.iterrows()]
    return when, found, has_lines


def _alert_rows(new: pd.DataFrame, month: str) -> list[dict]:
    rows = []
    for group_id, part in new.groupby("group_id", sort=True):
        worst = part.iloc[0]  # warnings come sorted by score
        more = f" (+{len(part) - 1} more warning(s) on this group)" if len(part) > 1 else ""
        rows.append({
            "source": SOURCE, "metric": METRIC, "unit_level": "group",
            "unit_key": str(int(group_id)), "unit_label": str(worst["group_name"])[:120],
            "observed_at": month, "score": float(min(1.0, worst["score"] / 10)),
            "actual": float(1 - worst["fall"]), "expected": 1.0,
            "message": (worst["evidence"] + more)[:400]})
    return rows


def scan_groups(workflow: sa.Engine, mart: sa.Engine, *, as_of: object = None,
                orders: bool = True, policy: WarningPolicy = DEFAULT_POLICY,
                actor: Principal = SYSTEM) -> GroupScan:
    """Judge the groups, raise the new warnings as alerts and (``orders``) dispatch each as a
    work order for the account manager (made by ``actor``, within their scope), with its
    rescue recorded; idempotent."""
    when, found, has_lines = judge_groups(mart, as_of, policy)
    month = f"{when:%Y-%m}"
    pending = rescues.pending_subjects(workflow)
    new = found[~found["subject"].isin(pending)] if not found.empty else found
    if new.empty:
        return GroupScan(when.date(), found, 0, (), 0, has_lines)
    raised = alerts_store.raise_alerts(workflow, _alert_rows(new, month))
    ids = rescues.alert_ids(workflow, SOURCE, METRIC, month,
                            [str(int(g)) for g in new["group_id"].unique()])
    made: dict[int, int | None] = {}
    if orders:
        if actor is SYSTEM:  # a new store's empty rule table gets the defaults
            seed_dispatch_rules(workflow)
        made = {alert_id: dispatch_alert(workflow, mart, alert_id, actor=actor)
                for alert_id in ids.values()}
    rows = []
    for w in new.itertuples():
        alert_id = ids.get(str(int(w.group_id)))
        if alert_id is None:
            continue
        rows.append({
            "alert_id": alert_id, "order_id": made.get(alert_id), "signal": w.signal,
            "subject": w.subject, "group_id": int(w.group_id), "group_name": w.group_name,
            "line_id": None if pd.isna(w.line_id) else int(w.line_id),
            "product": None if pd.isna(w.product) else w.product, "branch": w.branch,
            "micro_region": w.micro_region, "warned_month": month,
            "since_month": f"{pd.Timestamp(w.since):%Y-%m}", "severity": w.severity,
            "fall": float(w.fall), "z": float(w.z), "scale": float(w.scale),
            "evidence": w.evidence[:400], "offer_code": OFFERS[w.signal]})
    recorded = rescues.record_rescues(workflow, rows)
    return GroupScan(when.date(), found, raised,
                     tuple(sorted({o for o in made.values() if o is not None})), recorded,
                     has_lines)


def _change(series: pd.Series, start: int, end: int) -> float | None:
    """Log change of a month-indexed series from ``start`` to ``end`` (None when unknown)."""
    if start not in series.index or end not in series.index:
        return None
    return float(np.log(max(series[end], 1e-9) / max(series[start], 1e-9)))


def settle_outcomes(workflow: sa.Engine, mart: sa.Engine,
                    policy: WarningPolicy = DEFAULT_POLICY) -> int:
    """Decide every pending rescue the mart can now decide; returns how many were decided."""
    pending = rescues.list_rescues(workflow, outcome="pending")
    months = queries.available_months(mart)
    if pending.empty or not months:
        return 0
    latest = pd.Timestamp(months[-1])
    t_latest = month_number(latest)
    lines = reads.load_lines(mart) if reads.has_group_lines(mart) else None
    facts = reads.load_line_months(mart) if lines is not None else None
    members = reads.load_group_months(mart)
    members = members.assign(t=month_index(members["month"])).set_index(["group_id", "t"])
    decided = []
    for r in pending.itertuples():
        warned = pd.Timestamp(f"{r.warned_month}-01")
        t_warned = month_number(warned)
        horizon = t_warned + policy.outcome_months
        if r.signal == "line_traffic" and lines is not None:
            found = lines[lines["line_id"] == r.line_id]
            cancelled = found["cancel_month"].iloc[0] if not found.empty else None
            outcome, when = classify_outcome(warned, cancelled, latest, policy)
            note = ("cancelled" if outcome == "lost" else "still billed") if when else ""
        elif t_latest < horizon:
            continue
        elif r.signal == "group_usage" and facts is not None:
            mine = facts[facts["group_id"] == r.group_id].assign(t=lambda f: month_index(f["month"]))
            wide = mine.pivot(index="line_id", columns="t", values="traffic")
            gone = wide.get(horizon, pd.Series(np.nan, index=wide.index)).isna() & \
                wide.get(t_warned, pd.Series(np.nan, index=wide.index)).notna()
            changes = [c for ln in wide.index if (c := _change(wide.loc[ln], t_warned, horizon))
                       is not None]
            change = -np.inf if gone.any() else (float(np.mean(changes)) if changes else None)
            outcome = classify_group_outcome(change, r.scale, policy)
            when, note = pd.Timestamp(year=horizon // 12, month=horizon % 12 + 1, day=1), (
                "a line was cancelled" if gone.any() else f"usage changed {np.expm1(change):+.0%}"
                if change is not None else "")
        else:  # members
            series = members["active_subs"].xs(r.group_id, level="group_id") \
                if r.group_id in members.index.get_level_values(0) else pd.Series(dtype=float)
            change = _change(series.astype(float), t_warned, horizon)
            outcome = classify_group_outcome(change, r.scale, policy)
            when = pd.Timestamp(year=horizon // 12, month=horizon % 12 + 1, day=1)
            note = f"members changed {np.expm1(change):+.0%}" if change is not None else ""
        if outcome in ("retained", "lost"):
            decided.append({"rescue_id": int(r.rescue_id), "outcome": outcome,
                            "outcome_month": f"{when:%Y-%m}", "note": note})
    return rescues.set_outcomes(workflow, decided)


def report_lines(scan: GroupScan, settled: int | None = None) -> list[str]:
    lines = [f"Group early warning as of {scan.as_of:%Y-%m}: {len(scan.warnings)} warning(s)"
             + ("" if scan.has_lines else " (the mart has no group lines: members only)")]
    for signal, label in SIGNALS.items():
        count = int((scan.warnings["signal"] == signal).sum()) if not scan.warnings.empty else 0
        lines.append(f"  {label}: {count}")
    lines.append(f"{scan.new_alerts} new alert(s); {scan.new_rescues} new rescue(s) recorded "
                 f"on {len(scan.orders)} work order(s)")
    if settled is not None:
        lines.append(f"{settled} earlier rescue(s) settled from the mart")
    return lines


def run_nightly(workflow: sa.Engine, mart: sa.Engine) -> list[str]:
    """The nightly step: scan the latest month, then settle earlier rescues."""
    scan = scan_groups(workflow, mart)
    return report_lines(scan, settle_outcomes(workflow, mart))


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.groups",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", help="judge this month YYYY-MM (default: the latest)")
    parser.add_argument("--no-orders", action="store_true",
                        help="raise alerts only; dispatch makes the orders later")
    args = parser.parse_args(argv)
    try:
        as_of = None
        if args.as_of:
            try:
                as_of = pd.Timestamp(dt.datetime.strptime(args.as_of, "%Y-%m"))
            except ValueError:
                raise ConcertoError(f"--as-of: {args.as_of!r} is not a month written YYYY-MM "
                                    "(for example 2026-06).") from None
        workflow, mart = create_workflow_engine(), create_mart_engine(read_only=True)
        scan = scan_groups(workflow, mart, as_of=as_of, orders=not args.no_orders)
        for line in report_lines(scan, settle_outcomes(workflow, mart)):
            print(line)
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

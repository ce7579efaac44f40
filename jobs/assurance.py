"""Revenue assurance 收入保障: run the leakage checks over the latest months and raise alerts.

    python -m jobs.assurance [--months 3] [--history 6] [--alerts-per-check 50] [--no-alerts]

The nightly job (``python -m jobs.scheduler scan``) runs it after the anomaly scan. Each
finding is priced in yuan; the largest of each check become alerts on the line (unit level
``subscriber``), which the dispatch rules route to the account manager as work orders.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from analytics.assurance import (CHECKS, DEFAULT_POLICY, AssurancePolicy, combine, discounts,
                                 leak_share,
                                 summarise, top_findings, unbilled_usage, zero_revenue)
from analytics.formatting import format_value
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import assurance as reads
from data_access.mart import queries
from data_access.store import diagnosis as alerts_store
from data_access.store.scope import as_system
from data_access.store.workflow import create_workflow_engine

#: Months judged by default (the latest three), and months of each line's own history.
WINDOW_MONTHS, HISTORY_MONTHS = 3, 6


@dataclass(frozen=True)
class AssuranceResult:
    """One run of the checks: what was judged and what was found."""

    latest: dt.date
    months: int
    findings: pd.DataFrame  # analytics.assurance.FINDING_COLUMNS + number, branch, micro_region
    summary: pd.DataFrame
    billed: float
    share: float
    discount_checks: bool  # False when the mart has no agreed discounts to check against


def run_checks(mart: sa.Engine, *, months: int = WINDOW_MONTHS, history: int = HISTORY_MONTHS,
               policy: AssurancePolicy = DEFAULT_POLICY, latest: dt.date | None = None
               ) -> AssuranceResult:
    """Every check over the ``months`` latest months, inside the acting scope."""
    if months < 1 or history < 1:
        raise ConcertoError("months and history must each be at least 1")
    available = queries.available_months(mart)
    if not available:
        raise ConcertoError("The mart has no months: build or load it first.")
    latest = latest or available[-1]
    if latest not in available:
        raise ConcertoError(f"{latest:%Y-%m} is not a month in the mart "
                            f"({available[0]:%Y-%m} to {available[-1]:%Y-%m}).")
    parts = [
        unbilled_usage(reads.load_unbilled_candidates(mart, latest, months=months,
                                                      history=history, policy=policy),
                       reads.load_typical_usage(mart, latest, months=months), policy),
        zero_revenue(reads.load_zero_revenue(mart, latest, months=months),
                     reads.load_plan_revenue(mart, latest, months=months), policy),
    ]
    with_terms = reads.has_discount_terms(mart)
    if with_terms:
        parts.append(discounts(reads.load_discount_candidates(mart, latest, months=months,
                                                              policy=policy), policy))
    findings = combine(parts)
    places = reads.load_line_places(mart, findings["subscriber_id"].unique().tolist())
    findings = findings.merge(places, on="subscriber_id", how="inner")  # scope holds here too
    findings = findings.sort_values("amount", ascending=False, kind="stable").reset_index(drop=True)
    billed = reads.load_billed_revenue(mart, latest, months=months)
    return AssuranceResult(latest, months, findings, summarise(findings), billed,
                           leak_share(findings, billed), with_terms)


def alert_rows(result: AssuranceResult, per_check: int) -> list[dict]:
    """The largest ``per_check`` findings of each check as alert rows (one per line)."""
    rows = []
    for f in top_findings(result.findings, per_check).itertuples():
        rows.append({
            "source": "assurance", "metric": f.check, "unit_level": "subscriber",
            "unit_key": str(int(f.subscriber_id)),
            "unit_label": f"{f.number} · {f.micro_region}",
            "observed_at": f"{result.latest:%Y-%m}", "score": 1.0,
            "actual": float(f.amount), "expected": None,
            "message": (f"{CHECKS[f.check]}: {format_value(f.amount, 'yuan')} over "
                        f"{int(f.months)} month(s) from {pd.Timestamp(f.first_month):%Y-%m}. "
                        f"{f.detail}")[:400],
        })
    return rows


def raise_assurance_alerts(workflow: sa.Engine, result: AssuranceResult, per_check: int = 50) -> int:
    """Record the largest findings as alerts; returns how many were new."""
    return alerts_store.raise_alerts(workflow, alert_rows(result, per_check))


def report_lines(result: AssuranceResult) -> list[str]:
    lines = [f"Revenue assurance over {result.months} month(s) to {result.latest:%Y-%m}: "
             f"{len(result.findings)} finding(s), {format_value(result.findings['amount'].sum(), 'yuan')}"
             f" ({result.share:.3%} of {format_value(result.billed, 'yuan')} billed)"]
    for row in result.summary.itertuples():
        lines.append(f"  {row.name}: {row.findings} finding(s) on {row.lines} line(s), "
                     f"{format_value(row.amount, 'yuan')}")
    if not result.discount_checks:
        lines.append("  (the mart has no discount terms: the three discount checks did not run)")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs.assurance",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=WINDOW_MONTHS,
                        help=f"latest months to judge (default {WINDOW_MONTHS})")
    parser.add_argument("--history", type=int, default=HISTORY_MONTHS,
                        help=f"months of each line's own history (default {HISTORY_MONTHS})")
    parser.add_argument("--alerts-per-check", type=int, default=50,
                        help="largest findings of each check raised as alerts (default 50)")
    parser.add_argument("--no-alerts", action="store_true", help="report only")
    return parser


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.alerts_per_check < 0:
            raise ConcertoError("--alerts-per-check must not be negative")
        result = run_checks(create_mart_engine(read_only=True), months=args.months,
                            history=args.history)
        for line in report_lines(result):
            print(line)
        if not args.no_alerts:
            raised = raise_assurance_alerts(create_workflow_engine(), result, args.alerts_per_check)
            print(f"{raised} new alert(s)")
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

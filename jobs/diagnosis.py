"""Diagnosis runs: a template run against the mart, and a stored run with its alerts.

The scheduler (``python -m jobs.scheduler run-due``) and the diagnosis page both go
through these two functions, so a run from a page and a scheduled one are the same thing.
"""

from __future__ import annotations

import time

import pandas as pd
import sqlalchemy as sa

from analytics.diagnosis.runs import RunResult, breach_alerts, run_template
from analytics.diagnosis.templates import Template
from data_access.store import diagnosis as store


def run_diagnosis(mart: sa.Engine, template: Template, period: pd.Timestamp,
                  compare: pd.Timestamp | None = None) -> tuple[RunResult, float]:
    """Run every node of ``template`` for ``period`` against ``compare`` (default: the
    template's own comparison); the result and the seconds it took."""
    started = time.perf_counter()
    result = run_template(template, store.MartDiagnosisData(mart), period, compare)
    return result, time.perf_counter() - started


def save_diagnosis(workflow: sa.Engine, template_id: int, result: RunResult, *, trigger: str,
                   slot: str, seconds: float, actor: str | None = None) -> int | None:
    """Store a run and raise an alert for each breached node; the run's id, or ``None`` when
    that schedule slot already ran."""
    extra = {} if actor is None else {"actor": actor}
    return store.record_run(workflow, template_id, result, trigger=trigger, slot=slot,
                            seconds=seconds, alerts=breach_alerts(result), **extra)

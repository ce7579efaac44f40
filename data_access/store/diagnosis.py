"""Diagnosis templates, runs and alerts in the workflow store; the mart adapter for runs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.diagnosis.runs import RunResult
from analytics.diagnosis.templates import Template, parse_template, template_to_json
from data_access.mart import queries
from data_access.store import scope
from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM, SYSTEM_ACTOR
from data_access.db import PROJECT_ROOT, ConcertoError, read_frame
from data_access.mart.queries import Slice
from data_access.store.workflow import alert, diagnosis_run, diagnosis_template, write_transaction
from data_access.store import scope
from data_access.store.dispatch import place_units
from data_access.store.run_scope import narrow_run

_INTERVALS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}
STARTERS_DIR = PROJECT_ROOT / "assets" / "templates"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MartDiagnosisData:
    """Reads what a template run needs from the mart (summary tables only)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._totals: dict[tuple, pd.DataFrame] = {}

    @staticmethod
    def _slice(filters: Mapping[str, Any]) -> Slice:
        return Slice(**dict(filters))

    def monthly_totals(self, filters: Mapping[str, Any]) -> pd.DataFrame:
        key = tuple(sorted(filters.items()))
        if key not in self._totals:
            self._totals[key] = queries.load_monthly_totals(self.engine, self._slice(filters))
        return self._totals[key]

    def breakdown(self, level: str, months: list[pd.Timestamp], filters: Mapping[str, Any],
                  metric: str) -> pd.DataFrame:
        days = [m.date() for m in months]
        if metric == "market_share":
            if level not in ("branch", "micro_region"):
                return pd.DataFrame()
            return queries.load_market_breakdown(self.engine, level, days, self._slice(filters))
        return queries.load_breakdown(self.engine, level, days, self._slice(filters))

    def leaves(self, months: list[pd.Timestamp], filters: Mapping[str, Any]) -> pd.DataFrame:
        slice_ = self._slice(filters)
        if slice_.channel_id is not None or slice_.group_id is not None:
            return pd.DataFrame()  # below a single channel or group there is no cube to search
        return queries.load_cube_leaves(self.engine, [m.date() for m in months], slice_)


def next_run_after(schedule: str, when: dt.datetime) -> dt.datetime | None:
    """The next slot of a schedule after ``when`` (monthly: the 1st of next month, 06:00 UTC)."""
    if schedule == "none":
        return None
    if schedule in _INTERVALS:
        return when + _INTERVALS[schedule]
    first = (when.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first.replace(hour=6, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class StoredTemplate:
    template_id: int
    template: Template
    next_run_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime


def _stored(row: Mapping[str, Any]) -> StoredTemplate:
    template = parse_template(row["tree_json"])
    return StoredTemplate(row["template_id"], template, row["next_run_at"], row["created_by"],
                          row["created_at"])


def save_template(engine: sa.Engine, template: Template, user: str,
                  now: dt.datetime | None = None) -> StoredTemplate:
    """Save ``template`` as the next version of its name (one transaction, audited).

    Raises ``Forbidden`` unless the acting principal holds ``edit_templates``.
    """
    scope.require("edit_templates", "save diagnosis templates")
    now = now or _now()
    with write_transaction(engine) as conn:
        latest = conn.execute(sa.select(sa.func.max(diagnosis_template.c.version))
                              .where(diagnosis_template.c.name == template.name)).scalar()
        version = (latest or 0) + 1
        saved = parse_template({**json.loads(template_to_json(template)), "version": version})
        conn.execute(sa.update(diagnosis_template).where(diagnosis_template.c.name == template.name)
                     .values(is_current=False))
        template_id = conn.execute(sa.insert(diagnosis_template).values(
            name=saved.name, version=version, tree_json=template_to_json(saved),
            schedule=saved.schedule, compare_to=saved.compare_to,
            next_run_at=next_run_after(saved.schedule, now), is_current=True,
            created_by=user, created_at=now)).inserted_primary_key[0]
        record_audit(conn, user, "template_save", "diagnosis_template", template_id,
                     None if latest is None else {"name": saved.name, "version": latest},
                     {"name": saved.name, "version": version, "schedule": saved.schedule,
                      "tree": json.loads(template_to_json(saved))["root"]})
    return load_template(engine, int(template_id))


def seed_starter_templates(engine: sa.Engine) -> int:
    """Save the shipped starter templates whose names are not in the store yet (a seeder: it
    acts as the system principal)."""
    with scope.acting_as(SYSTEM):
        return _seed_starter_templates(engine)


def _seed_starter_templates(engine: sa.Engine) -> int:
    existing = {s.template.name for s in list_templates(engine)}
    added = 0
    for path in sorted(STARTERS_DIR.glob("*.json")):
        template = parse_template(path.read_text(encoding="utf-8"))
        if template.name not in existing:
            save_template(engine, template, "system")
            added += 1
    return added


def load_template(engine: sa.Engine, template_id: int) -> StoredTemplate:
    with engine.connect() as conn:
        row = conn.execute(sa.select(diagnosis_template)
                           .where(diagnosis_template.c.template_id == template_id)).mappings().first()
    if row is None:
        raise ConcertoError(f"No diagnosis template with id {template_id}.")
    return _stored(row)


def list_templates(engine: sa.Engine) -> list[StoredTemplate]:
    """The current version of every template, by name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(diagnosis_template).where(diagnosis_template.c.is_current)
                            .order_by(diagnosis_template.c.name)).mappings().all()
    return [_stored(r) for r in rows]


def template_versions(engine: sa.Engine, name: str) -> pd.DataFrame:
    t = diagnosis_template
    return read_frame(engine, sa.select(t.c.template_id, t.c.version, t.c.created_by,
                                        t.c.created_at, t.c.is_current)
                      .where(t.c.name == name).order_by(t.c.version.desc()))


def claim_due(engine: sa.Engine, now: dt.datetime | None = None) -> list[tuple[StoredTemplate, str]]:
    """Claim every due template for this run: (template, slot) pairs.

    A claim moves ``next_run_at`` on with a conditional UPDATE, so two schedulers started
    together never both get the same slot; the runs table's unique (template, slot) key
    backs that up.
    """
    scope.require("run_diagnosis", "claim scheduled diagnosis runs")
    now = now or _now()
    t = diagnosis_template
    claimed = []
    with engine.connect() as conn:
        due = conn.execute(sa.select(t.c.template_id, t.c.schedule, t.c.next_run_at).where(
            t.c.is_current, t.c.schedule != "none", t.c.next_run_at <= now)).all()
    for template_id, schedule, slot_time in due:
        with engine.begin() as conn:
            moved = conn.execute(sa.update(t).where(
                t.c.template_id == template_id, t.c.next_run_at == slot_time).values(
                next_run_at=next_run_after(schedule, now))).rowcount
            if moved == 1:
                record_audit(conn, SYSTEM_ACTOR, "template_claim", "diagnosis_template",
                             template_id, {"next_run_at": slot_time},
                             {"next_run_at": next_run_after(schedule, now)})
        if moved == 1:
            claimed.append((load_template(engine, template_id), slot_time.isoformat()))
    return claimed


def record_run(engine: sa.Engine, template_id: int, result: RunResult, *, trigger: str,
               slot: str, seconds: float, alerts: list[dict[str, Any]],
               actor: str = SYSTEM_ACTOR) -> int | None:
    """Store a run and the alerts it raised in one transaction; None if the slot already ran.

    Raises ``Forbidden`` unless the acting principal holds ``run_diagnosis``.
    """
    scope.require("run_diagnosis", "store diagnosis runs")
    with engine.begin() as conn:
        exists = conn.execute(sa.select(diagnosis_run.c.run_id).where(
            diagnosis_run.c.template_id == template_id, diagnosis_run.c.slot == slot)).first()
        if exists:
            return None
        run_id = conn.execute(sa.insert(diagnosis_run).values(
            template_id=template_id, period=result.period, compare_period=result.compare_period,
            trigger=trigger, slot=slot, started_at=_now(), seconds=seconds,
            result_json=json.dumps(result.to_dict(), ensure_ascii=False),
            alerts_raised=0)).inserted_primary_key[0]
        raised = _insert_alerts(conn, [{**a, "run_id": run_id} for a in alerts])
        conn.execute(sa.update(diagnosis_run).where(diagnosis_run.c.run_id == run_id)
                     .values(alerts_raised=raised))
        record_audit(conn, actor, "diagnosis_run", "diagnosis_run", run_id, None,
                     {"template_id": template_id, "period": result.period, "slot": slot,
                      "alerts_raised": raised})
    return int(run_id)


def _insert_alerts(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    """Insert alerts, skipping any already raised for the same metric, unit and time."""
    raised = 0
    for row in rows:
        key = [alert.c[k] == row[k] for k in ("source", "metric", "unit_level", "unit_key",
                                               "observed_at")]
        if conn.execute(sa.select(alert.c.alert_id).where(*key)).first() is None:
            alert_id = conn.execute(sa.insert(alert).values(raised_at=_now(), status="open",
                                                            **row)).inserted_primary_key[0]
            record_audit(conn, SYSTEM_ACTOR, "alert_raise", "alert", alert_id, None,
                         {k: row.get(k) for k in ("source", "metric", "unit_level", "unit_key",
                                                  "observed_at", "score", "run_id")})
            raised += 1
    return raised


def raise_alerts(engine: sa.Engine, rows: list[dict[str, Any]]) -> int:
    """Record alerts from a detector (one transaction); returns how many were new.

    Any signed-in person's view may raise a detector's alerts (they are facts about the mart,
    not a choice); with nobody acting it is refused.
    """
    scope.require("view_dashboards", "raise alerts")
    with engine.begin() as conn:
        return _insert_alerts(conn, [{"run_id": None, **r} for r in rows])


def list_runs(engine: sa.Engine, name: str | None = None) -> pd.DataFrame:
    r, t = diagnosis_run, diagnosis_template
    statement = (sa.select(r.c.run_id, t.c.name, t.c.version, r.c.period, r.c.compare_period,
                           r.c.trigger, r.c.started_at, r.c.seconds, r.c.alerts_raised)
                 .select_from(r.join(t, r.c.template_id == t.c.template_id))
                 .order_by(r.c.run_id.desc()))
    if name is not None:
        statement = statement.where(t.c.name == name)
    return read_frame(engine, statement)


def load_run(engine: sa.Engine, run_id: int) -> RunResult:
    """One stored run, narrowed to the acting scope (``Forbidden`` when it cannot be)."""
    with engine.connect() as conn:
        text = conn.execute(sa.select(diagnosis_run.c.result_json)
                            .where(diagnosis_run.c.run_id == run_id)).scalar()
    if text is None:
        raise ConcertoError(f"No stored run with id {run_id}.")

    return narrow_run(RunResult.from_dict(json.loads(text)))  # a regional manager's nodes only


def list_alerts(engine: sa.Engine, *, status: str | None = "open", limit: int = 500,
                mart: sa.Engine | None = None) -> pd.DataFrame:
    """Alerts, newest first: all of them, or for a regional scope those on units inside it.

    A scoped reader needs ``mart`` to place each unit on the map; city-wide alerts and units
    that cannot be placed are not theirs to see. The scope is applied in the query, before
    the limit, so a manager's own alerts never drop out behind newer ones elsewhere.
    """

    who = scope.acting_principal("read alerts")
    statement = sa.select(alert).order_by(alert.c.alert_id.desc()).limit(limit)
    if status is not None:
        statement = statement.where(alert.c.status == status)
    if who.scope_level is not None:
        if mart is None:
            raise ConcertoError("list_alerts: a regional scope needs the mart to place alerts.")
        statement = statement.where(_alerts_in_scope(engine, mart, status))
    return read_frame(engine, statement)


_CITY_WIDE = {"city", "channel_type", "plan_name", "segment", "budget"}


def _alerts_in_scope(engine: sa.Engine, mart: sa.Engine, status: str | None
                     ) -> sa.ColumnElement[bool]:
    """A condition on ``alert`` keeping the units inside the acting scope (placed once per
    distinct unit, one mart query per kind of unit)."""

    units = sa.select(alert.c.unit_level, alert.c.unit_key).distinct()
    if status is not None:
        units = units.where(alert.c.status == status)
    with engine.connect() as conn:
        candidates = {(level, key) for level, key in conn.execute(units)
                      if level not in _CITY_WIDE}
    places = place_units(mart, candidates)
    keep: dict[str, list[str]] = {}
    for (level, key), place in places.items():
        if place is not None and place != (None, None) and scope.in_scope(*place):
            keep.setdefault(level, []).append(key)
    if not keep:
        return sa.false()
    return sa.or_(*(sa.and_(alert.c.unit_level == level, alert.c.unit_key.in_(keys))
                    for level, keys in sorted(keep.items())))

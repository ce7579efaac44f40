"""Results computed once per mart version and read by the pages: campaign effects, rival series
scores, channel values, alerts and the low-use lines of new numbers.

``precompute_run`` names one kind of result for one mart version (``mart_version``, the
mart's fingerprint: ``data_access.mart.queries.load_mart_fingerprint``); the other tables hold
its rows, with the unit's branch and micro-region (or the scope they were computed for)
copied in, so scope is a WHERE clause. Everything the job computed is written in one
transaction (:func:`save_precomputed`): readers see a kind whole or not at all, and a job
that fails half-way leaves the store as it was. Runs of other mart versions beyond the newest
:data:`KEEP_VERSIONS` of each kind are pruned in the same transaction.

Campaign effects and channel values depend on the reader's scope (a regional manager's effect
counts the members in their area; a channel is judged against the channels they see), so they
are stored per scope unit (``scope_level`` city / branch / micro_region and ``scope_value``)
and read for the reader's own scope only. Rival series are stored once, city-wide.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.db import read_frame
from data_access.store.audit import record_audit
from data_access.store.scope import acting_principal, require
from data_access.store.workflow import write_transaction
from data_access.store.precomputed.tables import (
    _TABLES, ALERT_COLUMNS, BREAKDOWN_COLUMNS, CHANNEL_COLUMNS, CITY, CUTOFF_COLUMNS,
    EFFECT_COLUMNS, EVERY_MONTH, KEEP_VERSIONS, KINDS, RIVAL_COLUMNS, pre_campaign_breakdown,
    pre_campaign_effect, pre_channel_alert, pre_channel_cutoff, pre_channel_value,
    pre_rival_score, precompute_run)


@dataclasses.dataclass(frozen=True)
class Stored:
    """Whether a kind is stored for the current mart: ``current``, ``stale`` (only for another
    mart version) or ``absent``; ``run_id`` of the current run."""

    state: str
    run_id: int | None = None
    computed_at: dt.datetime | None = None


def scope_unit(level: str | None, value: str | None) -> tuple[str, str]:
    """The stored scope key of a principal's scope (``("city", "")`` for no scope)."""
    return (CITY, "") if level is None else (level, value or "")


def _viewer_unit() -> tuple[str, str]:
    who = acting_principal()
    return scope_unit(who.scope_level, who.scope_value)


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values: NaN → None, timestamps → dates."""
    out = frame[columns].astype(object).where(frame[columns].notna(), None)
    records = out.to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, pd.Timestamp):
                record[key] = value.date()
            elif hasattr(value, "item"):  # numpy scalars
                record[key] = value.item()
    return records


def save_precomputed(workflow: sa.Engine, mart_version: str,
                     results: Mapping[str, Mapping[str, pd.DataFrame]], *,
                     seconds: Mapping[str, float] | None = None,
                     scopes: str = "", keep: int = KEEP_VERSIONS) -> dict[str, int]:
    """Write every kind in ``results`` for ``mart_version`` in one transaction.

    ``results`` maps a kind to its frames by table name (``{"channel_value":
    {"pre_channel_value": …, "pre_channel_alert": …}}``). A kind already stored for the
    version is replaced; versions of a kind beyond the newest ``keep`` are pruned. On any
    error nothing is written. Needs ``view_mart_admin`` (the job acts as the system).
    Returns the run id per kind.
    """
    require("view_mart_admin", "save precomputed results")
    who = acting_principal("save precomputed results")
    runs: dict[str, int] = {}
    with write_transaction(workflow) as conn:
        for kind, frames in results.items():
            if kind not in _TABLES:
                raise ValueError(f"kind: unknown {kind!r}; choose one of {', '.join(KINDS)}")
            _delete_runs(conn, sa.and_(precompute_run.c.kind == kind,
                                       precompute_run.c.mart_version == mart_version))
            rows = sum(len(frames.get(t.name, ())) for t in _TABLES[kind])
            values = {"kind": kind, "mart_version": mart_version[:80],
                      "computed_at": dt.datetime.now(dt.UTC),
                      "seconds": float((seconds or {}).get(kind, 0.0)), "rows": rows,
                      "scopes": scopes[:400], "created_by": who.username[:40]}
            run_id = int(conn.execute(sa.insert(precompute_run).values(**values))
                         .inserted_primary_key[0])
            for table in _TABLES[kind]:
                frame = frames.get(table.name)
                if frame is None or frame.empty:
                    continue
                columns = [c.name for c in table.columns if c.name != "run_id"]
                conn.execute(sa.insert(table), [{"run_id": run_id, **r}
                                                for r in _rows(frame, columns)])
            runs[kind] = run_id
            old = conn.execute(sa.select(precompute_run.c.run_id)
                               .where(precompute_run.c.kind == kind)
                               .order_by(precompute_run.c.run_id.desc())
                               .offset(max(1, int(keep)))).scalars().all()
            if old:
                _delete_runs(conn, precompute_run.c.run_id.in_(old))
            record_audit(conn, who.username, "precompute_save", "precompute_run", run_id, None,
                         {**{k: v for k, v in values.items() if k != "computed_at"},
                          "pruned": list(old)})
    return runs


def _delete_runs(conn: sa.Connection, where: sa.ColumnElement[bool]) -> None:
    ids = conn.execute(sa.select(precompute_run.c.run_id).where(where)).scalars().all()
    if not ids:
        return
    for tables in _TABLES.values():  # children first: no cascade
        for table in tables:
            conn.execute(sa.delete(table).where(table.c.run_id.in_(ids)))
    conn.execute(sa.delete(precompute_run).where(precompute_run.c.run_id.in_(ids)))


def stored_run(workflow: sa.Engine, kind: str, mart_version: str) -> Stored:
    """Whether ``kind`` is stored for ``mart_version`` (``current``), only for other mart
    versions (``stale``), or not at all (``absent``)."""
    query = (sa.select(precompute_run.c.run_id, precompute_run.c.mart_version,
                       precompute_run.c.computed_at)
             .where(precompute_run.c.kind == kind).order_by(precompute_run.c.run_id.desc()))
    with workflow.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        if row.mart_version == mart_version:
            return Stored("current", int(row.run_id), row.computed_at)
    return Stored("stale" if rows else "absent")


def scope_computed(workflow: sa.Engine, run_id: int, table: sa.Table) -> bool:
    """Whether the run holds rows for the acting person's scope unit (scopes nobody held
    when the job ran are not stored)."""
    level, value = _viewer_unit()
    query = (sa.select(sa.literal(1)).select_from(table)
             .where(table.c.run_id == int(run_id), table.c.scope_level == level,
                    table.c.scope_value == value).limit(1))
    with workflow.connect() as conn:
        return conn.execute(query).first() is not None


def load_campaign_effects(workflow: sa.Engine, run_id: int,
                          campaign_id: int | None = None) -> pd.DataFrame:
    """The stored effect rows of the acting person's scope unit (of one campaign, or of
    all), by campaign and position."""
    level, value = _viewer_unit()
    t = pre_campaign_effect
    where = [t.c.run_id == int(run_id), t.c.scope_level == level, t.c.scope_value == value]
    if campaign_id is not None:
        where.append(t.c.campaign_id == int(campaign_id))
    return read_frame(workflow, sa.select(*[t.c[c] for c in EFFECT_COLUMNS]).where(*where)
                      .order_by(t.c.campaign_id, t.c.position))


def load_campaign_breakdowns(workflow: sa.Engine, run_id: int, campaign_id: int) -> pd.DataFrame:
    """One campaign's stored breakdown rows (uplift and participants) in the acting person's
    scope unit, in each table's order."""
    level, value = _viewer_unit()
    t = pre_campaign_breakdown
    return read_frame(workflow, sa.select(*[t.c[c] for c in BREAKDOWN_COLUMNS])
                      .where(t.c.run_id == int(run_id), t.c.scope_level == level,
                             t.c.scope_value == value, t.c.campaign_id == int(campaign_id))
                      .order_by(t.c.part, t.c.breakdown, t.c.position))


def load_rival_scores(workflow: sa.Engine, run_id: int, level: str) -> pd.DataFrame:
    """The stored scores of the rival series at ``level`` as the acting person sees them.

    Nobody scoped: every unit of ``level``. A regional manager: the units of ``level`` inside
    their area; at a level coarser than their own scope their area is one unit, whose series
    is their own unit's (named as ``data_access.mart.competitors.load_competitor_months``
    names it: their branch at branch level, their scope at city level).
    """
    t = pre_rival_score
    who = acting_principal()
    where = [t.c.run_id == int(run_id)]
    relabel = None
    if who.scope_level is None:
        where.append(t.c.level == level)
    elif level == "micro_region" or (level == "branch" and who.scope_level == "branch"):
        where += [t.c.level == level, t.c[who.scope_level] == who.scope_value]
    else:  # the viewer's whole area at a coarser level is their own unit's series
        where += [t.c.level == who.scope_level, t.c.unit == who.scope_value]
        relabel = t.c.branch if level == "branch" else sa.literal(who.scope_value)
    unit = t.c.unit if relabel is None else relabel
    frame = read_frame(workflow, sa.select(unit.label("unit"), *[t.c[c] for c in RIVAL_COLUMNS[1:]])
                       .where(*where).order_by(t.c.position))
    frame["month"] = pd.to_datetime(frame["month"])
    frame["unusual"] = frame["unusual"].astype(bool)
    for column in ("value", "expected", "score"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame[list(RIVAL_COLUMNS)]


def load_channel_values(workflow: sa.Engine, run_id: int, span: int
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ranked channels and their alerts for a window of ``span`` months, for the acting
    person's scope unit."""
    level, value = _viewer_unit()
    out = []
    for table, columns in ((pre_channel_value, CHANNEL_COLUMNS),
                           (pre_channel_alert, ALERT_COLUMNS)):
        frame = read_frame(workflow, sa.select(*[table.c[c] for c in columns])
                           .where(table.c.run_id == int(run_id), table.c.scope_level == level,
                                  table.c.scope_value == value, table.c.span == int(span))
                           .order_by(table.c.position))
        out.append(frame)
    ranked, alerts = out
    ranked["roi_suspect"] = ranked["roi_suspect"].astype(bool)
    for column in ("low_use_share", "revenue", "cost", "net_value", "roi", "new_arpu"):
        ranked[column] = pd.to_numeric(ranked[column]).astype(float)
    for column in ("score", "actual", "expected"):
        alerts[column] = pd.to_numeric(alerts[column]).astype(float)
    return ranked, alerts


def load_channel_cutoffs(workflow: sa.Engine, run_id: int, span: int
                         ) -> dict[str, float] | None:
    """The stored low-use lines (``mou``, ``data_mb``, ``revenue``) of the new numbers of a
    ``span``-month window (``EVERY_MONTH``: every month of the mart) in the acting person's
    scope unit; None where the run holds none (stored before they were, or no channel)."""
    level, value = _viewer_unit()
    t = pre_channel_cutoff
    with workflow.connect() as conn:
        row = conn.execute(sa.select(*[t.c[c] for c in CUTOFF_COLUMNS])
                           .where(t.c.run_id == int(run_id), t.c.scope_level == level,
                                  t.c.scope_value == value, t.c.span == int(span))).first()
    return None if row is None else {c: float(v) for c, v in zip(CUTOFF_COLUMNS, row,
                                                                 strict=True)}


__all__ = ["ALERT_COLUMNS", "CHANNEL_COLUMNS", "CUTOFF_COLUMNS", "EFFECT_COLUMNS", "EVERY_MONTH",
           "KINDS", "RIVAL_COLUMNS", "Stored", "load_campaign_breakdowns",
           "load_campaign_effects", "load_channel_cutoffs", "load_channel_values",
           "load_rival_scores", "pre_campaign_effect", "pre_channel_alert",
           "pre_channel_cutoff", "pre_channel_value", "pre_rival_score", "precompute_run",
           "save_precomputed", "scope_computed", "scope_unit", "stored_run"]

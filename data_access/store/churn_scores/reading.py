"""Reading scoring runs: every reader narrows to the acting scope in its WHERE clause and reads
only what the page shows (a page of the list, a count, the run's cells)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.db import read_frame
from data_access.mart.queries import Slice
from data_access.store.churn_scores.tables import (LIST_COLUMNS, WARNING_COLUMNS,
                                                   RetentionFilter, ScoreRun,
                                                   churn_group_warning, churn_run, churn_score,
                                                   churn_score_cell)
from data_access.store.scope import scoped


def _run(row: Any) -> ScoreRun:
    scored_at = row.scored_at  # SQLite hands back naive UTC
    scored_at = scored_at if scored_at.tzinfo else scored_at.replace(tzinfo=dt.UTC)
    return ScoreRun(int(row.run_id), row.model_version, row.month, scored_at,
                    int(row.subscribers), float(row.base_rate))


def latest_run(workflow: sa.Engine, version: str | None = None,
               month: str | None = None) -> ScoreRun | None:
    """The newest run (of ``version`` and ``month`` when given), or None."""
    query = (sa.select(churn_run).where(churn_run.c.complete.is_(True))
             .order_by(churn_run.c.run_id.desc()).limit(1))
    if version is not None:
        query = query.where(churn_run.c.model_version == version)
    if month is not None:
        query = query.where(churn_run.c.month == month)
    with workflow.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _run(row)


def list_runs(workflow: sa.Engine, version: str | None = None) -> list[ScoreRun]:
    """The kept runs (of ``version``), newest first: one per month, the newest of each."""
    query = (sa.select(churn_run).where(churn_run.c.complete.is_(True))
             .order_by(churn_run.c.run_id.desc()))
    if version is not None:
        query = query.where(churn_run.c.model_version == version)
    with workflow.connect() as conn:
        rows = conn.execute(query).all()
    newest: dict[str, ScoreRun] = {}
    for row in rows:
        newest.setdefault(row.month, _run(row))
    return sorted(newest.values(), key=lambda r: r.month, reverse=True)


def _where(table: sa.Table, run_id: int, filters: RetentionFilter = RetentionFilter()) -> list:
    """The run, the filters, and the acting scope (``Forbidden`` when asked outside it)."""
    allowed = scoped(Slice(branch=filters.branch, micro_region=filters.micro_region))
    where = [table.c.run_id == int(run_id)]
    if allowed.branch is not None:
        where.append(table.c.branch == allowed.branch)
    if allowed.micro_region is not None:
        where.append(table.c.micro_region == allowed.micro_region)
    if "segment" in table.c and filters.segment is not None:
        where.append(table.c.segment == filters.segment)
    if "action" in table.c and filters.action is not None:
        where.append(table.c.action == filters.action)
        if filters.action:  # lets the partial tactic index answer (it holds no "")
            where.append(table.c.action != "")
    if "churn_prob" in table.c and filters.min_prob > 0:
        where.append(table.c.churn_prob >= float(filters.min_prob))
    return where


def load_retention(workflow: sa.Engine, run_id: int,
                   filters: RetentionFilter = RetentionFilter(), *, limit: int = 50,
                   offset: int = 0, after_rank: int | None = None,
                   columns: tuple[str, ...] = LIST_COLUMNS) -> pd.DataFrame:
    """One page of the retention list, best rank first, inside the acting scope.

    ``offset`` pages by position; ``after_rank`` (keyset) starts after that rank instead,
    which stays fast however deep the page.
    """
    where = _where(churn_score, run_id, filters)
    if after_rank is not None:
        where.append(churn_score.c.rank > int(after_rank))
    query = (sa.select(*[churn_score.c[c] for c in columns]).where(*where)
             .order_by(churn_score.c.rank).limit(int(limit)).offset(int(offset)))
    return read_frame(workflow, query)


def iter_retention(workflow: sa.Engine, run_id: int,
                   filters: RetentionFilter = RetentionFilter(), *, limit: int,
                   chunk_rows: int = 5_000, columns: tuple[str, ...] = LIST_COLUMNS
                   ) -> Iterator[pd.DataFrame]:
    """The first ``limit`` rows of the list in chunks (keyset on rank), for an export."""
    after, left = None, int(limit)
    while left > 0:
        chunk = load_retention(workflow, run_id, filters, limit=min(chunk_rows, left),
                               after_rank=after, columns=columns)
        if chunk.empty:
            return
        yield chunk
        left -= len(chunk)
        after = int(chunk["rank"].iloc[-1])


def _from_cells(filters: RetentionFilter) -> bool:
    """The cells answer every filter but a minimum risk (a risk is not a cell's key)."""
    return filters.min_prob <= 0


def count_retention(workflow: sa.Engine, run_id: int,
                    filters: RetentionFilter = RetentionFilter()) -> int:
    """How many subscribers the filtered list holds, inside the acting scope."""
    if _from_cells(filters):
        query = sa.select(sa.func.coalesce(sa.func.sum(churn_score_cell.c.subscribers), 0)).where(
            *_where(churn_score_cell, run_id, filters))
    else:
        query = sa.select(sa.func.count()).select_from(churn_score).where(
            *_where(churn_score, run_id, filters))
    with workflow.connect() as conn:
        return int(conn.execute(query).scalar_one())


def load_risk_summary(workflow: sa.Engine, run_id: int,
                      filters: RetentionFilter = RetentionFilter()) -> pd.DataFrame:
    """Subscribers and expected loss per branch, micro-region, segment and risk band.

    Read from the run's cells (a few thousand rows however many subscribers were scored)
    unless a minimum risk is asked, which only the scores themselves can answer.
    """
    if _from_cells(filters):
        c = churn_score_cell.c
        counted, table = sa.func.sum(c.subscribers), churn_score_cell
    else:
        c = churn_score.c
        counted, table = sa.func.count(), churn_score
    query = (sa.select(c.branch, c.micro_region, c.segment, c.risk_band,
                       counted.label("subscribers"),
                       sa.func.sum(c.expected_loss).label("expected_loss"))
             .where(*_where(table, run_id, filters))
             .group_by(c.branch, c.micro_region, c.segment, c.risk_band)
             .order_by(c.branch, c.micro_region, c.segment, c.risk_band))
    frame = read_frame(workflow, query)
    frame["subscribers"] = frame["subscribers"].astype(int)
    return frame


def load_actions(workflow: sa.Engine, run_id: int) -> list[str]:
    """The suggested tactics that occur in the run, inside the acting scope."""
    c = churn_score_cell.c
    query = (sa.select(c.action).where(*_where(churn_score_cell, run_id), c.action != "")
             .group_by(c.action).order_by(c.action))
    with workflow.connect() as conn:
        return list(conn.execute(query).scalars())


def load_subscriber_score(workflow: sa.Engine, run_id: int, subscriber_id: int) -> pd.Series | None:
    """One subscriber's scored row (None when not scored, or outside the acting scope)."""
    query = sa.select(churn_score).where(*_where(churn_score, run_id),
                                         churn_score.c.subscriber_id == int(subscriber_id))
    frame = read_frame(workflow, query)
    return None if frame.empty else frame.iloc[0]


def load_group_warnings(workflow: sa.Engine, run_id: int) -> pd.DataFrame:
    """The run's group warnings, most urgent first, inside the acting scope."""
    c = churn_group_warning.c
    allowed = scoped(Slice())
    where = [c.run_id == int(run_id)]
    if allowed.branch is not None:
        where.append(c.branch == allowed.branch)
    if allowed.micro_region is not None:
        where.append(c.micro_region == allowed.micro_region)
    return read_frame(workflow, sa.select(*[c[n] for n in WARNING_COLUMNS]).where(*where)
                      .order_by(c.score.desc(), c.expected_loss.desc()))

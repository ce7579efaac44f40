"""Writing a scoring run: opened incomplete, its rows added in short transactions (from this
process or a writer process), completed in one last transaction with its cells, warnings and
audit row; old runs pruned."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa

from data_access import bulk
from data_access.store.audit import record_audit
from data_access.store.churn_scores.layout import for_dialect
from data_access.store.churn_scores.tables import (CELL_KEYS, CHUNK_ROWS, KEEP_RUNS,
                                                   SCORE_COLUMNS, WARNING_COLUMNS, ScoreRun,
                                                   churn_group_warning, churn_run, churn_score,
                                                   churn_score_cell)
from data_access.store.principal import Principal
from data_access.store.scope import acting_as, acting_principal, require
from data_access.store.workflow import create_workflow_engine, write_transaction


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)



def _prepared(dialect: sa.Dialect, table: sa.Table, run_id: int, frame: pd.DataFrame,
              columns: tuple[str, ...]) -> bulk.Prepared:
    """A frame's rows of ``columns`` (those it holds) for ``table`` under ``run_id``, made
    ready before a transaction opens, so it holds the write lock only for the insert."""
    names = [c for c in columns if c in frame.columns]
    return bulk.prepare(dialect, table, frame[names].assign(run_id=int(run_id)),
                        ["run_id", *names])


def _write(conn: sa.Connection, prepared: bulk.Prepared) -> None:
    """Write prepared rows, counted as a write for the audit guard (``write_transaction``)."""
    bulk.write(conn, prepared)
    conn.info["written"] = conn.info.get("written", 0) + 1



def save_score_run(workflow: sa.Engine, version: str, month: str, scores: pd.DataFrame,
                   warnings: pd.DataFrame, *, keep: int = KEEP_RUNS,
                   chunk_rows: int = CHUNK_ROWS) -> ScoreRun:
    """Write a scoring run, its scores and group warnings; then prune old runs.

    The run is opened incomplete (:func:`open_score_run`), its rows go in transactions of
    ``chunk_rows`` (:func:`add_scores`: other writers, on SQLite one at a time, wait at most
    one chunk), and the last transaction adds the cells and warnings, marks it complete and
    writes its audit row (:func:`finish_score_run`): until then no reader sees it. A run that
    fails half-way is deleted again, and one whose job died is pruned by the next save. Then
    runs beyond the newest ``keep`` are deleted, a chunk at a time. Needs ``view_mart_admin``
    (jobs act as the system).
    """
    with open_score_run(workflow, version, month, chunk_rows=chunk_rows) as run_id:
        add_scores(workflow, run_id, scores, chunk_rows=chunk_rows)
        return finish_score_run(workflow, run_id, scores, warnings, keep=keep,
                                chunk_rows=chunk_rows)


@contextlib.contextmanager
def open_score_run(workflow: sa.Engine, version: str, month: str, *,
                   chunk_rows: int = CHUNK_ROWS) -> Iterator[int]:
    """Open a scoring run of ``version`` for ``month``, incomplete (no reader sees it), and
    give its id to the block, which adds its rows as they become ready (:func:`add_scores`,
    from any thread or process acting as the same person) and finishes it
    (:func:`finish_score_run`). If the block fails before the run is complete, the run is
    deleted again, rows and all."""
    require("view_mart_admin", "save churn scores")
    who = acting_principal("save churn scores")
    values = {"model_version": version, "month": month, "scored_at": _now(), "subscribers": 0,
              "base_rate": 0.0, "created_by": who.username[:40]}
    with write_transaction(workflow) as conn:
        run_id = int(conn.execute(sa.insert(churn_run).values(**values, complete=False))
                     .inserted_primary_key[0])
        for_dialect(workflow.dialect).create(conn, run_id)  # PostgreSQL: the run's own table
        record_audit(conn, who.username, "churn_run_start", "churn_run", run_id, None,
                     {k: v for k, v in values.items() if k not in ("subscribers", "base_rate")})
    try:
        yield run_id
    except BaseException:
        with workflow.connect() as conn:
            complete = conn.execute(sa.select(churn_run.c.complete)
                                    .where(churn_run.c.run_id == run_id)).scalar()
        if not complete:  # a failure after it was complete (pruning) keeps the run
            _delete_runs(workflow, who.username, [run_id], "churn_run_abandon", chunk_rows)
        raise


def add_scores(workflow: sa.Engine, run_id: int, scores: pd.DataFrame, *,
               chunk_rows: int = CHUNK_ROWS) -> None:
    """Add scored rows (``SCORE_COLUMNS``) to the open run ``run_id``, ``chunk_rows`` per
    transaction. Refused for a run that is complete (or absent): a run's rows are final."""
    require("view_mart_admin", "save churn scores")
    with workflow.connect() as conn:
        open_ = conn.execute(sa.select(churn_run.c.complete)
                             .where(churn_run.c.run_id == int(run_id))).first()
    if open_ is None or open_.complete:
        raise ValueError(f"scoring run {run_id} is not open: its rows cannot change")
    table = for_dialect(workflow.dialect).table(run_id)
    for start in range(0, len(scores), chunk_rows):
        rows = _prepared(workflow.dialect, table, run_id,
                         scores.iloc[start:start + chunk_rows], SCORE_COLUMNS)
        with write_transaction(workflow, rows_of="churn_run") as conn:
            _write(conn, rows)


@contextlib.contextmanager
def _store_at(url: str, who: Principal) -> Iterator[sa.Engine]:
    """An engine of its own on the store at ``url``, acting as ``who``: for work in another
    process (an engine is not shared across processes), a bulk writer's
    (``create_workflow_engine(bulk=True)``); disposed afterwards."""
    engine = create_workflow_engine(url, bulk=True)
    try:
        with acting_as(who):
            yield engine
    finally:
        engine.dispose()


def warm_writer() -> None:
    """Nothing: a writer process's first task, so that it starts (and imports this module)
    before it has rows to write."""


def add_scores_in(url: str, run_id: int, scores: pd.DataFrame, who: Principal, *,
                  chunk_rows: int = CHUNK_ROWS) -> int:
    """:func:`add_scores` on the store at ``url``, acting as ``who``, from a writer process
    (:func:`_store_at`). Returns the rows added."""
    with _store_at(url, who) as engine:
        add_scores(engine, run_id, scores, chunk_rows=chunk_rows)
    return len(scores)


def make_room_in(url: str, who: Principal, *, keep: int = KEEP_RUNS,
                 chunk_rows: int = CHUNK_ROWS) -> None:
    """Before a new run is finished: delete the runs beyond the newest ``keep - 1`` complete
    ones (and dead incomplete ones older than those) on the store at ``url``, acting as
    ``who`` (:func:`_store_at`). A writer process does it while the new run's reasons are
    worked out, so the job does not wait for the deletion at its end. A run still open is
    newer than every complete run, so it is never touched."""
    with _store_at(url, who) as engine:
        require("view_mart_admin", "save churn scores")
        _prune(engine, who.username, max(1, int(keep) - 1), chunk_rows)


def finish_score_run(workflow: sa.Engine, run_id: int, scores: pd.DataFrame,
                     warnings: pd.DataFrame, *, keep: int = KEEP_RUNS,
                     chunk_rows: int = CHUNK_ROWS) -> ScoreRun:
    """Complete the open run ``run_id`` whose rows are all added: ``scores`` is the whole
    run (for its size, base rate and cells; its rows are not written again) and ``warnings``
    its group warnings. One transaction writes the cells and warnings, the run's figures,
    marks it complete and writes the audit row; then older runs are pruned. On PostgreSQL
    the same transaction first indexes the run's table and attaches it as ``churn_score``'s
    partition (:class:`~data_access.store.churn_scores.layout.TablePerRun`)."""
    require("view_mart_admin", "save churn scores")
    who = acting_principal("save churn scores")
    base_rate = float(scores["churn_prob"].mean()) if len(scores) else 0.0
    layout = for_dialect(workflow.dialect)
    table = layout.table(run_id)
    with workflow.connect() as conn:
        run = conn.execute(sa.select(churn_run).where(churn_run.c.run_id == int(run_id))
                           ).first()
        written = conn.execute(sa.select(sa.func.count()).select_from(table)
                               .where(table.c.run_id == int(run_id))).scalar()
    if run is None or run.complete:
        raise ValueError(f"scoring run {run_id} is not open: it cannot be finished again")
    if int(written) != len(scores):
        raise ValueError(f"scoring run {run_id} holds {written:,} rows, not the "
                         f"{len(scores):,} scored: it is not finished")
    values = {"model_version": run.model_version, "month": run.month,
              "scored_at": run.scored_at, "subscribers": len(scores),
              "base_rate": base_rate, "created_by": run.created_by}
    cells = _prepared(workflow.dialect, churn_score_cell, run_id, score_cells(scores),
                      (*CELL_KEYS, "subscribers", "expected_loss"))
    warned = _prepared(workflow.dialect, churn_group_warning, run_id, warnings,
                       WARNING_COLUMNS)
    with write_transaction(workflow) as conn:
        # first: the indexes take this transaction's seconds, before it holds a lock on a
        # table others use (the attach: churn_score's and churn_run's, to its commit)
        layout.attach(conn, run_id)
        _write(conn, cells)
        _write(conn, warned)
        conn.execute(sa.update(churn_run).where(churn_run.c.run_id == run_id)
                     .values(complete=True, subscribers=len(scores), base_rate=base_rate))
        record_audit(conn, who.username, "churn_run_save", "churn_run", run_id, None,
                     {**values, "warnings": len(warnings)})
    _prune(workflow, who.username, keep, chunk_rows)
    # a run replaces a third of the table: the page's first reads get plans made for it. On
    # PostgreSQL every read names its run, so it is planned on the run's partition alone: its
    # statistics are the ones to refresh (0.25 s at 1M; the parent's, which recurse into every
    # kept run, 1.2 s)
    bulk.refresh_statistics(workflow, [table, churn_score_cell])
    scored_at = run.scored_at if run.scored_at.tzinfo else run.scored_at.replace(tzinfo=dt.UTC)
    return ScoreRun(int(run_id), run.model_version, run.month, scored_at, len(scores), base_rate)


def score_cells(scores: pd.DataFrame) -> pd.DataFrame:
    """A run's counts per ``CELL_KEYS`` cell (a missing segment is its own cell)."""
    if scores.empty:
        return pd.DataFrame(columns=[*CELL_KEYS, "subscribers", "expected_loss"])
    frame = scores.assign(action=scores["action"].fillna("") if "action" in scores else "")
    cells = (frame.groupby(list(CELL_KEYS), dropna=False, sort=True)
             .agg(subscribers=("subscriber_id", "size"), expected_loss=("expected_loss", "sum"))
             .reset_index())
    cells["subscribers"] = cells["subscribers"].astype(int)
    return cells


def _prune(workflow: sa.Engine, actor: str, keep: int, chunk_rows: int) -> None:
    """Delete the complete runs beyond the newest ``keep``, and incomplete runs older than
    the newest complete one (their job died: a run still being written is newer)."""
    with workflow.connect() as conn:
        runs = conn.execute(sa.select(churn_run.c.run_id, churn_run.c.complete)
                            .order_by(churn_run.c.run_id.desc())).all()
    complete = [r.run_id for r in runs if r.complete]
    old = complete[max(1, int(keep)):]
    if complete:
        old += [r.run_id for r in runs if not r.complete and r.run_id < complete[0]]
    if old:
        _delete_runs(workflow, actor, sorted(old), "churn_run_prune", chunk_rows)


def _delete_runs(workflow: sa.Engine, actor: str, run_ids: list[int], action: str,
                 chunk_rows: int) -> None:
    """Delete runs: first marked incomplete (readers stop seeing them), then their scores
    (:meth:`~data_access.store.churn_scores.layout.OneTable.drop`: on SQLite a chunk of ranks per transaction, on PostgreSQL the
    run's table dropped), then the rest and the runs themselves. A deletion cut short leaves
    incomplete runs, which the next prune finishes."""
    with write_transaction(workflow) as conn:
        conn.execute(sa.update(churn_run).where(churn_run.c.run_id.in_(run_ids))
                     .values(complete=False))
        record_audit(conn, actor, action, "churn_run", ",".join(map(str, run_ids))[:80],
                     {"run_ids": run_ids}, None)
    layout = for_dialect(workflow.dialect)
    for run_id in run_ids:
        layout.drop(workflow, run_id, chunk_rows)
    with write_transaction(workflow) as conn:
        for table in (churn_score, churn_score_cell, churn_group_warning, churn_run):
            conn.execute(sa.delete(table).where(table.c.run_id.in_(run_ids)))
        record_audit(conn, actor, f"{action}_done", "churn_run",
                     ",".join(map(str, run_ids))[:80], None, {"run_ids": run_ids})

"""Churn scores as data: one row per subscriber per scoring run, read with SQL by the page.

``churn_run`` describes a scoring run (model version, month, base rate); ``churn_score``
holds its subscribers (branch and micro-region copied in, so scope is a WHERE clause) and
``churn_group_warning`` its enterprise-group warnings. A run is written in short
transactions and marked complete in the last (:func:`save_score_run`): readers see only
complete runs, so all of one or none, and other writers wait at most one chunk. Every
reader narrows to the acting scope in its WHERE clause.

Where a run's scores go differs by dialect, in one place (:class:`_OneTable`,
:class:`_TablePerRun`): SQLite keeps them in ``churn_score`` itself and deletes an old run a
chunk at a time; on PostgreSQL ``churn_score`` is partitioned by run, a run is written into a
table of its own without indexes, indexed once when complete and attached as its partition
in the transaction that completes it, and an old run's partition is dropped whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import numbers
from collections.abc import Iterator
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from data_access import bulk
from data_access.db import read_frame
from data_access.mart.queries import Slice
from data_access.store.audit import record_audit
from data_access.store.principal import Principal
from data_access.store.scope import acting_as, acting_principal, require, scoped
from data_access.store.workflow import WORKFLOW, create_workflow_engine, write_transaction

#: Scoring runs kept: the newest ones (older runs are pruned when a new one is saved).
KEEP_RUNS = 3
#: Scores written (or, on SQLite, deleted) per transaction: SQLite has one writer at a time,
#: and a chunk holds the others for about half a second.
CHUNK_ROWS = 50_000

churn_run = sa.Table(
    "churn_run", WORKFLOW,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_version", sa.String(40), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),  # YYYY-MM scored
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("subscribers", sa.Integer, nullable=False),
    sa.Column("base_rate", sa.Double, nullable=False),  # mean churn probability of the run
    sa.Column("created_by", sa.String(40), nullable=False),
    # False while the run is being written (and for ever if its job died): readers skip it
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("ix_churn_run_version_month", "model_version", "month"),
    comment="Churn scoring runs: which model scored which month, when, for how many.",
)

churn_score = sa.Table(
    "churn_score", WORKFLOW,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("churn_run.run_id"),
              primary_key=True),
    sa.Column("subscriber_id", sa.BigInteger, primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),  # 1 = largest expected loss
    sa.Column("branch", sa.String(40), nullable=False),
    sa.Column("micro_region", sa.String(40), nullable=False),
    sa.Column("segment", sa.String(20), nullable=True),
    sa.Column("group_id", sa.Integer, nullable=True),
    sa.Column("group_name", sa.String(120), nullable=True),
    sa.Column("plan_family", sa.String(40), nullable=True),
    sa.Column("channel_type", sa.String(40), nullable=True),
    sa.Column("tenure_months", sa.Integer, nullable=True),
    sa.Column("arpu", sa.Double, nullable=True),
    sa.Column("churn_prob", sa.Double, nullable=False),
    sa.Column("risk_band", sa.String(10), nullable=False),
    sa.Column("net_value", sa.Double, nullable=False),
    sa.Column("expected_loss", sa.Double, nullable=False),
    sa.Column("top_reason", sa.String(200), nullable=False, server_default=""),
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
    sa.Column("reason_tags", sa.String(200), nullable=False, server_default=""),
    sa.Column("action", sa.String(120), nullable=False, server_default=""),
    # the page's reads: the top of the list, of a micro-region, of a tactic (a branch's top
    # walks the rank index: a branch is a fifth of the list or more; migration 0010)
    sa.Index("ix_churn_score_rank", "run_id", "rank"),
    sa.Index("ix_churn_score_micro_region", "run_id", "micro_region", "rank"),
    sa.Index("ix_churn_score_action", "run_id", "action", "rank",  # only rows with a tactic
             sqlite_where=sa.text("action <> ''"), postgresql_where=sa.text("action <> ''")),
    comment="One row per subscriber per churn scoring run: risk, value, reasons, tactic.",
    # a partition per run on PostgreSQL (_TablePerRun, migration 0014); SQLite ignores it
    postgresql_partition_by="LIST (run_id)",
)

churn_group_warning = sa.Table(
    "churn_group_warning", WORKFLOW,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("churn_run.run_id"),
              primary_key=True),
    sa.Column("group_id", sa.Integer, primary_key=True),
    sa.Column("group_name", sa.String(120), nullable=False),
    sa.Column("account_manager", sa.String(80), nullable=True),
    sa.Column("branch", sa.String(40), nullable=True),
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("has_leased_line", sa.Boolean, nullable=False),
    sa.Column("members", sa.Integer, nullable=False),
    sa.Column("at_risk", sa.Integer, nullable=False),
    sa.Column("mean_prob", sa.Double, nullable=False),
    sa.Column("base_rate", sa.Double, nullable=False),
    sa.Column("usage_change", sa.Double, nullable=False),
    sa.Column("spend_change", sa.Double, nullable=False),
    sa.Column("expected_loss", sa.Double, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("reason_tags", sa.String(200), nullable=False),
    sa.Column("message", sa.String(400), nullable=False),
    comment="Enterprise groups whose account manager should act, per churn scoring run.",
)

churn_score_cell = sa.Table(
    "churn_score_cell", WORKFLOW,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("churn_run.run_id"), nullable=False),
    sa.Column("branch", sa.String(40), nullable=False),
    sa.Column("micro_region", sa.String(40), nullable=False),
    sa.Column("segment", sa.String(20), nullable=True),
    sa.Column("risk_band", sa.String(10), nullable=False),
    sa.Column("action", sa.String(120), nullable=False),
    sa.Column("subscribers", sa.Integer, nullable=False),
    sa.Column("expected_loss", sa.Double, nullable=False),
    sa.Index("ix_churn_score_cell_run", "run_id", "branch", "micro_region"),
    comment="A scoring run's subscribers and expected loss per branch, micro-region, segment, "
            "risk band and tactic: the churn page's counts, read without scanning the run.",
)

#: The dimensions of ``churn_score_cell``: what its counts can be narrowed and grouped by.
CELL_KEYS = ("branch", "micro_region", "segment", "risk_band", "action")

#: Columns of the retention list as the page reads them.
LIST_COLUMNS = ("rank", "subscriber_id", "branch", "micro_region", "segment", "group_name",
                "plan_family", "churn_prob", "risk_band", "net_value", "expected_loss",
                "top_reason", "action")
#: … as an export writes it.
EXPORT_COLUMNS = ("rank", "subscriber_id", "branch", "micro_region", "segment", "plan_family",
                  "group_name", "churn_prob", "risk_band", "net_value", "expected_loss",
                  "top_reason", "reasons", "action")
#: Every column of a scored row.
SCORE_COLUMNS = tuple(c.name for c in churn_score.columns if c.name != "run_id")
_WARNING_COLUMNS = tuple(c.name for c in churn_group_warning.columns if c.name != "run_id")


@dataclasses.dataclass(frozen=True)
class ScoreRun:
    """One scoring run: its id, the model and month, when, how many, and the base rate."""

    run_id: int
    model_version: str
    month: str
    scored_at: dt.datetime
    subscribers: int
    base_rate: float


@dataclasses.dataclass(frozen=True)
class RetentionFilter:
    """What the retention list is narrowed to (None = all); hashable, so a cache key."""

    branch: str | None = None
    micro_region: str | None = None
    segment: str | None = None
    action: str | None = None
    min_prob: float = 0.0


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


class _CreateTableLike(sa.schema.ExecutableDDLElement):
    """``CREATE TABLE table (LIKE source INCLUDING DEFAULTS)`` (PostgreSQL): the columns,
    their types, NOT NULLs and defaults of ``source``, no index and no key."""

    def __init__(self, table: sa.Table, source: sa.Table) -> None:
        self.table, self.source = table, source


class _AttachPartition(sa.schema.ExecutableDDLElement):
    """``ALTER TABLE parent ATTACH PARTITION table FOR VALUES IN (run_id)`` (PostgreSQL)."""

    def __init__(self, parent: sa.Table, table: sa.Table, run_id: int) -> None:
        self.parent, self.table, self.run_id = parent, table, _run_number(run_id)


@compiles(_CreateTableLike, "postgresql")
def _compile_create_like(element: _CreateTableLike, compiler, **_) -> str:
    # Names from metadata, quoted by the dialect's preparer (as bulk.Analyze does).
    name = compiler.preparer.format_table
    return f"CREATE TABLE {name(element.table)} (LIKE {name(element.source)} INCLUDING DEFAULTS)"


@compiles(_AttachPartition, "postgresql")
def _compile_attach(element: _AttachPartition, compiler, **_) -> str:
    name = compiler.preparer.format_table
    return (f"ALTER TABLE {name(element.parent)} ATTACH PARTITION {name(element.table)} "
            f"FOR VALUES IN ({element.run_id:d})")


def _run_number(run_id: object) -> int:
    """``run_id`` as an int, refused unless it is a positive whole number: it becomes part of
    a table's name and of a partition bound (DDL takes no bound values)."""
    if isinstance(run_id, bool) or not isinstance(run_id, numbers.Integral) or run_id <= 0:
        raise ValueError(f"a scoring run's id is a positive integer, not {run_id!r}")
    return int(run_id)


class _OneTable:
    """Where a run's scores go on SQLite (and any store but PostgreSQL): ``churn_score``
    itself, its indexes kept up row by row; an old run is deleted a chunk of ranks per
    transaction, so other writers (one at a time) wait at most one chunk."""

    def table(self, run_id: int) -> sa.Table:
        """The table the rows of ``run_id`` are written to and counted in."""
        return churn_score

    def create(self, conn: sa.Connection, run_id: int) -> None:
        """Make room for a new run's rows, in the transaction that opens it: nothing."""

    def attach(self, conn: sa.Connection, run_id: int) -> None:
        """Make a run's rows readable, in the transaction that completes it: nothing (they
        are unseen until the run is marked complete)."""

    def drop(self, workflow: sa.Engine, run_id: int, chunk_rows: int) -> None:
        """Delete a retired run's scores, but the last chunk (deleted with the run)."""
        with workflow.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(churn_score.c.rank))
                                .where(churn_score.c.run_id == run_id)).scalar() or 0
        for upto in range(chunk_rows, int(last), chunk_rows):
            with write_transaction(workflow, rows_of="churn_run") as conn:  # retired: audited
                conn.execute(sa.delete(churn_score).where(churn_score.c.run_id == run_id,
                                                          churn_score.c.rank <= upto))


class _TablePerRun(_OneTable):
    """Where a run's scores go on PostgreSQL: ``churn_score`` is partitioned by run, and a
    run is written into a table of its own (``churn_score_run_<id>``), without indexes,
    keys or foreign key: keeping three indexes and a key up during ``COPY`` cost 12–17 s of
    the server's CPU per million rows. When the run is complete its key and indexes are
    built once (sorted), and it is attached as ``churn_score``'s partition in the
    transaction that marks it complete, so readers see all of it or none. A check that
    holds its run id, made with the empty table, spares the attach its scan of the rows for
    the partition bound; the foreign key the partition takes from ``churn_score`` is still
    checked then, once for all rows (about 1 s per million in a trial on PostgreSQL 15). An
    old run's table is dropped whole, attached or not (a run whose job died leaves one
    unattached).

    Dropping an attached partition locks ``churn_score`` (ACCESS EXCLUSIVE) for the moment
    the drop takes, as a detach would; detaching it first would also lock ``churn_run`` (the
    detached table's foreign key gets triggers there, which the drop removes again).
    """

    def table(self, run_id: int) -> sa.Table:
        number = _run_number(run_id)
        name = f"{churn_score.name}_run_{number}"
        table = sa.Table(name, sa.MetaData(), *[sa.Column(c.name, c.type, nullable=c.nullable)
                                                for c in churn_score.columns])
        table.append_constraint(sa.CheckConstraint(table.c.run_id == number, name=f"{name}_run"))
        table.append_constraint(sa.PrimaryKeyConstraint(
            *[c.name for c in churn_score.primary_key.columns], name=f"{name}_pkey"))
        for index in churn_score.indexes:  # the parent's, which the attach matches them to
            sa.Index(f"{name}_{index.name.removeprefix('ix_churn_score_')}",
                     *[table.c[c.name] for c in index.columns], **index.dialect_kwargs)
        return table

    def create(self, conn: sa.Connection, run_id: int) -> None:
        table = self.table(run_id)
        conn.execute(_CreateTableLike(table, churn_score))
        check = next(c for c in table.constraints if c.name == f"{table.name}_run")
        conn.execute(sa.schema.AddConstraint(check))

    def attach(self, conn: sa.Connection, run_id: int) -> None:
        table = self.table(run_id)
        conn.execute(sa.schema.AddConstraint(table.primary_key))
        for index in sorted(table.indexes, key=lambda i: i.name):
            conn.execute(sa.schema.CreateIndex(index))
        conn.execute(_AttachPartition(churn_score, table, run_id))

    def drop(self, workflow: sa.Engine, run_id: int, chunk_rows: int) -> None:
        with write_transaction(workflow, rows_of="churn_run") as conn:  # retired: audited
            conn.execute(sa.schema.DropTable(self.table(run_id), if_exists=True))


def _layout(dialect: sa.Dialect) -> _OneTable:
    """Where the scores of a run go on ``dialect`` (the only dialect branch of this module)."""
    return _TablePerRun() if dialect.name == "postgresql" else _OneTable()


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
        _layout(workflow.dialect).create(conn, run_id)  # PostgreSQL: the run's own table
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
    table = _layout(workflow.dialect).table(run_id)
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
    partition (:class:`_TablePerRun`)."""
    require("view_mart_admin", "save churn scores")
    who = acting_principal("save churn scores")
    base_rate = float(scores["churn_prob"].mean()) if len(scores) else 0.0
    layout = _layout(workflow.dialect)
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
                       _WARNING_COLUMNS)
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
    (:meth:`_OneTable.drop`: on SQLite a chunk of ranks per transaction, on PostgreSQL the
    run's table dropped), then the rest and the runs themselves. A deletion cut short leaves
    incomplete runs, which the next prune finishes."""
    with write_transaction(workflow) as conn:
        conn.execute(sa.update(churn_run).where(churn_run.c.run_id.in_(run_ids))
                     .values(complete=False))
        record_audit(conn, actor, action, "churn_run", ",".join(map(str, run_ids))[:80],
                     {"run_ids": run_ids}, None)
    layout = _layout(workflow.dialect)
    for run_id in run_ids:
        layout.drop(workflow, run_id, chunk_rows)
    with write_transaction(workflow) as conn:
        for table in (churn_score, churn_score_cell, churn_group_warning, churn_run):
            conn.execute(sa.delete(table).where(table.c.run_id.in_(run_ids)))
        record_audit(conn, actor, f"{action}_done", "churn_run",
                     ",".join(map(str, run_ids))[:80], None, {"run_ids": run_ids})


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
    return read_frame(workflow, sa.select(*[c[n] for n in _WARNING_COLUMNS]).where(*where)
                      .order_by(c.score.desc(), c.expected_loss.desc()))


__all__ = ["EXPORT_COLUMNS", "KEEP_RUNS", "LIST_COLUMNS", "SCORE_COLUMNS", "RetentionFilter",
           "ScoreRun", "add_scores", "add_scores_in", "churn_group_warning", "churn_run",
           "churn_score", "finish_score_run", "make_room_in", "open_score_run", "warm_writer",
           "save_score_run"]

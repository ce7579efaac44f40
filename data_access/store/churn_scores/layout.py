"""Where a scoring run's rows go, by dialect: the only dialect branch of the churn scores.

SQLite keeps them in ``churn_score`` itself and deletes an old run a chunk at a time; on
PostgreSQL ``churn_score`` is partitioned by run (migration 0014), a run is written into a
table of its own without indexes, indexed once when complete and attached as its partition in
the transaction that completes it, and an old run's partition is dropped whole.
"""

from __future__ import annotations

import numbers

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from data_access.store.churn_scores.tables import churn_score
from data_access.store.workflow import write_transaction


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


class OneTable:
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


class TablePerRun(OneTable):
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


def for_dialect(dialect: sa.Dialect) -> OneTable:
    """Where the scores of a run go on ``dialect``."""
    return TablePerRun() if dialect.name == "postgresql" else OneTable()

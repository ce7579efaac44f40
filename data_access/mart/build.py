"""Writing a whole mart atomically: a new DuckDB file swapped in, or one transaction on a server."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from data_access.mart import schema
from data_access import bulk
from data_access.db import create_mart_engine, duckdb_path, mart_url
from data_access.mart.summaries import rebuild_summaries
from data_access.mart.checks.load_guards import mart_write_lock

SCHEMA_VERSION = "1"
# Tables too large for DuckDB's in-memory key index to pay off; keys are checked before loading
# (the top fallers per micro-region × channel type are unique by their ranking: its key index
# took 130 MB of the file at 250,000 subscribers, its rows 55 MB).
_UNINDEXED_IN_DUCKDB = {"fact_subscriber_month", "truth_churn_prob", "sum_top_fallers_type_month"}


def _duckdb_metadata() -> sa.MetaData:
    """The mart's tables for DuckDB: no foreign keys, and no key index on the big facts.

    DuckDB enforces foreign keys row by row and forbids deleting referenced rows; the
    generator produces consistent keys and the loader checks them before writing.
    """
    metadata = sa.MetaData()
    for table in schema.MART.sorted_tables:
        keep_pk = table.name not in _UNINDEXED_IN_DUCKDB
        sa.Table(table.name, metadata, *[
            sa.Column(c.name, c.type, nullable=c.nullable, primary_key=keep_pk and c.primary_key,
                      autoincrement=False)
            for c in table.columns
        ])
    return metadata


class MartWriter:
    """Collects a mart's tables on one connection; see :func:`open_mart_writer`."""

    def __init__(self, conn: sa.Connection, *, commit_each_write: bool = False):
        self.conn = conn
        self.rows: dict[str, int] = {}
        self._commit_each_write = commit_each_write

    def write(self, table: sa.Table, frame: pd.DataFrame) -> int:
        """Append rows to a mart table."""
        written = bulk.write_frame(self.conn, table, frame)
        self.rows[table.name] = self.rows.get(table.name, 0) + written
        if self._commit_each_write:
            self.conn.commit()
        return written

    def _finish(self, meta: dict[str, str]) -> None:
        rebuild_summaries(self.conn)
        # build_id names this build: results precomputed for one mart are never served for
        # another, even one built from the same seed in the same second.
        meta = {"schema_version": SCHEMA_VERSION,
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "build_id": uuid.uuid4().hex, **meta}
        self.conn.execute(sa.delete(schema.mart_meta))
        self.conn.execute(sa.insert(schema.mart_meta),
                          [{"key": k, "value": str(v)} for k, v in meta.items()])


@contextlib.contextmanager
def open_mart_writer(url: str | None = None, meta: dict[str, str] | None = None
                     ) -> Iterator[MartWriter]:
    """Replace the whole mart at ``url``, or leave it exactly as it was on any error.

    On an embedded DuckDB file the new mart is written to a temporary file beside the
    old one and renamed over it at the end (readers of the old file are never blocked,
    and the app notices the new file). On a server everything happens in one
    transaction: existing rows are deleted, the new ones inserted, summaries rebuilt; then
    the planner's statistics are refreshed (``ANALYZE``), so the first users after a nightly
    load get plans made with them.
    """

    url = url or mart_url()
    meta = dict(meta or {})
    path = duckdb_path(url)
    # one writer at a time (a second is refused: MartBusy); a killed build's files are removed
    with mart_write_lock(url):
        if path is not None:
            yield from _write_duckdb_file(path, meta)
            return
        engine = create_mart_engine(url)
        try:
            with engine.begin() as conn:
                schema.MART.create_all(conn, checkfirst=True)
                _create_missing_indexes(conn)
                for table in reversed(schema.MART.sorted_tables):
                    conn.execute(sa.delete(table))
                writer = MartWriter(conn)
                yield writer
                writer._finish(meta)
            refresh_statistics(engine)  # the planner's statistics for the new rows
            _drop_retired_indexes(engine)
        finally:
            engine.dispose()


def _write_duckdb_file(path: Path, meta: dict[str, str]) -> Iterator[MartWriter]:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.building")
    tmp.unlink(missing_ok=True)
    engine = create_mart_engine(f"duckdb:///{tmp}")
    try:
        with engine.connect() as conn:
            _duckdb_metadata().create_all(conn)
            # The rename at the end makes the build atomic, so commit as we go: DuckDB keeps
            # uncommitted rows in memory (one transaction peaked at 5.9 GB for 1M × 24).
            writer = MartWriter(conn, commit_each_write=True)
            yield writer
            writer._finish(meta)
            conn.commit()
        engine.dispose()
        os.replace(tmp, path)
    finally:
        engine.dispose()
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)


def refresh_statistics(engine: sa.Engine) -> None:
    """After a bulk write on PostgreSQL, refresh the planner's statistics (``ANALYZE``) of every
    mart table, summaries included, so the first users after a nightly load get plans made
    with them (``data_access.bulk.refresh_statistics``); a first build leaves the planner
    without any until autovacuum's next look (a row-count guess from the file size, 200
    distinct values per column)."""
    bulk.refresh_statistics(engine, schema.MART.sorted_tables)


class _Vacuum(bulk.Analyze):
    """``VACUUM (ANALYZE)`` of some tables (PostgreSQL)."""


@compiles(_Vacuum, "postgresql")
def _compile_vacuum(element: _Vacuum, compiler, **_) -> str:
    return "VACUUM (ANALYZE) " + ", ".join(compiler.preparer.format_table(t)
                                           for t in element.tables)


def vacuum_mart(engine: sa.Engine) -> None:
    """``VACUUM (ANALYZE)`` every mart table on PostgreSQL (nothing on DuckDB): what
    autovacuum does on its own within minutes of a load (visibility map, so index-only scans
    skip the heap; hint bits), done now. For benchmarks, so that queries are timed on the
    mart as users meet it most of the day rather than while autovacuum works through it."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(_Vacuum(schema.MART.sorted_tables))


def _create_missing_indexes(conn: sa.Connection) -> None:
    """Create the indexes ``schema`` declares that a server mart made by an older version lacks
    (``create_all`` skips tables that exist). Inside the load's transaction: readers go on."""
    for table in schema.MART.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _drop_retired_indexes(engine: sa.Engine) -> None:
    """Drop indexes a later version replaced (every write pays for them) once the load has
    committed: dropping locks the table, which inside the load would hold readers off."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for index in schema.RETIRED_INDEXES:
            conn.execute(sa.schema.DropIndex(index, if_exists=True))

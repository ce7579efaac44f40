"""Fast bulk inserts of DataFrames, one strategy per dialect (the only dialect branches for
writes): the mart's build and the workflow store's churn scores write through here.

DuckDB reads a frame in place (an Arrow scan); PostgreSQL receives it through ``COPY … FROM
STDIN`` as CSV written by Arrow (in C++: pandas' ``to_csv`` took as long as PostgreSQL's
whole insert), a chunk at a time. Arrow quotes every string, so an empty one is ``""`` and a
missing value an empty field, PostgreSQL's NULL in CSV. Other engines (SQLite) get the
driver's ``executemany`` with positional rows. :func:`prepare` does the work that needs no
connection (the Arrow table, the rows), so a writer that holds a lock (SQLite's one writer)
holds it only for :func:`write`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

_DUCKDB_VIEW = "concerto_bulk_frame"
_CHUNK_ROWS = 200_000


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Rows of one table made ready for :func:`write` on a connection of ``dialect``."""

    table: sa.Table
    columns: tuple[str, ...]
    dialect: str
    payload: object  # DuckDB: the frame; PostgreSQL: Arrow; others: (statement, rows)
    rows: int


def prepare(dialect: sa.Dialect, table: sa.Table, frame: pd.DataFrame,
            columns: Sequence[str] | None = None) -> Prepared:
    """``frame``'s rows for ``table`` on ``dialect``, ready to write.

    ``columns`` names the table's columns the frame holds (the others take their defaults);
    by default every column of the table. The frame must hold exactly those columns (any
    order): a missing or unexpected column is a ValueError naming it.
    """
    expected = list(columns) if columns is not None else [c.name for c in table.columns]
    unknown = sorted(set(expected) - set(table.columns.keys()))
    missing = sorted(set(expected) - set(frame.columns))
    extra = sorted(set(frame.columns) - set(expected))
    if unknown or missing or extra:
        raise ValueError(f"{table.name}: missing columns {missing}, unexpected columns "
                         f"{extra}" + (f", not in the table {unknown}" if unknown else ""))
    frame = frame[expected]
    name = dialect.name
    if name == "duckdb":
        payload: object = frame
    elif name == "postgresql":
        payload = _arrow(table, frame)
    else:
        payload = _positional(dialect, table, frame)
    return Prepared(table, tuple(expected), name, payload, len(frame))


def write(conn: sa.Connection, prepared: Prepared) -> int:
    """Append prepared rows inside the caller's transaction; the number written."""
    if conn.dialect.name != prepared.dialect:
        raise ValueError(f"rows prepared for {prepared.dialect}, written to "
                         f"{conn.dialect.name}")
    if not prepared.rows:
        return 0
    if prepared.dialect == "duckdb":
        _write_duckdb(conn, prepared)
    elif prepared.dialect == "postgresql":
        _write_postgresql(conn, prepared)
    else:
        statement, rows = prepared.payload
        conn.exec_driver_sql(statement, rows)
    return prepared.rows


def write_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame,
                columns: Sequence[str] | None = None) -> int:
    """Append ``frame`` to ``table`` on ``conn`` inside the caller's transaction
    (:func:`prepare`, then :func:`write`). Returns the number of rows written."""
    return write(conn, prepare(conn.dialect, table, frame, columns))


class Analyze(sa.schema.ExecutableDDLElement):
    """``ANALYZE`` of some tables (PostgreSQL), which SQLAlchemy has no construct for."""

    def __init__(self, tables: Sequence[sa.Table]) -> None:
        self.tables = list(tables)


@compiles(Analyze, "postgresql")
def _compile_analyze(element: Analyze, compiler, **_) -> str:
    # The tables are metadata objects; the dialect's preparer quotes their names.
    return "ANALYZE " + ", ".join(compiler.preparer.format_table(t) for t in element.tables)


def refresh_statistics(engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
    """After a bulk write on PostgreSQL, refresh the planner's statistics of ``tables``
    (``ANALYZE``), so the first readers after it get plans made with them; DuckDB keeps its
    own, and SQLite's planner, without statistics, prefers the indexes these reads need.

    Autovacuum would analyze them too, but only after its next look (a minute or more);
    until then the planner works from the statistics of before the write, or none.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(Analyze(tables))


def _write_duckdb(conn: sa.Connection, prepared: Prepared) -> None:
    raw = conn.connection.dbapi_connection
    raw.register(_DUCKDB_VIEW, prepared.payload)
    table = prepared.table
    source = sa.table(_DUCKDB_VIEW, *[sa.column(c) for c in prepared.columns])
    select = sa.select(*[sa.cast(source.c[c], table.c[c].type) for c in prepared.columns])
    try:
        conn.execute(sa.insert(table).from_select(list(prepared.columns), select))
    except BaseException:
        # The transaction is aborted, so unregistering fails too: that error would hide this
        # one. The next write registers the name again.
        with contextlib.suppress(Exception):
            raw.unregister(_DUCKDB_VIEW)
        raise
    raw.unregister(_DUCKDB_VIEW)


def _arrow(table: sa.Table, frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow, whole numbers held as floats (a column with a gap) as integers, as
    an integer column takes them."""
    whole = {c: "Int64" for c in frame.columns
             if isinstance(table.c[c].type, sa.Integer) and frame[c].dtype.kind == "f"}
    return pa.Table.from_pandas(frame.astype(whole) if whole else frame, preserve_index=False)


def _write_postgresql(conn: sa.Connection, prepared: Prepared) -> None:
    import psycopg  # only needed, and only installed-for-sure, with PostgreSQL
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(prepared.table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in prepared.columns),
    )
    raw = conn.connection.dbapi_connection
    arrow, options = prepared.payload, pacsv.WriteOptions(include_header=False)
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for start in range(0, arrow.num_rows, _CHUNK_ROWS):  # a chunk's CSV at a time
                buffer = io.BytesIO()
                pacsv.write_csv(arrow.slice(start, _CHUNK_ROWS), buffer, options)
                copy.write(buffer.getvalue())
    except psycopg.Error as exc:  # as SQLAlchemy raises a statement's (IntegrityError, …)
        raise sa.exc.DBAPIError.instance(statement.as_string(raw), None, exc,
                                         psycopg.Error, dialect=conn.dialect) from exc


def _values(dialect: sa.Dialect, column: sa.Column, values: pd.Series) -> list:
    """A column as the driver takes it: plain Python values (``tolist`` gives Python
    scalars), NaN → None, dates as dates, through the type's own conversion for the dialect
    (as an ``INSERT`` through SQLAlchemy would bind them), applied a column at a time."""
    if isinstance(column.type, sa.Date) and not isinstance(column.type, sa.DateTime):
        values = pd.to_datetime(values).dt.date
    if values.isna().any():
        values = values.astype(object).where(values.notna(), None).tolist()
    else:
        values = values.tolist()
    convert = column.type.dialect_impl(dialect).bind_processor(dialect)
    return values if convert is None else [convert(v) for v in values]


def _positional(dialect: sa.Dialect, table: sa.Table, frame: pd.DataFrame
                ) -> tuple[str, list[tuple]]:
    """An ``INSERT`` with the driver's positional parameter marker (``?`` or ``%s``) and its
    rows as tuples
    (a dict per row costs more than the insert itself at a million rows). Names come from
    the table's metadata."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = list(frame.columns)
    statement = (f"INSERT INTO {table.name} ({', '.join(names)}) "
                 f"VALUES ({', '.join([mark] * len(names))})")
    return statement, list(zip(*(_values(dialect, table.c[n], frame[n]) for n in names),
                                strict=True))

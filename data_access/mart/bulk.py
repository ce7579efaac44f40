"""Fast bulk inserts of DataFrames, one strategy per dialect (the only dialect branches for writes)."""

from __future__ import annotations

import io
import itertools

import pandas as pd
import sqlalchemy as sa

_DUCKDB_VIEW = "concerto_bulk_frame"
_CHUNK_ROWS = 200_000


def write_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Append ``frame`` to ``table`` on ``conn`` inside the caller's transaction.

    The frame's columns must be exactly the table's columns (any order). Returns the
    number of rows written. DuckDB reads the frame in place (Arrow scan), PostgreSQL
    receives it through COPY, other engines through executemany.
    """
    expected = [c.name for c in table.columns]
    missing = sorted(set(expected) - set(frame.columns))
    extra = sorted(set(frame.columns) - set(expected))
    if missing or extra:
        raise ValueError(f"{table.name}: missing columns {missing}, unexpected columns {extra}")
    if frame.empty:
        return 0
    frame = frame[expected]
    dialect = conn.dialect.name
    if dialect == "duckdb":
        _write_duckdb(conn, table, frame)
    elif dialect == "postgresql":
        _write_postgresql(conn, table, frame)
    else:
        _write_generic(conn, table, frame)
    return len(frame)


def _write_duckdb(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    raw = conn.connection.dbapi_connection
    raw.register(_DUCKDB_VIEW, frame)
    try:
        source = sa.table(_DUCKDB_VIEW, *[sa.column(c.name) for c in table.columns])
        select = sa.select(*[sa.cast(source.c[c.name], c.type) for c in table.columns])
        conn.execute(sa.insert(table).from_select([c.name for c in table.columns], select))
    finally:
        raw.unregister(_DUCKDB_VIEW)


def _write_postgresql(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    from psycopg import sql  # only needed, and only installed-for-sure, with PostgreSQL

    raw = conn.connection.dbapi_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
    )
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, len(frame), _CHUNK_ROWS):
            buffer = io.StringIO()
            frame.iloc[start:start + _CHUNK_ROWS].to_csv(buffer, index=False, header=False)
            copy.write(buffer.getvalue())


def _write_generic(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    frame = frame.copy()
    for column in table.columns:
        if isinstance(column.type, sa.Date) and column.name in frame:
            frame[column.name] = pd.to_datetime(frame[column.name]).dt.date
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, _CHUNK_ROWS)):
        conn.execute(sa.insert(table), chunk)

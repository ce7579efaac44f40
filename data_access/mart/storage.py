"""Where a server mart's bytes are: the database's size and each mart table's (PostgreSQL)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema
from data_access.db import read_frame
from data_access.store.scope import require


def load_table_sizes(engine: sa.Engine) -> pd.DataFrame:
    """Each mart table's estimated rows and bytes on PostgreSQL, largest first.

    Columns: ``table``, ``rows`` (the planner's estimate, ``pg_class.reltuples``: -1 or 0
    before the first ``ANALYZE``), ``last_analyze`` (the last manual ANALYZE, NaT if none),
    ``table_bytes``, ``index_bytes``, ``total_bytes``. Empty on other engines.
    """
    require("view_mart_admin", "read the mart's table sizes")
    if engine.dialect.name != "postgresql":
        return pd.DataFrame(columns=["table", "rows", "last_analyze", "table_bytes",
                                     "index_bytes", "total_bytes"])
    statement = sa.text(
        "SELECT c.relname AS \"table\", c.reltuples::bigint AS rows,"
        " st.last_analyze AS last_analyze,"
        " pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,"
        " pg_total_relation_size(c.oid) AS total_bytes"
        " FROM pg_class c JOIN pg_stat_user_tables st ON st.relid = c.oid"
        " WHERE st.schemaname = current_schema() AND c.relname IN :names"
        " ORDER BY total_bytes DESC, c.relname"
    ).bindparams(sa.bindparam("names", expanding=True))
    return read_frame(engine, statement.params(names=sorted(schema.MART.tables)))


def load_database_size(engine: sa.Engine) -> int | None:
    """The current database's size in bytes on PostgreSQL (None on other engines)."""
    require("view_mart_admin", "read the mart's size")
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_database_size(current_database())"))
                   .scalar_one())


#: Server settings a benchmark reports beside its figures (they move the plans and timings).
REPORTED_SETTINGS = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem",
                     "effective_cache_size", "max_parallel_workers_per_gather", "jit", "fsync",
                     "data_directory")


def load_server_settings(engine: sa.Engine) -> dict[str, str]:
    """The :data:`REPORTED_SETTINGS` as a session of ``engine`` sees them (PostgreSQL; empty on
    other engines), and ``backend_pid``, the server process that answered."""
    if engine.dialect.name != "postgresql":
        return {}
    statement = sa.text("SELECT name, current_setting(name) FROM pg_settings WHERE name IN :names"
                        ).bindparams(sa.bindparam("names", expanding=True))
    with engine.connect() as conn:
        rows = conn.execute(statement, {"names": list(REPORTED_SETTINGS)}).all()
        settings = {name: str(value) for name, value in rows}
        settings["backend_pid"] = str(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    return settings

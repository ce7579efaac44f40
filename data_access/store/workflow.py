"""The workflow store: state the app and scheduled jobs write (templates, runs, alerts).

It is a separate database from the analytic mart because several processes write it at
once (every app session, ``python -m jobs.scheduler run-due`` from cron), and DuckDB
allows one writer per file. The embedded default is SQLite in WAL mode (readers never block
the writer, writers wait for each other up to a timeout); production uses PostgreSQL through
``CONCERTO_WORKFLOW_URL``. Every write is one short transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from data_access.db import ConcertoError, parse_url, workflow_url
from data_access.store.migrate import upgrade_store

WORKFLOW = sa.MetaData()
_FEN = Decimal("0.01")
_SQLITE_BUSY_MS = 15_000
#: Modules that declare more tables on ``WORKFLOW`` (the migration test imports them all).
TABLE_MODULES = ("data_access.store.workorders", "data_access.store.arsenal", "data_access.store.budgets.ledger",
                 "data_access.store.intel", "data_access.store.comms", "data_access.store.campaign_plans",
                 "data_access.store.churn", "data_access.store.churn_scores",
                 "data_access.store.groups.rescue", "data_access.store.precomputed.tables")


class Money(sa.types.TypeDecorator):
    """Yuan held exactly: NUMERIC(14, 2) on PostgreSQL, whole fen (cents) as integers on SQLite.

    Python sees floats rounded to the fen, so page and rule code keeps its arithmetic; sums,
    comparisons and updates in SQL are exact (no binary fractions accumulate in a budget).
    """

    impl = sa.Numeric(14, 2, asdecimal=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(14, 2, asdecimal=False))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        fen = int(Decimal(str(value)).quantize(_FEN, rounding=ROUND_HALF_UP) * 100)
        return fen if dialect.name == "sqlite" else Decimal(fen) / 100

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> float | None:
        if value is None:
            return None
        return int(value) / 100 if dialect.name == "sqlite" else round(float(value), 2)


class StaleWrite(ConcertoError):
    """Someone else changed the row since it was read; reload and try again."""


class UnauditedWrite(ConcertoError):
    """A write transaction changed the store without writing its audit row (a bug)."""

alert = sa.Table(
    "alert", WORKFLOW,
    sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # anomaly, diagnosis, churn, channel, …
    sa.Column("metric", sa.String(40), nullable=False),
    sa.Column("unit_level", sa.String(20), nullable=False),  # city, branch, micro_region, channel…
    sa.Column("unit_key", sa.String(80), nullable=False),
    sa.Column("unit_label", sa.String(120), nullable=False),
    sa.Column("observed_at", sa.String(20), nullable=False),  # the day or month flagged
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("actual", sa.Double, nullable=True),
    sa.Column("expected", sa.Double, nullable=True),
    sa.Column("message", sa.String(400), nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="open"),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("diagnosis_run.run_id"), nullable=True),
    sa.UniqueConstraint("source", "metric", "unit_level", "unit_key", "observed_at",
                        name="uq_alert_once"),
    comment="Alerts raised by detectors and diagnosis runs; one per metric, unit and time.",
)

diagnosis_template = sa.Table(
    "diagnosis_template", WORKFLOW,
    sa.Column("template_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("tree_json", sa.Text, nullable=False),
    sa.Column("schedule", sa.String(10), nullable=False),  # daily, weekly, monthly, none
    sa.Column("compare_to", sa.String(20), nullable=False),  # last_period, last_year
    sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("is_current", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_template_version"),
    comment="Mind-map diagnosis templates; saving a change adds a new version.",
)

diagnosis_run = sa.Table(
    "diagnosis_run", WORKFLOW,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("template_id", sa.Integer, sa.ForeignKey("diagnosis_template.template_id"),
              nullable=False),
    sa.Column("period", sa.String(7), nullable=False),  # YYYY-MM analysed
    sa.Column("compare_period", sa.String(7), nullable=False),
    sa.Column("trigger", sa.String(10), nullable=False),  # schedule or manual
    sa.Column("slot", sa.String(20), nullable=False),  # the schedule slot, or a manual stamp
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Column("result_json", sa.Text, nullable=False),
    sa.Column("alerts_raised", sa.Integer, nullable=False),
    sa.UniqueConstraint("template_id", "slot", name="uq_run_once_per_slot"),
    comment="Stored results of template runs; a schedule slot runs at most once.",
)


app_user = sa.Table(
    "app_user", WORKFLOW,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(40), nullable=False, unique=True),
    sa.Column("display_name", sa.String(80), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scope_level", sa.String(20), nullable=True),  # branch or micro_region
    sa.Column("scope_value", sa.String(40), nullable=True),
    sa.Column("password_hash", sa.String(100), nullable=False),  # bcrypt, never audited
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # bumped on every change of role, scope, password or access: older sessions end
    sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
    comment="People who sign in to Concerto, with their role and the scope they may see.",
)

audit_log = sa.Table(
    "audit_log", WORKFLOW,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("username", sa.String(40), nullable=False),  # who acted (or tried to log in)
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(80), nullable=False),
    sa.Column("before_json", sa.Text, nullable=True),
    sa.Column("after_json", sa.Text, nullable=True),
    comment="Every write to the store and every login attempt: who, what, before and after.",
)


_SQLITE_PRAGMAS = ("PRAGMA busy_timeout=15000", "PRAGMA foreign_keys=ON")


def _execute_all(cursor: object, statements: tuple[str, ...]) -> None:
    for statement in statements:  # literals of this module only: nothing is built from input
        cursor.execute(statement)  # type: ignore[attr-defined]


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    _execute_all(cursor, _SQLITE_PRAGMAS)
    # WAL (readers never block the writer) is a property of the file, kept once set. Turning it
    # on needs the file to itself, and SQLite answers "locked" at once rather than waiting
    # when another connection is busy with a new file, so try again for a while.
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    while True:  # an in-memory database answers "memory", which is fine too
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cursor.close()


#: SQLite's page cache per connection of a bulk writer (``create_workflow_engine(bulk=True)``),
#: in KiB. The default 2 MB is too small for a million rows going into a table with five
#: indexes: every insert or delete reads its index pages again from the operating system.
#: With 64 MB the score job's writer inserts 835,967 rows in 5.9 s of CPU instead of 7.1 s and
#: deletes an old run of 1,055,378 in 4.1 s instead of 5.1 s (at 1M subscribers). Only for
#: jobs: each of the app's pooled connections would keep its own.
BULK_CACHE_KIB = 65_536
_BULK_PRAGMAS = ("PRAGMA cache_size=-65536",)  # a negative size is in KiB: BULK_CACHE_KIB


def _bulk_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    _execute_all(cursor, _BULK_PRAGMAS)
    cursor.close()


def create_workflow_engine(url: str | None = None, *, bulk: bool = False) -> sa.Engine:
    """An engine on the workflow store, upgraded to the newest schema
    (:mod:`data_access.store.migrate`). ``bulk``: for a job that writes or deletes a
    million rows (a larger page cache on SQLite, :data:`BULK_CACHE_KIB`)."""
    url = url or workflow_url()
    parsed = parse_url(url, "workflow store")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        if bulk:
            sa.event.listen(engine, "connect", _bulk_pragmas)
    elif parsed.get_backend_name() == "duckdb":
        raise ConcertoError("The workflow store needs concurrent writers: set "
                            "CONCERTO_WORKFLOW_URL to a SQLite or PostgreSQL URL, not DuckDB.")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    upgrade_store(engine)
    sa.event.listen(engine, "after_execute", _note_write)
    return engine


def _note_write(conn: sa.Connection, statement: object, *_: object) -> None:
    """Count the rows a statement inserts, updates or deletes outside the audit log."""
    if isinstance(statement, sa.sql.dml.UpdateBase) and statement.table.name != "audit_log":
        conn.info["written"] = conn.info.get("written", 0) + 1


@contextmanager
def write_transaction(engine: sa.Engine, *, rows_of: str | None = None
                      ) -> Iterator[sa.Connection]:
    """One write transaction that takes the write lock at its start.

    On SQLite a transaction that reads and then writes can fail with "database is locked"
    when another writer committed in between; ``BEGIN IMMEDIATE`` takes the lock first and
    waits for it up to the busy timeout instead. On PostgreSQL this is a plain transaction;
    use conditional updates or ``SELECT … FOR UPDATE`` inside it.

    Every write to the store goes through here, and a transaction that changed any table
    must also have written its audit row (``data_access.store.audit.record_audit``) on the
    same connection: otherwise it is rolled back with an error, so no change goes unaudited.
    The one exception is named: ``rows_of`` says the transaction only writes bulk rows of
    an entity whose own transactions are audited (a churn scoring run's million scores,
    written and deleted a chunk at a time between its audited start and end).
    """
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.info["written"] = conn.info["audited"] = 0
        yield conn
        if conn.info["written"] and not conn.info["audited"] and rows_of is None:
            raise UnauditedWrite("A change to the workflow store was about to be saved without "
                                 "its audit row; nothing was saved.")


def update_versioned(conn: sa.Connection, table: sa.Table, key: Mapping[str, Any],
                     version: int, values: Mapping[str, Any], *, what: str) -> int:
    """Change one row only if nobody changed it since ``version`` was read; the new version.

    The one conditional ``UPDATE … SET …, version = version + 1 WHERE key AND version =
    :version`` every versioned object goes through (work orders, tactics, plans, reports,
    requests, budget units). Two writers holding the same version cannot both win: the
    second matches no row and gets :class:`StaleWrite` naming ``what`` and who changed it.

    Raises
    ------
    StaleWrite
        When the row's version moved since ``version`` was read.
    ConcertoError
        When the row no longer exists.
    """
    where = [table.c[name] == value for name, value in key.items()]
    moved = conn.execute(sa.update(table).where(*where, table.c.version == int(version))
                         .values(**values, version=int(version) + 1)).rowcount
    if moved == 1:
        return int(version) + 1
    now = conn.execute(sa.select(table).where(*where)).mappings().first()
    if now is None:
        raise ConcertoError(f"{what} no longer exists.")
    by = f" by {now['updated_by']}" if "updated_by" in table.c and now["updated_by"] else ""
    raise StaleWrite(f"{what} was changed{by} since you opened it (it is at version "
                     f"{now['version']}, you read version {int(version)}); reload it to see "
                     "the change, then try again.")


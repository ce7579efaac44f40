"""Bring a workflow store to the newest schema with Alembic, once, however many processes start.

The revisions live in ``data_access/store/migrations/versions``. A store made before
migrations began (its tables exist, no ``alembic_version``) is recognised as revision
``0001`` and upgraded from there. The upgrade runs in one transaction under a lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so two processes
opening a new store at the same moment cannot both create its tables; on PostgreSQL and
SQLite the DDL is transactional, so a failed upgrade leaves the store as it was.

To change the schema: edit the table in its ``data_access.store`` module, then write a new
revision beside the others (``down_revision`` = the current head); ``tests/test_migrations.py``
fails until the revisions and the tables agree.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
#: The revision that describes a store created before migrations began.
BASELINE = "0001"
_PG_LOCK_KEY = 7_311_2026  # any constant; names the advisory lock of store upgrades


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no revision in data_access/store/migrations/versions"
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision a store is at; ``None`` for an empty store or one made before migrations."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_store(engine: sa.Engine) -> str:
    """Upgrade the store behind ``engine`` to the newest revision; return that revision."""
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return head
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = current_revision(conn)  # another process may have upgraded meanwhile
        if current != head:
            config = _config(conn)
            if current is None and sa.inspect(conn).has_table("app_user"):
                command.stamp(config, BASELINE)  # tables made before migrations began
            command.upgrade(config, "head")
    return head

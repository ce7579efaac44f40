"""The workflow store's schema is under Alembic: the revisions build exactly the declared tables.

Checked on SQLite and PostgreSQL for an empty store and for a store made by the code before
migrations began (``WORKFLOW.create_all``), and for several processes opening one new store.
"""

from __future__ import annotations

import importlib
import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from data_access.store import migrate
from data_access.store.budgets.ledger import budget_unit
from data_access.store.workflow import TABLE_MODULES, WORKFLOW, create_workflow_engine

for _module in TABLE_MODULES:
    importlib.import_module(_module)


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": False})
        return compare_metadata(context, WORKFLOW)


def test_an_empty_store_upgraded_to_head_matches_the_declared_tables(empty_url: str) -> None:
    engine = create_workflow_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_a_store_made_before_migrations_is_stamped_and_upgraded(empty_url: str) -> None:
    engine = sa.create_engine(empty_url)
    try:
        with engine.begin() as conn:  # the tables as the code made them before migrations
            config = migrate._config(conn)
            command.upgrade(config, migrate.BASELINE)
            conn.execute(sa.text("DROP TABLE alembic_version"))
            conn.execute(sa.text(
                "INSERT INTO budget_unit (period, level, name, quota, booked, spent, allocated,"
                " version, created_by, created_at) VALUES ('2026-Q4', 'company', 'kept',"
                " 1234.56, 0.1, 0.2, 0, 1, 'x', CURRENT_TIMESTAMP)"))
        assert migrate.upgrade_store(engine) == migrate.head_revision()
        assert _differences(engine) == []
        with engine.connect() as conn:
            row = conn.execute(sa.select(budget_unit).where(budget_unit.c.name == "kept")).one()
        assert (row.quota, row.booked, row.spent) == (1234.56, 0.1, 0.2)
    finally:
        engine.dispose()


def test_money_is_exact_in_the_store(empty_url: str) -> None:
    engine = create_workflow_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(budget_unit).values(
                period="2026-Q4", level="company", name="c", quota=1.0, version=1,
                created_by="x", created_at=sa.func.current_timestamp()))
            for _ in range(10):  # ten bookings of 0.1 fill a quota of 1.0 exactly
                conn.execute(sa.update(budget_unit).values(booked=budget_unit.c.booked + 0.1))
            full = conn.execute(sa.select(budget_unit.c.booked == budget_unit.c.quota)).scalar_one()
        assert full
    finally:
        engine.dispose()


def test_the_comparison_notices_a_table_the_revisions_lack(empty_url: str) -> None:
    engine = create_workflow_engine(empty_url)
    extra = sa.Table("not_migrated", WORKFLOW, sa.Column("x", sa.Integer, primary_key=True))
    try:
        assert any(d[0] == "add_table" for d in _differences(engine))
    finally:
        WORKFLOW.remove(extra)
        engine.dispose()


def test_processes_opening_one_new_store_at_once_upgrade_it_once(empty_url: str) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            create_workflow_engine(empty_url).dispose()
        except BaseException as exc:  # noqa: BLE001  (collected for the assertion)
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = sa.create_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_runs_scored_before_the_cells_get_their_cells_on_upgrade(empty_url: str) -> None:
    """0007 adds churn_score_cell and fills it from the runs already stored; 0009 then
    marks those runs complete, their scores still pointing at them (foreign keys on)."""
    from data_access.store import churn_scores as scores

    engine = sa.create_engine(empty_url)
    if engine.dialect.name == "sqlite":  # as the store's engine has them
        sa.event.listen(engine, "connect",
                        lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys=ON"))
    try:
        with engine.begin() as conn:
            config = migrate._config(conn)
            command.upgrade(config, "0006")
            conn.execute(sa.insert(scores.churn_run).values(
                run_id=1, model_version="m", month="2026-10",
                scored_at=sa.func.current_timestamp(), subscribers=3, base_rate=0.1,
                created_by="x"))
            base = dict(run_id=1, branch="Doumen", micro_region="Doumen-a", rank=1,
                        churn_prob=0.2, net_value=10.0, top_reason="", reasons="",
                        reason_tags="", action="")
            conn.execute(sa.insert(scores.churn_score), [
                {**base, "subscriber_id": 1, "segment": "youth", "risk_band": "high",
                 "expected_loss": 2.0},
                {**base, "subscriber_id": 2, "segment": "youth", "risk_band": "high",
                 "expected_loss": 3.0, "rank": 2},
                {**base, "subscriber_id": 3, "segment": None, "risk_band": "low",
                 "expected_loss": 1.0, "rank": 3}])
            command.upgrade(config, "head")
        with engine.connect() as conn:
            cells = conn.execute(sa.select(
                scores.churn_score_cell.c.segment, scores.churn_score_cell.c.risk_band,
                scores.churn_score_cell.c.subscribers, scores.churn_score_cell.c.expected_loss)
                .order_by(scores.churn_score_cell.c.risk_band)).all()
        assert [tuple(c) for c in cells] == [("youth", "high", 2, 5.0), (None, "low", 1, 1.0)]
        assert scores.latest_run(engine).run_id == 1  # complete: readers still see it
    finally:
        engine.dispose()


def test_the_tactic_index_holds_only_rows_with_a_tactic(empty_url: str) -> None:
    """0008: the churn scores' tactic index is partial (most rows have no tactic), and a
    read for one tactic is answered through it."""
    engine = create_workflow_engine(empty_url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                definition = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = 'ix_churn_score_action'").scalar()
            else:
                definition = conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_churn_score_action'"
                ).scalar()
        assert "WHERE" in definition.upper() and "action" in definition, definition
        if engine.dialect.name == "sqlite":
            from data_access.store import churn_scores as scores
            from data_access.store.churn_scores import reading
            from data_access.store.scope import SYSTEM, acting_as

            with acting_as(SYSTEM):
                where = reading._where(scores.churn_score, 1, scores.RetentionFilter(action="x"))
            query = sa.select(scores.churn_score.c.rank).where(*where).order_by(
                scores.churn_score.c.rank).limit(50)
            with engine.connect() as conn:
                plan = conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + str(query.compile(
                        conn, compile_kwargs={"literal_binds": True}))).all()
            assert any("ix_churn_score_action" in str(row) for row in plan), plan
    finally:
        engine.dispose()

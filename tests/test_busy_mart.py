"""The app's mart reads when many people read at once: a read that does not fit in DuckDB's
memory cap is tried again, a read that never gets a slot or never fits ends in a message
(never an exception box), and a section of a page shows a ConcertoError as its message."""

from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access import db
from data_access.db import ConcertoError

# A statement that needs far more than 4 MB at once (one list of 3 million integers).
BIG = sa.text("SELECT list(i) AS all_of_them FROM range(3000000) t(i)")


@pytest.fixture
def tight(monkeypatch):
    """An in-memory DuckDB engine of one connection capped at 4 MB, with nowhere to spill."""
    monkeypatch.setattr(db, "BUSY_BACKOFF_S", 0.0)
    engine = sa.create_engine("duckdb:///:memory:", poolclass=sa.pool.StaticPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET temp_directory = ''")
        conn.exec_driver_sql("SET memory_limit = '4MB'")
    yield engine
    engine.dispose()


def _counting(monkeypatch, before=None):
    """Count the attempts of timed_read (``before(n)`` runs ahead of attempt ``n``)."""
    attempts = []
    real = db._read

    def read(engine, statement, through_arrow):
        attempts.append(1)
        if before is not None:
            before(len(attempts), engine)
        return real(engine, statement, through_arrow)

    monkeypatch.setattr(db, "_read", read)
    return attempts


def test_a_read_that_never_fits_ends_in_a_message_after_its_retries(tight, monkeypatch):
    attempts = _counting(monkeypatch)
    with pytest.raises(ConcertoError, match="The mart is busy"):
        db.timed_read(tight, BIG)
    assert len(attempts) == db.BUSY_RETRIES + 1


def test_a_read_that_fits_once_memory_is_freed_succeeds(tight, monkeypatch):
    def free_memory(attempt, engine):  # the other reads finished before the second try
        if attempt == 2:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET memory_limit = '1GB'")

    attempts = _counting(monkeypatch, free_memory)
    result = db.timed_read(tight, BIG)
    assert len(attempts) == 2
    assert len(result.frame.loc[0, "all_of_them"]) == 3_000_000


def test_other_errors_are_not_retried_or_reworded(tight, monkeypatch):
    attempts = _counting(monkeypatch)
    with pytest.raises(sa.exc.DBAPIError) as caught:
        db.timed_read(tight, sa.text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, ConcertoError)
    assert len(attempts) == 1


def test_the_apps_reads_take_one_slot_per_core_and_a_full_house_is_a_message(
        tmp_path, monkeypatch):
    path = tmp_path / "mart.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    monkeypatch.setattr(db, "APP_READ_WAIT_S", 0.2)
    engine = db.create_mart_engine(f"duckdb:///{path}", read_only=True,
                                   memory_limit=db.APP_MEMORY_LIMIT)
    held = [engine.connect() for _ in range(db.APP_READ_SLOTS)]  # everyone else's reads
    try:
        with pytest.raises(ConcertoError, match="too many people"):
            db.timed_read(engine, sa.text("SELECT x FROM t"))
        with pytest.raises(ConcertoError, match="too many people"):  # any read, not only frames
            engine.connect()
        held.pop().close()  # one read ends: the next one gets its slot
        assert db.timed_read(engine, sa.text("SELECT x FROM t")).frame["x"].tolist() == [1]
    finally:
        for conn in held:
            conn.close()
        engine.dispose()


def _page_with_a_failing_section() -> None:
    import streamlit as st

    from data_access.db import ConcertoError
    from pages.common.fragments import section

    @section()
    def channel_panel() -> None:
        st.write("channel 42")
        raise ConcertoError("No channel 42 in your area.")

    channel_panel()
    st.write("the rest of the page")


def test_a_section_shows_a_concerto_error_as_its_message_not_an_exception_box():
    at = AppTest.from_function(_page_with_a_failing_section, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["No channel 42 in your area."]
    assert "the rest of the page" in [m.value for m in at.markdown]

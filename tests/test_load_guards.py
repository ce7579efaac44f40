"""Loader edges: totals that would overflow, leftovers of a killed build, two loads at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_access.mart.checks import load_guards
from data_access.mart.build import open_mart_writer
from data_access.db import PROJECT_ROOT, create_mart_engine
from data_access.mart import schema
from data_access.mart.storage import load_table_sizes
from data_access.mart.load import ExtractError, load_extract
from data_access.mart.checks.load_guards import MartBusy, mart_write_lock
from tests.conftest import new_pg_database
from tests.test_load import snapshot, valid_tables, write_extract


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_finite_values_whose_total_overflows_are_refused_naming_file_and_column(tmp_path, fmt):
    tables = valid_tables()
    for row in tables["fact_subscriber_month"][:3]:
        row["mou"] = 1.5e308  # each value is finite; their sum is not
    tables["fact_channel_day"][0]["revenue"] = 9e17
    tables["fact_channel_day"][1]["revenue"] = 9e17  # together past the limit
    url = f"duckdb:///{tmp_path / 'mart.duckdb'}"
    load_extract(write_extract(tmp_path / "good", fmt=fmt), url)
    before = snapshot(url)
    with pytest.raises(ExtractError) as error:
        load_extract(write_extract(tmp_path / "bad", tables, fmt=fmt), url)
    message = str(error.value)
    assert f"fact_subscriber_month.{fmt}, column mou: the values add up to more than the " \
           "largest number" in message
    assert f"fact_channel_day.{fmt}, column revenue: the values add up to 1.8e+18" in message
    assert snapshot(url) == before  # nothing was written


def test_leftovers_of_a_killed_build_are_removed_by_the_next_load(tmp_path):
    mart = tmp_path / "mart.duckdb"
    url = f"duckdb:///{mart}"
    killed = [tmp_path / ".mart.duckdb.4242.building", tmp_path / ".mart.duckdb.4242.building.wal"]
    for path in killed:
        path.write_bytes(b"half a mart")
    other = tmp_path / ".other.duckdb.4242.building"  # another mart's: not ours to remove
    other.write_bytes(b"x")
    load_extract(write_extract(tmp_path / "x"), url)
    assert not any(p.exists() for p in killed)
    assert other.exists() and mart.exists()
    assert not list(tmp_path.glob(".mart.duckdb.*.building*"))


def test_a_killed_load_process_leaves_nothing_behind_after_the_next(tmp_path):
    """Kill a real loader half-way (SIGKILL: no finally runs), then load again."""
    mart = tmp_path / "mart.duckdb"
    script = (
        "import os, signal, sys\n"
        "from data_access.mart import build\n"
        "real = build.MartWriter.write\n"
        "def write(self, *a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "build.MartWriter.write = write\n"
        "from data_access.mart.load import load_extract\n"
        f"load_extract({str(write_extract(tmp_path / 'x'))!r}, 'duckdb:///{mart}')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode != 0
    assert list(tmp_path.glob(".mart.duckdb.*.building*"))  # the killed load left its file
    load_extract(tmp_path / "x", f"duckdb:///{mart}")
    assert not list(tmp_path.glob(".mart.duckdb.*.building*"))


def test_a_second_load_while_one_runs_is_refused_with_a_message(tmp_path):
    url = f"duckdb:///{tmp_path / 'mart.duckdb'}"
    extract = write_extract(tmp_path / "x")
    with mart_write_lock(url):  # another load holds the mart
        with pytest.raises(MartBusy, match="Another load or build of the mart .* is running"):
            load_extract(extract, url)
    assert load_extract(extract, url)["dim_region"] == 2  # free again


def test_two_loads_at_once_one_wins_and_one_is_told(tmp_path, monkeypatch):
    """Both start together; the first holds the mart while it writes, the second is refused
    instead of both reporting success."""
    url = f"duckdb:///{tmp_path / 'mart.duckdb'}"
    extract = write_extract(tmp_path / "x")
    inside, release = threading.Event(), threading.Event()
    real = load_guards.remove_leftovers

    def slow(path):  # runs inside the lock: hold it until the other load has tried
        inside.set()
        release.wait(30)
        return real(path)

    monkeypatch.setattr(load_guards, "remove_leftovers", slow)
    results: list[object] = []

    def load():
        try:
            results.append(load_extract(extract, url))
        except MartBusy as exc:
            results.append(exc)

    first = threading.Thread(target=load)
    first.start()
    assert inside.wait(30)
    load()  # the second load, while the first holds the lock
    release.set()
    first.join()
    assert sum(isinstance(r, MartBusy) for r in results) == 1
    assert sum(isinstance(r, dict) for r in results) == 1


def test_a_postgresql_mart_takes_an_advisory_lock(pg_url):
    with mart_write_lock(pg_url):
        with pytest.raises(MartBusy, match="Another load or build"):
            with open_mart_writer(pg_url):
                pass
    with mart_write_lock(pg_url):  # released
        pass


def _analyzed(url: str):
    """Each mart table's row estimate and last manual ANALYZE, by table name."""
    engine = create_mart_engine(url)
    try:
        return load_table_sizes(engine).set_index("table")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_build_on_postgresql_leaves_fresh_planner_statistics(pg_url):
    """After a bulk write the planner knows every mart table's size (ANALYZE ran, not
    autovacuum's later one), so the first queries after a nightly load are planned with
    statistics."""
    from data_access.synth.generate import generate_mart

    with new_pg_database(pg_url, "stats_mart") as url:
        rows = generate_mart(url, subscribers=400, months=13, seed=5)
        tables = _analyzed(url)
    assert set(tables.index) == set(schema.MART.tables)
    assert tables["last_analyze"].notna().all(), tables.index[tables["last_analyze"].isna()]
    assert tables.loc["fact_subscriber_month", "rows"] == rows["fact_subscriber_month"]
    assert tables.loc["sum_cube_month", "rows"] > 0  # the summaries too


@pytest.mark.postgres
def test_benchmarks_can_vacuum_a_postgresql_mart_as_autovacuum_would(pg_url, duck_mart):
    """bench.postgres times queries after vacuum_mart, not while autovacuum works through a
    new mart; on DuckDB it does nothing."""
    from data_access.mart.build import vacuum_mart
    from data_access.synth.generate import generate_mart

    with new_pg_database(pg_url, "vacuum_mart") as url:
        generate_mart(url, subscribers=400, months=13, seed=5)
        engine = create_mart_engine(url)
        try:
            vacuum_mart(engine)
            with engine.connect() as conn:
                vacuumed = dict(conn.execute(sa.text(
                    "SELECT relname, last_vacuum IS NOT NULL FROM pg_stat_user_tables")).all())
        finally:
            engine.dispose()
    assert {name: vacuumed.get(name) for name in schema.MART.tables} == \
        {name: True for name in schema.MART.tables}
    duck = create_mart_engine(duck_mart, read_only=True)
    vacuum_mart(duck)  # nothing to do, and no error
    duck.dispose()


@pytest.mark.postgres
def test_a_load_on_postgresql_leaves_fresh_planner_statistics(tmp_path, pg_url):
    with new_pg_database(pg_url, "stats_load") as url:
        rows = load_extract(write_extract(tmp_path / "extract"), url)
        tables = _analyzed(url)
    assert tables["last_analyze"].notna().all(), tables.index[tables["last_analyze"].isna()]
    for name in ("fact_subscriber_month", "dim_subscriber"):
        assert tables.loc[name, "rows"] == rows[name]


@pytest.mark.postgres
def test_a_load_gives_an_older_postgresql_mart_the_indexes_of_this_version(tmp_path, pg_url):
    """create_all skips existing tables, indexes and all: the load adds what schema.py
    declares and an older mart lacks, and drops what it retired."""
    extract = write_extract(tmp_path / "extract")
    with new_pg_database(pg_url, "index_upgrade") as url:
        load_extract(extract, url)
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:  # as the version before ix_fact_subscriber_month left it
                conn.execute(sa.text("DROP INDEX ix_fact_subscriber_month"))
                conn.execute(sa.text("CREATE INDEX ix_fact_subscriber ON "
                                     "fact_subscriber_month (subscriber_id)"))
            load_extract(extract, url)
            with engine.connect() as conn:
                names = {i["name"] for i in sa.inspect(conn).get_indexes("fact_subscriber_month")}
        finally:
            engine.dispose()
    assert "ix_fact_subscriber_month" in names
    assert "ix_fact_subscriber" not in names  # retired: every write paid for it

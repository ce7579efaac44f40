"""The app's cached access picks up a mart file that was rebuilt and swapped in."""

from __future__ import annotations

import pytest

from pages.common import cache
from data_access.synth.generate import generate_mart

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")



def test_a_rebuilt_mart_is_read_on_the_next_call(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'mart.duckdb'}"
    monkeypatch.setenv("CONCERTO_MART_URL", url)
    assert not cache.mart_available()
    generate_mart(url, subscribers=500, months=13, seed=1)
    assert cache.mart_info()["seed"] == "1"
    first_total = cache.monthly_totals()["revenue"].sum()
    engine = cache.mart_engine()
    with engine.connect():  # a pooled read-only connection stays open on the old file
        pass
    generate_mart(url, subscribers=500, months=13, seed=2)  # written aside, renamed over
    assert cache.mart_info()["seed"] == "2"
    assert cache.monthly_totals()["revenue"].sum() != first_total
    assert cache.mart_engine() is not engine


def test_cached_reads_are_shared_by_role_and_scope_only(duck_mart, monkeypatch):
    from data_access.store.auth import Principal
    from data_access.store import scope

    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    ann = Principal("ann", "Ann", "regional_manager", "micro_region", "Gongbei", 2)
    bob = Principal("bob", "Bob", "regional_manager", "micro_region", "Gongbei", 5)
    cat = Principal("cat", "Cat", "regional_manager", "micro_region", "Jida", 1)
    boss = Principal("dan", "Dan", "executive")
    calls = []
    original = cache.queries.load_region_table

    def counted(engine):
        calls.append(scope.acting())
        return original(engine)

    monkeypatch.setattr(cache.queries, "load_region_table", counted)
    monkeypatch.setattr(cache, "region_table", cache._cached(cache.queries.load_region_table))
    rows = {}
    for who in (ann, bob, cat, boss, ann):
        with scope.acting_as(who):
            rows[who.username] = cache.region_table()
    assert len(calls) == 3  # Ann and Bob (one role, one scope) share; Cat and Dan do not
    assert set(rows["ann"]["micro_region"]) == set(rows["bob"]["micro_region"]) == {"Gongbei"}
    assert set(rows["cat"]["micro_region"]) == {"Jida"}
    assert len(rows["dan"]) > len(rows["ann"])
    assert {c.display_name for c in calls} == {"Regional manager of Gongbei",
                                               "Regional manager of Jida", "Executive"}


def test_the_apps_duckdb_pool_is_capped_and_a_job_in_its_process_can_still_open_the_file(
        duck_mart, duck_mart_b, monkeypatch):
    """The app's engine caps DuckDB's buffer pool (shared by its connections), so ten
    sessions at 1M do not keep every page they touched. A job run inside the app (the alert
    scan) opening the same file with the default config is not refused, and shares the cap;
    another file keeps DuckDB's default."""
    import sqlalchemy as sa

    from data_access.db import APP_MEMORY_LIMIT, create_mart_engine

    def limit(engine) -> str:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT current_setting('memory_limit')")).scalar()

    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    app = limit(cache.mart_engine())
    import duckdb

    with duckdb.connect() as plain:  # how DuckDB writes the cap back ("256MB" → "244.1 MiB")
        plain.execute(f"SET memory_limit = '{APP_MEMORY_LIMIT}'")
        assert app == plain.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit(create_mart_engine(duck_mart, read_only=True)) == app
    assert limit(create_mart_engine(duck_mart_b, read_only=True)) != app

"""Shared fixtures: one small generated mart per session, and a private PostgreSQL server."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

ENV_TEST_PG_URL = "CONCERTO_TEST_PG_URL"
#: Skips that mean "this machine lacks a server or a browser": allowed on a laptop, a
#: failure under CI=true, where a skipped PostgreSQL or Chromium test would prove nothing.
_MISSING_BACKEND = ("postgresql", "chromium", "playwright")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(word in reason.lower() for word in _MISSING_BACKEND):
        report.outcome = "failed"
        report.longrepr = f"CI=true: this test would have been skipped ({reason}); " \
                          "in CI a missing PostgreSQL or Chromium is a failure."


@pytest.fixture(scope="session", autouse=True)
def act_as_system_in_shared_fixtures() -> None:
    """Module- and session-scoped fixtures (the shared mart, trained models) are set up
    before any function-scoped fixture: they act as the system principal too."""
    from data_access.store import scope
    from data_access.store.auth import SYSTEM

    scope.act_as(SYSTEM)


@pytest.fixture(autouse=True)
def act_as_system() -> Iterator[None]:
    """Tests call data_access directly, as the scheduler and the command-line tools do: as
    the explicit system principal. Scope fails closed, so a test about "nobody signed in"
    says ``scope.acting_as(None)``; threads a test starts act as nobody unless they say."""
    from data_access.store import scope
    from data_access.store.auth import SYSTEM

    with scope.acting_as(SYSTEM):
        yield
#: Size of the shared test mart: small enough to build in seconds, large enough for the planted truths.
TEST_MART = {"subscribers": 6_000, "months": 14, "seed": 11}


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL server: CONCERTO_TEST_PG_URL, or a private server started here."""
    from tests.pgserver import private_server

    if os.environ.get(ENV_TEST_PG_URL):
        yield os.environ[ENV_TEST_PG_URL]
        return
    try:
        server = private_server()
    except FileNotFoundError:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does it), "
                    f"and {ENV_TEST_PG_URL} is not set")
    with server as url:
        yield url


@pytest.fixture(scope="session")
def mart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mart")


@pytest.fixture(scope="session")
def duck_mart(mart_dir: Path) -> str:
    """URL of the shared test mart on DuckDB (built once per session)."""
    from data_access.synth.generate import generate_mart

    url = f"duckdb:///{mart_dir / 'mart.duckdb'}"
    started = time.perf_counter()
    generate_mart(url, **TEST_MART)
    print(f"test mart built in {time.perf_counter() - started:.1f}s")
    return url


@pytest.fixture(scope="session")
def duck_mart_b(mart_dir: Path) -> str:
    """URL of a test mart of the generator's variant b (same size and seed as TEST_MART)."""
    from data_access.synth.generate import generate_mart

    url = f"duckdb:///{mart_dir / 'mart_b.duckdb'}"
    generate_mart(url, **TEST_MART, variant="b")
    return url


@pytest.fixture(params=["a", "b"])
def variant_mart(request: pytest.FixtureRequest) -> str:
    """Runs a planted-truth test on the shared test mart (variant a) and on variant b's."""
    return request.getfixturevalue("duck_mart" if request.param == "a" else "duck_mart_b")


@pytest.fixture(scope="session")
def pg_mart(pg_url: str) -> str:
    """The same mart (same seed) on PostgreSQL."""
    from data_access.synth.generate import generate_mart

    generate_mart(pg_url, **TEST_MART)
    return pg_url


@pytest.fixture(params=["duckdb", "postgresql"])
def any_mart(request: pytest.FixtureRequest) -> str:
    """Runs a data-access test on DuckDB and again on PostgreSQL."""
    return request.getfixturevalue("duck_mart" if request.param == "duckdb" else "pg_mart")


@pytest.fixture(params=["duckdb", "postgresql", "duckdb-b"])
def any_planted_mart(request: pytest.FixtureRequest) -> str:
    """Runs a planted-truth test on DuckDB and PostgreSQL (variant a), then on variant b."""
    name = {"duckdb": "duck_mart", "postgresql": "pg_mart", "duckdb-b": "duck_mart_b"}
    return request.getfixturevalue(name[request.param])


@contextmanager
def new_pg_database(base: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``name`` on the server at ``base`` (its URL),
    dropped afterwards."""
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    name = f"db_{tmp_path.name[-20:].lower().replace('-', '_')}"
    with new_pg_database(request.getfixturevalue("pg_url"), name) as url:
        yield url


@pytest.fixture
def workflow(empty_url: str) -> Iterator[sa.Engine]:
    """A fresh workflow store: SQLite (the embedded default), then a new PostgreSQL database."""
    from data_access.store.workflow import create_workflow_engine

    url = empty_url
    engine = create_workflow_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_streamlit_caches() -> Iterator[None]:
    """Streamlit's caches live for the process: clear them around a test that uses them."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _ensure_user(url: str, who) -> None:
    """Put ``who`` in the store at ``url`` unless it is there (a store without demo users)."""
    from data_access.store import auth
    from data_access.store.workflow import create_workflow_engine

    engine = create_workflow_engine(url)
    try:
        if os.environ.get("CONCERTO_DEMO_USERS") == "1":  # as the app will: demo passwords
            from data_access.store.demo_users import seed_demo_users

            seed_demo_users(engine)
        with engine.connect() as conn:
            present = conn.execute(sa.select(auth.app_user.c.user_id).where(
                auth.app_user.c.username == who.username)).first()
        if present is None:
            auth.create_user(engine, who.username, "Test-password-1", who.role,
                             display_name=who.display_name, scope_level=who.scope_level,
                             scope_value=who.scope_value, actor="tests")
    finally:
        engine.dispose()


APP_FILE = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app_as(duck_mart: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
           fresh_streamlit_caches: None):
    """Make an AppTest of the whole app signed in as one of the demo users (by username).

    The mart is the shared test mart and the workflow store a fresh SQLite file per test;
    ``app_as.workflow_url`` names it, so a test can put orders or budgets there first.
    """
    from streamlit.testing.v1 import AppTest

    from data_access.store import auth
    from data_access.store.auth import Principal
    from data_access.store.demo_users import DEMO_USERS

    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)  # demo users are seeded per store
    url = f"sqlite:///{tmp_path / 'workflow.sqlite'}"
    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    monkeypatch.setenv("CONCERTO_WORKFLOW_URL", url)
    monkeypatch.setenv("CONCERTO_DEMO_USERS", "1")
    people = {u: Principal(u, name, role, level, value) for u, role, name, level, value in DEMO_USERS}

    def make(username: str = "analyst") -> AppTest:
        _ensure_user(url, people[username])  # the app re-reads the signed-in user every run
        at = AppTest.from_file(APP_FILE, default_timeout=90)
        at.session_state["principal"] = people[username]
        return at

    make.workflow_url = url  # type: ignore[attr-defined]
    return make

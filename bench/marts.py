"""Which mart a browser benchmark runs the app on: a DuckDB file (``--mart PATH``) or a
PostgreSQL database (``--mart-url URL``), for bench/load.py, bench/clicks.py and
bench/postgres_app.py.

The pure parts (the two options, reading the URL, the section a record goes to) are tested
in tests/test_bench_load.py; :func:`mart_facts` and :func:`mart_bytes` connect.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from data_access.db import ConcertoError, parse_url

#: What a record section's name gets per engine (DuckDB's sections keep their old names).
SECTION_SUFFIX = {"duckdb": "", "postgresql": "-postgres"}


class BadInput(Exception):
    """Something on the command line is wrong: the message says what."""


@dataclass(frozen=True)
class MartTarget:
    """The mart the app is started on: its URL, its engine and how reports name it."""

    url: str
    engine: str  # "duckdb" or "postgresql" (a key of SECTION_SUFFIX)
    path: Path | None = None  # the DuckDB file

    @property
    def label(self) -> str:
        """``mart_1000000x24.duckdb``, or ``PostgreSQL postgres@127.0.0.1:5432``."""
        if self.path is not None:
            return self.path.name
        url = sa.engine.make_url(self.url)
        where = f"{url.host or 'localhost'}" + (f":{url.port}" if url.port else "")
        return f"PostgreSQL {url.database or ''}@{where}"


def add_mart_options(parser: argparse.ArgumentParser, default_help: str) -> None:
    """``--mart PATH`` or ``--mart-url URL``, not both (argparse says so and exits 2)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mart", default=None, help=f"a DuckDB mart file (default: {default_help})")
    group.add_argument("--mart-url", default=None, metavar="URL",
                       help="a PostgreSQL mart instead, e.g. "
                            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres (as "
                            "`python -m bench.postgres --keep` prints it)")


def postgres_url(text: str, option: str = "--mart-url") -> str:
    """``text`` as the SQLAlchemy URL of a PostgreSQL database (``postgresql://`` gets the
    psycopg driver the project uses); BadInput naming ``option`` for anything else.

    >>> postgres_url("postgresql://postgres@127.0.0.1:5433/postgres")
    'postgresql+psycopg://postgres@127.0.0.1:5433/postgres'
    """
    try:
        url = parse_url(text.strip(), "mart")
    except ConcertoError as exc:
        raise BadInput(f"{option}: {exc}") from exc
    if url.get_backend_name() != "postgresql":
        hint = " (for a DuckDB file, pass --mart PATH)" if url.get_backend_name() == "duckdb" \
            else ""
        raise BadInput(f"{option} wants a PostgreSQL database, e.g. "
                       f"postgresql+psycopg://user@host:5432/db; got a "
                       f"{url.get_backend_name()!r} URL{hint}")
    if not url.database:
        raise BadInput(f"{option} names no database: {url.render_as_string(hide_password=True)}"
                       " (add /postgres, or the database bench.postgres printed)")
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def mart_target(mart: str | None, mart_url: str | None, default: Path) -> MartTarget:
    """The mart a benchmark asked for: ``--mart-url``'s database, ``--mart``'s file, or
    ``default``; BadInput when the file is missing or the URL is not a PostgreSQL one."""
    if mart is not None and mart_url is not None:
        raise BadInput("pass --mart or --mart-url, not both")
    if mart_url is not None:
        return MartTarget(postgres_url(mart_url), "postgresql")
    path = Path(mart) if mart else default
    if not path.is_file():
        raise BadInput(f"no mart file at {path}" + ("" if mart else
                       " (build one with `make run` or `make bench`, or pass --mart PATH or "
                       "--mart-url URL)"))
    path = path.resolve()
    return MartTarget(f"duckdb:///{path}", "duckdb", path)


def section_name(base: str, target: MartTarget) -> str:
    """The bench/RESULTS.md section a record on ``target`` goes to: ``base`` for DuckDB (the
    sections as they always were), ``base-postgres`` for PostgreSQL, so neither engine's
    figures overwrite the other's."""
    return base + SECTION_SUFFIX[target.engine]


def mart_facts(target: MartTarget) -> dict[str, str]:
    """The mart's build facts (``mart_meta``); BadInput when it cannot be reached or is not
    a Concerto mart."""
    from data_access.db import create_mart_engine
    from data_access.mart.queries import load_mart_info
    from data_access.store.principal import SYSTEM
    from data_access.store.scope import acting_as

    engine = create_mart_engine(target.url, read_only=target.engine == "duckdb")
    try:
        with acting_as(SYSTEM):
            return load_mart_info(engine)
    except Exception as exc:  # a file or server that does not answer, or no mart_meta
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise BadInput(f"cannot read a Concerto mart at {target.label}: {first}") from exc
    finally:
        engine.dispose()


def mart_bytes(target: MartTarget) -> int:
    """The mart's size: the file's, or the PostgreSQL database's."""
    if target.path is not None:
        return target.path.stat().st_size
    from data_access.db import create_mart_engine
    from data_access.mart.storage import load_database_size
    from data_access.store.principal import SYSTEM
    from data_access.store.scope import acting_as

    engine = create_mart_engine(target.url)
    try:
        with acting_as(SYSTEM):
            return int(load_database_size(engine))
    finally:
        engine.dispose()


def mart_line(target: MartTarget, facts: dict[str, str]) -> str:
    """What a benchmark says it runs on: the file or server, subscribers and months."""
    return (f"mart: {target.path or target.label} ({int(facts.get('subscribers', 0)):,} "
            f"subscribers × {facts.get('months', '?')} months)")

"""Guards around writing a mart: column totals that would overflow, one writer at a time,
and leftovers of a killed build.

* :func:`total_problems`: finite values can still add up past what a KPI can hold (ten
  values of 1e308 sum to ``inf``); each numeric column's total is checked before anything
  is written, and the file and column are named.
* :func:`mart_write_lock`: one load or build of a mart at a time. An embedded DuckDB file
  is locked with an OS file lock (``fcntl.flock``) on ``<mart>.lock`` beside it; a
  PostgreSQL mart with a session advisory lock. A second writer is refused with a message
  instead of both reporting success while one is silently lost.
* :func:`remove_leftovers`: a build killed half-way leaves ``.<mart>.<pid>.building`` files;
  the next writer, once it holds the lock (so no other build is running), removes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from data_access.db import ConcertoError, duckdb_path
from data_access.mart.checks.validation import Problem

#: The largest total any numeric column of an extract may reach (far above a city's
#: revenue, minutes or megabytes over years, far below where float sums lose all precision).
MAX_COLUMN_TOTAL = 1e18


class MartBusy(ConcertoError):
    """Another load or build of the same mart is running."""


def total_problems(table: sa.Table, data: pa.Table, file: str) -> list[Problem]:
    """Problems with the totals of ``data``'s numeric columns (empty when all is well)."""
    problems = []
    for column in table.columns:
        if not isinstance(column.type, (sa.Float, sa.Integer)) or column.primary_key \
                or column.foreign_keys or column.name.endswith("_id"):
            continue  # ids are labels, not amounts
        values = data.column(column.name)
        if pa.types.is_integer(values.type):
            values = pc.cast(values, pa.float64())
        total = pc.sum(pc.abs(values)).as_py() or 0.0
        if not math.isfinite(total) or total > MAX_COLUMN_TOTAL:
            problems.append(Problem(file, f"the values add up to {_size(total)}, more than "
                                    f"{MAX_COLUMN_TOTAL:.0e}; totals and KPIs would overflow "
                                    "(check the unit or the decimal point)",
                                    column=column.name))
    return problems


def _size(total: float) -> str:
    return "more than the largest number" if not math.isfinite(total) else f"{total:.3g}"


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporary files of builds of ``path`` that were killed; returns them.

    Call only while holding :func:`mart_write_lock` for ``path``: then no build is running.
    """
    removed = []
    for leftover in path.parent.glob(f".{path.name}.*.building*"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


@contextlib.contextmanager
def mart_write_lock(url: str) -> Iterator[None]:
    """Hold the mart's write lock for the block, or raise :class:`MartBusy` at once."""
    path = duckdb_path(url)
    if path is not None:
        with _file_lock(path):
            remove_leftovers(path)
            yield
        return
    if sa.engine.make_url(url).get_backend_name() == "postgresql":
        with _advisory_lock(url):
            yield
        return
    yield  # other servers: their transaction is the only guard


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f"{path.name}.lock")
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise MartBusy(f"Another load or build of the mart {path} is running; try again "
                           "when it has finished (nothing was changed).") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


@contextlib.contextmanager
def _advisory_lock(url: str) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(b"concerto-mart-write").digest()[:8], "big",
                         signed=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
            conn.commit()
            if not got:
                raise MartBusy("Another load or build of the mart is running on this server; "
                               "try again when it has finished (nothing was changed).")
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()
    finally:
        engine.dispose()

"""The bulk writer (data_access.bulk) gives back what it was given on every engine: the
awkward values a CSV copy or a positional insert could change (an empty string against a
missing one, a whole number held as a float, quotes, commas and line breaks, dates and
times, true and false), and a failure as SQLAlchemy's own error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import bulk
from tests.conftest import new_pg_database

META = sa.MetaData()
ROWS = sa.Table(
    "bulk_rows", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("label", sa.String(60), nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("group_id", sa.BigInteger, nullable=True),
    sa.Column("share", sa.Double, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("seen_at", sa.DateTime, nullable=True),
)

FRAME = pd.DataFrame({
    "id": [1, 2, 3, 4],
    "label": ["", 'say "hi", then go', "line\nbreak", r"back\slash \N"],
    "note": [None, "", "fine", "逗号，引号"],
    "group_id": [np.nan, 12.0, 9_000_000_000.0, np.nan],  # a gap makes pandas hold floats
    "share": [0.1 + 0.2, np.nan, -1e-12, 1234567.875],
    "flag": [True, False, True, False],
    "day": pd.to_datetime(["2026-10-01", None, "2024-02-29", "2026-12-31"]),
    "seen_at": pd.to_datetime(["2026-12-07 20:15:01.250", None, "2026-01-01 00:00:00.000", "2026-06-30 23:59:59.000"]),
})


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "postgresql":
        name = f"bulk_{tmp_path.name[-20:].lower().replace('-', '_')}"
        with new_pg_database(request.getfixturevalue("pg_url"), name) as url:
            made = sa.create_engine(url)
            yield made
            made.dispose()
        return
    made = sa.create_engine(f"{request.param}:///{tmp_path / 'bulk.db'}")
    yield made
    made.dispose()


def _read(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ROWS).order_by(ROWS.c.id)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows])


def test_what_is_written_reads_back_the_same_on_every_engine(engine):
    META.create_all(engine)
    with engine.begin() as conn:
        assert bulk.write_frame(conn, ROWS, FRAME.sample(frac=1, axis=1, random_state=3)) == 4
    back = _read(engine)
    assert back["label"].tolist() == FRAME["label"].tolist()  # "" stays "", not NULL
    assert [None if pd.isna(n) else n for n in back["note"]] == [None, "", "fine", "逗号，引号"]
    assert back["group_id"].tolist()[1:3] == [12, 9_000_000_000]
    assert back["group_id"].isna().tolist() == [True, False, False, True]
    assert back["share"].tolist()[0] == 0.1 + 0.2 and np.isnan(back["share"].iloc[1])
    assert back["share"].tolist()[2:] == [-1e-12, 1234567.875]
    assert [bool(f) for f in back["flag"]] == [True, False, True, False]
    days = [None if pd.isna(d) else pd.Timestamp(d).date() for d in back["day"]]
    assert days == [dt.date(2026, 10, 1), None, dt.date(2024, 2, 29), dt.date(2026, 12, 31)]
    ats = [None if pd.isna(a) else pd.Timestamp(a) for a in back["seen_at"]]
    assert ats == [None if pd.isna(a) else a for a in FRAME["seen_at"]]


def test_some_columns_leave_the_others_to_their_defaults(engine):
    META.create_all(engine)
    with engine.begin() as conn:
        bulk.write_frame(conn, ROWS, FRAME[["id", "flag"]], columns=["id", "flag"])
    back = _read(engine)
    assert back["label"].tolist() == [""] * 4 and back["note"].isna().all()


def test_a_wrong_frame_is_named_and_a_failing_row_raises_sqlalchemys_error(engine):
    META.create_all(engine)
    with pytest.raises(ValueError, match=r"missing columns \['flag'\].*unexpected.*\['extra'\]"):
        bulk.prepare(engine.dialect, ROWS, FRAME.drop(columns="flag").assign(extra=1))
    with pytest.raises(ValueError, match=r"not in the table \['nope'\]"):
        bulk.prepare(engine.dialect, ROWS, FRAME.assign(nope=1), [*FRAME.columns, "nope"])
    twice = pd.concat([FRAME, FRAME.head(1)])  # the same key twice
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        bulk.write_frame(conn, ROWS, twice)
    engine.dispose()  # DuckDB's connection stays in the aborted transaction
    assert _read(engine).empty  # nothing half-written

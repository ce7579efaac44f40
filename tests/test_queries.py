"""Data-access behaviour, on DuckDB and on PostgreSQL (the same generated mart on both)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.kpis.drill import member_kpis
from data_access.mart import queries
from data_access.mart import schema
from data_access.db import ConcertoError, create_mart_engine, read_frame
from data_access.mart.queries import Slice


@pytest.fixture
def engine(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=any_mart.startswith("duckdb"))
    yield engine
    engine.dispose()


def _fact_totals(engine: sa.Engine) -> pd.DataFrame:
    fact = schema.fact_subscriber_month
    frame = read_frame(engine, sa.select(fact.c.month, sa.func.count().label("active_subs"),
                                         sa.func.sum(fact.c.revenue).label("revenue"))
                       .group_by(fact.c.month).order_by(fact.c.month))
    frame["month"] = pd.to_datetime(frame["month"])
    return frame.set_index("month").astype(float)


def test_monthly_totals_equal_a_direct_pass_over_the_fact(engine):
    totals = queries.load_monthly_totals(engine)
    direct = _fact_totals(engine)
    assert list(totals.index) == list(direct.index)
    np.testing.assert_allclose(totals["revenue"], direct["revenue"], rtol=1e-9)
    np.testing.assert_array_equal(totals["active_subs"], direct["active_subs"])
    assert {"own_subs", "market_subs"} <= set(totals.columns)
    share = totals["own_subs"] / totals["market_subs"]
    assert share.between(0.4, 0.9).all()


def test_subscriber_identity_holds_city_wide(engine):
    totals = queries.load_monthly_totals(engine)
    expected = totals["active_subs"].shift(1) + totals["new_subs"] - totals["churned_subs"]
    np.testing.assert_array_equal(totals["active_subs"].iloc[1:], expected.iloc[1:])


@pytest.mark.parametrize("level", ["branch", "micro_region", "channel_type", "plan", "segment",
                                   "channel"])
def test_breakdown_members_add_up_to_the_total(engine, level):
    months = queries.available_months(engine)[-2:]
    parts = queries.load_breakdown(engine, level, months)
    totals = queries.load_monthly_totals(engine)
    summed = parts.groupby("month")["revenue"].sum()
    np.testing.assert_allclose(summed.values, totals.loc[summed.index, "revenue"].values, rtol=1e-9)


def test_breakdown_measures_are_floats_on_every_engine(engine):
    """The drill's analytics sum and divide the measures: PostgreSQL's numeric sums (Decimal
    objects) once broke the member KPIs (KeyError: they were dropped as non-numeric)."""
    months = queries.available_months(engine)[-2:]
    channels = queries.load_breakdown(engine, "channel", months, measures=("revenue", "active_subs"))
    assert (channels[["revenue", "active_subs"]].dtypes == "float64").all()
    table = member_kpis(channels, ["channel_id", "channel_name", "channel_type"], "arpu",
                        pd.Timestamp(months[-1]))
    assert len(table) == channels["channel_id"].nunique()


def test_channels_of_a_micro_region_add_up_to_it(engine):
    month = queries.available_months(engine)[-1]
    region = Slice(micro_region="Gongbei")
    channels = queries.load_breakdown(engine, "channel", [month], region)
    total = queries.load_monthly_totals(engine, region).loc[pd.Timestamp(month)]
    assert channels["revenue"].sum() == pytest.approx(total["revenue"], rel=1e-9)
    assert channels["active_subs"].sum() == total["active_subs"]


def test_subscriber_rows_are_masked_and_ordered_by_the_biggest_fall(engine):
    months = queries.available_months(engine)
    rows = queries.load_subscriber_rows(engine, months[-1], months[-2],
                                        Slice(micro_region="Gongbei"), limit=50)
    assert len(rows) == 50
    assert rows["number"].str.fullmatch(r"\d{7}\*{4}").all()
    assert (rows["micro_region"] == "Gongbei").all()
    assert rows["change"].is_monotonic_increasing
    np.testing.assert_allclose(rows["change"], rows["revenue_now"] - rows["revenue_before"])


def test_churned_subscribers_show_their_lost_revenue(engine):
    months = queries.available_months(engine)
    rows = queries.load_subscriber_rows(engine, months[-1], months[-2], only="churned", limit=20)
    assert not rows.empty
    assert (rows["revenue_now"] == 0).all()
    assert (pd.to_datetime(rows["churn_month"]) == pd.Timestamp(months[-1])).all()


def test_a_subscribers_ledger_lists_every_billed_month(engine):
    months = queries.available_months(engine)
    rows = queries.load_subscriber_rows(engine, months[-1], months[-2], limit=50)
    first = rows[rows["revenue_now"] > 0].head(1)  # still billed (the biggest falls are churners)
    ledger = queries.load_subscriber_ledger(engine, int(first["subscriber_id"].iloc[0]))
    assert ledger["month"].is_monotonic_increasing
    assert ledger["number"].iloc[0] == first["number"].iloc[0]
    assert pd.Timestamp(months[-1]) in set(ledger["month"])


def test_unknown_levels_and_orderings_are_refused_with_a_clear_message(engine):
    month = queries.available_months(engine)[-1]
    with pytest.raises(ConcertoError, match="Unknown drill level 'district'"):
        queries.load_breakdown(engine, "district", [month])
    with pytest.raises(ConcertoError, match="Cannot order subscribers by 'msisdn'"):
        queries.load_subscriber_rows(engine, month, month, order_by="msisdn")
    with pytest.raises(ConcertoError, match="Channels can be combined"):
        queries.load_breakdown(engine, "channel", [month], Slice(segment="youth"))


def test_hostile_filter_values_are_bound_not_spliced(engine):
    hostile = Slice(micro_region="Gongbei'; DROP TABLE dim_region; --")
    assert queries.load_monthly_totals(engine, hostile).empty
    assert not queries.load_region_table(engine).empty


def test_duckdb_and_postgresql_answer_alike(duck_mart, pg_mart):
    answers = []
    for url in (duck_mart, pg_mart):
        engine = create_mart_engine(url, read_only=url.startswith("duckdb"))
        months = queries.available_months(engine)
        answers.append((
            queries.load_monthly_totals(engine, Slice(branch="Doumen")),
            queries.load_breakdown(engine, "channel", months[-2:], Slice(micro_region="Jida"))
            .sort_values(["channel_id", "month"]).reset_index(drop=True),
            queries.load_subscriber_rows(engine, months[-1], months[-2], Slice(segment="youth"),
                                         limit=30),
        ))
        engine.dispose()
    (duck_totals, duck_channels, duck_rows), (pg_totals, pg_channels, pg_rows) = answers
    pd.testing.assert_frame_equal(duck_totals, pg_totals, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(duck_channels, pg_channels, check_exact=False, rtol=1e-9,
                                  check_dtype=False)
    assert list(duck_rows["subscriber_id"]) == list(pg_rows["subscriber_id"])


def _own_movers(engine: sa.Engine, month, micro_region: str | None) -> dict[str, set[int]]:
    """New (first bill in ``month``) and churned (gone in ``month``) ids, straight from the
    fact and the subscriber dimension, independently of the reader under test."""
    fact, sub, region = schema.fact_subscriber_month, schema.dim_subscriber, schema.dim_region
    where = [region.c.micro_region == micro_region] if micro_region else []
    dims = sub.join(region, sub.c.region_id == region.c.region_id)
    new = sa.select(fact.c.subscriber_id).select_from(
        fact.join(dims, fact.c.subscriber_id == sub.c.subscriber_id)).where(
        fact.c.month == month, fact.c.is_new.is_(True), *where)
    churned = sa.select(sub.c.subscriber_id).select_from(dims).where(
        sub.c.churn_month == month, *where)
    return {name: set(read_frame(engine, q)["subscriber_id"].astype(int))
            for name, q in (("new", new), ("churned", churned))}


@pytest.mark.parametrize("micro_region", [None, "Gongbei"])
def test_subscriber_step_lists_exactly_the_new_and_churned_numbers(any_planted_mart, micro_region):
    engine = create_mart_engine(any_planted_mart, read_only=any_planted_mart.startswith("duckdb"))
    try:
        months = queries.available_months(engine)
        month, previous = months[-1], months[-2]
        slice_ = Slice(micro_region=micro_region)
        own = _own_movers(engine, month, micro_region)
        totals = queries.load_monthly_totals(engine, slice_).loc[pd.Timestamp(month)]
        assert own["new"] and own["churned"] and not own["new"] & own["churned"]
        assert len(own["new"]) == totals["new_subs"]  # the KPI counts the same numbers
        assert len(own["churned"]) == totals["churned_subs"]
        limit = len(own["new"]) + len(own["churned"]) + 1
        for only in ("new", "churned"):
            rows = queries.load_subscriber_rows(engine, month, previous, slice_, only=only,
                                                limit=limit)
            assert set(rows["subscriber_id"].astype(int)) == own[only], only
            assert rows["subscriber_id"].is_unique
            assert (rows["movement"] == queries.SUBSCRIBER_MOVEMENTS[only]).all()
        both = queries.load_subscriber_rows(engine, month, previous, slice_, only="both",
                                            limit=limit)
        labelled = {kind: set(both.loc[both["movement"] == label, "subscriber_id"].astype(int))
                    for kind, label in queries.SUBSCRIBER_MOVEMENTS.items()}
        assert labelled == own
        assert len(both) == len(own["new"]) + len(own["churned"])
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_mart_reads_come_in_binary_and_load_as_from_text(pg_mart):
    """read_frame asks a PostgreSQL mart for binary results (a third of the client's CPU on
    wide numeric reads); every type the mart holds loads as the text format loads it, and
    SQLAlchemy's catalog queries still run in text (``int2vector`` has no binary loader)."""
    import psycopg

    sub = schema.dim_subscriber
    statement = (sa.select(sub.c.subscriber_id, sub.c.msisdn, sub.c.join_month, sub.c.churn_month,
                           sub.c.group_id, sub.c.age,
                           (sub.c.age / sa.literal(3.0, sa.Double)).label("third"),
                           sa.func.sum(sub.c.age).over().label("total"),  # numeric
                           (sub.c.churn_month.is_(None)).label("active"))
                 .order_by(sub.c.subscriber_id).limit(300))
    binary = create_mart_engine(pg_mart)
    formats = []
    sa.event.listen(binary, "after_cursor_execute",
                    lambda conn, cursor, *args: formats.append(cursor.format))
    got = read_frame(binary, statement)
    assert formats[-1] == psycopg.pq.Format.BINARY
    assert sa.inspect(binary).has_table("dim_subscriber")  # catalog reads still work
    assert formats[-1] == psycopg.pq.Format.TEXT
    text = create_mart_engine(pg_mart).execution_options(concerto_binary_results=False)
    expected = read_frame(text, statement)
    binary.dispose()
    text.dispose()
    assert len(got) == 300
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_a_duckdb_read_through_arrow_gives_the_frame_fetchdf_gives(duck_mart, monkeypatch):
    """``read_frame(..., through_arrow=True)`` (the churn snapshot's million rows) is the same
    frame as DuckDB's own conversion: values, dtypes (integers and booleans nullable only
    where a NULL is), dates, strings and NULLs, on a typed statement and on the snapshot."""
    import data_access.mart.churn as churn_reads
    from data_access.store.principal import SYSTEM
    from data_access.store.scope import acting_as

    engine = create_mart_engine(duck_mart, read_only=True)
    typed = sa.text(
        "SELECT * FROM (VALUES (1, NULL::INTEGER, 2::SMALLINT, TRUE, NULL::BOOLEAN, "
        "DATE '2026-01-01', 'a', NULL::VARCHAR, 1.5, 12::HUGEINT, 2.5::DOUBLE), "
        "(2, 7, 3::SMALLINT, FALSE, TRUE, NULL::DATE, NULL, 'b', NULL, NULL, NULL)) "
        "AS t(i, i_null, s, b, b_null, d, v, v_null, x, h, f)")
    via_arrow = read_frame(engine, typed, through_arrow=True)
    pd.testing.assert_frame_equal(via_arrow, read_frame(engine, typed))
    assert str(via_arrow["i_null"].dtype) == "Int32" and via_arrow["i"].dtype == np.int32
    assert str(via_arrow["b_null"].dtype) == "boolean" and via_arrow["b"].dtype == bool
    with acting_as(SYSTEM):
        month = pd.Timestamp(queries.available_months(engine)[-1]).date()
        snapshot = churn_reads.load_churn_snapshot(engine, month)
        monkeypatch.setattr(churn_reads, "read_frame", lambda e, s, **_: read_frame(e, s))
        expected = churn_reads.load_churn_snapshot(engine, month)
    engine.dispose()
    pd.testing.assert_frame_equal(snapshot, expected)
    assert len(snapshot) > 1000
    assert snapshot["group_id"].isna().any() and snapshot["has_leased_line"].isna().any()


def test_a_postgresql_read_through_arrow_comes_as_csv_with_the_rows_values(pg_mart, monkeypatch):
    """On PostgreSQL ``read_frame(..., through_arrow=True)`` copies the rows out as CSV and
    parses them with Arrow (the churn snapshot: 32 → 13 s at 1M). Same values as fetching
    rows: NULLs stay NULL and an empty string stays empty, booleans, dates, numerics, text
    with commas, quotes and a line break, a bound parameter and an IN list."""
    import datetime as dt
    from decimal import Decimal

    from data_access import db

    copies = []
    real = db._copied
    monkeypatch.setattr(db, "_copied", lambda *a: copies.append(1) or real(*a))
    t = sa.values(sa.column("i", sa.Integer), sa.column("i_null", sa.Integer),
                  sa.column("b", sa.Boolean), sa.column("b_null", sa.Boolean),
                  sa.column("d", sa.Date), sa.column("v", sa.String),
                  sa.column("v_null", sa.String), sa.column("x", sa.Float),
                  sa.column("n", sa.Numeric), name="t").data(
        [(1, None, True, None, dt.date(2026, 1, 1), 'a, "quoted"\nline', None, 1.5,
          Decimal("12.25")),
         (2, 7, False, True, None, "", "b", None, None),
         (3, 8, False, False, dt.date(2026, 2, 1), "left out", "c", 2.0, Decimal("1"))])
    statement = (sa.select(t).where(t.c.i <= sa.bindparam("most", 2), t.c.i.in_([1, 2, 5]))
                 .order_by(t.c.i))
    engine = create_mart_engine(pg_mart)
    via_csv = read_frame(engine, statement, through_arrow=True)
    rows = read_frame(engine, statement)
    engine.dispose()
    assert copies == [1]
    assert list(via_csv.columns) == list(rows.columns) and len(via_csv) == 2

    def values(column: pd.Series) -> list:
        return [None if pd.isna(v) else v for v in column]

    for column in via_csv.columns:
        assert values(via_csv[column]) == values(rows[column]), column
    assert via_csv["v"].tolist() == ['a, "quoted"\nline', ""]  # empty, not NULL
    assert values(via_csv["v_null"]) == [None, "b"] and values(via_csv["b_null"]) == [None, True]
    assert str(via_csv["i_null"].dtype) == "Int64" and via_csv["b"].dtype == bool
    assert via_csv["d"].dtype == "datetime64[us]"


def test_a_sampled_churn_snapshot_on_postgresql_is_the_same_through_csv(pg_mart, monkeypatch):
    """The training snapshots' sample (an IN list of residues) and a scoped reader's regions
    reach PostgreSQL through the CSV copy as through rows."""
    import data_access.mart.churn as churn_reads
    from data_access.store.principal import SYSTEM
    from data_access.store.scope import acting_as

    engine = create_mart_engine(pg_mart)
    with acting_as(SYSTEM):
        month = pd.Timestamp(queries.available_months(engine)[-1]).date()
        via_csv = churn_reads.load_churn_snapshot(engine, month, sample=(7, [0, 3]))
        monkeypatch.setattr(churn_reads, "read_frame", lambda e, s, **_: read_frame(e, s))
        rows = churn_reads.load_churn_snapshot(engine, month, sample=(7, [0, 3]))
    engine.dispose()
    assert len(via_csv) > 100 and set(via_csv["subscriber_id"] % 7) == {0, 3}
    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # NULL as None, whatever the dtype
        return frame.astype(object).where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(via_csv), plain(rows))


@pytest.mark.parametrize("back", [0, 7])
def test_the_churn_snapshot_equals_a_pivot_of_the_fact_rows(engine, back):
    """Each subscriber billed in the month, with six months of measures (NULL where not
    billed), ``months_billed`` counted over them, against pandas' own pivot of the fact rows
    (the latest month, and one whose history starts before the mart's first month)."""
    import data_access.mart.churn as churn_reads
    from data_access.store.scope import SYSTEM, acting_as

    fact = schema.fact_subscriber_month
    with acting_as(SYSTEM):
        months = queries.available_months(engine)
        month = pd.Timestamp(months[-1 - back] if back < len(months) else months[0])
        sample = (5, [1, 4])
        snapshot = churn_reads.load_churn_snapshot(engine, month.date(), sample=sample)
    billed_months = read_frame(engine, sa.select(fact.c.month).distinct().order_by(fact.c.month))
    assert queries.available_months(engine) == [  # the months the churn job scores
        pd.Timestamp(m).date() for m in billed_months["month"]]
    rows = read_frame(engine, sa.select(fact).where(
        fact.c.month > (month - pd.DateOffset(months=6)).date(), fact.c.month <= month.date(),
        (fact.c.subscriber_id % 5).in_([1, 4])))
    rows["month"] = pd.to_datetime(rows["month"])
    rows["gross"] = rows[["rev_voice", "rev_data", "rev_sms", "rev_vas"]].sum(axis=1)
    rows["lag"] = [(month.year - m.year) * 12 + month.month - m.month for m in rows["month"]]
    billed = rows.loc[rows["lag"] == 0, "subscriber_id"]
    rows = rows[rows["subscriber_id"].isin(billed)]
    assert len(billed) > 50 and rows["lag"].nunique() == min(6, len(months) - back)
    got = snapshot.set_index("subscriber_id")
    assert list(got.index) == sorted(billed)
    counts = rows.groupby("subscriber_id").size()
    np.testing.assert_array_equal(got["months_billed"], counts.reindex(got.index))
    assert (got["months_billed"] < rows["lag"].nunique()).any()  # some with gaps
    for name in churn_reads.MEASURES:
        wide = rows.pivot(index="subscriber_id", columns="lag", values=name).reindex(got.index)
        for lag in range(6):
            expected = (wide[lag] if lag in wide else pd.Series(np.nan, index=got.index))
            np.testing.assert_allclose(got[f"{name}_{lag}"].astype(float),
                                       expected.astype(float), rtol=1e-9, equal_nan=True,
                                       err_msg=f"{name}_{lag}")


@pytest.mark.parametrize("months", [1, 3, 12, 24])
def test_the_value_window_is_the_facts_latest_months(engine, months):
    """The value page's window (read from the monthly summary) spans the fact's own latest
    ``months`` billed months; a mart shorter than that gives all of them."""
    from data_access.mart import value

    fact = schema.fact_subscriber_month
    billed = [pd.Timestamp(m).date() for m in read_frame(
        engine, sa.select(fact.c.month).distinct().order_by(fact.c.month))["month"]]
    assert value.load_value_window(engine, months) == (billed[-months:][0], billed[-1])

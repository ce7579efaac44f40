"""The drill's member tables and subscriber rows read from summaries equal the direct reading."""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest

from analytics.kpis.drill import SPECS, history_months, measures_for, member_expected, rank_members
from data_access.db import create_mart_engine
from data_access.mart import queries, schema
from data_access.mart.queries import Slice
from pages.sections import drilldown

#: KPIs a member table ranks by (market share is per region only: read as before).
KPIS = sorted(k for k in SPECS if k != "market_share")
SLICES = {"city": Slice(), "branch": Slice(branch="Xiangzhou"),
          "micro-region": Slice(micro_region="Gongbei"),
          "channel type": Slice(channel_type="social_outlet")}


@pytest.fixture
def engine(variant_mart: str):
    engine = create_mart_engine(variant_mart, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture(params=["a", "b", "postgresql"])
def any_engine(request: pytest.FixtureRequest):
    """The test mart of each generator variant on DuckDB, and variant a on PostgreSQL (where
    the drill reads its members as one row per member, months side by side)."""
    name = {"a": "duck_mart", "b": "duck_mart_b", "postgresql": "pg_mart"}[request.param]
    url = request.getfixturevalue(name)
    engine = create_mart_engine(url, read_only=url.startswith("duckdb"))
    yield engine
    engine.dispose()


def _whole_history_table(engine, level, slice_, kpi, month) -> pd.DataFrame:
    """The member table as the drill built it before: every member's 25 months, ranked, then
    expected values for all of them."""
    keys = drilldown._KEYS[level][0]
    history = [m.date() for m in history_months(pd.Timestamp(month))]
    frame = queries.load_breakdown(engine, level, history, slice_, measures_for(kpi))
    table = rank_members(frame, keys, kpi, pd.Timestamp(month))
    expected = member_expected(frame, keys, kpi, pd.Timestamp(month))
    return table.merge(expected, on=keys, how="left")


def _shown_table(engine, level, slice_, kpi, month):
    return drilldown.member_rows(
        level, slice_, kpi, month, drill_members=partial(queries.load_drill_members, engine),
        breakdown=partial(queries.load_breakdown, engine),
        market_breakdown=partial(queries.load_market_breakdown, engine))


@pytest.mark.parametrize("level, where", [("channel", "city"), ("channel", "branch"),
                                          ("channel", "micro-region"),
                                          ("channel", "channel type"), ("group", "city"),
                                          ("group", "branch")])
def test_capped_member_tables_equal_the_head_of_the_whole_history_table(any_engine, level,
                                                                        where, monkeypatch):
    engine = any_engine
    monkeypatch.setattr(drilldown, "MEMBER_CAP", 5)  # far fewer than the members
    months = queries.available_months(engine)
    for month in (months[-1], months[3]):  # a long history, and one shorter than 5 months
        for kpi in KPIS:
            whole = _whole_history_table(engine, level, SLICES[where], kpi, month)
            everyone, total = _shown_table(engine, level, SLICES[where], kpi, month)
            assert total == len(whole) == len(everyone) > 5, (kpi, month)
            pd.testing.assert_frame_equal(everyone.head(5), whole.head(5), check_dtype=False,
                                          check_exact=True, obj=f"{kpi} {month}")
            # below the rows shown: every member still ranked alike, no expected value read
            pd.testing.assert_frame_equal(everyone.drop(columns="expected"),
                                          whole.drop(columns="expected"), check_dtype=False,
                                          check_exact=True, obj=f"{kpi} {month}")
            assert everyone["expected"].iloc[5:].isna().all()


def test_an_uncapped_member_table_lists_every_member(any_engine, monkeypatch):
    engine = any_engine
    monkeypatch.setattr(drilldown, "MEMBER_CAP", 100_000)
    month = queries.available_months(engine)[-1]
    whole = _whole_history_table(engine, "channel", Slice(), "arpu", month)
    shown, total = _shown_table(engine, "channel", Slice(), "arpu", month)
    assert total == len(shown) == len(whole)
    pd.testing.assert_frame_equal(shown, whole, check_dtype=False, check_exact=True)


@pytest.fixture
def gappy_mart(duck_mart: str, tmp_path) -> str:
    """A copy of the test mart whose channel and group summaries have gaps: a third of the
    members have rows only between a year and four months ago (none in the months ranking
    reads), the rest opened three months ago (a history shorter than the level's)."""
    import shutil

    import sqlalchemy as sa

    path = tmp_path / "gappy.duckdb"
    shutil.copy(duck_mart.removeprefix("duckdb:///"), path)
    url = f"duckdb:///{path}"
    from data_access.mart.summaries import rebuild_member_starts

    engine = create_mart_engine(url)
    months = queries.available_months(engine)
    with engine.begin() as conn:
        for table, key in (("sum_channel_month", "channel_id"), ("sum_group_month", "group_id")):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {key} % 3 = 0 "
                                 "AND (month >= :late OR month < :early)"),
                         {"late": months[-4], "early": months[-12]})
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {key} % 3 <> 0 AND month < :m"),
                         {"m": months[-3]})
            # and a gap inside: every fifth member misses two months in the middle
            conn.execute(sa.text(f"DELETE FROM {table} WHERE {key} % 5 = 1 "
                                 "AND month IN (:a, :b)"), {"a": months[-8], "b": months[-7]})
        rebuild_member_starts(conn)  # as a build would have left them
    engine.dispose()
    return url


@pytest.mark.parametrize("shape", ["rows per month", "months side by side"])
@pytest.mark.parametrize("level", ["channel", "group"])
def test_members_seen_only_earlier_and_shorter_histories_are_kept(gappy_mart, level, shape,
                                                                  monkeypatch):
    # both ways load_drill_members reads (DuckDB's, and PostgreSQL's: rows built by the
    # client, members found from the starts of their runs) on the same gaps
    _read_as(monkeypatch, shape)
    monkeypatch.setattr(drilldown, "MEMBER_CAP", 5)
    engine = create_mart_engine(gappy_mart, read_only=True)
    try:
        month = queries.available_months(engine)[-1]
        for kpi in KPIS:
            whole = _whole_history_table(engine, level, Slice(), kpi, month)
            everyone, total = _shown_table(engine, level, Slice(), kpi, month)
            assert total == len(whole) == len(everyone)
            pd.testing.assert_frame_equal(everyone.head(5), whole.head(5), check_dtype=False,
                                          check_exact=True, obj=kpi)
    finally:
        engine.dispose()


def _read_as(monkeypatch, shape: str) -> None:
    """load_drill_members reads the mart as PostgreSQL's ("months side by side") or DuckDB's
    results come, finding members from the starts tables either way."""
    from data_access.db import ReadTraits

    traits = ReadTraits(columnar_results=shape == "rows per month", indexed=True)
    monkeypatch.setattr(queries, "read_traits", lambda engine: traits)


def _both_ways(engine, monkeypatch, level, months, history, slice_, measures):
    """load_drill_members as it reads (starts tables for a run of months), and from every
    month of the history, grouped."""
    fast = queries.load_drill_members(engine, level, months, history, slice_, measures)
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MEMBER_STARTS", {})
        slow = queries.load_drill_members(engine, level, months, history, slice_, measures)
    return fast, slow


@pytest.mark.parametrize("shape", ["rows per month", "months side by side"])
def test_members_from_where_their_runs_start_equal_every_month_grouped(gappy_mart, shape,
                                                                       monkeypatch):
    _read_as(monkeypatch, shape)
    engine = create_mart_engine(gappy_mart, read_only=True)
    try:
        months, compared = queries.available_months(engine), 0
        for end in range(len(months)):  # windows cut by gaps and by the mart's first month
            for start in {0, max(end - 5, 0), max(end - 1, 0), end}:
                history = months[start:end + 1]
                needed = [months[end]] + ([months[end - 1]] if end else [])
                for level, slice_ in (("channel", Slice()), ("group", Slice()),
                                      ("channel", Slice(branch="Xiangzhou")),
                                      ("channel", Slice(micro_region="Gongbei",
                                                        channel_type="social_outlet"))):
                    fast, slow = _both_ways(engine, monkeypatch, level, needed, history, slice_,
                                            ("revenue", "active_subs"))
                    pd.testing.assert_frame_equal(fast, slow, check_exact=True,
                                                  obj=f"{level} {slice_} {history[0]}…{end}")
                    compared += len(slow) > 0
        assert compared > 100
    finally:
        engine.dispose()


def test_a_mart_without_the_starts_tables_reads_every_month(duck_mart, tmp_path, monkeypatch):
    import shutil

    import sqlalchemy as sa

    _read_as(monkeypatch, "months side by side")
    path = tmp_path / "old.duckdb"
    shutil.copy(duck_mart.removeprefix("duckdb:///"), path)
    engine = create_mart_engine(f"duckdb:///{path}")
    months = queries.available_months(engine)
    args = ("channel", months[-2:], months, Slice(branch="Doumen"), None)
    fast, slow = _both_ways(engine, monkeypatch, *args)
    with engine.begin() as conn:
        for table in schema.MEMBER_STARTS.values():
            conn.execute(sa.text(f"DROP TABLE {table.name}"))  # built before they existed
    old = queries.load_drill_members(engine, *args)
    engine.dispose()
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    pd.testing.assert_frame_equal(old, slow, check_exact=True)


# ── Subscriber rows: the merge of sum_top_fallers_month against the fact grouped on a click ──

REGIONS = {"city": Slice(), "branch": Slice(branch="Xiangzhou"),
           "micro-region": Slice(micro_region="Gongbei"),
           # from sum_top_fallers_type_month
           "channel type": Slice(channel_type="social_outlet"),
           "branch × channel type": Slice(branch="Doumen", channel_type="own_hall"),
           "micro-region × channel type": Slice(micro_region="Gongbei",
                                                channel_type="social_outlet")}


def _rows_both_ways(engine, monkeypatch, month, previous, slice_, order_by, limit):
    """(rows as the subscriber step reads them, rows from the fact grouped on the click), and
    whether the summary answered."""
    taken = []
    with monkeypatch.context() as patch:
        real = queries._ranked_from_summary
        patch.setattr(queries, "_ranked_from_summary",
                      lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
        fast = queries.load_subscriber_rows(engine, month, previous, slice_, order_by=order_by,
                                            limit=limit)
    with monkeypatch.context() as patch:
        patch.setattr(queries, "_summary_answers", lambda *args: False)
        direct = queries.load_subscriber_rows(engine, month, previous, slice_,
                                              order_by=order_by, limit=limit)
    return fast, direct, bool(taken) and taken[0] is not None


@pytest.mark.parametrize("where", sorted(REGIONS))
@pytest.mark.parametrize("order_by", sorted(queries.SUBSCRIBER_ORDER))
def test_top_subscribers_from_the_summary_equal_the_fact_grouped(any_engine, monkeypatch,
                                                                 where, order_by):
    engine = any_engine
    months = queries.available_months(engine)
    for month, previous in ((months[-1], months[-2]), (months[1], months[0])):
        for limit in (500, 40):
            fast, direct, summarised = _rows_both_ways(engine, monkeypatch, month, previous,
                                                       REGIONS[where], order_by, limit)
            assert summarised and len(direct) > 0
            pd.testing.assert_frame_equal(fast, direct, check_exact=True)


@pytest.fixture
def small_top_mart(duck_mart: str, tmp_path, monkeypatch) -> str:
    """A copy of the test mart whose sum_top_fallers_month keeps 7 subscribers per
    micro-region (fewer than most regions' subscribers), so merges cross the cut."""
    import shutil

    from data_access.mart import schema, summaries

    path = tmp_path / "top7.duckdb"
    shutil.copy(duck_mart.removeprefix("duckdb:///"), path)
    url = f"duckdb:///{path}"
    engine = create_mart_engine(url)
    with engine.begin() as conn:
        summaries.rebuild_top_fallers(conn, keep=7)
    engine.dispose()
    monkeypatch.setattr(schema, "TOP_FALLERS", 7)
    return url


@pytest.mark.parametrize("order_by", sorted(queries.SUBSCRIBER_ORDER))
def test_a_merge_of_cut_rankings_equals_the_whole_ranking(small_top_mart, monkeypatch,
                                                          order_by):
    engine = create_mart_engine(small_top_mart, read_only=True)
    try:
        months = queries.available_months(engine)
        for slice_ in REGIONS.values():
            fast, direct, summarised = _rows_both_ways(engine, monkeypatch, months[-1],
                                                       months[-2], slice_, order_by, 7)
            assert summarised and len(fast) == 7
            pd.testing.assert_frame_equal(fast, direct, check_exact=True)
            more, direct, summarised = _rows_both_ways(engine, monkeypatch, months[-1],
                                                       months[-2], slice_, order_by, 8)
            assert not summarised  # more rows than the summary keeps: read from the fact
            pd.testing.assert_frame_equal(more, direct, check_exact=True)
    finally:
        engine.dispose()


def test_what_the_summary_cannot_answer_is_read_from_the_fact(engine, monkeypatch):
    months = queries.available_months(engine)
    month, previous = months[-1], months[-2]
    calls = []
    monkeypatch.setattr(queries, "_ranked_from_summary", lambda *a, **k: calls.append(a))
    for kwargs in ({"slice_": Slice(channel_id=1)}, {"slice_": Slice(segment="youth")},
                   {"slice_": Slice(micro_region="Gongbei", plan_name="GoTone 58 全球通58")},
                   {"only": "churned"}, {"limit": 501}, {"previous": months[-3]}):
        queries.load_subscriber_rows(engine, month, kwargs.pop("previous", previous), **kwargs)
    assert calls == []


@pytest.mark.parametrize("table, slice_", [
    ("sum_top_fallers_month", Slice()),
    ("sum_top_fallers_type_month", Slice(micro_region="Gongbei", channel_type="social_outlet"))])
def test_a_mart_without_the_summary_reads_the_fact(duck_mart, tmp_path, table, slice_):
    import shutil

    import sqlalchemy as sa

    path = tmp_path / "old.duckdb"
    shutil.copy(duck_mart.removeprefix("duckdb:///"), path)
    engine = create_mart_engine(f"duckdb:///{path}")
    months = queries.available_months(engine)
    before = queries.load_subscriber_rows(engine, months[-1], months[-2], slice_, limit=30)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))  # a mart built before the table existed
    after = queries.load_subscriber_rows(engine, months[-1], months[-2], slice_, limit=30)
    engine.dispose()
    pd.testing.assert_frame_equal(before, after, check_exact=True)


def test_a_capped_table_says_how_many_more_and_how_to_narrow(app_as, monkeypatch):
    monkeypatch.setattr(drilldown, "MEMBER_CAP", 5)
    at = app_as("analyst")
    at.query_params["drill"] = "micro_region:Gongbei"
    at.run()
    assert not at.exception, at.exception
    shown = at.dataframe(key="sandbox_table_1_channel").value
    assert len(shown) == 5
    notes = " ".join(c.value for c in at.caption)
    assert "more are not listed" in notes and "Pick a channel type first" in notes

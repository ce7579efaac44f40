"""Scope and masking are enforced in data_access: a regional manager reads their region only,
through every function that reads the mart, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.store import diagnosis
from data_access.mart import queries
from data_access.store import scope
from data_access.mart import series
from data_access.store.auth import Forbidden, Principal
from data_access.db import create_mart_engine
from data_access.mart.queries import LEVELS, Slice

RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")
RM_DOUMEN = Principal("rm_doumen", "Doumen manager", "regional_manager", "branch", "Doumen")
ANALYST = Principal("analyst", "Analyst", "analyst")
ACCOUNT = Principal("account_mgr", "Account manager", "account_manager")

@pytest.fixture
def mart(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=True)
    yield engine
    engine.dispose()


def _months(mart: sa.Engine) -> list:
    return queries.available_months(mart)[-2:]


def test_region_reads_return_the_managers_region_only(mart: sa.Engine):
    months = _months(mart)
    with scope.acting_as(RM_GONGBEI):
        regions = queries.load_region_table(mart)
        market = queries.load_market_breakdown(mart, "micro_region", months)
        leaves = queries.load_cube_leaves(mart, months)
        rows = queries.load_subscriber_rows(mart, months[-1], months[0], limit=2000)
        panels = {name: series.load_series_panel(mart, name) for name in series.SERIES}
        mine = queries.load_monthly_totals(mart)
    assert list(regions["micro_region"]) == ["Gongbei"]
    assert set(market["micro_region"]) == {"Gongbei"}
    assert set(leaves["micro_region"]) == {"Gongbei"} and len(leaves)
    assert set(rows["micro_region"]) == {"Gongbei"} and len(rows)
    gongbei_id = int(regions["region_id"].iloc[0])
    with mart.connect() as conn:
        gongbei_channels = set(conn.execute(sa.select(sa.text("channel_id")).select_from(
            sa.text("dim_channel")).where(sa.text(f"region_id = {gongbei_id}"))).scalars())
    for name, panel in panels.items():
        allowed = gongbei_channels if name.startswith("channel") else {gongbei_id}
        assert len(panel) and set(panel["unit"]) <= allowed, name
    # the totals are Gongbei's, exactly as an unscoped reader asking for Gongbei sees them
    expected = queries.load_monthly_totals(mart, Slice(micro_region="Gongbei"))
    pd.testing.assert_frame_equal(mine, expected)


@pytest.mark.parametrize("level", list(LEVELS))
def test_every_drill_level_is_narrowed_to_the_region(mart: sa.Engine, level: str):
    months = _months(mart)
    with scope.acting_as(RM_GONGBEI):
        scoped = queries.load_breakdown(mart, level, months)
    unscoped = queries.load_breakdown(mart, level, months, Slice(micro_region="Gongbei"))
    everything = queries.load_breakdown(mart, level, months)
    pd.testing.assert_frame_equal(scoped.reset_index(drop=True), unscoped.reset_index(drop=True))
    assert scoped["revenue"].sum() < everything["revenue"].sum()
    if level == "micro_region":
        assert set(scoped["micro_region"]) == {"Gongbei"}


def test_asking_for_another_region_is_refused(mart: sa.Engine):
    months = _months(mart)
    with scope.acting_as(RM_GONGBEI):
        with pytest.raises(Forbidden, match="Gongbei only, not Jida"):
            queries.load_monthly_totals(mart, Slice(micro_region="Jida"))
        with pytest.raises(Forbidden, match="not Jing'an"):
            queries.load_subscriber_rows(mart, months[-1], months[0],
                                         Slice(micro_region="Jing'an"))
    with scope.acting_as(RM_DOUMEN):
        with pytest.raises(Forbidden, match="branch Doumen only, not Xiangzhou"):
            queries.load_breakdown(mart, "micro_region", months, Slice(branch="Xiangzhou"))
        # a micro-region of another branch inside an allowed branch filter finds nothing
        assert queries.load_breakdown(mart, "channel", months,
                                      Slice(micro_region="Gongbei")).empty


def test_another_regions_subscriber_ledger_is_empty(mart: sa.Engine):
    with mart.connect() as conn:
        outsider = conn.execute(sa.text(
            "select s.subscriber_id from dim_subscriber s join dim_region r "
            "on s.region_id = r.region_id where r.branch = 'Doumen' order by 1 limit 1")
        ).scalar_one()
    with scope.acting_as(RM_GONGBEI):
        assert queries.load_subscriber_ledger(mart, outsider).empty
    with scope.acting_as(RM_DOUMEN):
        assert len(queries.load_subscriber_ledger(mart, outsider)) > 0


def test_mart_internals_are_refused_to_a_regional_manager(mart: sa.Engine):
    with scope.acting_as(RM_GONGBEI):
        with pytest.raises(Forbidden, match="may not read the planted truths"):
            queries.load_planted_truths(mart)
        with pytest.raises(Forbidden, match="table counts"):
            queries.load_table_counts(mart)
    with scope.acting_as(ANALYST):
        assert len(queries.load_planted_truths(mart))


@pytest.mark.parametrize("who,masked", [(ANALYST, True), (RM_GONGBEI, True), (ACCOUNT, False),
                                        (scope.SYSTEM, True)])
def test_numbers_are_masked_unless_the_role_may_see_them(mart: sa.Engine, who, masked):
    months = _months(mart)
    with scope.acting_as(who):
        rows = queries.load_subscriber_rows(mart, months[-1], months[0], limit=50)
        ledger = queries.load_subscriber_ledger(mart, int(rows["subscriber_id"].iloc[0]))
    pattern = r"\d{7}\*{4}" if masked else r"\d{11}"
    assert rows["number"].str.fullmatch(pattern).all()
    assert ledger["number"].str.fullmatch(pattern).all()


def test_alerts_are_listed_for_the_managers_region_only(workflow: sa.Engine, duck_mart: str):
    import datetime as dt

    from data_access.store.workflow import alert

    mart = create_mart_engine(duck_mart, read_only=True)
    with workflow.begin() as conn:
        for level, key in [("micro_region", "Gongbei"), ("micro_region", "Jida"),
                           ("city", "all"), ("branch", "Doumen")]:
            conn.execute(sa.insert(alert).values(
                raised_at=dt.datetime.now(dt.UTC), source="diagnosis", metric="revenue",
                unit_level=level, unit_key=key, unit_label=key, observed_at="2026-10",
                score=0.9, message="down", status="open"))
    with scope.acting_as(RM_GONGBEI):
        assert list(diagnosis.list_alerts(workflow, mart=mart)["unit_key"]) == ["Gongbei"]
    with scope.acting_as(RM_DOUMEN):
        assert list(diagnosis.list_alerts(workflow, mart=mart)["unit_key"]) == ["Doumen"]
    assert len(diagnosis.list_alerts(workflow)) == 4  # the system principal sees them all
    mart.dispose()


def test_a_managers_older_alerts_are_not_crowded_out_by_newer_ones_elsewhere(
        workflow: sa.Engine, duck_mart: str):
    """The scope is applied before the limit: the newest rows being another region's must
    not hide the manager's own."""
    import datetime as dt

    from data_access.store.workflow import alert

    mart = create_mart_engine(duck_mart, read_only=True)
    with workflow.begin() as conn:
        for i, key in enumerate(["Gongbei"] + ["Jida"] * 12):
            conn.execute(sa.insert(alert).values(
                raised_at=dt.datetime.now(dt.UTC), source="diagnosis", metric="revenue",
                unit_level="micro_region", unit_key=key, unit_label=key,
                observed_at=f"2026-{i % 12 + 1:02d}-{i:02d}", score=0.9, message="down",
                status="open"))
    with scope.acting_as(RM_GONGBEI):
        mine = diagnosis.list_alerts(workflow, mart=mart, limit=5)
    assert list(mine["unit_key"]) == ["Gongbei"]
    with scope.acting_as(RM_DOUMEN):
        assert diagnosis.list_alerts(workflow, mart=mart, limit=5).empty
    assert len(diagnosis.list_alerts(workflow, limit=5)) == 5
    mart.dispose()

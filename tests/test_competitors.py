"""Competitor monitor: shares and side-by-side frames, anomaly flags on rival series (the
planted Jida share jump), scoped mart reads on DuckDB and PostgreSQL, and the page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics import competitors as ac
from data_access.mart import competitors as dc
from data_access.mart import schema as s
from data_access.store import scope
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError, create_mart_engine, read_frame
from data_access.mart.queries import Slice
from tests.test_readable_pages import unreadable

PAGE = "pages/competitors.py"
RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")


@pytest.fixture
def mart(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=True)
    yield engine
    engine.dispose()


def _share_jump(engine: sa.Engine) -> dict:
    truth = read_frame(engine, sa.select(s.planted_truth)
                       .where(s.planted_truth.c.kind == "share_jump"))
    row = truth.iloc[0]
    return {**json.loads(row["where_json"]), **json.loads(row["detail"])}


def _panel(values: dict[str, list[float]]) -> pd.DataFrame:
    months = pd.date_range("2025-01-01", periods=len(next(iter(values.values()))), freq="MS")
    rows = [{"unit": "Jida", "month": m, "operator": op, "subscribers": v, "new_adds": 1,
             "net_adds": 0, "arpu": 60.0} for op, series in values.items()
            for m, v in zip(months, series)]
    return pd.DataFrame(rows)


def test_shares_sum_to_one_and_side_by_side_has_a_column_per_operator():
    frame = ac.add_shares(_panel({"us": [60, 70], "rival_a": [30, 20], "rival_b": [10, 10]}))
    assert frame.groupby("month")["share"].sum().round(12).eq(1.0).all()
    wide = ac.side_by_side(frame, "share")
    assert list(wide.columns) == ["unit", "month", "rival_a", "rival_b", "us"]
    assert wide["us"].tolist() == [0.6, 0.7]
    with pytest.raises(ValueError, match="metric: unknown 'revenue'"):
        ac.side_by_side(frame, "revenue")


def test_a_rival_share_jump_is_flagged_and_quiet_series_are_not():
    rng = np.random.default_rng(3)
    n = 24
    us = 7000 + rng.normal(0, 20, n)
    a = 2000 + rng.normal(0, 20, n)
    b = 1000 + rng.normal(0, 20, n)
    a[-1] += 700
    flags = ac.flag_series(_panel({"us": us, "rival_a": a, "rival_b": b}),
                           metrics=("share", "subscribers"))
    points = ac.unusual_points(flags, recent=1)
    assert {"share", "subscribers"} <= set(points.loc[points["operator"] == "rival_a", "metric"])
    assert not flags[(flags["month"] < flags["month"].max())]["unusual"].any()
    assert set(flags["operator"]) == {"rival_a", "rival_b"}  # rivals only by default
    rows = ac.alert_rows(points)
    assert rows[0]["source"] == "competitor" and rows[0]["unit_level"] == "rival_region"
    assert rows[0]["observed_at"] == flags["month"].max().strftime("%Y-%m")


def test_no_figures_give_no_flags_and_no_alerts():
    empty = pd.DataFrame(columns=["unit", "month", "operator", "subscribers", "new_adds",
                                  "net_adds", "arpu"])
    flags = ac.flag_series(empty)
    assert flags.empty and "unusual" in flags
    assert ac.unusual_points(flags, recent=3).empty
    assert ac.alert_rows(ac.unusual_points(flags)) == []
    with pytest.raises(ValueError, match="threshold"):
        ac.flag_series(empty, threshold=0)


@pytest.fixture
def planted_mart(any_planted_mart: str):
    engine = create_mart_engine(any_planted_mart, read_only=True)
    yield engine
    engine.dispose()


def test_the_monitor_flags_the_planted_share_jump(planted_mart):
    """Variant a: Rival A, six points in Jida; variant b: Rival B, four points in Sanzao."""
    mart = planted_mart
    truth = _share_jump(mart)
    frame = dc.load_competitor_months(mart, "micro_region")
    points = ac.unusual_points(ac.flag_series(frame), recent=1)
    gains = points[(points["metric"] == "share") & (points["change"] > 0)]
    top = gains.iloc[0]
    assert (top["unit"], top["operator"]) == (truth["micro_region"], truth["operator"])
    assert top["month"].strftime("%Y-%m") == truth["month"]
    assert top["value"] == pytest.approx(truth["share_after"], abs=1e-3)
    change = ac.share_change(frame).iloc[0]
    assert (change["unit"], change["operator"]) == (truth["micro_region"], truth["operator"])
    assert change["points"] == pytest.approx(truth["points"], abs=0.01)
    assert len(gains[gains["month"] == top["month"]]) == 1  # and nothing else jumped
    events = dc.load_competitor_events(mart)
    behind = events[events["event_id"] == truth["event_id"]].iloc[0]
    assert (behind["micro_region"], behind["operator"]) == (truth["micro_region"],
                                                            truth["operator"])


def test_figures_sum_to_the_city_and_arpu_is_weighted(mart):
    micro = dc.load_competitor_months(mart, "micro_region")
    city = dc.load_competitor_months(mart, "city")
    summed = micro.groupby(["month", "operator"])[["subscribers", "new_adds", "net_adds"]].sum()
    assert (city.set_index(["month", "operator"])[summed.columns] == summed).all().all()
    last = micro[micro["month"] == micro["month"].max()]
    expected = (last["arpu"] * last["subscribers"]).groupby(last["operator"]).sum() / \
        last.groupby("operator")["subscribers"].sum()
    got = city[city["month"] == city["month"].max()].set_index("operator")["arpu"]
    assert np.allclose(got.sort_index(), expected.sort_index(), atol=0.01)
    branches = dc.load_competitor_months(mart, "branch")
    assert set(branches["unit"]) == {"Xiangzhou", "Doumen", "Jinwan"}
    with pytest.raises(ConcertoError, match="level:"):
        dc.load_competitor_months(mart, "channel")


def test_a_regional_manager_reads_only_their_micro_region(mart):
    with scope.acting_as(RM_GONGBEI):
        months = dc.load_competitor_months(mart, "micro_region")
        city = dc.load_competitor_months(mart, "city")
        events = dc.load_competitor_events(mart)
        with pytest.raises(Forbidden):
            dc.load_competitor_months(mart, "micro_region", slice_=Slice(micro_region="Jida"))
    assert set(months["unit"]) == {"Gongbei"}
    assert city["subscribers"].sum() == months["subscribers"].sum()
    assert set(city["unit"]) == {"Gongbei"}
    assert set(events["micro_region"].dropna()) <= {"Gongbei"}
    everyone = dc.load_competitor_events(mart)
    theirs = everyone["micro_region"].isna() | (everyone["micro_region"] == "Gongbei")
    assert len(events) == theirs.sum()
    assert len(events) < len(everyone)


def test_the_page_shows_the_jida_jump_and_the_intelligence_behind_it(app_as):
    at = app_as("analyst")
    at.switch_page(PAGE).run()
    assert not at.exception
    alerts = [d.value for d in at.dataframe if {"Unit 单元", "Score 评分"} <= set(d.value.columns)]
    assert alerts and alerts[0].iloc[0]["Unit 单元"] == "Jida"
    assert unreadable(at) == []
    feed = " ".join(m.value for m in at.markdown)
    assert "99-yuan" in feed  # the seeded field report on Rival A's Jida offer
    at.button(key="comp_raise").click().run()
    assert not at.exception and any("new alert(s) raised" in m.value for m in at.success)
    from data_access.store.workflow import alert, create_workflow_engine

    engine = create_workflow_engine(app_as.workflow_url)
    with engine.connect() as conn:
        raised = conn.execute(sa.select(alert.c.unit_key, alert.c.metric)
                              .where(alert.c.source == "competitor")).all()
    engine.dispose()
    assert ("Jida", "rival_a_share") in raised


def test_the_intelligence_form_refuses_a_bad_report_and_stores_a_good_one_once(app_as):
    from data_access.store import intel
    from data_access.store.workflow import create_workflow_engine

    at = app_as("channel_mgr")
    at.switch_page(PAGE).run()
    at.text_area(key="intel_text").input("")
    at.button(key="FormSubmitter:intel_form-Submit report 提交").click().run()
    assert not at.exception
    assert any("text: must not be empty" in e.value for e in at.error)
    at.text_area(key="intel_text").input("Rival B hands out free SIMs at Gongbei port")
    at.button(key="FormSubmitter:intel_form-Submit report 提交").click().run()
    assert not at.exception and any("stored." in m.value for m in at.success)
    at.button(key="FormSubmitter:intel_form-Submit report 提交").click().run()  # double submit
    assert any("already stored" in m.value for m in at.success)
    engine = create_workflow_engine(app_as.workflow_url)
    found = intel.search_reports(engine, Principal("admin", "Admin", "administrator"),
                                 text="free SIMs")
    engine.dispose()
    assert len(found) == 1


def test_the_page_renders_for_a_regional_manager(app_as):
    at = app_as("rm_gongbei")
    at.switch_page(PAGE).run()
    assert not at.exception
    units = {u for d in at.dataframe if "unit" in d.value.columns for u in d.value["unit"]}
    assert units <= {"Gongbei"}
    assert "99-yuan" not in " ".join(m.value for m in at.markdown)  # Jida reports stay hidden


def test_unusual_points_need_a_business_size_and_one_units_month_is_one_incident():
    month = pd.Timestamp("2026-10-01")
    flags = pd.DataFrame({
        "unit": ["Jida", "Jida", "Gongbei", "Gongbei"],
        "operator": ["rival_a", "rival_a", "rival_b", "rival_b"],
        "metric": ["share", "new_adds", "share", "new_adds"],
        "month": [month] * 4,
        "value": [0.280, 260.0, 0.2203, 103.0],  # Gongbei moved less than the minimum effect
        "expected": [0.220, 120.0, 0.2200, 100.0],
        "score": [0.999, 0.97, 0.9999, 0.999],
        "unusual": [True] * 4})
    points = ac.unusual_points(flags)
    assert set(points["unit"]) == {"Jida"}  # surprising but tiny moves are not alerts
    assert points["incident"].nunique() == 1 and len(points) == 2
    assert points["lead"].sum() == 1
    assert points["impact"].is_monotonic_decreasing

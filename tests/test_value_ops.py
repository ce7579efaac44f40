"""Net value, ROI bands and duplicate benefits: hand-made customers (analytics.value.operations), then
the mart reads (data_access.mart.value) against the planted truth, on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.value import operations as vo
from data_access.store import scope
from data_access.mart import value
from data_access.store.auth import Principal
from data_access.db import create_mart_engine, read_frame
from data_access.mart.schema import planted_truth


def _usage() -> pd.DataFrame:
    # Customer 1 is the source's example (billed 1,000 over three months, 300 discount, two
    # VIP events costing 500), spread over three months; 2 costs nothing; 3 is a mass customer.
    return pd.DataFrame({
        "subscriber_id": [1, 1, 1, 2, 3],
        "revenue": [250.0, 200.0, 250.0, 90.0, 100.0],
        "discount": [100.0, 100.0, 100.0, 0.0, 20.0],
        "service_cost": [0.0, 500.0, 0.0, 0.0, 10.0],
        "segment": ["high_end"] * 3 + ["high_end", "mass"],
        "channel_id": [10, 10, 10, 10, 20],
    })


def test_source_example_gift_makes_net_value_minus_200():
    gift = pd.DataFrame({"subscriber_id": [1], "cost": [400.0]})
    values = vo.customer_values(_usage(), gift)
    one = values.loc[1]
    assert one["net_value"] == -200.0
    assert one["gross"] == 1000.0 and one["cost"] == 1200.0
    assert one["roi"] == pytest.approx(1000 / 1200)
    assert one["band"] == "0–1"
    # without the gift the same customer is still worth 200
    assert vo.customer_values(_usage()).loc[1, "net_value"] == 200.0


def test_customer_without_costs_has_infinite_roi_in_top_band():
    values = vo.customer_values(_usage())
    assert math.isinf(values.loc[2, "roi"]) and values.loc[2, "band"] == ">2"
    # 3: gross 120 ÷ cost 30 = 4
    assert values.loc[3, "roi"] == pytest.approx(4.0) and values.loc[3, "net_value"] == 90.0


def test_band_edges_are_lower_inclusive():
    bands = vo.roi_band(pd.Series([0.0, 0.999, 1.0, 1.4999, 1.5, 1.999, 2.0, 7.0]))
    assert bands.tolist() == ["0–1", "0–1", "1–1.5", "1–1.5", "1.5–2", "1.5–2", ">2", ">2"]


def test_roi_below_one_exactly_when_net_value_negative():
    frame = vo.add_roi(pd.DataFrame({"gross": [100.0, 100.0, 100.0], "discount": [50.0, 0, 0],
                                     "service_cost": [30.0, 0, 60], "campaign_cost": [30.0, 0, 40]}))
    assert frame["net_value"].tolist() == [-10.0, 100.0, 0.0]
    assert (frame["roi"] < 1).tolist() == [True, False, False]


def test_aggregate_to_channels_recomputes_roi_on_sums():
    gift = pd.DataFrame({"subscriber_id": [1], "cost": [400.0]})
    channels = vo.aggregate_values(vo.customer_values(_usage(), gift), "channel_id").set_index(
        "channel_id")
    ten = channels.loc[10]
    assert ten["customers"] == 2 and ten["negative_customers"] == 1
    assert ten["net_value"] == pytest.approx(-200.0 + 90.0)
    assert ten["roi"] == pytest.approx(1090 / 1200) and ten["band"] == "0–1"
    assert channels.loc[20, "band"] == ">2"


def test_band_distribution_lists_every_band_for_every_level():
    customers = pd.DataFrame({"band": ["0–1", "0–1", ">2"]})
    channels = pd.DataFrame({"band": ["1–1.5"], "units": [5]})
    dist = vo.band_distribution({"customers": customers, "channels": channels})
    assert len(dist) == 8
    cust = dist[dist["level"] == "customers"].set_index("band")
    assert cust.loc["0–1", "units"] == 2 and cust.loc["1.5–2", "units"] == 0
    assert cust["share"].sum() == pytest.approx(1.0)
    assert dist[(dist["level"] == "channels") & (dist["band"] == "1–1.5")]["units"].item() == 5


def test_negative_high_end_and_duplicates_across_departments():
    gift = pd.DataFrame({"subscriber_id": [1], "cost": [400.0]})
    values = vo.customer_values(_usage(), gift)
    assert vo.negative_high_end(values).index.tolist() == [1]
    benefits = pd.DataFrame({
        "subscriber_id": [1, 1, 1, 2, 2, 3],
        "campaign_id": [7, 8, 9, 7, 8, 7],
        "department": ["individual", "product", "individual", "individual", "product",
                       "individual"],
        "cost": [100.0, 200.0, 100.0, 50.0, 0.0, 30.0],  # 2's product benefit is control arm
    })
    dup = vo.duplicate_benefits(benefits)
    assert dup.index.tolist() == [1]
    assert dup.loc[1, "departments"] == 2 and dup.loc[1, "campaigns"] == 3
    assert dup.loc[1, "department_list"] == "individual,product"
    assert dup.loc[1, "benefit_cost"] == 400.0
    summary = vo.high_end_summary(values, dup)
    assert summary == {"high_end": 2, "unprofitable": 1, "unprofitable_share": 0.5,
                       "duplicate_share_of_unprofitable": 1.0}


# --- mart reads (data_access.mart.value), on DuckDB and PostgreSQL -------------------------------


RM_GONGBEI = Principal("rm_gongbei", "x", "regional_manager", "micro_region", "Gongbei")


@pytest.fixture
def mart(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=True)
    yield engine
    engine.dispose()


def _truth(mart) -> dict:
    frame = read_frame(mart, sa.select(planted_truth.c.where_json, planted_truth.c.detail)
                       .where(planted_truth.c.kind == "unprofitable_high_end"))
    return json.loads(frame.loc[0, "detail"])


def test_high_end_summary_finds_the_planted_unprofitable_customers(mart):
    truth = _truth(mart)
    window = value.load_value_window(mart)
    found = value.load_high_end_summary(mart, window)
    assert found["high_end"] == truth["high_end"]
    assert found["unprofitable"] == truth["unprofitable"]
    assert found["duplicate_share_of_unprofitable"] == pytest.approx(
        truth["duplicate_share_of_unprofitable"], abs=1e-4)
    listed = value.load_value_customers(mart, window, "negative_high_end", limit=100_000)
    assert len(listed) == truth["unprofitable"] and (listed["net_value"] < 0).all()
    assert listed["net_value"].is_monotonic_increasing


def test_sql_bands_and_sums_agree_with_the_pure_functions(mart):
    window = value.load_value_window(mart)
    bands = value.load_customer_bands(mart, window).set_index("band")
    channels = vo.add_roi(value.load_unit_values(mart, window, "channel"))
    regions = value.load_unit_values(mart, window, "micro_region")
    # every customer sits in one band, and every band's net value sign matches its ROI
    assert bands["units"].sum() == channels["customers"].sum() == regions["customers"].sum()
    assert bands.loc["0–1", "net_value"] < 0 < bands.loc[">2", "net_value"]
    assert ((channels["net_value"] < 0) == (channels["roi"] < 1)).all()
    assert channels["net_value"].sum() == pytest.approx(regions["net_value"].sum(), rel=1e-9)
    # the duplicate list holds customers paid by two or more departments, numbers masked
    dup = value.load_value_customers(mart, window, "duplicate_benefit", limit=1)
    assert (dup["departments"] >= 2).all() and dup["number"].str.endswith("****").all()


def test_unknown_level_and_list_are_refused(mart):
    window = value.load_value_window(mart)
    with pytest.raises(value.ConcertoError, match="level"):
        value.load_unit_values(mart, window, "planet")
    with pytest.raises(value.ConcertoError, match="list"):
        value.load_value_customers(mart, window, "everyone")
    with pytest.raises(value.ConcertoError, match="months"):
        value.load_value_window(mart, 0)


def test_regional_manager_reads_only_gongbei(mart):
    window = value.load_value_window(mart)
    everyone = value.load_unit_values(mart, window, "micro_region")
    with scope.acting_as(RM_GONGBEI):
        regions = value.load_unit_values(mart, window, "micro_region")
        customers = value.load_value_customers(mart, window, "duplicate_benefit",
                                               limit=100_000)
        bands = value.load_customer_bands(mart, window)
        channels = value.load_unit_values(mart, window, "channel")
    assert regions["micro_region"].tolist() == ["Gongbei"]
    assert set(customers["micro_region"]) == {"Gongbei"} and len(customers) > 0
    gongbei = everyone.set_index("micro_region").loc["Gongbei", "customers"]
    assert bands["units"].sum() == gongbei == channels["customers"].sum()
    assert customers["number"].str.endswith("****").all()


def test_sql_reads_match_the_pure_functions_on_raw_rows(mart):
    """The same customers through analytics.value.operations (pandas over raw mart rows) and through
    data_access.mart.value (SQL) give the same bands, channel sums and duplicate lists."""
    from data_access.mart import schema as s

    first, last = window = value.load_value_window(mart)
    fact, sub, camp, member = (s.fact_subscriber_month, s.dim_subscriber, s.campaign,
                               s.campaign_member)
    billed = sa.select(fact.c.subscriber_id).where(fact.c.month == last)
    usage = read_frame(mart, sa.select(
        fact.c.subscriber_id, fact.c.revenue, fact.c.discount, fact.c.service_cost,
        sub.c.segment, sub.c.channel_id).join(sub, fact.c.subscriber_id == sub.c.subscriber_id)
        .where(fact.c.month.between(first, last), fact.c.subscriber_id.in_(billed)))
    benefits = read_frame(mart, sa.select(
        member.c.subscriber_id, member.c.campaign_id, member.c.cost, camp.c.department)
        .join(camp, member.c.campaign_id == camp.c.campaign_id)
        .where(camp.c.start_month <= last, camp.c.end_month >= first,
               member.c.subscriber_id.in_(billed)))
    customers = vo.customer_values(usage, benefits[benefits["cost"] > 0])
    pure_bands = customers["band"].astype(str).value_counts()
    sql_bands = value.load_customer_bands(mart, window).set_index("band")["units"]
    assert pure_bands.sort_index().to_dict() == sql_bands.sort_index().to_dict()
    pure_channels = vo.aggregate_values(customers, "channel_id").set_index("channel_id")
    sql_channels = value.load_unit_values(mart, window, "channel").set_index("channel_id")
    assert (pure_channels["customers"] == sql_channels["customers"]).all()
    assert pure_channels["net_value"].to_numpy() == pytest.approx(
        sql_channels["net_value"].to_numpy(), abs=0.05)
    assert (pure_channels["band"].astype(str) == vo.add_roi(sql_channels)["band"].astype(str)).all()
    dup = vo.duplicate_benefits(benefits)
    sql_dup = value.load_value_customers(mart, window, "duplicate_benefit", limit=100_000)
    assert set(dup.index) == set(sql_dup["subscriber_id"])
    pure_summary = vo.high_end_summary(customers, dup)
    assert pure_summary == pytest.approx(value.load_high_end_summary(mart, window))


def _value_reads(mart, window) -> dict:
    out = {"bands": value.load_customer_bands(mart, window).sort_values("band"),
           "youth bands": value.load_customer_bands(mart, window, "youth").sort_values("band"),
           "high end": pd.DataFrame([value.load_high_end_summary(mart, window)])}
    for level in value.UNIT_LEVELS:
        out[level] = value.load_unit_values(mart, window, level)
    for kind in value.CUSTOMER_LISTS:
        out[kind] = value.load_value_customers(mart, window, kind, limit=100_000)
    return {name: frame.reset_index(drop=True) for name, frame in out.items()}


@pytest.mark.parametrize("months", [1, 3, 12])
def test_the_value_summaries_give_what_summing_the_fact_gives(mart, months, monkeypatch):
    """Each read of a summarised window (schema.VALUE_WINDOWS) equals the same read summed
    from the fact, for the city and inside a regional manager's scope; a window the build
    did not summarise is summed from the fact."""
    window = value.load_value_window(mart, months)
    assert value._summarised(mart, window)
    assert not value._summarised(mart, value.load_value_window(mart, 2))
    summarised = {"city": _value_reads(mart, window)}
    with scope.acting_as(RM_GONGBEI):
        summarised["gongbei"] = _value_reads(mart, window)
    monkeypatch.setattr(value, "_summarised", lambda engine, window: False)
    direct = {"city": _value_reads(mart, window)}
    with scope.acting_as(RM_GONGBEI):
        direct["gongbei"] = _value_reads(mart, window)
    for who in direct:
        for name, expected in direct[who].items():
            got = summarised[who][name]
            assert len(expected) > 0 and list(got.columns) == list(expected.columns), name
            pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9,
                                          obj=f"{who}: {name}")

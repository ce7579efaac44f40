"""Drill tables: members' KPIs, statuses and contributions that add up exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.formatting import MISSING, format_share
from analytics.kpis.drill import (OFF_TARGET, SPECS, adverse_first, measures_for, member_kpis,
                                  months_needed, rank_members)
from analytics.kpis.tree import tree_for
from pages.common.cards import tree_table
from analytics.kpis.registry import MEASURES, compute_kpis


def _random_frame(rng: np.random.Generator, members: int, months: list[pd.Timestamp]) -> pd.DataFrame:
    rows = []
    for m in months:
        for i in range(members):
            subs = float(rng.integers(0, 500))
            row = {"member": f"m{i}", "month": m, **{k: 0.0 for k in MEASURES}}
            row.update(active_subs=subs, new_subs=float(rng.integers(0, 30)),
                       churned_subs=float(rng.integers(0, 20)), revenue=subs * rng.uniform(40, 120),
                       mou=subs * rng.uniform(200, 500), data_mb=subs * rng.uniform(2e3, 8e3),
                       rev_data=subs * rng.uniform(30, 80), rev_voice=subs * rng.uniform(10, 30),
                       discount=subs * rng.uniform(0, 9),
                       own_subs=subs, market_subs=subs * rng.uniform(1.3, 2.0))
            rows.append(row)
    return pd.DataFrame(rows)


def _kpi_of_totals(frame: pd.DataFrame, kpi: str, month: pd.Timestamp) -> tuple[float, float]:
    totals = frame.groupby("month").sum(numeric_only=True).sort_index()
    totals = totals.reindex(pd.date_range(totals.index[0], totals.index[-1], freq="MS"), fill_value=0)
    values = compute_kpis(totals)[kpi]
    return float(values.loc[month]), float(values.loc[month - pd.DateOffset(months=1)])


@pytest.mark.parametrize("kpi", sorted(SPECS))
def test_contributions_sum_exactly_to_the_change_of_the_total(kpi):
    rng = np.random.default_rng(3)
    month = pd.Timestamp("2026-10-01")
    months = sorted(set(months_needed(month)))
    for _ in range(20):
        frame = _random_frame(rng, int(rng.integers(2, 9)), months)
        table = member_kpis(frame, ["member"], kpi, month)
        now, before = _kpi_of_totals(frame, kpi, month)
        assert table["contribution"].sum() == pytest.approx(now - before, rel=1e-9, abs=1e-9)


def test_hand_case_arpu_growth_below_average_counts_as_a_drag():
    rows = pd.DataFrame({
        "region": ["a", "a", "b", "b"],
        "month": pd.to_datetime(["2026-01-01", "2026-02-01"] * 2),
        "revenue": [8000.0, 8000.0, 5000.0, 10000.0],
        "active_subs": [100.0, 100.0, 100.0, 200.0],
    })
    table = member_kpis(rows, ["region"], "arpu", "2026-02").set_index("region")
    # City ARPU 65 → 60 with both members' ARPU flat: all of it is mix. b doubled its base at
    # 50 yuan, below the mean of 62.5: (2/3 − 1/2)(50 − 62.5) = −25/12; a (80 yuan) lost
    # weight: (1/3 − 1/2)(80 − 62.5) = −35/12.
    assert table.loc["b", "value"] == 50.0 and table.loc["b", "change"] == 0.0
    assert table.loc["a", "contribution"] == pytest.approx(-35 / 12)
    assert table.loc["b", "contribution"] == pytest.approx(-25 / 12)


def test_churn_rate_uses_last_months_base():
    rows = pd.DataFrame({
        "r": ["x"] * 3,
        "month": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"]),
        "churned_subs": [0.0, 2.0, 3.0], "active_subs": [100.0, 100.0, 150.0],
    })
    table = member_kpis(rows, ["r"], "churn_rate", "2026-03")
    assert table.loc[0, "value"] == pytest.approx(0.03)
    assert table.loc[0, "previous"] == pytest.approx(0.02)


def test_status_against_last_year_and_the_fallback_without_one():
    month = pd.Timestamp("2026-10-01")
    rows = pd.DataFrame({"r": ["old", "old", "old", "new", "new"],
                         "month": [month - pd.DateOffset(months=12), month - pd.DateOffset(months=1),
                                   month, month - pd.DateOffset(months=1), month],
                         "revenue": [100.0, 99.0, 101.0, 100.0, 90.0]})
    table = member_kpis(rows, ["r"], "revenue", month).set_index("r")
    assert table.loc["old", "target"] == pytest.approx(103.0)
    assert table.loc["old", "status"] == "amber"  # 101 misses 103 by less than 2%
    assert np.isnan(table.loc["new", "last_year"])
    assert table.loc["new", "target"] == pytest.approx(100 * 1.03 ** (1 / 12))
    assert table.loc["new", "status"] == "red"


def test_unknown_kpi_is_refused_by_name():
    with pytest.raises(ValueError, match="'profit' cannot be split"):
        member_kpis(pd.DataFrame({"r": [], "month": []}), ["r"], "profit", "2026-01")


def test_members_expected_values_follow_their_own_history():
    from analytics.kpis.drill import history_months, member_expected

    months = history_months("2026-10-01")
    rows = []
    for m in months:
        season = 10.0 if m.month == 10 else 0.0
        rows.append({"r": "flat", "month": m, "revenue": 100.0 + season, "active_subs": 10.0})
        rows.append({"r": "growing", "month": m, "revenue": 50.0 + months.index(m),
                     "active_subs": 5.0})
    frame = pd.DataFrame(rows)
    revenue = member_expected(frame, ["r"], "revenue", "2026-10-01").set_index("r")["expected"]
    assert revenue["flat"] == pytest.approx(110.0)  # October's usual lift is expected
    # A steady trend is carried forward: the growing member is expected where it arrives.
    assert revenue["growing"] == pytest.approx(50.0 + len(months) - 1, abs=0.5)  # was 3 short
    arpu = member_expected(frame, ["r"], "arpu", "2026-10-01").set_index("r")["expected"]
    assert arpu["flat"] == pytest.approx(11.0)
    churn = member_expected(frame.assign(churned_subs=1.0), ["r"], "churn_rate", "2026-10-01")
    assert churn.set_index("r").loc["flat", "expected"] == pytest.approx(0.1)


def test_kpi_expected_values_use_only_earlier_months():
    from analytics.kpis.drill import kpi_expected

    months = pd.date_range("2024-11-01", periods=24, freq="MS")
    frame = pd.DataFrame({m: 0.0 for m in MEASURES}, index=months)
    frame["active_subs"] = 1000.0
    frame["revenue"] = 80_000.0
    frame.iloc[-1, frame.columns.get_loc("revenue")] = 40_000.0  # the month being judged
    expected = kpi_expected(frame, months[-1])
    assert expected["revenue"] == pytest.approx(80_000.0)  # the collapse is not in its own baseline
    assert expected["arpu"] == pytest.approx(80.0)
    assert np.isnan(expected["market_share"])  # no competitor figures in this frame


def test_off_target_net_adds_lead_with_the_biggest_falls():
    # Net adds fell city-wide (−30 + 32 − 12 = −10 against a target to grow): off target.
    rows = []
    for member, (new_before, new_now) in {"Jinwan": (10.0, 42.0), "Xiangzhou": (60.0, 30.0),
                                          "Doumen": (20.0, 8.0), "Hengqin": (5.0, 5.0)}.items():
        rows += [{"member": member, "month": pd.Timestamp("2026-09-01"), "new_subs": new_before,
                  "churned_subs": 0.0},
                 {"member": member, "month": pd.Timestamp("2026-10-01"), "new_subs": new_now,
                  "churned_subs": 0.0}]
    table = rank_members(pd.DataFrame(rows), ["member"], "net_adds", "2026-10-01")
    assert table["parent_status"].iloc[0] in OFF_TARGET
    assert table["member"].tolist() == ["Xiangzhou", "Doumen", "Jinwan", "Hengqin"]
    # The plain table still ranks by size alone (Jinwan's +32 first).
    assert member_kpis(pd.DataFrame(rows), ["member"], "net_adds", "2026-10-01")[
        "member"].iloc[0] == "Jinwan"


def test_off_target_churn_rate_leads_with_the_biggest_rises():
    # Churn is worse when it goes up: the rises lead, the biggest first.
    rows = []
    for member, (before, now) in {"a": (2.0, 1.0), "b": (2.0, 9.0), "c": (2.0, 4.0)}.items():
        for month, churned in (("2026-08-01", 2.0), ("2026-09-01", before),
                               ("2026-10-01", now)):
            rows.append({"member": member, "month": pd.Timestamp(month), "churned_subs": churned,
                         "active_subs": 100.0})
    table = rank_members(pd.DataFrame(rows), ["member"], "churn_rate", "2026-10-01")
    assert table["parent_status"].iloc[0] == "red"  # 14 of 300 = 4.7% against 1.6%
    assert table["member"].tolist() == ["b", "c", "a"]
    assert (table["contribution"].iloc[:2] > 0).all()


def test_on_target_keeps_the_biggest_contributors_by_size():
    table = pd.DataFrame({"member": ["small_rise", "big_fall", "big_rise"],
                          "contribution": [1.0, -40.0, 50.0]})
    assert adverse_first(table, "revenue", "green")["member"].tolist() == [
        "big_rise", "big_fall", "small_rise"]
    assert adverse_first(table, "revenue", "grey")["member"].tolist() == [
        "big_rise", "big_fall", "small_rise"]
    assert adverse_first(table, "revenue", "amber")["member"].tolist() == [
        "big_fall", "big_rise", "small_rise"]
    assert adverse_first(table, "discount_rate", "red")["member"].tolist() == [
        "big_rise", "small_rise", "big_fall"]


def test_an_on_target_slice_ranks_its_members_by_size():
    rows = []
    for member, (before, now) in {"a": (100.0, 150.0), "b": (100.0, 90.0), "c": (100.0, 105.0)
                                  }.items():
        rows += [{"member": member, "month": pd.Timestamp("2026-09-01"), "revenue": before},
                 {"member": member, "month": pd.Timestamp("2026-10-01"), "revenue": now}]
    table = rank_members(pd.DataFrame(rows), ["member"], "revenue", "2026-10-01")
    assert table["parent_status"].iloc[0] == "green"  # 345 against 300 × (1 + 0.25%)
    assert table["member"].tolist() == ["a", "b", "c"]
    assert table["parent_change"].iloc[0] == pytest.approx(45.0)


def test_a_net_adds_change_of_a_few_subscribers_gets_no_share_of_change():
    assert "active_subs" in measures_for("net_adds")  # the query fetches the base too
    rows = []
    for member, (new_before, new_now) in {"a": (40.0, 70.0), "b": (50.0, 17.0)}.items():
        rows += [{"member": member, "month": pd.Timestamp("2026-09-01"), "new_subs": new_before,
                  "churned_subs": 20.0, "active_subs": 20_000.0},
                 {"member": member, "month": pd.Timestamp("2026-10-01"), "new_subs": new_now,
                  "churned_subs": 20.0, "active_subs": 20_010.0}]
    table = rank_members(pd.DataFrame(rows), ["member"], "net_adds", "2026-10-01")
    assert table["parent_change"].iloc[0] == pytest.approx(-3.0)
    assert table["parent_level"].iloc[0] == pytest.approx(40_020.0)  # the base, this month
    # Against net adds themselves (50 → 47) −3 looks like a move, and shares of ±1,000% follow.
    assert format_share(table["share_of_change"].iloc[0], -3.0, table["parent_value"].iloc[0]) \
        != MISSING
    assert [format_share(s, c, lvl) for s, c, lvl in zip(
        table["share_of_change"], table["parent_change"], table["parent_level"])] == [MISSING] * 2
    zero = {"rev_voice": 0.0, "rev_data": 0.0, "rev_sms": 0.0, "rev_vas": 0.0, "discount": 0.0,
            "revenue": 0.0}
    tree = tree_for("net_adds", {**zero, "active_subs": 40_020.0, "new_subs": 87.0,
                                 "churned_subs": 40.0},
                    {**zero, "active_subs": 40_000.0, "new_subs": 90.0, "churned_subs": 40.0})
    shares = tree_table(tree.to_frame()).iloc[:, -1].tolist()
    assert shares == [MISSING] * 3

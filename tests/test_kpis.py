"""KPI values, targets and status rules, the KPI tree and member contributions."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analytics.kpis import registry as kpis
from analytics.kpis import tree as kpitree
from analytics.kpis.registry import KPI, MEASURES, REGISTRY, Target, compute_kpis, kpi_cards, kpi_status
from analytics.kpis.tree import TREE_MEASURES, contributions_by, kpi_tree

MONTHS = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"])


@pytest.fixture
def toy() -> pd.DataFrame:
    """Three months of one slice; every KPI below is worked out by hand from these numbers."""
    return pd.DataFrame({
        "active_subs": [1000, 1050, 1040],   # 1000 + 70 − 20 = 1050; 1050 + 40 − 50 = 1040
        "new_subs": [80, 70, 40],
        "churned_subs": [10, 20, 50],
        "rev_voice": [30000.0, 29000.0, 27000.0],
        "rev_data": [45000.0, 50000.0, 50000.0],
        "rev_sms": [3000.0, 2900.0, 2800.0],
        "rev_vas": [5000.0, 5100.0, 4820.0],
        "discount": [3000.0, 3000.0, 3500.0],
        "revenue": [80000.0, 84000.0, 81120.0],
        "mou": [400000.0, 399000.0, 390000.0],
        "data_mb": [5_000_000.0, 5_460_000.0, 5_200_000.0],
        "sms_cnt": [9000.0, 8000.0, 7000.0],
        "service_cost": [1000.0, 1000.0, 1000.0],
        "own_subs": [600, 620, 610],
        "market_subs": [1000, 1000, 1020],
    }, index=MONTHS)


def test_docstring_examples_run() -> None:
    for module in (kpis, kpitree):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_measures_match_the_mart_schema() -> None:
    from data_access.mart.schema import SUMMARY_MEASURES
    assert MEASURES == SUMMARY_MEASURES
    assert set(TREE_MEASURES) <= set(SUMMARY_MEASURES)


def test_analytics_imports_neither_streamlit_nor_sqlalchemy() -> None:
    code = ("import sys, analytics.kpis.registry, analytics.kpis.tree, analytics.formatting; "
            "print(sorted(m for m in ('streamlit', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_registry_has_the_required_kpis_with_valid_specs() -> None:
    required = {"revenue", "arpu", "mou", "dou", "active_subs", "new_subs", "churn_rate",
                "net_adds", "market_share"}
    assert required <= set(REGISTRY)
    for key, kpi in REGISTRY.items():
        assert kpi.key == key and kpi.label and kpi.formula and kpi.description
    assert REGISTRY["churn_rate"].direction == "lower"
    assert REGISTRY["discount_rate"].direction == "lower"
    for key in ("revenue", "active_subs", "new_subs", "net_adds"):  # additive: growth targets
        assert REGISTRY[key].target.kind == "growth"
    for key in ("arpu", "mou", "dou", "churn_rate", "market_share"):  # ratios: absolute
        assert REGISTRY[key].target.kind == "absolute"


def test_kpi_and_target_reject_bad_specs() -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        KPI("x", "x", "usd", "higher", "", Target("absolute", 1), 0.1, "")
    with pytest.raises(ValueError, match="direction"):
        KPI("x", "x", "subs", "up", "", Target("absolute", 1), 0.1, "")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        Target("relative", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="above -100%"):
        Target("growth", -1.0)


def test_compute_kpis_by_hand(toy: pd.DataFrame) -> None:
    out = compute_kpis(toy)
    assert list(out.columns) == list(REGISTRY) and out.index.equals(toy.index)
    assert out["arpu"].tolist() == pytest.approx([80.0, 80.0, 78.0])
    assert out["mou"].tolist() == pytest.approx([400.0, 380.0, 375.0])
    assert out["dou"].tolist() == pytest.approx([5000.0, 5200.0, 5000.0])
    assert math.isnan(out["churn_rate"].iloc[0])
    assert out["churn_rate"].iloc[1:].tolist() == pytest.approx([20 / 1000, 50 / 1050])
    assert out["net_adds"].tolist() == [70.0, 50.0, -10.0]
    assert out["market_share"].tolist() == pytest.approx([0.6, 0.62, 610 / 1020])
    assert out["discount_rate"].iloc[2] == pytest.approx(3500 / 84620)
    assert out["revenue"].tolist() == [80000.0, 84000.0, 81120.0]


def test_compute_kpis_leaves_nan_where_not_computable(toy: pd.DataFrame) -> None:
    frame = toy.drop(columns=["own_subs", "market_subs"])
    frame.loc[MONTHS[1], ["active_subs", "revenue"]] = 0
    out = compute_kpis(frame)
    assert out["market_share"].isna().all()
    assert math.isnan(out["arpu"].iloc[1])
    assert math.isnan(out["churn_rate"].iloc[2])  # no base last month
    assert not np.isinf(out.to_numpy()).any()


def test_compute_kpis_checks_its_input(toy: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lacks measure columns: revenue"):
        compute_kpis(toy.drop(columns="revenue"))
    with pytest.raises(ValueError, match="consecutive"):
        compute_kpis(toy.iloc[[0, 2]])
    with pytest.raises(ValueError, match="consecutive"):
        compute_kpis(toy.iloc[::-1])
    with pytest.raises(ValueError, match="indexed by month"):
        compute_kpis(toy.reset_index(drop=True))


@pytest.mark.parametrize(("value", "expected"), [
    (81.0, "green"), (80.0, "green"), (79.99, "amber"), (76.0, "amber"),  # 80 − 5% = 76
    (75.99, "red"), (50.0, "red"), (math.nan, "grey"), (None, "grey"),
])
def test_status_when_higher_is_better(value: float | None, expected: str) -> None:
    assert kpi_status("arpu", value, 80.0) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0.010, "green"), (0.016, "green"), (0.01601, "amber"), (0.0176, "amber"),  # +10% = 1.76%
    (0.01761, "red"), (0.05, "red"), (math.nan, "grey"),
])
def test_status_when_lower_is_better(value: float, expected: str) -> None:
    assert kpi_status(REGISTRY["churn_rate"], value, 0.016) == expected


def test_status_is_grey_without_a_target_and_has_no_amber_at_zero_tolerance() -> None:
    assert kpi_status("arpu", 90.0, math.nan) == "grey"
    assert kpi_status("arpu", 90.0, None) == "grey"
    strict = KPI("x", "x", "subs", "higher", "", Target("absolute", 10), 0.0, "")
    assert [kpi_status(strict, v, 10.0) for v in (10.0, 9.999)] == ["green", "red"]


def test_status_with_a_negative_target_uses_its_size_for_the_band() -> None:
    # net adds target −90 (tolerance 25% of 90 = 22.5): −112.5 is the amber edge.
    assert [kpi_status("net_adds", v, -90.0) for v in (-90.0, -112.5, -113.0)] == [
        "green", "amber", "red"]


def _history(months: int, revenue: list[float] | None = None) -> pd.DataFrame:
    index = pd.date_range("2025-01-01", periods=months, freq="MS")
    frame = pd.DataFrame({m: np.full(months, 100.0) for m in MEASURES}, index=index)
    frame["active_subs"] = 1000
    frame["new_subs"], frame["churned_subs"] = 30, 20
    frame["revenue"] = revenue if revenue is not None else np.linspace(80000, 93000, months)
    return frame


def test_cards_use_last_year_for_growth_targets() -> None:
    frame = _history(14)
    cards = kpi_cards(frame, "2026-02-10").set_index("key")
    rev = cards.loc["revenue"]
    assert rev["value"] == 93000.0 and rev["last_year"] == 81000.0
    assert rev["target"] == pytest.approx(81000.0 * 1.03)
    assert "2025-02" in rev["target_basis"] and "last year" in rev["target_basis"]
    assert rev["status"] == "green"
    assert rev["previous"] == 92000.0 and rev["change"] == 1000.0
    assert rev["change_pct"] == pytest.approx(1000 / 92000)
    assert rev["yoy_pct"] == pytest.approx(12000 / 81000)
    assert rev["trend"] == pytest.approx(list(np.linspace(80000, 93000, 14)[2:]))
    assert len(rev["trend"]) == 12
    assert list(cards.reset_index().columns) == list(kpis._CARD_COLUMNS)


def test_cards_fall_back_to_last_month_and_say_so() -> None:
    frame = _history(2, revenue=[80000.0, 80200.0])
    rev = kpi_cards(frame, "2025-02").set_index("key").loc["revenue"]
    monthly = 1.03 ** (1 / 12) - 1
    assert rev["target"] == pytest.approx(80000.0 * (1 + monthly))
    assert math.isnan(rev["last_year"]) and math.isnan(rev["yoy_pct"])
    assert "last month" in rev["target_basis"] and "no value a year ago" in rev["target_basis"]
    assert rev["status"] == "green"  # +0.25% asked, +0.25% delivered
    first = kpi_cards(frame, "2025-01").set_index("key")
    assert math.isnan(first.loc["revenue", "target"])
    assert first.loc["revenue", "status"] == "grey"
    assert first.loc["churn_rate", "status"] == "grey"


def test_growth_target_exactly_met_is_green_and_a_miss_is_amber_then_red() -> None:
    revenue = [100000.0] * 12 + [100000.0, 103000.0]
    frame = _history(14, revenue=revenue)
    assert kpi_cards(frame, "2026-02").set_index("key").loc["revenue", "status"] == "green"
    for value, expected in ((101000.0, "amber"), (100940.0, "amber"), (100900.0, "red")):
        frame.iloc[13, frame.columns.get_loc("revenue")] = value  # band: 2% of 103,000
        assert kpi_cards(frame, "2026-02").set_index("key").loc["revenue", "status"] == expected


def test_growth_on_a_negative_reference_still_asks_for_improvement() -> None:
    frame = _history(13)
    frame["new_subs"], frame["churned_subs"] = 10, 110  # net adds −100 every month
    frame.iloc[12, frame.columns.get_loc("new_subs")] = 20  # net adds −90 this month
    cards = kpi_cards(frame, "2026-01", targets={"net_adds": 0.1}).set_index("key")
    assert cards.loc["net_adds", "target"] == pytest.approx(-90.0)
    assert cards.loc["net_adds", "status"] == "green"


def test_targets_can_be_overridden(toy: pd.DataFrame) -> None:
    cards = kpi_cards(toy, "2026-03", targets={
        "arpu": 78.0, "churn_rate": 0.05, "revenue": Target("absolute", 90000.0)}).set_index("key")
    assert cards.loc["arpu", ["target", "status"]].tolist() == [78.0, "green"]
    assert cards.loc["churn_rate", "status"] == "green"
    assert cards.loc["revenue", "target"] == 90000.0 and cards.loc["revenue", "status"] == "red"
    default = kpi_cards(toy, "2026-03").set_index("key")
    assert default.loc["arpu", "status"] == "amber"  # 78 vs 80: inside the 5% band
    assert default.loc["churn_rate", "status"] == "red"  # 4.76% vs 1.6%
    assert default.loc["market_share", "status"] == "amber"  # 59.8% vs 60%, band 1.2 points
    assert default.loc["dou", "status"] == "green"
    assert REGISTRY["arpu"].target.value == 80.0  # the registry itself is untouched
    with pytest.raises(ValueError, match="no KPI 'arpuu'"):
        kpi_cards(toy, "2026-03", targets={"arpuu": 1.0})


def test_cards_accept_any_day_or_period_of_the_month(toy: pd.DataFrame) -> None:
    by_day = kpi_cards(toy, "2026-03-31").drop(columns="trend")
    by_period = kpi_cards(toy, pd.Period("2026-03", freq="M")).drop(columns="trend")
    pd.testing.assert_frame_equal(by_day, by_period)
    assert by_day.set_index("key").loc["arpu", "value"] == 78.0


def test_cards_reject_a_month_outside_the_frame(toy: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="2026-05 is not in the monthly frame"):
        kpi_cards(toy, "2026-05-01")


# ---- KPI tree ------------------------------------------------------------------------------

def _period(rng: np.random.Generator, active: float | None = None) -> dict[str, float]:
    subs = float(active if active is not None else rng.integers(1, 100_000))
    parts = {m: float(rng.uniform(0, 60) * subs) for m in ("rev_voice", "rev_data", "rev_sms",
                                                           "rev_vas")}
    parts["discount"] = float(rng.uniform(0, 0.2) * sum(parts.values()))
    revenue = sum(v for k, v in parts.items() if k != "discount") - parts["discount"]
    return {"active_subs": subs, "new_subs": float(rng.integers(0, 5000)),
            "churned_subs": float(rng.integers(0, 5000)), **parts, "revenue": revenue}


def _consistent_pair(rng: np.random.Generator) -> tuple[dict[str, float], dict[str, float]]:
    previous = _period(rng)
    current = _period(rng, active=1.0)
    current["churned_subs"] = float(rng.integers(0, previous["active_subs"] + 1))
    current["active_subs"] = previous["active_subs"] + current["new_subs"] - current["churned_subs"]
    if current["active_subs"] == 0:
        current["new_subs"] += 1
        current["active_subs"] = 1
    return _period_scaled(current), previous


def _period_scaled(period: dict[str, float]) -> dict[str, float]:
    """Scale money by the active base so ARPU stays in a realistic range."""
    scaled = dict(period)
    for m in ("rev_voice", "rev_data", "rev_sms", "rev_vas", "discount", "revenue"):
        scaled[m] = period[m] * period["active_subs"]
    return scaled


def _assert_children_sum(node: kpitree.TreeNode) -> None:
    if not node.children:
        return
    total = sum(child.contribution for child in node.children)
    scale = max(abs(node.current), abs(node.previous), 1.0)
    assert total == pytest.approx(node.change, rel=1e-9, abs=1e-9 * scale), node.key
    for child in node.children:
        _assert_children_sum(child)


def test_tree_hand_case() -> None:
    zero = dict.fromkeys(TREE_MEASURES, 0.0)
    before = {**zero, "active_subs": 100, "new_subs": 12, "churned_subs": 4,
              "rev_voice": 3000, "rev_data": 5500, "discount": 500, "revenue": 8000}
    after = {**zero, "active_subs": 110, "new_subs": 15, "churned_subs": 5,
             "rev_voice": 2750, "rev_data": 6050, "discount": 550, "revenue": 8250}
    tree = kpi_tree(pd.Series(after), pd.Series(before))
    assert (tree.current, tree.previous, tree.change) == (8250, 8000, 250)
    subs, arpu = tree.children
    assert subs.contribution == pytest.approx(10 * 77.5)  # Δs × mean ARPU = 775
    assert arpu.contribution == pytest.approx(-5 * 105)  # ΔARPU × mean subs = −525
    assert (arpu.current, arpu.previous, arpu.change) == (75, 80, -5)
    parts = {c.key: c.contribution for c in arpu.children}
    assert parts == pytest.approx({"arpu_voice": 25 - 30, "arpu_data": 55 - 55,
                                   "arpu_sms": 0, "arpu_vas": 0, "arpu_discount": -5 + 5})
    assert {c.key: c.contribution for c in subs.children} == {"new_subs": 15, "churned_subs": -5}
    _assert_children_sum(tree)


def test_tree_contributions_sum_exactly_on_random_periods() -> None:
    rng = np.random.default_rng(20260301)
    for _ in range(500):
        current, previous = _consistent_pair(rng)
        tree = kpi_tree(current, previous)
        _assert_children_sum(tree)
        keys = set(tree.to_frame()["node"])
        assert "active_subs_residual" not in keys and "arpu_residual" not in keys


def test_residual_nodes_appear_only_when_the_identity_fails() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        current, previous = _consistent_pair(rng)
        gap = float(rng.integers(1, 50)) * rng.choice([-1, 1])
        current["active_subs"] += gap  # a real extract that does not reconcile
        current["revenue"] += 1000.0  # and revenue that is not components − discount
        tree = kpi_tree(current, previous)
        subs, arpu = tree.children
        residual = {c.key: c for c in subs.children}["active_subs_residual"]
        assert residual.contribution == gap
        assert {c.key: c for c in arpu.children}["arpu_residual"].contribution == pytest.approx(
            1000.0 / current["active_subs"])
        _assert_children_sum(tree)


def test_tree_frame_flattens_with_parents_and_shares() -> None:
    zero = dict.fromkeys(TREE_MEASURES, 0.0)
    before = {**zero, "active_subs": 100, "rev_data": 8000, "revenue": 8000}
    after = {**zero, "active_subs": 110, "new_subs": 10, "rev_data": 8250, "revenue": 8250}
    frame = kpi_tree(after, before).to_frame().set_index("node")
    assert frame.loc["revenue", "depth"] == 0 and pd.isna(frame.loc["revenue", "parent"])
    assert frame.loc["arpu", "parent"] == "revenue" and frame.loc["arpu_data", "depth"] == 2
    assert frame.loc["active_subs", "share_of_parent_change"] == pytest.approx(775 / 250)
    assert frame.loc["arpu", "share_of_parent_change"] == pytest.approx(-525 / 250)
    assert frame.loc["new_subs", "share_of_parent_change"] == 1.0
    assert frame.index.is_unique


def test_tree_with_an_empty_period_gives_everything_to_subscribers() -> None:
    zero = dict.fromkeys(TREE_MEASURES, 0.0)
    after = {**zero, "active_subs": 50, "new_subs": 50, "rev_data": 4000, "revenue": 4000}
    tree = kpi_tree(after, zero)
    subs, arpu = tree.children
    assert (subs.contribution, arpu.contribution) == (4000, 0)
    assert math.isnan(arpu.previous)


def test_tree_names_missing_measures() -> None:
    with pytest.raises(ValueError, match="previous period lacks measures: discount"):
        kpi_tree(dict.fromkeys(TREE_MEASURES, 1.0),
                 {m: 1.0 for m in TREE_MEASURES if m != "discount"})



def test_the_tree_follows_the_selected_kpi(toy: pd.DataFrame) -> None:
    before, after = toy.iloc[1], toy.iloc[2]  # hand-checked in the toy's comments
    revenue = kpitree.tree_for("revenue", after, before)
    assert revenue.key == "revenue" and revenue.change == pytest.approx(81120 - 84000)
    arpu = kpitree.tree_for("arpu", after, before)
    assert arpu.key == "arpu" and arpu.unit == "yuan_per_sub"
    assert arpu.current == pytest.approx(81120 / 1040)
    assert arpu.contribution == arpu.change  # a root carries its own change
    assert {c.key for c in arpu.children} == {"arpu_voice", "arpu_data", "arpu_sms", "arpu_vas",
                                              "arpu_discount"}
    subs = kpitree.tree_for("active_subs", after, before)
    assert (subs.previous, subs.current, subs.unit) == (1050, 1040, "subs")
    assert {c.key: c.contribution for c in subs.children} == {"new_subs": 40, "churned_subs": -50}
    net = kpitree.tree_for("net_adds", after, before)
    assert (net.previous, net.current) == (70 - 20, 40 - 50)
    assert {c.key: c.contribution for c in net.children} == {"new_subs": -30, "churned_subs": -30}
    for tree in (revenue, arpu, subs, net):
        _assert_children_sum(tree)
        bridge = kpitree.revenue_bridge(tree)
        assert (bridge["unit"] == tree.unit).all()
        steps = bridge.loc[bridge["kind"] == "effect", "amount"].sum()
        assert tree.previous + steps == pytest.approx(tree.current)
    for kpi in ("mou", "dou", "churn_rate", "market_share", "discount_rate", "new_subs"):
        assert kpitree.tree_for(kpi, after, before) is None, kpi
    assert set(kpitree.TREE_IDENTITIES) == {"revenue", "arpu", "active_subs", "net_adds"}


# ---- contributions by member ----------------------------------------------------------------

def _long(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["branch", "period", "active_subs", "revenue"])


def test_additive_contributions_by_hand() -> None:
    frame = _long([
        ("Xiangzhou", "previous", 100, 9000), ("Xiangzhou", "current", 100, 8000),
        ("Doumen", "previous", 50, 4000), ("Doumen", "current", 50, 4500),
        ("Jinwan", "previous", 10, 800),  # gone this period
        ("Jinwan", "previous", 10, 200),  # several rows per member are summed
    ])
    out = contributions_by(frame, "branch")
    assert out["branch"].tolist() == ["Xiangzhou", "Jinwan", "Doumen"]
    assert out["change"].tolist() == [-1000.0, -1000.0, 500.0]
    assert out["current"].tolist() == [8000.0, 0.0, 4500.0]
    assert out["share_of_change"].tolist() == pytest.approx([2 / 3, 2 / 3, -1 / 3])
    assert out["share_of_change"].sum() == pytest.approx(1.0)


def test_net_adds_contributions_derive_from_new_and_churned() -> None:
    frame = pd.DataFrame({"channel_id": [1, 1, 2, 2],
                          "period": ["previous", "current", "previous", "current"],
                          "new_subs": [10, 30, 5, 5], "churned_subs": [4, 4, 1, 6]})
    out = contributions_by(frame, "channel_id", "net_adds").set_index("channel_id")
    assert out.loc[1, ["previous", "current", "change"]].tolist() == [6, 26, 20]
    assert out.loc[2, "change"] == -5


def test_arpu_mix_and_rate_effects_by_hand() -> None:
    # A keeps ARPU 100 and its 100 subscribers; B triples its base at ARPU 50.
    # Total ARPU 15000/200 = 75 → 25000/400 = 62.5; midpoint 68.75; weights A .5→.25, B .5→.75.
    frame = _long([("A", "previous", 100, 10000), ("A", "current", 100, 10000),
                   ("B", "previous", 100, 5000), ("B", "current", 300, 15000)])
    out = contributions_by(frame, "branch", "arpu").set_index("branch")
    assert out.loc["A", "mix_effect"] == pytest.approx(-0.25 * (100 - 68.75))  # −7.8125
    assert out.loc["B", "mix_effect"] == pytest.approx(0.25 * (50 - 68.75))  # −4.6875
    assert out["rate_effect"].tolist() == [0.0, 0.0]
    assert out["contribution"].sum() == pytest.approx(62.5 - 75)
    assert out.index.tolist() == ["A", "B"]  # sorted by absolute contribution
    assert out.loc["B", ["previous", "current", "weight_current"]].tolist() == [50, 50, 0.75]


def test_arpu_rate_effect_by_hand() -> None:
    frame = _long([("A", "previous", 100, 8000), ("A", "current", 100, 9000),
                   ("B", "previous", 300, 18000), ("B", "current", 300, 18000)])
    out = contributions_by(frame, "branch", "arpu").set_index("branch")
    assert out.loc["A", "rate_effect"] == pytest.approx(0.25 * 10)
    assert out.loc["A", "mix_effect"] == pytest.approx(0.0)
    assert out["contribution"].sum() == pytest.approx(27000 / 400 - 26000 / 400)
    assert out.loc["A", "share_of_change"] == pytest.approx(1.0)


def test_arpu_mix_and_rate_effects_together_by_hand() -> None:
    # A: 100 subs at 80 → 200 at 90; B: 300 at 60 → 200 at 60. Total 65 → 75, midpoint 70.
    frame = _long([("A", "previous", 100, 8000), ("A", "current", 200, 18000),
                   ("B", "previous", 300, 18000), ("B", "current", 200, 12000)])
    out = contributions_by(frame, "branch", "arpu").set_index("branch")
    assert out.loc["A", "rate_effect"] == pytest.approx((0.25 + 0.5) / 2 * 10)  # 3.75
    assert out.loc["A", "mix_effect"] == pytest.approx(0.25 * ((80 + 90) / 2 - 70))  # 3.75
    assert out.loc["B", "mix_effect"] == pytest.approx(-0.25 * (60 - 70))  # 2.5
    assert out.loc["B", "rate_effect"] == 0.0
    assert out["contribution"].sum() == pytest.approx(10.0)
    assert out["share_of_change"].tolist() == pytest.approx([0.75, 0.25])


def test_ratio_contributions_sum_to_the_total_change_on_random_frames() -> None:
    rng = np.random.default_rng(42)
    for _ in range(300):
        members = rng.integers(1, 12)
        rows = []
        for member in range(members):
            for label in ("previous", "current"):
                if rng.random() < 0.15:
                    continue  # member absent in this period
                subs = 0 if rng.random() < 0.1 else int(rng.integers(1, 10_000))
                revenue = float(rng.uniform(20, 150) * subs) + (
                    float(rng.uniform(0, 500)) if rng.random() < 0.05 else 0.0)
                rows.append((f"m{member}", label, subs, revenue))
        frame = _long(rows)
        if frame.empty:
            continue
        out = contributions_by(frame, "branch", "arpu")
        sums = frame.groupby("period")[["active_subs", "revenue"]].sum()
        if {"previous", "current"} - set(sums.index) or (sums["active_subs"] == 0).any():
            assert out["contribution"].isna().all()
            continue
        total = sums.loc["current", "revenue"] / sums.loc["current", "active_subs"] - (
            sums.loc["previous", "revenue"] / sums.loc["previous", "active_subs"])
        assert out["contribution"].sum() == pytest.approx(total, rel=1e-9, abs=1e-9)
        assert (out["mix_effect"] + out["rate_effect"]).to_numpy() == pytest.approx(
            out["contribution"].to_numpy())
        assert out["contribution"].abs().is_monotonic_decreasing


def test_contributions_by_checks_its_input() -> None:
    frame = _long([("A", "previous", 1, 1.0), ("A", "current", 1, 2.0)])
    with pytest.raises(ValueError, match="no 'channel' column"):
        contributions_by(frame, "channel")
    with pytest.raises(ValueError, match="lacks columns for 'dou': data_mb"):
        contributions_by(frame, "branch", "dou")
    frame.loc[0, "period"] = "last"
    with pytest.raises(ValueError, match="'current' or 'previous'"):
        contributions_by(frame, "branch")

"""Root-cause localisation: hand-made cases, the generated suite, ratio KPIs and the planted incident."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import analytics.rootcause.localiser as rootcause
import analytics.rootcause.cases as rootcause_cases
import analytics.rootcause.leaves as rootcause_leaves
import analytics.rootcause.search as rootcause_search
from analytics.rootcause.localiser import (RootCause, localize, localize_detailed, localize_ratio,
                                 localize_ratio_detailed)
from analytics.rootcause.cases import make_case, score_answers, suite

DIMS = ["branch", "micro_region", "channel", "plan"]
#: Micro-region → branch, as in the mart: three branches of two to four micro-regions.
REGIONS = {"Gongbei": "Xiangzhou", "Jida": "Xiangzhou", "Nanping": "Xiangzhou",
           "Qianshan": "Xiangzhou", "Baijiao": "Doumen", "Qianwu": "Doumen", "Jing'an": "Doumen",
           "Sanzao": "Jinwan", "Hongqi": "Jinwan"}
CHANNELS = ["own_hall", "franchise", "social_outlet", "e_channel"]
PLANS = [f"plan_{k}" for k in range(6)]


def city(seed: int = 0, noise: float = 0.03,
         changes: list[tuple[dict[str, str], float]] = ()) -> pd.DataFrame:
    """Leaves branch × micro-region × channel × plan; each change scales its leaves' actual."""
    rng = np.random.default_rng(seed)
    rows = [(b, m, c, p) for m, b in REGIONS.items() for c in CHANNELS for p in PLANS]
    frame = pd.DataFrame(rows, columns=DIMS)
    base = rng.lognormal(np.log(5000), 0.8, len(frame))
    actual = base.copy()
    for where, factor in changes:
        mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
        actual[mask] *= factor
    return frame.assign(actual=actual, expected=base * (1 + rng.normal(0, noise, len(frame))))


def as_set(causes: list[dict[str, str]]) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(c.items())) for c in causes}


# --- hand-made cases ---------------------------------------------------------------------------

def test_one_cause_in_one_dimension():
    frame = city(1, changes=[({"channel": "franchise"}, 0.7)])
    assert localize(frame, DIMS, "actual", "expected") == [{"channel": "franchise"}]


def test_one_cause_spanning_two_dimensions():
    frame = city(2, changes=[({"micro_region": "Gongbei", "channel": "social_outlet"}, 0.7)])
    assert localize(frame, DIMS, "actual", "expected") == [
        {"micro_region": "Gongbei", "channel": "social_outlet"}]


def test_two_simultaneous_causes_come_largest_first():
    frame = city(3, changes=[({"micro_region": "Gongbei", "channel": "social_outlet"}, 0.7),
                             ({"branch": "Jinwan", "plan": "plan_2"}, 0.75),
                             ])
    causes = localize_detailed(frame, DIMS, "actual", "expected")
    assert as_set([c.attributes for c in causes]) == as_set(
        [{"micro_region": "Gongbei", "channel": "social_outlet"},
         {"branch": "Jinwan", "plan": "plan_2"}])
    assert abs(causes[0].deviation) >= abs(causes[1].deviation)


def test_rise_and_drop_with_three_attributes_together():
    small = {"branch": "Xiangzhou", "channel": "e_channel", "plan": "plan_1"}  # four leaves
    frame = city(4, noise=0.02, changes=[({"plan": "plan_4"}, 1.4), (small, 0.5)])
    assert as_set(localize(frame, DIMS, "actual", "expected")) == as_set([{"plan": "plan_4"}, small])


def test_a_whole_branch_is_reported_as_the_branch_not_its_micro_regions():
    frame = city(5, changes=[({"branch": "Doumen"}, 0.8)])
    assert localize(frame, DIMS, "actual", "expected") == [{"branch": "Doumen"}]


def test_a_micro_region_is_reported_without_its_redundant_branch():
    frame = city(6, changes=[({"micro_region": "Sanzao", "plan": "plan_0"}, 1.5)])
    assert localize(frame, DIMS, "actual", "expected") == [{"micro_region": "Sanzao", "plan": "plan_0"}]


def test_a_parent_with_a_single_child_is_reported_as_the_parent():
    frame = city(7)
    frame.loc[frame["micro_region"] == "Hongqi", "branch"] = "Hengqin"  # one micro-region
    frame.loc[frame["branch"] == "Hengqin", "actual"] *= 0.6
    assert localize(frame, DIMS, "actual", "expected") == [{"branch": "Hengqin"}]


def test_a_cause_in_a_dimension_not_searched_is_not_pinned_on_another():
    frame = city(14, changes=[({"channel": "franchise"}, 0.7)])
    assert localize(frame, ["branch", "micro_region", "plan"], "actual", "expected") == []


def test_noise_alone_gives_no_cause():
    for seed in range(5):
        assert localize(city(10 + seed, noise=0.05), DIMS, "actual", "expected") == []


def test_exact_forecast_gives_no_cause():
    frame = city(8).assign(expected=lambda f: f["actual"])
    assert localize(frame, DIMS, "actual", "expected") == []


def test_everything_moving_together_is_the_empty_combination():
    frame = city(9).assign(actual=lambda f: f["actual"] * 0.8)
    assert localize(frame, DIMS, "actual", "expected") == [{}]


def test_one_wild_leaf_is_reported_as_that_leaf_not_as_a_combination_around_it():
    # A single leaf can be a cause (a broken feed in one shop); it must not be pinned on its
    # parents, whose other leaves did not move. The branch is implied by the micro-region.
    frame = city(11)
    frame.loc[17, "actual"] *= 20
    leaf = {k: frame.loc[17, k] for k in ("micro_region", "channel", "plan")}
    assert localize(frame, DIMS, "actual", "expected") == [leaf]


def test_detailed_figures_add_up():
    frame = city(12, changes=[({"channel": "franchise"}, 0.7)])
    [cause] = localize_detailed(frame, DIMS, "actual", "expected")
    leaves = frame[frame["channel"] == "franchise"]
    assert isinstance(cause, RootCause) and cause.leaves == len(leaves)
    assert cause.actual == pytest.approx(leaves["actual"].sum())
    assert cause.expected == pytest.approx(leaves["expected"].sum())
    assert cause.deviation == pytest.approx(cause.actual - cause.expected)
    total = frame["actual"].sum() - frame["expected"].sum()
    assert cause.share_of_total_deviation == pytest.approx(cause.deviation / total)
    assert cause.relative_change == pytest.approx(-0.3, abs=0.02)
    assert cause.score < -10


def test_values_come_back_as_strings_exactly_as_in_the_frame():
    frame = city(13, changes=[({"plan": "plan_3"}, 0.6)])
    frame["plan"] = frame["plan"].str.replace("plan_", "", regex=False).astype(int)
    assert localize(frame, DIMS, "actual", "expected") == [{"plan": "3"}]


# --- the generated suite -----------------------------------------------------------------------

def test_generated_suite_f1_is_at_least_095():
    cases = suite(seed=1, n_cases=200)
    answers = [localize(c.frame, c.dimensions, "actual", "expected") for c in cases]
    scores = score_answers(answers, [c.causes for c in cases])
    assert scores.cases == 200
    assert scores.f1 >= 0.95 and scores.macro_f1 >= 0.95, scores


@pytest.mark.parametrize("k", [20, 60, 129])
def test_a_cause_taken_early_that_deeper_causes_explain_is_dropped(k):
    # In these cases a value of one dimension (d3=d3_6: 17 leaves, 10 inside the cause d0=d0_0)
    # looks shifted while d0=d0_1 & d2=d2_1 and d0=d0_1 & d2=d2_3, one layer down, are not
    # yet fitted; once they are, its leaves have nothing left to explain.
    case = suite(seed=1, n_cases=k + 1)[k]
    assert as_set(localize(case.frame, case.dimensions, "actual", "expected")) == as_set(case.causes)


def test_generated_noise_is_met_with_silence():
    cases = suite(seed=2, n_cases=100, with_causes=False)
    quiet = np.mean([localize(c.frame, c.dimensions, "actual", "expected") == [] for c in cases])
    assert quiet >= 0.95


def test_make_case_plants_what_it_says():
    case = make_case(np.random.default_rng(4), 5, [4, 5, 6, 3, 4], n_causes=3,
                     attrs_per_cause=[1, 2, 3], magnitude=0.3, noise=0.0, hierarchy=True)
    assert [len(c) for c in case.causes] == [1, 2, 3]
    assert case.frame.groupby("d1")["d0"].nunique().max() == 1  # d1 determines d0
    moved = ~np.isclose(case.frame["actual"], case.frame["expected"])
    covered = np.zeros(len(case.frame), dtype=bool)
    for cause in case.causes:
        covered |= np.logical_and.reduce([case.frame[k] == v for k, v in cause.items()])
    assert (moved == covered).all()


def test_scores_count_exact_matches_only():
    scores = score_answers([[{"a": "1", "b": "2"}], []], [[{"a": "1"}], [{"c": "3"}]])
    assert (scores.precision, scores.recall, scores.f1, scores.macro_f1) == (0.0, 0.0, 0.0, 0.0)


# --- ratio KPIs --------------------------------------------------------------------------------

def arpu_case(seed: int, arpu_change: dict[str, float], subs_change: dict[str, float]) -> pd.DataFrame:
    """Segment × region × plan leaves with subscribers and revenue, forecast and actual."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [["mass", "youth", "high_end", "enterprise"], list(REGIONS), PLANS],
        names=["segment", "micro_region", "plan"]).to_frame(index=False)
    n = len(index)
    subs_fc = rng.lognormal(np.log(200), 0.7, n)
    arpu_fc = np.where(index["segment"] == "high_end", 160.0, 60.0) * rng.lognormal(0, 0.3, n)
    subs = subs_fc * (1 + rng.normal(0, 0.02, n)) * index["segment"].map(subs_change).fillna(1.0)
    arpu = arpu_fc * (1 + rng.normal(0, 0.02, n)) * index["segment"].map(arpu_change).fillna(1.0)
    return index.assign(revenue=subs * arpu, revenue_fc=subs_fc * arpu_fc, subs=subs, subs_fc=subs_fc)


def test_ratio_mode_finds_the_segment_whose_arpu_fell_not_where_subscribers_moved():
    frame = arpu_case(1, {"enterprise": 0.8}, {"mass": 0.7, "youth": 1.4})
    args = (frame, ["segment", "micro_region", "plan"], "revenue", "revenue_fc", "subs", "subs_fc")
    assert localize_ratio(*args) == [{"segment": "enterprise"}]
    [cause] = localize_ratio_detailed(*args)
    leaves = frame[frame["segment"] == "enterprise"]
    assert cause.actual == pytest.approx(leaves["revenue"].sum() / leaves["subs"].sum())
    assert cause.expected == pytest.approx(leaves["revenue_fc"].sum() / leaves["subs_fc"].sum())
    # Putting enterprise's rates back to expected gives the counterfactual city ARPU.
    rate = frame["revenue_fc"] / frame["subs_fc"]
    fixed = frame["revenue"].where(frame["segment"] != "enterprise", frame["subs"] * rate)
    arpu = frame["revenue"].sum() / frame["subs"].sum()
    assert cause.deviation == pytest.approx(arpu - fixed.sum() / frame["subs"].sum())
    assert 0 < cause.share_of_total_deviation
    # An additive search on revenue is misled by the subscriber shift.
    additive = localize(frame, ["segment", "micro_region", "plan"], "revenue", "revenue_fc")
    assert {"segment": "mass"} in additive


def test_ratio_mode_stays_quiet_when_only_the_mix_moves():
    frame = arpu_case(2, {}, {"mass": 0.6, "high_end": 1.5})
    arpu, arpu_fc = (frame["revenue"].sum() / frame["subs"].sum(),
                     frame["revenue_fc"].sum() / frame["subs_fc"].sum())
    assert arpu > 1.1 * arpu_fc  # the city's ARPU rose by the mix alone
    assert localize_ratio(frame, ["segment", "micro_region", "plan"], "revenue", "revenue_fc",
                          "subs", "subs_fc") == []


# --- the planted incident in a generated mart --------------------------------------------------

@pytest.fixture(scope="module", params=["a", "b"])
def mart_leaves(tmp_path_factory: pytest.TempPathFactory, request
                ) -> tuple[pd.DataFrame, list[dict[str, str]], list[float]]:
    """Latest-month revenue leaves of a 30,000-subscriber mart of each generator variant, its
    planted revenue drops and their sizes (variant a: two steps; b: a ramp and a step).

    Expected value of a leaf (seasonal naive with level): its revenue the month before, times
    the city's movement between the same two calendar months a year earlier.
    """
    from data_access.mart import schema
    from data_access.db import create_mart_engine
    from data_access.synth.generate import generate_mart

    path = tmp_path_factory.mktemp("rootcause") / "m.duckdb"
    generate_mart(url=f"duckdb:///{path}", subscribers=30000, months=14, seed=11,
                  variant=request.param)
    engine = create_mart_engine(f"duckdb:///{path}", read_only=True)
    cube, region, plan = schema.sum_cube_month, schema.dim_region, schema.dim_plan
    query = (sa.select(cube.c.month, region.c.branch, region.c.micro_region, cube.c.channel_type,
                       plan.c.plan_name, cube.c.segment, cube.c.revenue)
             .join_from(cube, region, cube.c.region_id == region.c.region_id)
             .join(plan, cube.c.plan_id == plan.c.plan_id))
    truth = sa.select(schema.planted_truth.c.where_json, schema.planted_truth.c.period,
                      schema.planted_truth.c.size).where(
        schema.planted_truth.c.kind == "revenue_drop")
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(query).mappings().all())
        planted = conn.execute(truth).all()
    engine.dispose()
    dims = ["branch", "micro_region", "channel_type", "plan_name", "segment"]
    rows["month"] = pd.to_datetime(rows["month"])
    wide = rows.pivot_table(index=dims, columns="month", values="revenue", aggfunc="sum", fill_value=0.0)
    months, city_total = list(wide.columns), wide.sum()
    latest = months[-1]
    year_ago = [latest - pd.DateOffset(months=k) for k in (12, 13)]
    season = city_total[year_ago[0]] / city_total[year_ago[1]]
    leaves = pd.DataFrame({"actual": wide[latest], "expected": wide[months[-2]] * season}).reset_index()
    assert all(period == f"{latest:%Y-%m}" for _, period, _ in planted)
    return (leaves, [json.loads(where) for where, _, _ in planted],
            [float(size) for _, _, size in planted])


def test_planted_incident_is_found_exactly(mart_leaves):
    leaves, planted, sizes = mart_leaves
    assert len(planted) == 2
    dims = ["branch", "micro_region", "channel_type", "plan_name", "segment"]
    causes = localize_detailed(leaves, dims, "actual", "expected")
    # The planted drops are the causes that explain the deviation, and come first. A few
    # single small leaves (a score of customers) may follow, each a sliver of the deviation:
    # one big spender's bill moving (docs/rootcause.md, known limits).
    assert as_set([c.attributes for c in causes[:2]]) == as_set(planted)
    for extra in causes[2:]:
        assert len(extra.attributes) >= 3, extra.attributes  # a leaf, not a slice
        assert abs(extra.share_of_total_deviation) < 0.1, extra
    assert sum(abs(c.share_of_total_deviation) for c in causes[2:]) < 0.5
    by_where = {tuple(sorted(c.attributes.items())): c for c in causes}
    for where, size in zip(planted, sizes, strict=True):  # size: the fall against last month
        cause = by_where[tuple(sorted(where.items()))]
        assert cause.relative_change == pytest.approx(-size, abs=0.03), (where, size)


# --- bad input and speed -----------------------------------------------------------------------

@pytest.mark.parametrize("change, dims, message", [
    (lambda f: f.drop(columns="expected"), DIMS, "no column(s) 'expected'"),
    (lambda f: f, [*DIMS, "region"], "no column(s) 'region'"),
    (lambda f: f.assign(actual=f["actual"].astype(str)), DIMS, "'actual' must be numeric"),
    (lambda f: f.iloc[:0], DIMS, "frame is empty"),
    (lambda f: f, ["branch", "plan", "branch"], "more than once: 'branch'"),
    (lambda f: f, [*DIMS, "actual"], "more than once: 'actual'"),
    (lambda f: f, [], "dimensions is empty"),
    (lambda f: f, "branch", "not the string 'branch'"),
    (lambda f: f.assign(actual=np.where(f.index == 3, np.nan, f["actual"])), DIMS,
     "'actual' has 1 missing"),
    (lambda f: f.assign(expected=-f["expected"]), DIMS, "'expected' has negative values"),
    (lambda f: f.assign(plan=f["plan"].where(f.index != 0)), DIMS, "dimension 'plan' has 1 missing"),
])
def test_bad_input_raises_a_value_error_naming_the_problem(change, dims, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        localize(change(city(0)), dims, "actual", "expected")


def test_ratio_mode_checks_its_four_columns():
    frame = arpu_case(3, {}, {})
    with pytest.raises(ValueError, match="'subs_now'"):
        localize_ratio(frame, ["segment"], "revenue", "revenue_fc", "subs_now", "subs_fc")


def test_twenty_thousand_leaves_give_the_planted_causes():
    # Speed is measured by bench/rootcause.py, not asserted here.
    case = make_case(np.random.default_rng(0), 4, [10, 10, 10, 20], n_causes=2,
                     attrs_per_cause=[1, 2], noise=0.03)
    assert len(case.frame) == 20_000
    answer = localize(case.frame, case.dimensions, "actual", "expected")
    assert as_set(answer) == as_set(case.causes)


def test_a_cuboid_built_from_the_one_above_matches_one_built_from_scratch():
    rng = np.random.default_rng(4)
    cards = [3, 5, 4, 7]
    codes = [rng.integers(0, k, 500) for k in cards]
    implied = rootcause_leaves.implied_dimensions(codes, cards)
    built = {}
    for layer in rootcause_leaves.dimension_sets([0, 1, 2, 3], 4, implied)[1:]:
        for dims in layer:
            above = built.get(dims[:-1])
            cuboid = rootcause_leaves.make_cuboid(
                codes, cards, dims, None if above is None else (above.ids, above.counts.size))
            direct = rootcause_leaves.make_cuboid(codes, cards, dims)
            assert cuboid.ids.tolist() == direct.ids.tolist()
            assert cuboid.counts.tolist() == direct.counts.tolist()
            built[dims] = cuboid
    assert any(len(dims) == 4 for dims in built)


def test_a_second_pass_over_a_layer_updates_the_group_sums_exactly():
    # The sums of e²/v per group carried from one pass to the next are updated from the
    # leaves whose fit changed; they must equal the sums computed afresh.
    rng = np.random.default_rng(5)
    cards = [4, 6]
    codes = [np.repeat(np.arange(4), 30), np.tile(np.arange(6), 20)]
    d = rng.normal(0, 0.05, 120) + 0.4 * (codes[0] == 1)
    sigma2 = np.full(120, 0.05**2)
    layer = [(0,), (1,)]
    low, high = np.zeros(120), np.zeros(120)
    covered, no = np.zeros(120, bool), np.zeros(120, bool)
    valid = np.ones(120, bool)
    cuboids, memo = {}, {}
    args = (codes, cards, d)
    rootcause_search._search_layer(layer, {}, *args, low, high, covered, no, sigma2, valid, 1.0,
                                   1.0, 0.5, 0.5, 5, cuboids, np.inf, None, memo)
    fitted = codes[0] == 1  # a cause fitted on these leaves: their residual changes
    low[fitted], high[fitted] = 0.4, 0.4
    rootcause_search._search_layer(layer, {}, *args, low, high, fitted, no, sigma2, valid, 1.0,
                                   1.0, 0.5, 0.5, 5, cuboids, np.inf, fitted, memo)
    e = d - np.clip(d, low, high)
    q = e * e / (sigma2 + (0.5 * np.clip(d, low, high)) ** 2)
    for dims in layer:
        ids, sizes = cuboids[dims]
        np.testing.assert_allclose(memo["sums"][dims], np.bincount(ids, q, minlength=sizes.size))


def test_hierarchies_are_found_both_ways_from_one_count():
    branch = np.array([0, 0, 1, 1, 2, 2])
    region = np.array([0, 1, 2, 3, 4, 4])   # each region lies in one branch
    twin = np.array([4, 3, 1, 0, 2, 2])     # the same partition as region, other codes
    implied = rootcause_leaves.implied_dimensions([branch, region, twin], [3, 5, 5])
    assert implied == {(1, 0), (2, 0), (1, 2), (2, 1)}


@pytest.mark.parametrize("module", [rootcause, rootcause_cases, rootcause_leaves, rootcause_search])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# --- slices of the labelled development cases (tests/data/rootcause) ---------------------------

SLICES = Path(__file__).resolve().parent / "data" / "rootcause"


def dev_slice(name: str) -> tuple[pd.DataFrame, list[str], set[str]]:
    """A slice's leaves, its dimensions and its labelled elements (``a=a1&b=b2`` form)."""
    frame = pd.read_csv(SLICES / name)
    labels = pd.read_csv(SLICES / "labels.csv").set_index("file")
    dims = [c for c in frame.columns if c not in ("real", "predict", "num_a", "num_e", "den_a", "den_e")]
    return frame, dims, set(labels.loc[name, "set"].split(";"))


def elements(causes: list[dict[str, str]]) -> set[str]:
    return {"&".join(f"{k}={v}" for k, v in sorted(c.items())) for c in causes}


def test_dev_slice_reports_the_causes_not_their_refinements():
    # B4 case 168958: b=b2, b=b16, b=b17, d=d3, d=d4 cross one another. The previous method
    # also reported b=b16&d=d3 and b=b16&d=d4: refinements (and crossings) of causes.
    frame, dims, truth = dev_slice("b4_168958.csv.gz")
    found = elements(localize(frame, dims, "real", "predict"))
    assert {"b=b2", "b=b16", "b=b17", "d=d3", "d=d4"} <= found <= truth
    pairs = [set(e.split("&")) for e in found]
    assert not any(a < b for a in pairs for b in pairs), found  # no cause refines another


def test_dev_slice_single_leaf_cause_is_found():
    frame, dims, truth = dev_slice("l_421144.csv.gz")
    assert truth == {"a=a5&b=b16&c=c7&d=d4"}
    assert elements(localize(frame, dims, "real", "predict")) == truth


def test_dev_slice_four_and_six_attribute_causes_are_found():
    frame, dims, truth = dev_slice("h6_363066.csv.gz")
    assert sorted(len(e.split("&")) for e in truth) == [4, 4, 6, 6]
    assert elements(localize(frame, dims, "real", "predict")) == truth


def test_a_tiny_negative_value_does_not_reject_the_case():
    # As in S_dev case 867401, where one leaf's real is −2.4 among 48,000: set to zero, warned.
    frame, dims, truth = dev_slice("l_421144.csv.gz")
    frame.loc[7, "real"] = -2.4
    with pytest.warns(rootcause.RootCauseWarning, match="'real': 1 tiny negative"):
        found = localize(frame, dims, "real", "predict")
    assert elements(found) == truth


def test_dev_ratio_slice_finds_the_planted_rate_change_not_the_base_shifts():
    frame, dims, truth = dev_slice("ratio_b4_398380_over_168958.csv.gz")
    assert truth == {"b=b20&d=d9"}
    found = localize_ratio(frame, dims, "num_a", "num_e", "den_a", "den_e")
    assert elements(found) == truth
    [cause] = localize_ratio_detailed(frame, dims, "num_a", "num_e", "den_a", "den_e")
    assert cause.leaves == 6 * 10 and cause.relative_change < -0.3  # b20 & d9: every a and c

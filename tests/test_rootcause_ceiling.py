"""The separability ceiling (bench/rootcause_ceiling.py) tells a cause that stands out of its
cuboid from one buried in noise, using clean elements only."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from bench.rootcause_ceiling import ceiling, outranked
from bench.rootcause_eval import Case


def _case(buried_change: float, strong_change: float = 0.8, seed: int = 3) -> Case:
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product([f"a{i}" for i in range(8)],
                                                 [f"b{i}" for i in range(8)],
                                                 [f"c{i}" for i in range(8)])),
                          columns=["a", "b", "c"])
    predict = rng.uniform(50, 150, len(leaves))
    real = predict * (1 + rng.normal(0, 0.10, len(leaves)))  # 10% noise on every leaf
    strong = (leaves["a"] == "a1").to_numpy()  # a whole slice falls by 80%
    real[strong] = predict[strong] * (1 - strong_change)
    leaf = ((leaves["a"] == "a5") & (leaves["b"] == "b2") & (leaves["c"] == "c7")).to_numpy()
    real[leaf] = predict[leaf] * (1 + buried_change)
    frame = leaves.assign(real=real, predict=predict)
    return Case("t", frame, ["a", "b", "c"], {"a=a1", "a=a5&b=b2&c=c7"})


def test_a_slice_far_beyond_the_noise_is_separable():
    assert outranked(_case(0.05), "a=a1") == 0


def test_a_single_leaf_inside_the_noise_is_outranked_by_clean_leaves():
    # a 5% change among leaves with 10% noise: many clean leaves moved more on every statistic
    assert outranked(_case(0.05), "a=a5&b=b2&c=c7") >= 10


def test_the_same_leaf_far_beyond_the_noise_is_separable():
    assert outranked(_case(3.0), "a=a5&b=b2&c=c7") == 0


def test_the_ceiling_counts_only_separable_causes():
    row = ceiling([_case(0.05), _case(3.0, seed=4)])
    assert (row["labelled"], row["separable"]) == (4, 3)
    assert row["recall"] == 0.75 and abs(row["f1"] - 2 * 0.75 / 1.75) < 1e-12


def test_standing_out_on_one_statistic_is_enough():
    # a tiny leaf that quadruples: small in yuan (clean leaves move more), huge relatively
    case = _case(0.0)
    leaf = ((case.frame["a"] == "a5") & (case.frame["b"] == "b2") & (case.frame["c"] == "c7"))
    case.frame.loc[leaf, ["predict", "real"]] = [1.0, 4.0]
    assert outranked(case, "a=a5&b=b2&c=c7") == 0

"""ChurnModel: scikit-learn conformance, raw mixed tables, calibration, and the baselines it beats."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from analytics.churn import model as churn
from analytics.churn import evaluation as churn_eval
from analytics.churn import features as churn_features
from analytics.churn import prep as churn_prep
from analytics.churn import tables as churn_tables
from analytics.value import netvalue as value
from analytics.churn.model import ChurnModel
from analytics.churn.evaluation import baselines, compare_estimators
from analytics.churn.tables import SHAPES, make_churn_table


@parametrize_with_checks([ChurnModel(random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("module", [churn, churn_eval, churn_features, churn_prep, churn_tables,
                                    value], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def _split(table, share=0.7):
    cut = int(share * len(table.y))
    return (table.X.iloc[:cut], table.y[:cut], table.X.iloc[cut:], table.y[cut:],
            table.prob[cut:])


def test_raw_mixed_frame_with_gaps_and_unseen_categories_is_scored():
    table = make_churn_table("narrow_interactions", 4_000, random_state=3)
    X_train, y_train, X_test, _, _ = _split(table)
    assert "ch_new" not in set(X_train["channel"]) and "ch_new" in set(X_test["channel"])
    X_test = X_test.copy()
    X_test.loc[X_test.index[:5], "plan"] = None  # missing category
    X_test.loc[X_test.index[5:10], "data_gb"] = np.inf  # infinite amount: read as missing
    model = ChurnModel(random_state=0).fit(X_train, y_train)
    prob = model.predict_proba(X_test)
    assert prob.shape == (len(X_test), 2) and np.isfinite(prob).all()
    assert np.allclose(prob.sum(axis=1), 1.0)
    assert model.categorical_columns_ == ["plan", "channel"]


def test_scoring_in_batches_beside_a_helper_thread_equals_scoring_each_batch_alone(
        monkeypatch):
    """Beyond one batch the logistic part is scored on a helper thread while the trees walk
    the batch; every row's log-odds stay what scoring its batch alone gives."""
    table = make_churn_table("narrow_interactions", 4_000, random_state=5)
    X_train, y_train, X_test, _, _ = _split(table)
    model = ChurnModel(max_iter=60, random_state=0).fit(X_train, y_train)
    monkeypatch.setattr(churn, "_BATCH", 128)  # 1,200 rows: ten batches
    alone = np.concatenate([model.decision_function(X_test.iloc[at:at + 128])
                            for at in range(0, len(X_test), 128)])
    together = model.decision_function(X_test)
    assert len(X_test) > 8 * 128
    np.testing.assert_array_equal(together, alone)
    # and the blend is of both parts: neither dropped
    numeric, categories = model._blocks(model._frame(X_test.iloc[:128], reset=False))
    parts = model._logits(numeric, categories, model._tree_input(numeric, categories))
    assert np.abs(parts).min(axis=0).max() > 0
    np.testing.assert_allclose(together[:128], parts @ model.blend_[:2] + model.blend_[2])


def test_clone_and_cross_val_score_on_a_dataframe():
    table = make_churn_table("wide_additive", 3_000, random_state=1)
    model = ChurnModel(max_iter=60, random_state=0)
    assert clone(model).get_params() == model.get_params()
    scores = cross_val_score(model, table.X, table.y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.min() > 0.65


def test_same_seed_gives_the_same_model():
    table = make_churn_table("narrow_interactions", 2_000, random_state=2)
    one = ChurnModel(random_state=4).fit(table.X, table.y).predict_proba(table.X)
    two = ChurnModel(random_state=4).fit(table.X, table.y).predict_proba(table.X)
    np.testing.assert_array_equal(one, two)


def test_text_in_a_numeric_column_is_refused_by_name():
    table = make_churn_table("narrow_interactions", 1_000, random_state=0)
    model = ChurnModel(random_state=0).fit(table.X, table.y)
    changed = table.X.assign(quota_use=table.X["quota_use"].astype(str))
    with pytest.raises(ValueError, match="quota_use held numbers"):
        model.predict_proba(changed)
    with pytest.raises(ValueError, match="feature names"):
        model.predict_proba(table.X.rename(columns={"plan": "tariff"}))


def test_probabilities_are_calibrated_against_the_truth():
    table = make_churn_table("wide_additive", 20_000, random_state=5)
    X_train, y_train, X_test, _, truth = _split(table)
    prob = ChurnModel(random_state=0).fit(X_train, y_train).predict_proba(X_test)[:, 1]
    assert abs(prob.mean() - truth.mean()) < 0.01
    deciles = pd.qcut(prob, 10, labels=False)
    by_decile = pd.DataFrame({"p": prob, "truth": truth}).groupby(deciles).mean()
    # each tenth of the scores carries about the true risk of its members
    assert (by_decile["p"] - by_decile["truth"]).abs().mean() < 0.01
    assert ((by_decile["p"] - by_decile["truth"]).abs() / by_decile["truth"]).max() < 0.2
    assert by_decile["truth"].is_monotonic_increasing


def test_beats_one_hot_logistic_and_plain_boosting_on_two_table_shapes():
    tables, oracle = {}, {}
    for shape in SHAPES:
        table = make_churn_table(shape, 12_000, random_state=7)
        X_train, y_train, X_test, y_test, truth = _split(table)
        tables[shape] = (X_train, y_train, X_test, y_test)
        oracle[shape] = roc_auc_score(y_test, truth)
    results = compare_estimators({"churn_model": ChurnModel(random_state=0), **baselines()}, tables)
    auc = results.pivot(index="table", columns="estimator", values="roc_auc")
    mean = auc.mean()
    assert mean["churn_model"] > mean["onehot_logistic"]
    assert mean["churn_model"] > mean["plain_boosting"]
    for shape in SHAPES:  # and it stays near what the true probabilities allow
        assert auc.loc[shape, "churn_model"] > oracle[shape] - 0.045


def test_the_tabulated_linear_component_matches_its_pipeline():
    from analytics.churn.prep import design_frame

    table = make_churn_table("narrow_interactions", 6_000, random_state=4)
    model = ChurnModel(random_state=0).fit(table.X, table.y)
    X = table.X.copy()
    X.loc[X.index[:20], "channel"] = None  # missing
    X.loc[X.index[20:40], "channel"] = "ch_never_seen"  # unseen
    X.loc[X.index[40:60], "price_rise"] = np.nan  # imputed
    X.loc[X.index[60:80], "data_gb"] = 1e6  # beyond the last quantile
    numeric, categories = model._blocks(X)
    exact = model.linear_.decision_function(design_frame(numeric, categories))
    np.testing.assert_allclose(model.linear_scorer_.decision(numeric, categories), exact,
                               atol=1e-4)
    score = model.decision_function(X)
    np.testing.assert_allclose(model.probability_of(score), model.predict_proba(X)[:, 1])


def test_swap_effects_equal_scoring_the_swapped_copies():
    """The fast reason-code path (only the trees reading a driver, the additive logistic
    terms) gives what scoring whole swapped copies gives, with categories, gaps, unseen
    values and several references per group."""
    from analytics.churn.reasons import reference_values

    table = make_churn_table("narrow_interactions", 5_000, random_state=6)
    X_train, y_train, X_test, _, _ = _split(table)
    model = ChurnModel(max_iter=80, random_state=0).fit(X_train, y_train)
    X = X_test.copy()
    X.loc[X.index[:10], "channel"] = None
    X.loc[X.index[10:20], "channel"] = "ch_never_seen"
    X.loc[X.index[20:30], "data_gb"] = np.nan
    numeric = [c for c in X.columns if c not in ("plan", "channel")]
    groups = {"plan": ["plan"], "channel": ["channel", numeric[0]],
              "amounts": numeric[1:3], "everything": list(X.columns)}
    swaps = {name: reference_values(X_train, columns) for name, columns in groups.items()}
    assert max(len(refs) for refs in swaps.values()) > 1  # weighted references are exercised
    fast = model.swap_effects(X, swaps)
    base = model.decision_function(X)
    for name, references in swaps.items():
        expected = np.zeros(len(X))
        for weight, values in references:
            swapped = X.copy()
            for column, value in values.items():
                swapped[column] = pd.Series(value, index=X.index, dtype=X[column].dtype)
            expected += weight * model.decision_function(swapped)
        np.testing.assert_allclose(fast[name].to_numpy(), base - expected, atol=1e-9,
                                   err_msg=name)
    with pytest.raises(ValueError, match="not among the model's columns"):
        model.swap_effects(X, {"x": [(1.0, {"no_such_column": 1.0})]})


def test_the_binned_walk_equals_the_raw_walk_even_for_categories_never_binned():
    """swap_effects walks the trees on binned input: each tree must reach the leaf the raw
    walk reaches, including a category code the boosting never binned (the raw walk sends
    it the missing way)."""
    table = make_churn_table("narrow_interactions", 3_000, random_state=8)
    X_train, y_train, X_test, _, _ = _split(table)
    model = ChurnModel(max_iter=40, random_state=0).fit(X_train, y_train)
    prepare, _ = model._tree_layout()
    prepared = prepare(model._tree_input(*model._blocks(X_test)))
    mapper = model.trees_._bin_mapper
    for f in np.flatnonzero(np.asarray(mapper.is_categorical_, dtype=bool)):
        prepared[:50, f] = float(np.max(mapper.bin_thresholds_[f]) + 3)  # never binned
    binned = model._binner(prepare)(prepared)
    bitsets, f_idx_map = mapper.make_known_categories_bitsets()
    for predictor in (p for iteration in model.trees_._predictors for p in iteration):
        np.testing.assert_array_equal(
            predictor.predict_binned(binned, mapper.missing_values_bin_idx_, 1),
            predictor.predict(prepared, bitsets, f_idx_map, 1))


def test_decision_function_walks_binned_values_to_the_raw_walks_scores():
    """decision_function walks the trees on binned input; its log-odds equal the blend of
    scikit-learn's own walk over the raw values, with gaps, infinities, numbers beyond the
    training range, and categories missing or never seen."""
    table = make_churn_table("narrow_interactions", 4_000, random_state=9)
    X_train, y_train, X_test, _, _ = _split(table)
    model = ChurnModel(max_iter=60, random_state=0).fit(X_train, y_train)
    X = X_test.copy()
    numeric = [c for c in X.columns if X[c].dtype.kind == "f"]
    X.loc[X.index[:10], "channel"] = None
    X.loc[X.index[10:20], "plan"] = "plan_never_seen"
    X.loc[X.index[20:30], numeric[0]] = np.nan
    X.loc[X.index[30:40], numeric[1]] = np.inf
    X.loc[X.index[40:50], numeric[2]] = X_train[numeric[2]].max() * 10
    X.loc[X.index[50:60], numeric[2]] = X_train[numeric[2]].min() - 1e6
    numbers, categories = model._blocks(model._frame(X, reset=False))
    raw = model._logits(numbers, categories, model._tree_input(numbers, categories))
    np.testing.assert_allclose(model.decision_function(X), raw @ model.blend_[:2]
                               + model.blend_[2], rtol=0, atol=1e-12)


def test_reference_values_are_the_commonest_joint_values_with_their_own_medians():
    """Written plainly: count each joint value of the discrete columns (missing is a value),
    keep the six commonest (ties: smaller values first, missing last), weight them by their
    counts among the six, and give each the median of the continuous column among its rows
    (missing when most of them are missing)."""
    from analytics.churn.reasons import MAX_REFERENCES, reference_values

    rng = np.random.default_rng(3)
    n = 4_000
    frame = pd.DataFrame({
        "plan": pd.Series(rng.choice(["a", "b", "c", "d", None], n, p=[.3, .2, .2, .2, .1]),
                          dtype="string"),
        "flag": rng.choice([0.0, 1.0, np.nan], n, p=[.5, .4, .1]),
        "fee": rng.gamma(2.0, 30.0, n).round(1),
    })
    d = (frame["plan"] == "d").fillna(False).to_numpy()
    frame.loc[d & (rng.random(n) < 0.7), "fee"] = np.nan  # d: mostly missing
    got = reference_values(frame, ["plan", "flag", "fee"])
    keys = frame[["plan", "flag"]].astype(object).where(frame[["plan", "flag"]].notna(), None)
    counts = {}
    for plan, flag in keys.itertuples(index=False):
        counts[(plan, flag)] = counts.get((plan, flag), 0) + 1
    order = sorted(counts, key=lambda k: (-counts[k], k[0] is None, k[0] or "",
                                          k[1] is None, k[1] if k[1] is not None else 0))
    kept = order[:MAX_REFERENCES]
    total = sum(counts[k] for k in kept)
    assert len(got) == len(kept)
    for (weight, values), (plan, flag) in zip(got, kept, strict=True):
        held = frame[keys["plan"].eq(plan).where(keys["plan"].notna(), plan is None)
                     & keys["flag"].eq(flag).where(keys["flag"].notna(), flag is None)]
        fee = held["fee"].median() if held["fee"].notna().mean() >= 0.5 else np.nan
        assert weight == pytest.approx(counts[(plan, flag)] / total)
        assert (pd.isna(values["plan"]) if plan is None else values["plan"] == plan)
        assert (pd.isna(values["flag"]) if flag is None else values["flag"] == flag)
        assert (np.isnan(values["fee"]) if np.isnan(fee) else values["fee"] == pytest.approx(fee))
    assert any(np.isnan(values["fee"]) for _, values in got)  # the mostly-missing plan d


def test_tree_threads_leave_out_the_cores_others_use_not_this_process(monkeypatch):
    """Threads for the trees are the idle cores: what other processes use, sampled, is taken
    away; this process's own work is not (after a minute of feature building the load
    average made the job itself look like another user and halved its threads). The answer
    is reused for a few seconds."""
    import subprocess
    import sys

    from analytics.churn import model as churn_model

    monkeypatch.setattr(churn_model.os, "cpu_count", lambda: 4)
    for busy, threads in [(0.0, 4), (0.4, 4), (1.6, 2), (3.9, 1), (None, None)]:
        monkeypatch.setattr(churn_model, "_THREADS", None)
        monkeypatch.setattr(churn_model, "_busy_elsewhere", lambda busy=busy: busy)
        monkeypatch.setattr(churn_model.os, "getloadavg", lambda: (2.2, 0.0, 0.0))
        assert churn_model.tree_threads() == (threads or 2)  # None: the load average's 2
    monkeypatch.setattr(churn_model, "_busy_elsewhere", lambda: 0.0)
    assert churn_model.tree_threads() == 2  # the last answer, still fresh
    monkeypatch.undo()

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time
        time.sleep(0.3)
        others = churn_model._busy_elsewhere(0.3)
    finally:
        spinner.kill()
    assert others is not None and others >= 0.6  # another process's core is seen
    started = time.process_time()
    while time.process_time() - started < 0.05:
        pass
    assert churn_model._busy_elsewhere(0.3) < others  # once it is gone, it is gone

    import threading
    stop = threading.Event()

    def spin() -> None:  # this process's own work, on a thread of its own
        while not stop.is_set():
            pass

    quiet = churn_model._busy_elsewhere(0.3)
    worker = threading.Thread(target=spin)
    worker.start()
    try:
        mine = churn_model._busy_elsewhere(0.3)
    finally:
        stop.set()
        worker.join()
    assert mine < quiet + 0.5  # a core of its own work is not counted as someone else's

"""Churn prediction: the :class:`ChurnModel` estimator and the command line ``python -m jobs.churn``.

Commands (``python -m jobs.churn COMMAND --help`` for options)
--------
train    build features on a time split of the mart, fit, evaluate on a later window and
         save the model with its version, windows, metrics and feature list (it goes live)
score    score every subscriber of the latest month with the live model; write the scores
         next to the model and raise group warnings as alerts (``--alerts``)
report   print the live model's manifest: version, windows, metrics, drivers
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
from threadpoolctl import threadpool_limits

from analytics.churn.prep import (Categories, LinearScorer, category_block, design_frame,
                                  encode_categories,
                                  is_numeric_column, linear_features, numeric_block,
                                  split_columns, tree_encoder)

#: Bumped whenever a fitted model's pickled layout changes: older saved models are refused.
MODEL_FORMAT = 1
#: Below this many rows (or positives) nothing is held out: no blend weights, no calibration.
MIN_HOLDOUT_ROWS, MIN_HOLDOUT_CLASS = 200, 8
_BATCH = 25_000  # rows per prediction batch: the trees walk a batch while it sits in cache


def _busy_elsewhere(window: float = 0.1) -> float | None:
    """Cores other processes keep busy, sampled over ``window`` seconds (Linux ``/proc``);
    None where there is no ``/proc/stat``.

    This process's own CPU time is taken out: the load average cannot do that, and after a
    job's first minute of work its own load made it look like a busy machine.
    """
    def machine() -> float:  # busy seconds of all cores since boot
        with open("/proc/stat", encoding="ascii") as handle:
            ticks = [int(v) for v in handle.readline().split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    def own() -> float:
        times = os.times()
        return times.user + times.system

    try:
        machine_before, own_before = machine(), own()
        time.sleep(window)
        return max(0.0, (machine() - machine_before) - (own() - own_before)) / window
    except (OSError, ValueError, IndexError):
        return None


#: When the threads were last settled and how many: reused for a few seconds, so that many
#: small calls do not each sample the machine.
_THREADS: tuple[float, int] | None = None
_THREADS_FOR_S = 5.0


def tree_threads() -> int:
    """OpenMP threads for the boosted trees: the cores nobody else is using, at least one.

    scikit-learn's trees start one OpenMP team per tree and batch. On a machine already
    busy the team's threads wait for cores and spin: measured on 2 cores with two other
    CPU-bound processes, explaining 3,000 subscribers took 10.5 s of CPU with two threads
    and 1.7 s with one (bench/RESULTS.md, "Churn threads"). On idle cores the team helps.
    What others use is sampled for a tenth of a second (the load average where /proc is
    missing, though it counts this process too).
    """
    global _THREADS
    cores = os.cpu_count() or 1
    now = time.monotonic()
    if _THREADS is not None and now - _THREADS[0] < _THREADS_FOR_S:
        return _THREADS[1]
    busy = _busy_elsewhere()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            busy = 0.0
    threads = max(1, min(cores, int(cores - busy + 0.5)))
    _THREADS = (now, threads)
    return threads


def _goes_left(predictor: TreePredictor, node: int, bin_: int, missing: int) -> bool:
    """Whether a binned value takes the left branch of a fitted tree's split ``node``."""
    split = predictor.nodes[node]
    if bin_ == missing:
        return bool(split["missing_go_to_left"])
    if split["is_categorical"]:
        words = predictor.binned_left_cat_bitsets[split["bitset_idx"]]
        return bool((int(words[bin_ // 32]) >> (bin_ % 32)) & 1)
    return bin_ <= int(split["bin_threshold"])


@dataclass(frozen=True)
class _SwapPlan:
    """One group of columns to swap, as :meth:`ChurnModel.swap_effects` walks it."""

    name: str
    columns: list[str]
    positions: np.ndarray  # the columns' places in the trees' binned input
    bins: np.ndarray  # per reference: its values as the trees read them
    total: float  # the references' summed weight
    linear: float  # their weighted logistic terms, summed
    trees: list  # per tree splitting on the group: (tree, [(summed weight, a reference)])


class ChurnModel(ClassifierMixin, BaseEstimator):
    """Calibrated churn classifier for raw tables of mixed numeric and categorical columns.

    Two models read the same raw columns: boosted trees (categories as native categories,
    missing and unseen values as "missing") catch interactions and thresholds, and a logistic
    model on cubic splines of each numeric column's quantiles (skewed amounts and outliers
    flattened, missing values flagged) plus one-hot categories catches smooth additive
    effects the trees approximate in steps. On a stratified held-out share of the rows a
    logistic blend of the two logits is fitted, which weights them and calibrates the result
    (Platt scaling); ``calibration="isotonic"`` adds an isotonic map on top.

    Parameters
    ----------
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization : float or int
        Boosting settings (``HistGradientBoostingClassifier``); rounds stop early once the
        held-out log loss stops improving for ``n_iter_no_change`` rounds.
    n_iter_no_change : int
        Patience of early stopping.
    linear_C : float
        Inverse L2 strength of the spline-logistic component.
    n_knots : int
        Spline knots per numeric column (on the quantile scale).
    linear_max_samples : int
        The logistic component is fitted on at most this many rows (a random subset).
    max_categories : int
        Categories kept per column; rarer ones are pooled.
    calibration : {"sigmoid", "isotonic"}
        Calibration on the held-out rows.
    holdout_fraction : float
        Share of rows held out for early stopping, blending and calibration.
    refit : bool
        Once the rounds, blend and calibration are settled, refit both models on all rows
        (the boosting with the rounds found). Ranks a little better, but the calibration
        learnt on the held-out rows then flatters the top scores, so it is off by default.
    random_state : int, RandomState or None
        Seeds the hold-out split, the subsets and the boosting.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    feature_names_in_ : ndarray of str
    numeric_columns_, categorical_columns_ : list of str
    blend_ : ndarray of shape (3,)
        Weights of the tree logit and the linear logit, and the intercept.
    n_iter_ : int
        Boosting rounds kept.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"arpu": rng.lognormal(4, 1, 600), "plan": rng.choice(["a", "b"], 600)})
    >>> y = rng.random(600) < 1 / (1 + np.exp(np.log(X["arpu"]) - 4 + (X["plan"] == "a")))
    >>> model = ChurnModel(random_state=0).fit(X, y)
    >>> model.predict_proba(X.head(2)).shape
    (2, 2)
    """

    def __init__(self, *, learning_rate: float = 0.06, max_iter: int = 400,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 40,
                 l2_regularization: float = 1.0, n_iter_no_change: int = 20,
                 linear_C: float = 0.3, n_knots: int = 6, linear_max_samples: int = 150_000,
                 max_categories: int = 60, calibration: str = "sigmoid",
                 holdout_fraction: float = 0.2, refit: bool = False, random_state=None):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_iter_no_change = n_iter_no_change
        self.linear_C = linear_C
        self.n_knots = n_knots
        self.linear_max_samples = linear_max_samples
        self.max_categories = max_categories
        self.calibration = calibration
        self.holdout_fraction = holdout_fraction
        self.refit = refit
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags

    def _frame(self, X, *, reset: bool) -> pd.DataFrame:
        """The input as a DataFrame; arrays become numeric columns x0, x1, …"""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] < 1:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                                 "minimum of 1 is required.")
            return X
        array = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan",
                              dtype=np.float64)
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])

    def _blocks(self, frame: pd.DataFrame) -> tuple[np.ndarray, Categories]:
        changed = [str(c) for c in self.numeric_columns_ if not is_numeric_column(frame[c].dtype)]
        if changed:
            raise ValueError(f"Column(s) {', '.join(changed)} held numbers when ChurnModel was "
                             "fitted but hold text or categories now")
        return (numeric_block(frame, self.numeric_columns_),
                category_block(frame, self.categorical_columns_))

    def fit(self, X, y) -> ChurnModel:
        """Fit on a raw table ``X`` (DataFrame or array) and binary labels ``y``."""
        if self.calibration not in ("sigmoid", "isotonic"):
            raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', got {self.calibration!r}")
        frame = self._frame(X, reset=True)
        if y is None:
            raise ValueError("ChurnModel requires y to be passed, but the target y is None")
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=None), warn=True)
        if len(y) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y)}")
        check_classification_targets(y)
        self.classes_, target = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError("Only binary classification is supported. ChurnModel needs y "
                             f"with exactly two classes, got {len(self.classes_)} class(es)")
        self.numeric_columns_, self.categorical_columns_ = split_columns(frame)
        rng = check_random_state(self.random_state)
        numeric, categories = self._blocks(frame)
        rows = np.arange(len(frame))
        held = None
        if (len(rows) >= MIN_HOLDOUT_ROWS and
                np.bincount(target).min() * self.holdout_fraction >= MIN_HOLDOUT_CLASS):
            rows, held = train_test_split(rows, test_size=self.holdout_fraction, stratify=target,
                                          random_state=rng.randint(2**31 - 1))
        self.encoder_ = None
        if categories.shape[1]:
            self.encoder_ = tree_encoder(self.max_categories).fit(categories[rows].dense())
        tree_input = self._tree_input(numeric, categories)
        linear_seed = rng.randint(2**31 - 1)
        self._fit_parts(numeric, categories, tree_input, target, rows, held, linear_seed)
        self.isotonic_ = None
        if held is None:
            self.blend_ = np.array([0.5, 0.5, 0.0])
            return self
        logits = self._logits(numeric[held], categories[held], tree_input[held])
        stacker = LogisticRegression(C=100.0).fit(logits, target[held])
        self.blend_ = np.r_[stacker.coef_[0], stacker.intercept_]
        if self.calibration == "isotonic":
            self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
            self.isotonic_.fit(logits @ self.blend_[:2] + self.blend_[2], target[held])
        if self.refit:
            self._fit_parts(numeric, categories, tree_input, target, np.arange(len(target)), None,
                            linear_seed, rounds=self.n_iter_)
        return self

    def _fit_parts(self, numeric: np.ndarray, categories: Categories, tree_input: np.ndarray,
                   target: np.ndarray, rows: np.ndarray, held: np.ndarray | None,
                   linear_seed: int, rounds: int | None = None) -> None:
        """Fit the boosted trees and the spline-logistic model on ``rows``."""
        self.trees_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=rounds or self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, n_iter_no_change=self.n_iter_no_change,
            early_stopping=held is not None, categorical_features=self._tree_categorical(),
            random_state=linear_seed)
        validation = {} if held is None else {"X_val": tree_input[held], "y_val": target[held]}
        with threadpool_limits(limits=tree_threads(), user_api="openmp"):
            self.trees_.fit(tree_input[rows], target[rows], **validation)
        self.n_iter_ = self.trees_.n_iter_
        linear_rows = rows
        if len(rows) > self.linear_max_samples:
            linear_rows = np.sort(np.random.RandomState(linear_seed).choice(
                rows, self.linear_max_samples, replace=False))
        self.linear_ = Pipeline([
            ("design", linear_features(numeric.shape[1], categories.shape[1], n_knots=self.n_knots,
                                       max_categories=self.max_categories,
                                       n_samples=len(linear_rows), random_state=linear_seed)),
            ("logistic", LogisticRegression(C=self.linear_C, max_iter=1000)),
        ]).fit(design_frame(numeric[linear_rows], categories[linear_rows]), target[linear_rows])
        self.linear_scorer_ = LinearScorer(self.linear_, numeric.shape[1], categories.shape[1])

    def _tree_input(self, numeric: np.ndarray, categories: Categories) -> np.ndarray:
        if self.encoder_ is None:
            return numeric
        return np.hstack([numeric, encode_categories(self.encoder_, categories)])

    def _tree_categorical(self) -> np.ndarray:
        n_numeric, n_categorical = len(self.numeric_columns_), len(self.categorical_columns_)
        return np.r_[np.zeros(n_numeric, bool), np.ones(n_categorical, bool)]

    def _logits(self, numeric: np.ndarray, categories: Categories,
                tree_input: np.ndarray) -> np.ndarray:
        linear = self.linear_scorer_.decision(numeric, categories)
        return np.column_stack([self.trees_.decision_function(tree_input), linear])

    def _binned_walkers(self) -> list[TreePredictor]:
        """The fitted trees, in order, ready for ``predict_binned`` (whose Cython signature
        wants writable nodes: a model loaded from a read-only memory map gets copies)."""
        return [tree if tree.nodes.flags.writeable else
                TreePredictor(tree.nodes.copy(), tree.binned_left_cat_bitsets.copy(),
                              tree.raw_left_cat_bitsets.copy())
                for iteration in self.trees_._predictors for tree in iteration]

    def decision_function(self, X) -> np.ndarray:
        """The blended log-odds of the second class (before any isotonic map).

        The trees walk the boosting's binned input (one byte per value, as they were grown
        on; the same leaves as scikit-learn's walk over raw values, which
        tests/test_churn_model.py holds): the score job's scoring of 1M rows on 2 cores
        6.4 → 5.6 s.
        On more than one batch, a thread scores each batch's logistic part (interpolations
        that release the interpreter lock) while the trees walk it: the trees' OpenMP team
        leaves part of the cores idle between trees (6.2 → 5.5 s).
        """
        check_is_fitted(self)
        frame = self._frame(X, reset=False)
        out = np.empty(len(frame))
        walk = self._binned_walk()
        with contextlib.ExitStack() as stack:
            stack.enter_context(threadpool_limits(limits=tree_threads(), user_api="openmp"))
            helper = (stack.enter_context(ThreadPoolExecutor(1, "churn-linear"))
                      if len(frame) > _BATCH else None)
            for start in range(0, len(frame), _BATCH):
                part = frame.iloc[start:start + _BATCH]
                numeric, categories = self._blocks(part)
                pending = (helper.submit(self.linear_scorer_.decision, numeric, categories)
                           if helper is not None else None)
                walked = walk(self._tree_input(numeric, categories))
                linear = (pending.result() if pending is not None
                          else self.linear_scorer_.decision(numeric, categories))
                out[start:start + len(part)] = (np.column_stack([walked, linear])
                                                @ self.blend_[:2] + self.blend_[2])
        return out

    def _binned_walk(self):
        """The boosted trees' raw score of a tree-input block, walking its binned values
        (the trees' baseline plus each tree's leaf, summed in the boosting's order)."""
        trees, predictors = self.trees_, self._binned_walkers()
        prepare, _ = self._tree_layout()
        binned = self._binner(prepare)
        missing = trees._bin_mapper.missing_values_bin_idx_
        baseline = float(np.ravel(trees._baseline_prediction)[0])

        def walk(tree_input: np.ndarray) -> np.ndarray:
            values, threads = binned(prepare(tree_input)), tree_threads()
            raw = np.full(len(values), baseline)
            for predictor in predictors:
                raw += predictor.predict_binned(values, missing, threads)
            return raw
        return walk

    def swap_effects(self, X, swaps: Mapping[str, Sequence[tuple[float, Mapping[str, object]]]]
                     ) -> pd.DataFrame:
        """Per row and per named group of columns: the blended log-odds minus its weighted
        mean over reference values of the group's columns, everything else unchanged.

        ``swaps`` maps a name to ``[(weight, {column: value, ...}), ...]``. The result
        equals ``decision_function(X) − Σ_r w_r · decision_function(X with the columns set
        to r)``, computed without scoring whole copies of ``X``:

        - the logistic component is additive, so only the group's own terms are evaluated;
        - only the trees that split on one of the group's columns can change;
        - references that take the same way at every such split of a tree reach the same
          leaf there, so the tree walks one of them with their weights summed (a third of
          the walks for the churn drivers' categories);
        - the trees walk the boosting's binned input (one byte per value, as they were
          grown on) rather than the raw numbers: 1.6× faster.

        (Walking only the rows whose own path meets such a split was tried: half the walks,
        but gathering and scattering those rows per tree cost more than it saved.)

        It walks scikit-learn's fitted tree predictors (the version is pinned;
        tests/test_churn_model.py holds the result equal to the direct computation).
        """
        check_is_fitted(self)
        frame = self._frame(X, reset=False)
        predictors = self._binned_walkers()
        prepare, position = self._tree_layout()
        binned = self._binner(prepare)
        plans = [self._swap_plan(name, references, predictors, prepare, position, binned)
                 for name, references in swaps.items()]
        missing, threads = self.trees_._bin_mapper.missing_values_bin_idx_, tree_threads()
        out = {name: np.empty(len(frame)) for name in swaps}
        for start in range(0, len(frame), _BATCH):
            part = frame.iloc[start:start + _BATCH]
            numeric, categories = self._blocks(part)
            tree_input = binned(prepare(self._tree_input(numeric, categories)))
            own: dict[int, np.ndarray] = {}  # tree → its value for the rows as they are
            for plan in plans:
                trees_part = np.zeros(len(part))
                linear_part = np.full(len(part), -plan.linear)
                for column in plan.columns:  # the rows' own logistic terms of the group
                    linear_part += self._linear_term(column, numeric, categories)
                swapped: dict[int, np.ndarray] = {}  # reference → the rows with it
                for k, routes in plan.trees:
                    if k not in own:
                        own[k] = predictors[k].predict_binned(tree_input, missing, threads)
                    trees_part += plan.total * own[k]
                    for weight, r in routes:
                        if r not in swapped:
                            swapped[r] = tree_input.copy()
                            swapped[r][:, plan.positions] = plan.bins[r]
                        trees_part -= weight * predictors[k].predict_binned(swapped[r], missing,
                                                                            threads)
                out[plan.name][start:start + len(part)] = (self.blend_[0] * trees_part
                                                           + self.blend_[1] * linear_part)
        return pd.DataFrame(out, index=frame.index if isinstance(X, pd.DataFrame) else None)

    def _swap_plan(self, name: str, references, predictors: list, prepare,
                   position: np.ndarray, binned) -> _SwapPlan:
        """One group's references as the model reads them (bins for the trees, terms for
        the logistic part) and, per tree that splits on the group, the leaves behind such a
        split and the references grouped by the way they take there."""
        numeric_at = {c: j for j, c in enumerate(self.numeric_columns_)}
        category_at = {c: i for i, c in enumerate(self.categorical_columns_)}
        n_numeric = len(numeric_at)
        columns = list(dict.fromkeys(c for _, values in references for c in values))
        unknown = [c for c in columns if c not in numeric_at and c not in category_at]
        if unknown:
            raise ValueError(f"swap_effects: {', '.join(map(str, unknown))} not among the "
                             "model's columns")
        positions = np.array([position[numeric_at[c] if c in numeric_at
                                       else n_numeric + category_at[c]] for c in columns],
                             dtype=np.intp)
        # the references as rows of the two blocks, read by the trees and the logistic part
        weights = np.array([float(weight) for weight, _ in references])
        numbers = np.full((len(weights), n_numeric), np.nan)
        codes = np.full((len(weights), len(category_at)), np.nan, dtype=object)
        for r, (_, values) in enumerate(references):
            for column in columns:
                number, category = self._reference(column, values[column])
                if column in numeric_at:
                    numbers[r, numeric_at[column]] = number
                else:
                    codes[r, category_at[column]] = category
        codes = Categories.from_block(codes)
        bins = binned(prepare(self._tree_input(numbers, codes)))[:, positions]
        linear = float(sum(weights @ self._linear_term(column, numbers, codes)
                           for column in columns))
        missing = self.trees_._bin_mapper.missing_values_bin_idx_
        read = {int(at): j for j, at in enumerate(positions)}
        trees = []
        for k, predictor in enumerate(predictors):
            nodes = predictor.nodes
            asks = [n for n in range(len(nodes))
                    if not nodes["is_leaf"][n] and int(nodes["feature_idx"][n]) in read]
            if not asks:
                continue
            routes: dict[tuple, list] = {}  # way through the splits → [weight, a reference]
            for r, (weight, row) in enumerate(zip(weights, bins, strict=True)):
                way = tuple(_goes_left(predictor, n, int(row[read[int(nodes["feature_idx"][n])]]),
                                       missing) for n in asks)
                routes.setdefault(way, [0.0, r])[0] += weight
            trees.append((k, [(w, r) for w, r in routes.values()]))
        return _SwapPlan(name, columns, positions, bins, float(sum(weights)), linear, trees)

    def _reference(self, column: str, value: object) -> tuple[float, object]:
        """A reference value as the numeric block and the category block would hold it."""
        if column in self.numeric_columns_:
            number = np.nan if pd.isna(value) else float(value)
            return (number if np.isfinite(number) else np.nan), np.nan
        return np.nan, (np.nan if pd.isna(value) else str(value))

    def _linear_term(self, column: str, numeric: np.ndarray,
                     categories: Categories) -> np.ndarray:
        """The logistic component's term of one raw column, for every row of the blocks."""
        if column in self.numeric_columns_:
            j = self.numeric_columns_.index(column)
            return self.linear_scorer_.numeric_term(j, numeric[:, j])
        i = self.categorical_columns_.index(column)
        return self.linear_scorer_.category_term(i, categories)

    def _tree_layout(self):
        """How the fitted trees read their input: the boosting's own preprocessing (it puts
        categorical columns first and re-codes them) and where each input column lands."""
        trees = self.trees_
        width = len(self.numeric_columns_) + len(self.categorical_columns_)
        if trees._preprocessor is None:
            return (lambda block: block), np.arange(width)
        flags = np.asarray(trees.is_categorical_, dtype=bool)
        slices = trees._preprocessor.output_indices_
        position = np.empty(width, dtype=int)
        position[flags] = slices["encoder"].start + np.arange(flags.sum())
        position[~flags] = slices["numerical"].start + np.arange((~flags).sum())
        return trees._preprocessor.transform, position

    def _binner(self, prepare):
        """How the trees bin their prepared input: the boosting's own bins, and categories
        it never saw in the missing bin (scikit-learn's walk over raw values sends unseen
        categories the missing way; its binning alone would put them in a neighbour's bin)."""
        mapper = self.trees_._bin_mapper
        flags = np.asarray(mapper.is_categorical_, dtype=bool)
        known = {int(f): np.asarray(mapper.bin_thresholds_[f]) for f in np.flatnonzero(flags)}
        missing = mapper.missing_values_bin_idx_

        def bins(prepared: np.ndarray) -> np.ndarray:
            out = mapper.transform(prepared)
            for f, categories in known.items():
                values = prepared[:, f]
                unseen = ~np.isnan(values) & ~np.isin(values, categories)
                out[unseen, f] = missing
            return out
        return bins

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_``, shape (n_samples, 2)."""
        positive = self.probability_of(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def probability_of(self, decision: np.ndarray) -> np.ndarray:
        """The calibrated probability of the second class for ``decision_function`` output
        (saves scoring twice when both are wanted)."""
        check_is_fitted(self)
        decision = np.asarray(decision, dtype=float)
        return self.isotonic_.predict(decision) if self.isotonic_ is not None else expit(decision)

    def predict(self, X) -> np.ndarray:
        """The more likely class of each row."""
        check_is_fitted(self)
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

"""Preprocessing inside :class:`analytics.churn.model.ChurnModel`: column kinds, encoders, splines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (OneHotEncoder, OrdinalEncoder, QuantileTransformer,
                                   SplineTransformer)

MISSING = "__missing__"
#: HistGradientBoosting bins at most 255 values; one is kept for missing and unseen.
MAX_TREE_CATEGORIES = 254


def is_numeric_column(dtype: object) -> bool:
    """Numbers and booleans are numeric; categories, text and objects are categorical."""
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return bool(pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


def split_columns(frame: pd.DataFrame) -> tuple[list, list]:
    """Names of the numeric columns (booleans included) and of the categorical ones.

    Examples
    --------
    >>> split_columns(pd.DataFrame({"fee": [1.5], "plan": ["a"], "vip": [True]}))
    (['fee', 'vip'], ['plan'])
    """
    numeric, categorical = [], []
    for name, dtype in frame.dtypes.items():
        (numeric if is_numeric_column(dtype) else categorical).append(name)
    return numeric, categorical


def numeric_block(frame: pd.DataFrame, columns: Sequence) -> np.ndarray:
    """The numeric columns as float64, with infinities treated as missing."""
    if not columns:
        return np.empty((len(frame), 0))
    block = np.column_stack([frame[c].astype("float64").to_numpy(na_value=np.nan)
                             for c in columns])
    block[~np.isfinite(block)] = np.nan
    return block


class Categories:
    """Categorical columns coded once: each row's place among its column's distinct values
    (−1 when missing) and those values as strings.

    Every value becomes its string, so a category coded 3 in one extract and "3" in another
    is the same category. The encoders then read each distinct value once and the rows take
    the answer by their code (a million rows cost a lookup each, not a string each).
    """

    def __init__(self, codes: np.ndarray, values: list[np.ndarray]):
        self.codes = codes
        self.values = values

    @classmethod
    def of(cls, frame: pd.DataFrame, columns: Sequence) -> Categories:
        """The ``columns`` of ``frame``."""
        codes = np.empty((len(frame), len(columns)), dtype=np.intp)
        values = []
        for i, name in enumerate(columns):
            codes[:, i], uniques = pd.factorize(frame[name], use_na_sentinel=True)
            values.append(np.array([str(v) for v in np.asarray(uniques, dtype=object)],
                                   dtype=object))
        return cls(codes, values)

    @classmethod
    def from_block(cls, block: np.ndarray) -> Categories:
        """An object array of categories (missing as ``np.nan``)."""
        return cls.of(pd.DataFrame(block), list(range(block.shape[1])))

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows) -> Categories:
        return Categories(self.codes[rows], self.values)

    def dense(self) -> np.ndarray:
        """The rows as an object array of strings, missing as ``np.nan``."""
        out = np.full(self.codes.shape, np.nan, dtype=object)
        for i, values in enumerate(self.values):
            present = self.codes[:, i] >= 0
            out[present, i] = values[self.codes[present, i]]
        return out

    def lookup(self, i: int, answers: np.ndarray, missing: float) -> np.ndarray:
        """Column ``i`` through ``answers`` (one per distinct value); ``missing`` where
        missing."""
        table = np.append(np.asarray(answers, dtype=float), missing)
        return table[self.codes[:, i]]  # code −1 picks the appended ``missing``


def category_block(frame: pd.DataFrame, columns: Sequence) -> Categories:
    """The categorical columns, coded (:class:`Categories`)."""
    return Categories.of(frame, columns)


def encode_categories(encoder: OrdinalEncoder, categories: Categories) -> np.ndarray:
    """``encoder`` (fitted on the dense columns) applied to ``categories``: each column's
    distinct values are encoded once."""
    width = max((len(v) for v in categories.values), default=0)
    distinct = np.full((max(width, 1), categories.shape[1]), np.nan, dtype=object)
    for i, values in enumerate(categories.values):
        distinct[:len(values), i] = values
    encoded = encoder.transform(distinct)
    return np.column_stack([categories.lookup(i, encoded[:len(values), i], np.nan)
                            for i, values in enumerate(categories.values)])


def tree_encoder(max_categories: int) -> OrdinalEncoder:
    """Categories → integer codes for the boosted trees; unseen and missing → NaN."""
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                          encoded_missing_value=np.nan,
                          max_categories=min(max_categories, MAX_TREE_CATEGORIES),
                          dtype=np.float64)


def design_frame(numeric: np.ndarray, categories: np.ndarray) -> pd.DataFrame:
    """Numeric and categorical blocks side by side, named ``n0…`` and ``c0…``."""
    dense = categories.dense() if isinstance(categories, Categories) else categories
    columns = {f"n{i}": numeric[:, i] for i in range(numeric.shape[1])}
    columns |= {f"c{i}": dense[:, i] for i in range(dense.shape[1])}
    return pd.DataFrame(columns, index=pd.RangeIndex(len(numeric)))


def linear_features(n_numeric: int, n_categorical: int, *, n_knots: int, max_categories: int,
                    n_samples: int, random_state: int) -> ColumnTransformer:
    """The logistic component's design: splines on quantiles, missing flags, one-hot.

    Numeric columns are imputed with the median and mapped through their empirical
    quantiles before a cubic spline basis, so skewed amounts, outliers and thresholds (a
    tenure below six months) cost nothing; each column with gaps also gets a missing flag.
    Categories are one-hot encoded with rare ones pooled and unseen ones mapped to the pool
    (or to nothing when there is no pool).
    """
    knots = np.tile(np.linspace(0.0, 1.0, n_knots)[:, None], (1, max(n_numeric, 1)))
    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("rank", QuantileTransformer(n_quantiles=max(2, min(200, n_samples)),
                                     subsample=100_000, random_state=random_state)),
        ("spline", SplineTransformer(knots=knots, degree=3, extrapolation="constant")),
    ])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING,
                                 missing_values=np.nan)),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                 min_frequency=max(5, n_samples // 2000),
                                 max_categories=max_categories, sparse_output=False)),
    ])
    numeric_index = [f"n{i}" for i in range(n_numeric)]
    categorical_index = [f"c{i}" for i in range(n_categorical)]
    return ColumnTransformer([
        ("numeric", numeric, numeric_index),
        ("missing", MissingIndicator(features="missing-only", error_on_new=False), numeric_index),
        ("categorical", categorical, categorical_index),
    ], sparse_threshold=0.0)


class LinearScorer:
    """The fitted spline-logistic component as one lookup per column.

    The logistic model is additive: each numeric column contributes a function of its value
    alone (median-imputed, mapped to its quantile, expanded in splines, weighted), plus its
    missing flag's weight; each categorical column contributes its category's weight. Those
    functions are tabulated once: between the quantile knots the quantile map is linear, so
    a few points per gap interpolate the curve to within 1e-4 log-odds. Scoring a row then
    costs one interpolation per number and one lookup per category, instead of building a
    design matrix of hundreds of columns.
    """

    STEPS = 8  # interpolation points per gap between neighbouring quantile knots

    def __init__(self, pipeline: Pipeline, n_numeric: int, n_categorical: int):
        design, logistic = pipeline.named_steps["design"], pipeline.named_steps["logistic"]
        coef, slices = logistic.coef_[0], design.output_indices_
        self.intercept = float(logistic.intercept_[0])
        self.medians = np.zeros(n_numeric)
        self.missing_weight = np.zeros(n_numeric)
        self.points: list[tuple[np.ndarray, np.ndarray]] = []
        if n_numeric:
            steps = design.named_transformers_["numeric"].named_steps
            self.medians = steps["impute"].statistics_.astype(float)
            per_column = coef[slices["numeric"]].reshape(n_numeric, -1)
            for j in range(n_numeric):
                self.points.append(self._curve(steps, j, n_numeric, per_column[j]))
            flagged = design.named_transformers_["missing"].features_
            self.missing_weight[flagged] = coef[slices["missing"]]
        self.weights: list[tuple[dict[str, float], float, float]] = []
        if n_categorical:
            self.weights = self._category_weights(design.named_transformers_["categorical"],
                                                  coef[slices["categorical"]], n_categorical)

    def _curve(self, steps, j: int, n_numeric: int, weights: np.ndarray):
        knots = np.unique(steps["rank"].quantiles_[:, j])
        # the quantile map jumps at a knot holding many equal values (an imputed median):
        # points one step either side keep the interpolation off the jump
        xs = np.r_[knots, np.nextafter(knots, -np.inf), np.nextafter(knots, np.inf)]
        if len(knots) > 1:
            share = np.linspace(0.0, 1.0, self.STEPS, endpoint=False)[1:]
            xs = np.r_[xs, (knots[:-1, None] + share * np.diff(knots)[:, None]).ravel()]
        xs = np.unique(xs)
        grid = np.zeros((len(xs), n_numeric))
        grid[:, j] = xs
        rank = steps["rank"].transform(grid)
        width = len(weights)
        basis = steps["spline"].transform(rank)[:, j * width:(j + 1) * width]
        return xs, basis @ weights

    @staticmethod
    def _category_weights(pipeline: Pipeline, weights: np.ndarray, n_categorical: int):
        encoder = pipeline.named_steps["onehot"]
        names = list(encoder.get_feature_names_out([f"c{k}" for k in range(n_categorical)]))
        out = []
        for i, known in enumerate(encoder.categories_):
            mine = [k for k, name in enumerate(names) if name.startswith(f"c{i}_")]
            values = np.array([*known.tolist(), "\x00unseen"], dtype=object)
            rows = np.full((len(values), n_categorical), MISSING, dtype=object)
            rows[:, i] = values
            scored = encoder.transform(rows)[:, mine] @ weights[mine]
            table = dict(zip(known.tolist(), scored[:-1].tolist(), strict=True))
            out.append((table, float(scored[-1]), table.get(MISSING, float(scored[-1]))))
        return out

    def numeric_term(self, j: int, column: np.ndarray) -> np.ndarray:
        """What numeric column ``j`` adds to the log-odds for each of its values."""
        xs, values = self.points[j]
        missing = np.isnan(column)
        return (np.interp(np.where(missing, self.medians[j], column), xs, values)
                + self.missing_weight[j] * missing)

    def category_term(self, i: int, categories: Categories) -> np.ndarray:
        """What categorical column ``i`` adds to the log-odds for each row."""
        table, unseen, missing = self.weights[i]
        answers = [table.get(value, unseen) for value in categories.values[i]]
        return categories.lookup(i, np.array(answers, dtype=float), missing)

    def decision(self, numeric: np.ndarray, categories: Categories) -> np.ndarray:
        """The component's log-odds for the numeric and categorical blocks."""
        out = np.full(len(numeric), self.intercept)
        for j in range(len(self.points)):
            out += self.numeric_term(j, numeric[:, j])
        for i in range(len(self.weights)):
            out += self.category_term(i, categories)
        return out

"""Judging churn scores: ROC-AUC, PR-AUC, lift, calibration, and the baselines to beat."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one labelled window.

    ``oracle_roc_auc`` is the ROC-AUC of the true probabilities where they are known (a
    generated mart), else None.
    """

    rows: int
    positives: int
    roc_auc: float
    pr_auc: float
    top_decile_lift: float
    brier: float
    mean_predicted: float
    observed_rate: float
    oracle_roc_auc: float | None = None
    lift: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def metrics(self) -> dict[str, float | int | None]:
        """The scalar figures, for a manifest or a table."""
        return {k: getattr(self, k) for k in (
            "rows", "positives", "roc_auc", "pr_auc", "top_decile_lift", "brier",
            "mean_predicted", "observed_rate", "oracle_roc_auc")}


def lift_table(y: Sequence[int], score: Sequence[float], bins: int = 10) -> pd.DataFrame:
    """Churn rate and lift per score decile (decile 1 = the riskiest tenth).

    Examples
    --------
    >>> t = lift_table([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], [.9, .8, .7, .6, .5, .4, .3, .2, .1, 0], 5)
    >>> t["lift"].round(2).tolist()
    [2.5, 0.0, 2.5, 0.0, 0.0]
    """
    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(y), dtype=int)
    decile[order] = np.arange(len(y)) * bins // max(len(y), 1) + 1
    frame = pd.DataFrame({"decile": decile, "y": y, "score": score})
    table = frame.groupby("decile").agg(subscribers=("y", "size"), churners=("y", "sum"),
                                        churn_rate=("y", "mean"), mean_score=("score", "mean"))
    base = y.mean() if len(y) else np.nan
    table["lift"] = table["churn_rate"] / base if base > 0 else np.nan
    table["cumulative_capture"] = table["churners"].cumsum() / max(y.sum(), 1)
    return table.reset_index()


def calibration_table(y: Sequence[int], prob: Sequence[float], bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate in equal-count bins."""
    y, prob = np.asarray(y, dtype=float), np.asarray(prob, dtype=float)
    order = np.argsort(prob, kind="stable")
    group = np.empty(len(y), dtype=int)
    group[order] = np.arange(len(y)) * bins // max(len(y), 1)
    frame = pd.DataFrame({"bin": group, "y": y, "p": prob})
    return (frame.groupby("bin").agg(subscribers=("y", "size"), mean_predicted=("p", "mean"),
                                     observed_rate=("y", "mean")).reset_index())


def evaluate_scores(y: Sequence[int], prob: Sequence[float],
                    true_prob: Sequence[float] | None = None) -> Evaluation:
    """Every figure of the evaluation report for one scored, labelled window."""
    y, prob = np.asarray(y, dtype=int), np.asarray(prob, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("The evaluation window needs churners and stayers; it has "
                         f"{int(y.sum())} churner(s) among {len(y)} rows")
    lift = lift_table(y, prob)
    oracle = None
    if true_prob is not None:
        true_prob = np.asarray(true_prob, dtype=float)
        known = ~np.isnan(true_prob)
        if known.any() and len(np.unique(y[known])) == 2:
            oracle = float(roc_auc_score(y[known], true_prob[known]))
    return Evaluation(
        rows=len(y), positives=int(y.sum()), roc_auc=float(roc_auc_score(y, prob)),
        pr_auc=float(average_precision_score(y, prob)),
        top_decile_lift=float(lift["lift"].iloc[0]), brier=float(brier_score_loss(y, prob)),
        mean_predicted=float(prob.mean()), observed_rate=float(y.mean()),
        oracle_roc_auc=oracle, lift=lift, calibration=calibration_table(y, prob))


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), np.nan).astype(str)


def _numeric_columns() -> Callable:
    return make_column_selector(dtype_include=["number", "bool"])


def _text_columns() -> Callable:
    return make_column_selector(dtype_exclude=["number", "bool"])


def onehot_logistic() -> Pipeline:
    """Baseline 1: median-imputed, standardised numbers and one-hot categories into a
    logistic regression — what most churn notebooks start from."""
    design = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         _numeric_columns()),
        ("categorical", make_pipeline(FunctionTransformer(_as_text, feature_names_out="one-to-one"),
                                      OneHotEncoder(handle_unknown="ignore")), _text_columns()),
    ])
    return make_pipeline(design, LogisticRegression(max_iter=2000))


def plain_boosting(random_state: int | None = 0) -> Pipeline:
    """Baseline 2: HistGradientBoostingClassifier with its defaults, categories ordinal-coded
    (unseen ones read as missing); :func:`fit_for` declares them categorical."""
    design = ColumnTransformer([
        ("numeric", "passthrough", _numeric_columns()),
        ("categorical", make_pipeline(FunctionTransformer(_as_text, feature_names_out="one-to-one"), OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan)), _text_columns()),
    ], verbose_feature_names_out=False).set_output(transform="pandas")
    trees = HistGradientBoostingClassifier(categorical_features=None, random_state=random_state)
    return Pipeline([("design", design), ("trees", trees)])


def _categorical_names(frame: pd.DataFrame) -> list[str]:
    return list(_text_columns()(frame))


def baselines(random_state: int | None = 0) -> dict[str, ClassifierMixin]:
    """The two baselines of issue 6, by name."""
    return {"onehot_logistic": onehot_logistic(), "plain_boosting": plain_boosting(random_state)}


def fit_for(estimator: ClassifierMixin, X: pd.DataFrame, y: np.ndarray) -> ClassifierMixin:
    """Fit a clone; the plain-boosting baseline is told which columns are categories."""
    model = clone(estimator)
    if isinstance(model, Pipeline) and "trees" in model.named_steps:
        names = _categorical_names(X)
        model.set_params(trees__categorical_features=names or None)
    return model.fit(X, y)


def compare_estimators(estimators: Mapping[str, ClassifierMixin],
                       tables: Mapping[str, tuple[pd.DataFrame, np.ndarray, pd.DataFrame,
                                                  np.ndarray]]) -> pd.DataFrame:
    """ROC-AUC and PR-AUC of each estimator on each table's later window.

    ``tables`` maps a name to ``(X_train, y_train, X_test, y_test)``; returns one row per
    table and estimator.
    """
    rows = []
    for table, (X_train, y_train, X_test, y_test) in tables.items():
        for name, estimator in estimators.items():
            prob = fit_for(estimator, X_train, y_train).predict_proba(X_test)[:, 1]
            rows.append({"table": table, "estimator": name,
                         "roc_auc": float(roc_auc_score(y_test, prob)),
                         "pr_auc": float(average_precision_score(y_test, prob))})
    return pd.DataFrame(rows)

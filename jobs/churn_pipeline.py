"""Churn jobs over the mart: build snapshots, train and evaluate on a time split, score a month.

The jobs read through ``data_access.mart.churn`` and return models, frames and manifests; saving
them is the caller's business (the model in ``data_access.store.churn``, the scores in
``data_access.store.churn_scores``), so tests can run a job end to end without a store.
"""

from __future__ import annotations

import datetime as dt
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sklearn

from analytics.churn.model import MODEL_FORMAT, ChurnModel
from analytics.churn.evaluation import Evaluation, baselines, evaluate_scores, fit_for
from analytics.churn.features import (CATEGORICAL_FEATURES, FEATURES, RIVAL_MONTHS,
                                      SNAPSHOT_LAGS, TimeSplit, build_features, feature_schema,
                                      group_figures, plan_time_split, rival_pressure)
from analytics.churn.reasons import driver_swaps, global_drivers, reason_codes
from analytics.churn.retention import (ACTION_ROWS, GROUP_FADING, group_warnings, list_ranks,
                                       retention_table, risk_band, suggest_actions)
from analytics.value.netvalue import subscriber_net_value
from data_access.mart import churn as reads
from data_access.mart.queries import available_months
from data_access.db import ConcertoError
from analytics.network import causal_quality, monthly_kpis
from data_access.mart import network as network_reads

if TYPE_CHECKING:
    import sqlalchemy as sa

Progress = Callable[[str], None]
SAMPLE_MODULUS = 100
#: The risk bands whose subscribers are told why they are at risk (the page's "at risk").
EXPLAIN_BANDS = ("high", "elevated")
#: Besides those, this many of the largest expected losses get reasons (the list's head).
EXPLAIN_TOP = 50_000
#: Explained rows handed over at a time (``settled``), while the next part is explained.
EXPLAIN_PART = 50_000


@dataclass(frozen=True)
class Snapshot:
    """Features and context of every (sampled) subscriber billed in ``month``."""

    month: pd.Timestamp
    features: pd.DataFrame
    context: pd.DataFrame = field(repr=False)


@dataclass
class TrainedModel:
    """A fitted model, its evaluation on the later window, and the manifest to save with it."""

    model: ChurnModel
    evaluation: Evaluation
    manifest: dict


def _quiet(_: str) -> None:
    pass


def load_snapshot(engine: sa.Engine, month: pd.Timestamp,
                  sample: tuple[int, list[int]] | None = None) -> Snapshot:
    """The feature frame and the retention context of one snapshot month."""
    month = pd.Timestamp(month)
    raw = reads.load_churn_snapshot(engine, month.date(), lags=SNAPSHOT_LAGS, sample=sample)
    if raw.empty:
        raise ConcertoError(f"No subscriber is billed in {month:%Y-%m}: nothing to score")
    benefits = reads.load_benefits(engine, month.date())
    events = reads.load_rival_events(engine, month.date(), months=RIVAL_MONTHS)
    rivals = rival_pressure(events, reads.load_rival_figures(engine, month.date()), month,
                            raw["region_id"].unique())
    groups = group_figures(reads.load_group_sizes(engine, month.date()))
    features = build_features(raw, month, benefits=benefits, rivals=rivals, groups=groups,
                              network=network_quality(engine, month))
    context = raw.set_index("subscriber_id")[["branch", "micro_region", "segment", "group_id",
                                              "plan_family", "channel_type", "region_id"]]
    usage = pd.DataFrame({"subscriber_id": raw["subscriber_id"],
                          "revenue": raw[["revenue_0", "revenue_1", "revenue_2"]].sum(axis=1),
                          "service_cost": raw[["service_cost_0", "service_cost_1",
                                               "service_cost_2"]].sum(axis=1)})
    costs = benefits.rename(columns={"campaign_cost_3m": "cost"})[["subscriber_id", "cost"]]
    context = context.assign(net_value=subscriber_net_value(usage, costs).reindex(context.index))
    local = events.dropna(subset=["region_id"]).groupby("region_id").size()
    counts = local.reindex(context["region_id"].to_numpy(), fill_value=0).to_numpy()
    return Snapshot(month, features, context.assign(rival_events_6m=counts))


def network_quality(engine: sa.Engine, month: pd.Timestamp) -> pd.DataFrame | None:
    """Each micro-region's network quality index in ``month`` and the month before, against
    its own months before (None when the mart has no network figures)."""
    if not network_reads.has_network_data(engine):
        return None
    monthly = monthly_kpis(network_reads.load_network_months(engine),
                           network_reads.load_region_months(engine))
    return causal_quality(monthly, month)


def _samples(n_snapshots: int, subscribers: int, max_rows: int) -> list[tuple | None]:
    """Per training snapshot: a subscriber-id sample keeping the total near ``max_rows``.

    Residues rotate between snapshots, so each snapshot sees different subscribers.
    """
    share = max_rows / max(1, n_snapshots * subscribers)
    if share >= 1:
        return [None] * n_snapshots
    keep = max(1, math.ceil(SAMPLE_MODULUS * share))
    return [(SAMPLE_MODULUS, [(i * keep + r) % SAMPLE_MODULUS for r in range(keep)])
            for i in range(n_snapshots)]


def labelled(engine: sa.Engine, months: tuple[pd.Timestamp, ...], horizon: int, *,
             max_rows: int | None = None, progress: Progress = _quiet
             ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Features, labels and the true probabilities (NaN where unknown) of several snapshots."""
    samples = [None] * len(months)
    if max_rows is not None:
        latest = reads.load_churn_labels(engine, months[-1].date(), horizon)
        samples = _samples(len(months), len(latest), max_rows)
    frames, labels, truths = [], [], []
    for month, sample in zip(months, samples, strict=True):
        progress(f"features {month:%Y-%m}")
        snapshot = load_snapshot(engine, month, sample)
        label = reads.load_churn_labels(engine, month.date(), horizon).set_index("subscriber_id")
        truth = reads.load_true_churn_prob(engine, month.date()).set_index("subscriber_id")
        frames.append(snapshot.features)
        labels.append(label["churned"].reindex(snapshot.features.index).fillna(False)
                      .to_numpy(dtype=int))
        truths.append(truth["prob"].reindex(snapshot.features.index).to_numpy(dtype=float))
    info = pd.DataFrame({"month": np.repeat([m.strftime("%Y-%m") for m in months],
                                            [len(f) for f in frames])})
    info["true_prob"] = np.concatenate(truths)
    return pd.concat(frames), np.concatenate(labels), info


def train_churn_model(engine: sa.Engine, *, horizon: int = 1, train_months: int = 6,
                      test_months: int = 1, max_rows: int = 1_000_000, random_state: int = 0,
                      compare: bool = True, progress: Progress = _quiet,
                      **params: object) -> TrainedModel:
    """Fit on the training snapshots, judge on the later test window, describe it all.

    ``params`` go to :class:`ChurnModel`. With ``compare`` the two baselines are fitted on the
    same rows and judged on the same window.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        split = plan_time_split(available_months(engine), horizon=horizon,
                                train_months=train_months, test_months=test_months)
    except ValueError as exc:
        raise ConcertoError(str(exc)) from exc
    X, y, _ = labelled(engine, split.train, horizon, max_rows=max_rows, progress=progress)
    X_test, y_test, test_info = labelled(engine, split.test, horizon, progress=progress)
    timings["features"] = time.perf_counter() - started
    if y.sum() == 0 or y.sum() == len(y):
        raise ConcertoError("The training window has no churners (or only churners): "
                            "the mart is too small or too short to learn from")
    progress(f"fitting on {len(X):,} rows ({int(y.sum()):,} churners)")
    started = time.perf_counter()
    model = ChurnModel(random_state=random_state, **params).fit(X, y)
    timings["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    prob = model.predict_proba(X_test)[:, 1]
    truth = test_info["true_prob"].to_numpy()
    evaluation = evaluate_scores(y_test, prob, truth if np.isfinite(truth).any() else None)
    timings["score_test"] = time.perf_counter() - started
    compared = {}
    if compare:
        progress("fitting the baselines")
        for name, estimator in baselines(random_state).items():
            fitted = fit_for(estimator, X, y)
            compared[name] = evaluate_scores(y_test, fitted.predict_proba(X_test)[:, 1]).metrics()
    progress("drivers")
    started = time.perf_counter()
    drivers = global_drivers(model, X_test, y_test, random_state=random_state)
    timings["drivers"] = time.perf_counter() - started
    manifest = _manifest(model, split, X, y, X_test, evaluation, compared, drivers, timings)
    return TrainedModel(model, evaluation, manifest)


def _months(months: tuple[pd.Timestamp, ...]) -> list[str]:
    return [m.strftime("%Y-%m") for m in months]


def _manifest(model: ChurnModel, split: TimeSplit, X: pd.DataFrame, y: np.ndarray,
              X_test: pd.DataFrame, evaluation: Evaluation, compared: dict,
              drivers: pd.DataFrame, timings: dict[str, float]) -> dict:
    last_label = split.train[-1] + pd.DateOffset(months=split.horizon)
    return {
        "model": "analytics.churn.ChurnModel", "model_format": MODEL_FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "horizon_months": split.horizon,
        "training_window": {"snapshots": _months(split.train),
                            "labels_until": last_label.strftime("%Y-%m"),
                            "rows": len(X), "churners": int(y.sum())},
        "test_window": {"snapshots": _months(split.test), "rows": len(X_test)},
        "metrics": evaluation.metrics(), "baselines": compared,
        "lift": evaluation.lift.to_dict(orient="records"),
        "calibration": evaluation.calibration.to_dict(orient="records"),
        "drivers": drivers.to_dict(orient="records"),
        "features": feature_schema(X), "params": model.get_params(),
        "boosting_rounds": int(model.n_iter_), "blend": [float(b) for b in model.blend_],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "software": {"python": platform.python_version(), "scikit-learn": sklearn.__version__},
    }


def check_schema(features: pd.DataFrame, expected: dict[str, str], version: str) -> None:
    """Refuse, with a message, features that differ from those the model was trained on."""
    got = feature_schema(features)
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    changed = [c for c in expected if c in got and got[c] != expected[c]]
    if missing or extra or changed or list(got) != list(expected):
        detail = "; ".join(part for part in (
            f"missing: {', '.join(missing)}" if missing else "",
            f"not known to the model: {', '.join(extra)}" if extra else "",
            f"kind changed: {', '.join(changed)}" if changed else "",
            "same columns in another order" if not (missing or extra or changed) else "") if part)
        raise ConcertoError(f"The churn model {version} was trained on a different feature "
                            f"schema ({detail}). Retrain it on this mart with "
                            "`python -m jobs.churn train`.")


def score_snapshot(model: ChurnModel, manifest: dict, snapshot: Snapshot,
                   groups: pd.DataFrame, group_sizes: pd.DataFrame,
                   tactics: pd.DataFrame | None = None, *, fading: float = GROUP_FADING,
                   explain_top: int = EXPLAIN_TOP, progress: Progress = _quiet,
                   settled: Callable[[pd.DataFrame], None] | None = None,
                   explain_part: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one snapshot: the ranked retention table and the group warnings.

    Reasons are given to every subscriber of the ``EXPLAIN_BANDS`` (risk at least 1.5 times
    the base rate) and to the ``explain_top`` largest expected losses, so every row at the
    head of the list has them; an average or low risk has no reason to tell.
    With ``tactics`` (the arsenal's catalogue) the top rows get a suggested action;
    ``fading`` is the fall in a leased-line group's usage that warns its account manager.
    ``settled`` is handed rows as soon as they are final, for the caller to write while the
    rest is worked out: first the rows that get no reasons (most of them), then the
    explained rows below the ``ACTION_ROWS`` that get a tactic, ``explain_part`` (by default
    ``EXPLAIN_PART``) at a time, each part while the next is explained. The table returned
    still holds every row.
    """
    check_schema(snapshot.features, manifest["features"], manifest.get("version", "?"))
    features = snapshot.features
    progress(f"scoring {len(features):,} subscribers")
    base = model.decision_function(features)
    prob = pd.Series(model.probability_of(base), index=features.index)
    bands = risk_band(prob, float(prob.mean()))
    explain = (bands.isin(EXPLAIN_BANDS)
               | (list_ranks(prob, snapshot.context["net_value"]) <= explain_top)).to_numpy()
    context = snapshot.context.join(groups.set_index("group_id")[["group_name"]], on="group_id")
    context = context.drop(columns=["net_value", "region_id", "rival_events_6m"]).assign(
        tenure_months=features["tenure_months"].astype(int),
        arpu=features["arpu_3m"].round(2))
    scores = retention_table(prob, snapshot.context["net_value"], context,
                             pd.DataFrame(index=prob.index[:0]))
    scores["churn_prob"] = scores["churn_prob"].round(5)
    scores["risk_band"] = bands.reindex(scores["subscriber_id"]).to_numpy()
    if tactics is not None:
        scores["action"] = ""  # an action answers a reason: the rows without one get none
    explained = pd.Series(explain, index=features.index).reindex(
        scores["subscriber_id"]).to_numpy()
    progress(f"reasons for {int(explain.sum()):,} subscribers")
    positions = np.flatnonzero(explained)
    if settled is None:
        _explain(model, features, snapshot.context, base, scores, positions)
    else:
        # Final first: the rows without reasons, then (a part at a time, while the next is
        # explained) the explained ones below the head of the list, which get no tactic;
        # the head's rows stay until their tactics are chosen.
        settled(scores[~explained])
        head = ACTION_ROWS if tactics is not None else 0
        swaps = driver_swaps(features, features.columns)
        below, step = positions[positions >= head], int(explain_part or EXPLAIN_PART)
        for start in range(0, len(below), step):
            part = below[start:start + step]
            _explain(model, features, snapshot.context, base, scores, part, swaps=swaps)
            settled(scores.iloc[part])
        _explain(model, features, snapshot.context, base, scores, positions[positions < head],
                 swaps=swaps)
    if tactics is not None:
        progress("retention actions from the arsenal")
        scores["action"] = suggest_actions(scores, tactics, rows=ACTION_ROWS).to_numpy()
    progress("enterprise-group warnings")
    warnings = group_warnings(scores, groups, group_figures(group_sizes).reset_index(),
                              base_rate=float(prob.mean()), fading=fading)
    return scores, warnings


def _explain(model: ChurnModel, features: pd.DataFrame, context: pd.DataFrame,
             base: np.ndarray, scores: pd.DataFrame, positions: np.ndarray, *,
             swaps: dict | None = None) -> None:
    """Write the reasons of the ranked ``scores`` rows at ``positions`` into ``scores``
    (``features``, ``context`` and ``base`` are indexed by subscriber, the whole population
    being the reference)."""
    if not len(positions):
        return
    ids = scores["subscriber_id"].to_numpy()[positions]
    rows = features.index.get_indexer(ids)
    reasons = reason_codes(model, features.iloc[rows], context.iloc[rows], base=base[rows],
                           reference=features, swaps=swaps)
    at = scores.index[positions]
    for column in reasons.columns:
        scores.loc[at, column] = reasons[column].fillna("").to_numpy()


def scoring_month(engine: sa.Engine, month: object = None) -> pd.Timestamp:
    """The month a scoring run scores: ``month``, else the mart's latest billed month."""
    months = available_months(engine)
    if not months:
        raise ConcertoError("The mart has no billed months: build or load it first")
    return pd.Timestamp(month) if month is not None else pd.Timestamp(months[-1])


def score_latest(engine: sa.Engine, model: ChurnModel, manifest: dict,
                 month: pd.Timestamp | None = None, tactics: pd.DataFrame | None = None, *,
                 fading: float = GROUP_FADING, explain_top: int = EXPLAIN_TOP,
                 progress: Progress = _quiet,
                 settled: Callable[[pd.DataFrame], None] | None = None
                 ) -> tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame]:
    """Score the latest month (or ``month``): (month, retention table, group warnings);
    ``settled`` as in :func:`score_snapshot`."""
    month = scoring_month(engine, month)
    progress(f"features {month:%Y-%m}")
    snapshot = load_snapshot(engine, month)
    scores, warnings = score_snapshot(model, manifest, snapshot, reads.load_groups(engine),
                                      reads.load_group_sizes(engine, month.date()), tactics,
                                      fading=fading, explain_top=explain_top,
                                      progress=progress, settled=settled)
    return month, scores, warnings


__all__ = ["CATEGORICAL_FEATURES", "FEATURES", "Snapshot", "TrainedModel", "check_schema",
           "labelled", "load_snapshot", "score_latest", "score_snapshot", "scoring_month",
           "train_churn_model"]

"""Why subscribers are at risk: global drivers and per-subscriber reason codes in plain words.

A reason applies to a subscriber when its condition holds (ARPU fell by a tenth or more, the
discount contract reaches its anniversary, …). Its weight for that subscriber is what the
model says it costs: the drop in the model's log-odds when the reason's features are set to
an unremarkable value (no fall, no anniversary, …) with everything else unchanged. Each code
carries a tag (``arpu_drop``) for the retention arsenal and a sentence for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analytics.churn.features import FEATURE_GROUPS

#: Plain names of the feature groups, for the drivers chart.
DRIVER_LABELS = {
    "arpu_trend": "ARPU trend", "usage_trend": "usage trend (MOU, DOU)",
    "usage_level": "usage level", "spend_level": "spend and value level",
    "discount": "discount dependency", "data_quota": "data quota use", "tenure": "tenure",
    "plan": "plan", "enterprise_group": "enterprise group", "channel": "activation channel",
    "segment": "segment and age", "competitors": "rival pressure",
    "benefits": "benefits received", "region": "branch",
}
MIN_EFFECT = 0.05  # log-odds: smaller effects are not worth a sentence


def _pct(values: pd.Series) -> pd.Series:
    return values.round().astype(int).astype(str) + "%"


def _months(values: pd.Series) -> pd.Series:
    return values.astype(int).astype(str) + np.where(values == 1, " month", " months")


def _arpu_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    fall = 100 * (1 - np.exp(f["arpu_trend_3m"]))
    return "ARPU down " + _pct(fall) + " over " + _months(f["tenure_months"].clip(upper=3))


def _usage_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    mou, dou = 100 * (1 - np.exp(f["mou_trend_3m"])), 100 * (1 - np.exp(f["dou_trend_3m"]))
    parts = pd.Series(np.where(mou >= 15, "minutes down " + _pct(mou.fillna(0)), ""), index=f.index)
    both = (mou >= 15) & (dou >= 15)
    parts = parts + np.where(both, " and ", "") + np.where(dou >= 15, "data down " + _pct(
        dou.fillna(0)), "")
    return parts + " over " + _months(f["tenure_months"].clip(upper=3))


def _discount_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    return "discount (" + _pct(100 * f["discount_share"]) + " of the bill) ends next month " \
        "at the contract anniversary"


def _quota_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    return "used " + _pct(100 * f["quota_use"]) + " of the plan's data quota"


def _rival_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    count = c["rival_events_3m"].reindex(f.index).fillna(0).astype(int)
    where = c["micro_region"].reindex(f.index).astype(str)
    return count.astype(str) + np.where(count == 1, " rival offer", " rival offers") + \
        " in " + where + " in the last 3 months"


def _tenure_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    tenure = f["tenure_months"].astype(int)
    return pd.Series(np.where(tenure == 0, "joined this month",
                              "joined " + _months(tenure) + " ago"), index=f.index)


def _low_usage_text(f: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    return "uses only " + f["mou_3m"].round().astype(int).astype(str) + " minutes a month"


def _fixed(text: str) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
    return lambda f, c: pd.Series(text, index=f.index)


def _set(**values: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.assign(**values)
    return change


@dataclass(frozen=True)
class Reason:
    """One reason code: when it applies, what "not so" looks like, and how to say it."""

    tag: str
    applies: Callable[[pd.DataFrame], pd.Series]
    counterfactual: Callable[[pd.DataFrame], pd.DataFrame]
    text: Callable[[pd.DataFrame, pd.DataFrame], pd.Series]


REASONS: tuple[Reason, ...] = (
    Reason("arpu_drop", lambda f: f["arpu_trend_3m"] <= np.log(0.9),
           _set(arpu_trend_3m=0.0, arpu_trend_1m=0.0), _arpu_text),
    Reason("usage_fading", lambda f: np.minimum(f["mou_trend_3m"].fillna(0),
                                                f["dou_trend_3m"].fillna(0)) <= np.log(0.85),
           _set(mou_trend_3m=0.0, mou_trend_1m=0.0, dou_trend_3m=0.0, dou_trend_1m=0.0),
           _usage_text),
    Reason("discount_ending", lambda f: f["discount_anniversary"] > 0,
           _set(discount_anniversary=0.0, contract_month=5.0), _discount_text),
    Reason("data_near_quota", lambda f: f["quota_use"] >= 0.9,
           _set(quota_use=0.5, quota_use_3m=0.5), _quota_text),
    Reason("competitor_pressure", lambda f: f["rival_events_local"] >= 0.5,
           _set(rival_events_local=0.0, rival_price_events=0.0), _rival_text),
    Reason("tenure_short", lambda f: f["tenure_months"] < 6,
           _set(tenure_months=24.0, months_billed=6.0, contract_month=0.0), _tenure_text),
    Reason("low_usage", lambda f: f["mou_3m"] < 100, _set(mou=250.0, mou_3m=250.0),
           _low_usage_text),
    Reason("prepaid_plan", lambda f: f["plan_family"] == "prepaid",
           _set(plan_family="postpaid"), _fixed("prepaid plan with no contract")),
    Reason("social_outlet", lambda f: f["channel_type"] == "social_outlet",
           _set(channel_type="own_hall"), _fixed("activated through a social outlet")),
    Reason("no_group", lambda f: f["in_group"] == 0,
           _set(in_group=1.0, group_size=50.0, group_spend_trend=0.0),
           _fixed("not a member of an enterprise group")),
)
TAGS = tuple(r.tag for r in REASONS)


def reason_effects(model, features: pd.DataFrame, context: pd.DataFrame,
                   base: np.ndarray | None = None) -> pd.DataFrame:
    """Every applicable reason of every row with its effect (log-odds) and its sentence.

    ``context`` (indexed like ``features``) supplies ``micro_region`` and ``rival_events_3m``
    for the rival sentence; ``base`` is ``model.decision_function(features)`` when already
    computed. Returns long rows: subscriber_id, tag, effect, text.
    """
    if base is None:
        base = model.decision_function(features)
    base = pd.Series(base, index=features.index)
    parts = []
    for reason in REASONS:
        mask = reason.applies(features).fillna(False).to_numpy(dtype=bool)
        if not mask.any():
            continue
        rows = features[mask]
        effect = base[mask].to_numpy() - model.decision_function(reason.counterfactual(rows))
        parts.append(pd.DataFrame({"subscriber_id": rows.index, "tag": reason.tag,
                                   "effect": effect, "text": reason.text(rows, context).to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["subscriber_id", "tag", "effect", "text"])
    return pd.concat(parts, ignore_index=True)


def reason_codes(model, features: pd.DataFrame, context: pd.DataFrame, *, top: int = 3,
                 min_effect: float = MIN_EFFECT, base: np.ndarray | None = None) -> pd.DataFrame:
    """The ``top`` strongest reasons per subscriber (index subscriber_id).

    Columns: ``reason_tags`` (comma-separated tags, strongest first), ``reasons``
    (sentences joined with "; ") and ``top_reason``; rows without a reason get empty strings.
    """
    long = reason_effects(model, features, context, base)
    long = long[long["effect"] >= min_effect].sort_values(["subscriber_id", "effect"],
                                                          ascending=[True, False], kind="stable")
    long = long.assign(order=long.groupby("subscriber_id", sort=False).cumcount())
    long = long[long["order"] < top]
    wide = long.pivot(index="subscriber_id", columns="order", values=["tag", "text"])
    tags = pd.Series("", index=wide.index, dtype=object)
    texts = pd.Series("", index=wide.index, dtype=object)
    for k in range(top):  # joined column by column: no Python call per subscriber
        if ("tag", k) not in wide:
            break
        tag, text = wide[("tag", k)], wide[("text", k)]
        present = tag.notna()
        tags = tags.where(~present, tags + ("," if k else "") + tag.fillna(""))
        texts = texts.where(~present, texts + ("; " if k else "") + text.fillna(""))
    first = wide[("text", 0)] if ("text", 0) in wide else pd.Series(dtype=object)
    out = pd.DataFrame({"reason_tags": tags, "reasons": texts, "top_reason": first})
    return out.reindex(features.index).fillna("")


def global_drivers(model, features: pd.DataFrame, y: np.ndarray, *, n_repeats: int = 2,
                   max_rows: int = 20_000, random_state: int = 0) -> pd.DataFrame:
    """Permutation importance per driver: the fall in ROC-AUC when a group's columns are
    shuffled together (so correlated columns of one driver do not hide each other).

    Returns driver, label, importance (mean fall) and spread (its standard deviation),
    largest first.
    """
    rng = np.random.default_rng(random_state)
    y = np.asarray(y, dtype=int)
    if len(features) > max_rows:
        keep = np.sort(rng.choice(len(features), max_rows, replace=False))
        features, y = features.iloc[keep], y[keep]
    baseline = roc_auc_score(y, model.decision_function(features))
    rows = []
    for group, columns in FEATURE_GROUPS.items():
        present = [c for c in columns if c in features.columns]
        falls = []
        for _ in range(n_repeats):
            shuffled = features.copy()
            order = rng.permutation(len(features))
            for column in present:
                shuffled[column] = features[column].to_numpy()[order]
            falls.append(baseline - roc_auc_score(y, model.decision_function(shuffled)))
        rows.append({"driver": group, "label": DRIVER_LABELS.get(group, group),
                     "importance": float(np.mean(falls)), "spread": float(np.std(falls))})
    return pd.DataFrame(rows).sort_values("importance", ascending=False, ignore_index=True)

"""Why subscribers are at risk: global drivers and per-subscriber reason codes in plain words.

Reasons come from the fitted model itself, not from rules written beside it. For each
subscriber and each driver (a group of features, ``FEATURE_GROUPS``) the model is asked how
much of the subscriber's risk that driver carries: the subscriber's log-odds minus the
log-odds when the driver's features are set to the population's typical values (medians of
continuous columns; for categories and flags, each common value weighted by its frequency,
:func:`reference_values`), everything else unchanged. A positive effect means the
subscriber's own values of that driver raise the risk above what typical values would give;
the drivers with the largest positive effects (at least ``MIN_EFFECT``) are the
subscriber's reasons. Whether something is a reason, and its weight, is the model's; the
sentence only reports the subscriber's own figures ("ARPU down 23% over 3 months"). Each
code carries a tag for the retention arsenal (``arpu_drop``, …).

Cost: one model evaluation per driver and reference value (about 30 in all) for every
explained subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

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
    "benefits": "benefits received", "network": "network quality", "region": "branch",
}
MIN_EFFECT = 0.05  # log-odds: smaller effects are not worth a sentence

#: Per driver: the tag when the subscriber's value points the named way, and otherwise.
#: Only the first of each pair names something the retention arsenal answers.
_TAG_PAIRS = {
    "arpu_trend": ("arpu_drop", "arpu_trend"), "usage_trend": ("usage_fading", "usage_trend"),
    "usage_level": ("low_usage", "usage_level"), "discount": ("discount_ending", "discount"),
    "data_quota": ("data_near_quota", "data_quota"),
    "competitors": ("competitor_pressure", "rivals"), "tenure": ("tenure_short", "tenure"),
    "plan": ("prepaid_plan", "plan"), "enterprise_group": ("no_group", "enterprise_group"),
    "channel": ("activation_channel", "activation_channel"),
    "segment": ("segment", "segment"), "spend_level": ("spend_level", "spend_level"),
    "benefits": ("benefits", "benefits"), "network": ("network_trouble", "network"),
    "region": ("branch", "branch"),
}
TAGS = tuple(dict.fromkeys(t for pair in _TAG_PAIRS.values() for t in pair))


def _num(f: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(f[column], errors="coerce").astype(float)


def _pct(values: pd.Series) -> pd.Series:
    return values.abs().round().fillna(0).astype(int).astype(str) + "%"


def _months(values: pd.Series) -> pd.Series:
    values = values.fillna(0).astype(int)
    return values.astype(str) + np.where(values == 1, " month", " months")


def _change(name: str, trend: pd.Series, tenure: pd.Series) -> pd.Series:
    change = 100 * (np.exp(trend) - 1)
    word = np.where(change < 0, " down ", " up ")
    text = name + word + _pct(change) + " over " + _months(tenure.clip(upper=3))
    return text.where(trend.notna(), name + " not yet comparable (new subscriber)")


def _arpu(f, c):
    return _change("ARPU", _num(f, "arpu_trend_3m"), _num(f, "tenure_months"))


def _usage_trend(f, c):
    tenure = _num(f, "tenure_months")
    return (_change("minutes", _num(f, "mou_trend_3m"), tenure) + ", "
            + _change("data", _num(f, "dou_trend_3m"), tenure))


def _usage_level(f, c):
    return ("uses " + _num(f, "mou_3m").round().fillna(0).astype(int).astype(str)
            + " minutes and " + _num(f, "dou_3m").round().fillna(0).astype(int).map("{:,}".format)
            + " MB a month")


def _spend(f, c):
    return ("pays ¥" + _num(f, "arpu_3m").round().fillna(0).astype(int).astype(str)
            + " a month (" + _num(f, "spend_vs_fee").round(1).fillna(0).astype(str)
            + "× the plan fee)")


def _discount(f, c):
    share, months = _num(f, "discount_share"), _num(f, "discount_months_6m").fillna(0)
    text = ("discount of " + _pct(100 * share) + " of the bill, on " + months.astype(int)
            .astype(str) + " of the last 6 months")
    return text.where(share > 0, "no discount now (" + months.astype(int).astype(str)
                      + " discounted months of the last 6)")


def _quota(f, c):
    return "used " + _pct(100 * _num(f, "quota_use")) + " of the plan's data quota"


def _tenure(f, c):
    tenure = _num(f, "tenure_months").fillna(0).astype(int)
    return pd.Series(np.where(tenure == 0, "joined this month", "joined " + _months(tenure)
                              + " ago"), index=f.index)


def _plan(f, c):
    return ("on a " + f["plan_family"].astype(str) + " plan (¥"
            + _num(f, "monthly_fee").round().fillna(0).astype(int).astype(str) + " a month)")


def _group(f, c):
    size = _num(f, "group_size").fillna(0).astype(int).astype(str)
    inside = "member of an enterprise group of " + size
    return inside.where(_num(f, "in_group") > 0, "not a member of an enterprise group")


def _channel(f, c):
    return "activated through a " + f["channel_type"].astype(str).str.replace("_", " ")


def _segment(f, c):
    return (f["segment"].astype(str).str.replace("_", " ") + " segment, age "
            + _num(f, "age").fillna(0).astype(int).astype(str))


def _rivals(f, c):
    where = c["micro_region"].reindex(f.index).astype(str) if "micro_region" in c else "the area"
    count = _num(f, "rival_events_local").fillna(0).astype(int)
    ago = _num(f, "rival_months_since_local")
    text = (count.astype(str) + np.where(count == 1, " rival offer", " rival offers") + " in "
            + where + " in the last 6 months, the latest " + _months(ago) + " ago")
    return text.where(count > 0, "no rival offer in " + where + " in the last 6 months")


def _benefits(f, c):
    count = _num(f, "benefits_12m").fillna(0).astype(int)
    return (count.astype(str) + np.where(count == 1, " benefit", " benefits")
            + " in the last 12 months")


def _network(f, c):
    where = c["micro_region"].reindex(f.index).astype(str) if "micro_region" in c else "the area"
    now = _num(f, "network_quality")
    text = ("network in " + where + " " + np.where(now > 1, "well below", np.where(
        now > 0, "below", "at or above")) + " its usual quality this month (index "
        + now.round(1).astype(str) + ")")
    return pd.Series(text, index=f.index).where(now.notna(), "no network figures for " + where)


def _branch(f, c):
    return "lives in the " + f["branch"].astype(str) + " branch"


_TEXT: dict[str, Callable[[pd.DataFrame, pd.DataFrame], pd.Series]] = {
    "arpu_trend": _arpu, "usage_trend": _usage_trend, "usage_level": _usage_level,
    "spend_level": _spend, "discount": _discount, "data_quota": _quota, "tenure": _tenure,
    "plan": _plan, "enterprise_group": _group, "channel": _channel, "segment": _segment,
    "competitors": _rivals, "benefits": _benefits, "network": _network, "region": _branch,
}


def _first_tag(driver: str, f: pd.DataFrame, reference: pd.DataFrame) -> pd.Series:
    """Whether the subscriber's value points the way the first tag of the pair names."""
    def below(column: str) -> pd.Series:
        return _num(f, column) < float(np.nanmedian(_num(reference, column)))

    tests = {
        "arpu_trend": lambda: _num(f, "arpu_trend_3m") < 0,
        "usage_trend": lambda: np.minimum(_num(f, "mou_trend_3m").fillna(0),
                                          _num(f, "dou_trend_3m").fillna(0)) < 0,
        "usage_level": lambda: below("mou_3m"),
        "discount": lambda: _num(f, "discount_share") > 0,
        "data_quota": lambda: ~below("quota_use") & _num(f, "quota_use").notna(),
        "competitors": lambda: _num(f, "rival_events_local") > 0,
        "network": lambda: _num(f, "network_quality") > 0,
        "tenure": lambda: below("tenure_months"),
        "plan": lambda: f["plan_family"].astype(str) == "prepaid",
        "enterprise_group": lambda: _num(f, "in_group") == 0,
    }
    test = tests.get(driver)
    return (pd.Series(True, index=f.index) if test is None
            else pd.Series(test(), index=f.index).fillna(False).astype(bool))


#: At most this many joint values of a driver's discrete columns stand for the population.
MAX_REFERENCES = 6


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code among the column's distinct values (missing: the last code) and the
    values themselves (missing as NaN), by :func:`pandas.factorize`."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True, sort=True)
    uniques = np.append(np.asarray(uniques, dtype=object), np.nan)
    return np.where(codes < 0, len(uniques) - 1, codes).astype(np.int64), uniques


def _at_most_two(values: np.ndarray) -> bool:
    """Whether the non-missing ``values`` take at most two distinct values (a flag)."""
    known = values[~np.isnan(values)]
    others = known[known != known[0]] if len(known) else known
    return len(others) == 0 or bool((others == others[0]).all())


def reference_values(features: pd.DataFrame, columns: list[str]) -> list[tuple[float, dict]]:
    """The population's typical values of one driver's ``columns``, with their weights.

    Continuous columns take the median of the non-missing values (missing when most are
    missing). Discrete columns (categories, and numbers with at most two values such as
    flags) are not averaged: each of their ``MAX_REFERENCES`` most common joint values is a
    reference, weighted by how common it is among them (ties: the smaller values first),
    with the continuous columns at their median among the subscribers holding it.
    Costs a few passes over integer codes, not a comparison of objects per row (0.3 s for a
    million subscribers, where comparing tuples of objects took 7 s).
    """
    numbers = {c: pd.to_numeric(features[c], errors="coerce").to_numpy(dtype=float,
                                                                        na_value=np.nan)
               for c in columns if pd.api.types.is_numeric_dtype(features[c])}
    discrete = [c for c in columns if c not in numbers or _at_most_two(numbers[c])]
    continuous = [c for c in columns if c not in discrete]

    def typical(column: str, rows: np.ndarray | None = None) -> float:
        values = numbers[column] if rows is None else numbers[column][rows]
        known = values[~np.isnan(values)]
        return float(np.median(known)) if len(known) and len(known) >= 0.5 * len(values) \
            else np.nan

    if not discrete:
        return [(1.0, {c: typical(c) for c in continuous})]
    key = np.zeros(len(features), dtype=np.int64)
    uniques = []
    for column in discrete:  # one integer per joint value: mixed radix over the columns
        codes, values = _codes(features[column])
        key = key * len(values) + codes
        uniques.append(values)
    combos, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    order = np.lexsort((combos, -counts))[:MAX_REFERENCES]  # most common; ties: smaller key
    total = counts[order].sum()
    out = []
    for at in order:
        rest, values = int(combos[at]), {}
        for column, column_values in zip(reversed(discrete), reversed(uniques), strict=True):
            rest, code = divmod(rest, len(column_values))
            values[column] = column_values[code]
        values = {c: values[c] for c in discrete}
        held = inverse.reshape(-1) == at
        values |= {c: typical(c, held) for c in continuous}
        out.append((float(counts[at] / total), values))
    return out


def driver_swaps(reference: pd.DataFrame, columns: Iterable[str]
                 ) -> dict[str, list[tuple[float, dict]]]:
    """Each driver's :func:`reference_values` in ``reference``, for the drivers with columns
    among ``columns``: what :func:`driver_effects` swaps in. Worked out once, it serves
    several calls on parts of the same population (a second or so at a million rows)."""
    columns = set(columns)
    return {driver: reference_values(reference, present)
            for driver, group in FEATURE_GROUPS.items()
            if (present := [c for c in group if c in columns])}


def driver_effects(model, features: pd.DataFrame, reference: pd.DataFrame | None = None,
                   base: np.ndarray | None = None, *,
                   swaps: Mapping[str, list[tuple[float, dict]]] | None = None) -> pd.DataFrame:
    """The model's attribution of each row's log-odds to each driver (one column per group).

    ``effect = decision(x) − Σ_r w_r · decision(x with the driver's columns set to r)`` over
    the driver's :func:`reference_values` in ``reference`` (by default ``features``): how
    much the subscriber's own values of the driver move the risk away from the population's
    typical values. ``base`` is ``model.decision_function(features)`` when already computed,
    ``swaps`` :func:`driver_swaps` of ``reference`` when already worked out.
    """
    reference = features if reference is None else reference
    swaps = driver_swaps(reference, features.columns) if swaps is None else swaps
    if hasattr(model, "swap_effects"):  # ChurnModel: only the trees that read each driver
        return model.swap_effects(features, swaps).set_axis(features.index)
    if base is None:
        base = model.decision_function(features)
    out = pd.DataFrame(index=features.index)
    for driver, references in swaps.items():
        expected = np.zeros(len(features))
        for weight, values in references:
            swapped = features.copy()
            for column, value in values.items():
                swapped[column] = pd.Series(value, index=features.index,
                                            dtype=features[column].dtype)
            expected += weight * model.decision_function(swapped)
        out[driver] = np.asarray(base) - expected
    return out


def _worded(driver: str, features: pd.DataFrame, context: pd.DataFrame,
            reference: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One driver's tag and sentence for each row of ``features``."""
    first, other = _TAG_PAIRS[driver]
    tag = np.where(_first_tag(driver, features, reference), first, other).astype(object)
    return tag, _TEXT[driver](features, context).to_numpy(dtype=object)


def reason_effects(model, features: pd.DataFrame, context: pd.DataFrame,
                   base: np.ndarray | None = None,
                   reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every driver of every row with its effect (log-odds, :func:`driver_effects`), its tag
    and its sentence.

    ``context`` (indexed like ``features``) supplies ``micro_region`` for the rival sentence.
    Returns long rows: subscriber_id, driver, tag, effect, text.
    """
    effects = driver_effects(model, features, reference, base)
    ref = features if reference is None else reference
    parts = []
    for driver in effects.columns:
        tag, text = _worded(driver, features, context, ref)
        parts.append(pd.DataFrame({"subscriber_id": features.index, "driver": driver, "tag": tag,
                                   "effect": effects[driver].to_numpy(), "text": text}))
    if not parts:
        return pd.DataFrame(columns=["subscriber_id", "driver", "tag", "effect", "text"])
    return pd.concat(parts, ignore_index=True)


def reason_codes(model, features: pd.DataFrame, context: pd.DataFrame, *, top: int = 3,
                 min_effect: float = MIN_EFFECT, base: np.ndarray | None = None,
                 reference: pd.DataFrame | None = None,
                 swaps: Mapping[str, list[tuple[float, dict]]] | None = None) -> pd.DataFrame:
    """The ``top`` strongest reasons per subscriber (index subscriber_id).

    Columns: ``reason_tags`` (comma-separated tags, strongest first; equal effects in the
    drivers' order), ``reasons`` (sentences joined with "; ") and ``top_reason``; rows
    without a reason get empty strings. ``reference`` is the population the drivers'
    typical values come from (by default the rows explained). Sentences are written only
    for the drivers chosen, not for every driver of every row. Each row's reasons depend on
    that row and ``reference`` alone, so parts of a population explained one by one (with
    the same ``swaps``, :func:`driver_swaps`) get what explaining them together gives.
    """
    effects = driver_effects(model, features, reference, base, swaps=swaps)
    ref = features if reference is None else reference
    n = len(features)
    tags = np.full((n, top), "", dtype=object)
    texts = np.full((n, top), "", dtype=object)
    if n and len(effects.columns):
        values = effects.to_numpy(dtype=float)
        values = np.where(np.isnan(values), -np.inf, values)
        order = np.argsort(-values, axis=1, kind="stable")[:, :top]
        chosen = np.take_along_axis(values, order, axis=1) >= min_effect
        for d, driver in enumerate(effects.columns):
            held = (order == d) & chosen  # rows × places where this driver is a reason
            rows = np.flatnonzero(held.any(axis=1))
            if not len(rows):
                continue
            tag, text = _worded(driver, features.iloc[rows], context, ref)
            row_at, place = np.nonzero(held[rows])
            tags[rows[row_at], place] = tag[row_at]
            texts[rows[row_at], place] = text[row_at]
    out = pd.DataFrame({"reason_tags": _joined(tags, ","), "reasons": _joined(texts, "; "),
                        "top_reason": texts[:, 0] if top else ""}, index=features.index)
    return out


def _joined(parts: np.ndarray, separator: str) -> np.ndarray:
    """Each row's non-empty parts joined with ``separator`` (parts fill from the left)."""
    out = parts[:, 0].copy() if parts.shape[1] else np.full(len(parts), "", dtype=object)
    for k in range(1, parts.shape[1]):
        present = parts[:, k] != ""
        out[present] = out[present] + separator + parts[present, k]
    return out


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

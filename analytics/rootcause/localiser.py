"""Multi-dimensional root-cause localisation: which attribute combinations explain a deviation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.rootcause.leaves import build_cuboids, implied_dimensions, log_ratios
from analytics.rootcause.search import Found, greedy_search

#: A total deviation this small relative to the expected total counts as none (no shares).
_TINY = 1e-9


@dataclass(frozen=True)
class RootCause:
    """One attribute combination that explains part of the deviation.

    ``actual``/``expected`` are the sums over the combination's leaves (for a ratio KPI, the
    combination's own ratio). ``deviation`` is ``actual − expected`` (ratio KPI: how much of
    the overall ratio's change goes away when these leaves' rates are put back to expected),
    ``share_of_total_deviation`` that as a share of the overall deviation (overlapping causes
    can add up to more than 1), ``relative_change`` the fitted common factor − 1 of its leaves
    (−0.3: every leaf fell by about 30%), ``score`` the signed z-statistic of the shift, and
    ``leaves`` the number of leaves it covers.
    """

    attributes: dict[str, str] = field(hash=False)
    actual: float
    expected: float
    deviation: float
    share_of_total_deviation: float
    relative_change: float
    score: float
    leaves: int


def localize(frame: pd.DataFrame, dimensions: Sequence[str], actual: str, expected: str,
             **settings: float) -> list[dict[str, str]]:
    """The attribute combinations that explain ``actual − expected``, most important first.

    Parameters
    ----------
    frame : DataFrame
        One row per leaf: the ``dimensions`` columns and two non-negative numeric columns.
    dimensions : sequence of str
        Columns to search; hierarchies (micro_region → branch) are detected from the data.
    actual, expected : str
        Columns of the leaf's actual and expected (forecast) value of an additive KPI.
    **settings
        ``max_attrs`` (3), ``max_causes`` (5), ``alpha`` (0.001) and ``min_effect`` (1.0); see
        :func:`localize_detailed`.

    Returns
    -------
    list of dict
        ``{dimension: value}`` per cause, values as strings; ``[]`` when the deviation is
        noise (or follows no combination of ``dimensions``); ``{}`` when every leaf moved by
        one common factor.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> leaves = pd.MultiIndex.from_product([list("abcd"), list("wxyz"), list("pq")],
    ...                                     names=["region", "channel", "plan"]).to_frame(index=False)
    >>> leaves["expected"] = 100 * (1 + rng.normal(0, 0.02, len(leaves)))
    >>> leaves["actual"] = np.where(leaves["region"] == "b", 70.0, 100.0)
    >>> localize(leaves, ["region", "channel", "plan"], "actual", "expected")
    [{'region': 'b'}]
    """
    return [c.attributes for c in localize_detailed(frame, dimensions, actual, expected, **settings)]


def localize_detailed(frame: pd.DataFrame, dimensions: Sequence[str], actual: str, expected: str,
                      *, max_attrs: int = 3, max_causes: int = 5, alpha: float = 0.001,
                      min_effect: float = 1.0) -> list[RootCause]:
    """:func:`localize` with each cause's figures.

    The method (see docs/rootcause.md): each leaf's log(actual / expected) — a root cause
    scales all its leaves by a similar factor — is compared with a noise scale learned from
    the leaves themselves; attribute combinations of 1..``max_attrs`` dimensions are then
    picked greedily while one shifts its leaves significantly (Bonferroni level ``alpha``
    over all candidates) and by at least ``min_effect`` noise standard deviations, preferring
    combinations whose leaves all moved, and the simpler of two with the same leaves.

    Returns
    -------
    list of RootCause
        Largest absolute deviation first; empty when the deviation is noise.

    Raises
    ------
    ValueError
        A missing or repeated column, a non-numeric, missing, infinite or negative value, a
        missing dimension value, or an empty frame.
    """
    names = _validate(frame, dimensions, [actual, expected])
    a = frame[actual].to_numpy(dtype=float)
    f = frame[expected].to_numpy(dtype=float)
    found, values = _search(frame, names, a, f, max_attrs, max_causes, alpha, min_effect)
    total = float(a.sum() - f.sum())
    causes = []
    for item in found:
        part_a, part_f = float(a[item.mask].sum()), float(f[item.mask].sum())
        causes.append(_cause(item, names, values, part_a, part_f, part_a - part_f, total,
                             float(f.sum())))
    return sorted(causes, key=lambda c: -abs(c.deviation))


def localize_ratio(frame: pd.DataFrame, dimensions: Sequence[str], numerator_actual: str,
                   numerator_expected: str, denominator_actual: str, denominator_expected: str,
                   **settings: float) -> list[dict[str, str]]:
    """The attribute combinations whose rate change explains a ratio KPI's change (ARPU).

    Same output as :func:`localize`; see :func:`localize_ratio_detailed`.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> leaves = pd.MultiIndex.from_product([list("abc"), list("pqrs"), list("xyz")],
    ...                                     names=["segment", "plan", "region"]).to_frame(index=False)
    >>> leaves["subs_fc"] = 100.0
    >>> leaves["revenue_fc"] = 5000 * (1 + rng.normal(0, 0.02, len(leaves)))
    >>> leaves["subs"] = np.where(leaves["segment"] == "a", 130.0, 100.0)  # more subscribers
    >>> arpu = np.where(leaves["segment"] == "b", 40.0, 50.0)              # b's ARPU falls
    >>> leaves["revenue"] = leaves["subs"] * arpu
    >>> localize_ratio(leaves, ["segment", "plan", "region"], "revenue", "revenue_fc", "subs", "subs_fc")
    [{'segment': 'b'}]
    """
    causes = localize_ratio_detailed(frame, dimensions, numerator_actual, numerator_expected,
                                     denominator_actual, denominator_expected, **settings)
    return [c.attributes for c in causes]


def localize_ratio_detailed(frame: pd.DataFrame, dimensions: Sequence[str], numerator_actual: str,
                            numerator_expected: str, denominator_actual: str,
                            denominator_expected: str, *, max_attrs: int = 3, max_causes: int = 5,
                            alpha: float = 0.001, min_effect: float = 1.0) -> list[RootCause]:
    """:func:`localize_ratio` with each cause's figures.

    A ratio is not additive, so the search runs on each leaf's *rate*: the leaf's actual
    numerator against ``actual denominator × expected rate``, the numerator it would have had
    at the expected rate with its actual base (a leaf with no expected base takes the overall
    expected rate). A shift of the base between leaves at unchanged rates (mix) is therefore
    not a cause. A cause's ``deviation`` is the overall ratio minus the counterfactual ratio
    with its leaves' rates put back to expected; ``actual``/``expected`` are its own ratio.
    """
    columns = [numerator_actual, numerator_expected, denominator_actual, denominator_expected]
    names = _validate(frame, dimensions, columns)
    na, ne, da, de = (frame[c].to_numpy(dtype=float) for c in columns)
    overall_expected = ne.sum() / de.sum() if de.sum() > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(de > 0, ne / de, overall_expected)
    at_rate = da * rate
    found, values = _search(frame, names, na, at_rate, max_attrs, max_causes, alpha, min_effect)
    base = da.sum()
    ratio_actual = na.sum() / base if base > 0 else 0.0
    total = ratio_actual - overall_expected
    causes = []
    for item in found:
        m = item.mask
        own_a = na[m].sum() / da[m].sum() if da[m].sum() > 0 else np.nan
        own_e = ne[m].sum() / de[m].sum() if de[m].sum() > 0 else np.nan
        change = (na[m].sum() - at_rate[m].sum()) / base if base > 0 else 0.0
        causes.append(_cause(item, names, values, own_a, own_e, change, total, abs(overall_expected)))
    return sorted(causes, key=lambda c: -abs(c.deviation))


def _cause(item: Found, names: list[str], values: list[pd.Index], actual: float,
           expected: float, deviation: float, total: float, scale: float) -> RootCause:
    attributes = {names[d]: str(values[d][code]) for d, code in zip(item.dims, item.codes, strict=True)}
    share = deviation / total if abs(total) > _TINY * scale else float("nan")
    return RootCause(
        attributes=attributes, actual=float(actual), expected=float(expected),
        deviation=float(deviation), share_of_total_deviation=float(share),
        relative_change=float(np.expm1(item.effect)), score=item.z, leaves=int(item.mask.sum()))


def _search(frame: pd.DataFrame, names: list[str], a: np.ndarray, f: np.ndarray,
            max_attrs: int, max_causes: int, alpha: float,
            min_effect: float) -> tuple[list[Found], list[pd.Index]]:
    """Run the search; also returns each dimension's values by code."""
    if not 1 <= max_attrs:
        raise ValueError(f"max_attrs must be at least 1, not {max_attrs!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    codes, values = [], []
    for name in names:
        code, uniques = pd.factorize(frame[name], sort=False)
        codes.append(code.astype(np.int64))
        values.append(uniques)
    cards = [len(v) for v in values]
    implied = implied_dimensions(codes, cards)
    # General dimensions first; of two that fix each other (plan_id, plan_name) keep the first.
    order = sorted(range(len(names)), key=lambda d: (cards[d], d))
    order = [d for d in order if not any((d, e) in implied and (e, d) in implied
                                         and order.index(e) < order.index(d) for e in order)]
    cuboids = build_cuboids(codes, cards, order, min(max_attrs, len(order)), implied)
    r, size = log_ratios(a, f)
    found = greedy_search(codes, cuboids, r, size, alpha=alpha, min_effect=min_effect,
                          max_causes=int(max_causes))
    return found, values


def _validate(frame: pd.DataFrame, dimensions: Sequence[str], measures: list[str]) -> list[str]:
    """Check the frame and the column names; returns the dimensions as a list."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be a pandas DataFrame, not {type(frame).__name__}")
    if isinstance(dimensions, str):
        raise ValueError(f"dimensions must be a list of column names, not the string {dimensions!r}")
    names = list(dimensions)
    if not names:
        raise ValueError("dimensions is empty: name at least one column to search")
    listed = names + measures
    repeated = sorted({c for c in listed if listed.count(c) > 1})
    if repeated:
        raise ValueError(f"column(s) listed more than once: {', '.join(map(repr, repeated))}")
    missing = [c for c in listed if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {', '.join(map(repr, missing))}")
    if frame.empty:
        raise ValueError("frame is empty: there are no leaves to search")
    for name in names:
        if frame[name].isna().any():
            raise ValueError(f"dimension {name!r} has {int(frame[name].isna().sum())} missing "
                             "value(s); label them (e.g. 'unknown') first")
    for name in measures:
        column = frame[name]
        if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
            raise ValueError(f"column {name!r} must be numeric, not {column.dtype}")
        values = column.to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(values).all():
            raise ValueError(f"column {name!r} has {int((~np.isfinite(values)).sum())} missing "
                             "or infinite value(s)")
        if (values < 0).any():
            raise ValueError(f"column {name!r} has negative values; root causes are found on "
                             "ratios of non-negative amounts")
    return names

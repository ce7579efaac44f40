"""Multi-dimensional root-cause localisation: which attribute combinations explain a deviation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analytics.rootcause.leaves import (SizeBins, dimension_sets, implied_dimensions,
                                        main_effects_scale, noise_scale, relative_deviations,
                                        tail_factor)
from analytics.rootcause.search import Found, as_factor, candidate_count, layered_search

#: A total deviation this small relative to the expected total counts as none (no shares).
_TINY = 1e-9
#: Negative values whose total is at most this share of a column's absolute total are taken
#: as rounding (a forecast a hair below zero) and set to zero, with a warning.
_NEGATIVE_SHARE = 0.01
#: How many small leaves must appear or vanish for that to count as routine in a frame.
_ROUTINE = 3
#: Noise re-estimations after a search (a new search when the scale shrinks by > 10%).
_PASSES = 3


class RootCauseWarning(UserWarning):
    """Input the localiser repaired rather than rejected (a few tiny negative values)."""


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
        One row per leaf: the ``dimensions`` columns and two non-negative numeric columns
        (zeros are fine; a few tiny negative values are set to zero with a
        :class:`RootCauseWarning`).
    dimensions : sequence of str
        Columns to search; hierarchies (micro_region → branch) are detected from the data.
    actual, expected : str
        Columns of the leaf's actual and expected (forecast) value of an additive KPI.
    **settings
        ``max_attrs`` (None: as many as there are dimensions), ``max_causes`` (10),
        ``alpha`` (0.001), ``min_effect`` (0.5) and ``tolerance`` (0.5); see
        :func:`localize_detailed`.

    Returns
    -------
    list of dict
        ``{dimension: value}`` per cause, values as strings; ``[]`` when the deviation is
        noise (or follows no combination of ``dimensions``); ``{}`` when every leaf moved by
        one common factor. A cause is reported, not its refinements.

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
                      *, max_attrs: int | None = None, max_causes: int = 10, alpha: float = 0.001,
                      min_effect: float = 0.5, tolerance: float = 0.5) -> list[RootCause]:
    """:func:`localize` with each cause's figures.

    The method (see docs/rootcause.md): each leaf's symmetric relative deviation
    ``(actual − expected) ÷ ((actual + expected) / 2)`` (bounded, so zeros are harmless) is
    compared with a noise scale learned from the leaves; the combinations of 0, 1, 2, …
    ``max_attrs`` dimensions are then tested layer by layer, most general first. A
    combination is a cause when its leaves' mean shift is significant (Bonferroni level
    ``alpha`` over all combinations), at least ``min_effect`` noise sds, and its leaves moved
    alike (allowing each leaf's shift to differ from the mean by about ``tolerance`` of it).
    The causes found are fitted before the next layer, so a refinement of a cause is reported
    only when it explains significantly more than the cause; a single leaf can be a cause.
    At most ``max_causes`` are returned.

    Returns
    -------
    list of RootCause
        Largest absolute deviation first; empty when the deviation is noise.

    Raises
    ------
    ValueError
        A missing or repeated column, a non-numeric, missing or infinite value, negative
        values beyond a rounding error, a missing dimension value, or an empty frame.
    """
    names = _validate(frame, dimensions, [actual, expected])
    a = _amounts(frame, actual)
    f = _amounts(frame, expected)
    found, values = _search(frame, names, a, f, max_attrs, max_causes, alpha, min_effect, tolerance)
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
    """The attribute combinations whose *rate* change explains a ratio KPI's change.

    How to call it: one row per leaf with four non-negative columns — the leaf's numerator
    and denominator, each actual and expected. For ARPU that is revenue and revenue forecast,
    active subscribers and their forecast (or last month's figures as the expectation); for a
    churn rate, churned subscribers over last month's base; for a discount rate, discount
    over gross revenue. Pass the numerators and denominators, never the per-leaf ratios:
    ratios cannot be summed over leaves, and the localiser needs each leaf's weight.

    A leaf's rate is its numerator ÷ denominator; a cause is a combination whose leaves'
    rates moved alike. A change of mix alone (more subscribers in a low-ARPU segment, every
    rate unchanged) is not a cause. Same output and ``settings`` as :func:`localize`; see
    :func:`localize_ratio_detailed` for the figures.

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
                            denominator_expected: str, *, max_attrs: int | None = None,
                            max_causes: int = 10, alpha: float = 0.001, min_effect: float = 0.5,
                            tolerance: float = 0.5) -> list[RootCause]:
    """:func:`localize_ratio` with each cause's figures.

    A ratio is not additive, so the search runs on each leaf's *rate*: the leaf's actual
    numerator against ``actual denominator × expected rate``, the numerator it would have had
    at the expected rate with its actual base (a leaf with no expected base has no expected
    rate and is left out of the search; its numerator counts as mix). A shift of the base between leaves at unchanged rates (mix) is therefore
    not a cause. A cause's ``deviation`` is the overall ratio minus the counterfactual ratio
    with its leaves' rates put back to expected; ``actual``/``expected`` are its own ratio.
    """
    columns = [numerator_actual, numerator_expected, denominator_actual, denominator_expected]
    names = _validate(frame, dimensions, columns)
    na, ne, da, de = (_amounts(frame, c) for c in columns)
    overall_expected = ne.sum() / de.sum() if de.sum() > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(de > 0, ne / de, np.nan)
    # A leaf with no expected base has no expected rate: it says nothing about rates (its
    # numerator is a change of mix) and is left out of the search.
    known = de > 0
    at_rate = np.where(known, da * np.nan_to_num(rate), na)
    found, values = _search(frame, names, np.where(known, na, 0.0), np.where(known, at_rate, 0.0),
                            max_attrs, max_causes, alpha, min_effect, tolerance)
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
    # The mean relative deviation m back to a factor: actual/expected = (1 + m/2) / (1 − m/2).
    change = float(as_factor(item.effect)) - 1
    return RootCause(
        attributes=attributes, actual=float(actual), expected=float(expected),
        deviation=float(deviation), share_of_total_deviation=float(share),
        relative_change=float(change), score=item.z, leaves=int(item.mask.sum()))


def _search(frame: pd.DataFrame, names: list[str], a: np.ndarray, f: np.ndarray,
            max_attrs: int | None, max_causes: int, alpha: float, min_effect: float,
            tolerance: float) -> tuple[list[Found], list[pd.Index]]:
    """Run the search; also returns each dimension's values by code."""
    if max_attrs is not None and not 1 <= max_attrs:
        raise ValueError(f"max_attrs must be at least 1, not {max_attrs!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be at least 0, not {tolerance!r}")
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
    depth = len(order) if max_attrs is None else min(int(max_attrs), len(order))
    layers = dimension_sets(order, depth, implied)
    d, size = relative_deviations(a, f)
    full_codes = codes
    present = size > 0
    if not present.any():  # every leaf is zero in both columns
        return [], values
    if not present.all():  # leaves zero in both columns say nothing: search without them
        codes = [c[present] for c in codes]
        d, size = d[present], size[present]
    bins = SizeBins.of(size)
    sigma, residual = main_effects_scale(d, bins, codes, with_residual=True)
    # The first tail is measured on what one effect per value leaves: a cause of one
    # attribute is not mistaken for heavy-tailed noise.
    level = alpha / candidate_count(cards, layers, int(d.size))  # a single leaf's level
    tail = tail_factor(residual, sigma, np.zeros(d.size, dtype=bool), level)
    # Small leaves that appear from or vanish to nothing: where several do, it is routine
    # (a subscriber moves in), and one of them is no cause on its own.
    fragile = (np.abs(d) >= 2.0) & (size < np.median(size[bins.valid]))
    if fragile.sum() < _ROUTINE:
        fragile[:] = False
    found: list[Found] = []
    cuboids: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    warm: list[Found] = []
    max_group = np.inf
    for _ in range(_PASSES):
        found = layered_search(codes, cards, layers, d, sigma, alpha=alpha, tolerance=tolerance,
                               min_effect=min_effect, max_causes=int(max_causes), tail=tail,
                               fragile=fragile, cuboids=cuboids, warm=warm, max_group=max_group)
        factor = np.ones_like(d)
        covered = np.zeros(d.size, dtype=bool)
        for item in found:
            factor[item.mask] *= as_factor(item.effect)
            covered |= item.mask
        fresh = noise_scale(d - 2 * (factor - 1) / (factor + 1), bins)
        with np.errstate(invalid="ignore"):  # empty leaves: inf / inf
            change = abs(np.log(np.nanmedian(fresh / sigma)))
        if change > 0.1:  # the scale held the causes' leaves (or missed their spread): again
            sigma, tail, warm, max_group = fresh, tail_factor(d, fresh, covered, level), [], np.inf
            continue
        fresh_tail = tail_factor(d, sigma, covered, level)
        if fresh_tail < tail / np.exp(0.1):
            # Only the tail was overstated (the causes' leaves were in it): the causes stand,
            # and only combinations small enough for the tail to matter — where the level
            # falls by more than 5% — are looked at again.
            max_group = 20 * (tail - fresh_tail)
            tail, warm = fresh_tail, found
        elif fresh_tail > tail * np.exp(0.1):
            tail, warm, max_group = fresh_tail, [], np.inf
        else:
            break
    return [_on_all_leaves(item, full_codes) for item in found], values


def _on_all_leaves(item: Found, codes: list[np.ndarray]) -> Found:
    """A cause found on the non-empty leaves, with its mask over every leaf of the frame."""
    mask = np.ones(codes[0].size, dtype=bool)
    for dim, code in zip(item.dims, item.codes, strict=True):
        mask &= codes[dim] == code
    return replace(item, mask=mask)


def _amounts(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A measure column as floats, with rounding-sized negative values set to zero."""
    values = frame[column].to_numpy(dtype=float)
    negative = values < 0
    if negative.any():
        warnings.warn(f"column {column!r}: {int(negative.sum())} tiny negative value(s) (at least "
                      f"{values.min():.3g}) set to zero", RootCauseWarning, stacklevel=3)
        values = np.where(negative, 0.0, values)
    return values


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
        negative = -values[values < 0].sum()
        if negative > _NEGATIVE_SHARE * np.abs(values).sum():
            raise ValueError(f"column {name!r} has negative values (beyond rounding: "
                             f"{negative:.3g} of {np.abs(values).sum():.3g}); root causes are "
                             "found on non-negative amounts — split a KPI that can be negative "
                             "into its non-negative parts")
    return names

"""The root-cause localiser as it was before the parsimonious rewrite, kept for comparison.

A verbatim copy of ``analytics/rootcause/leaves.py``, ``analytics/rootcause/search.py`` and
``analytics/rootcause/localiser.py`` (branch ``rootcause`` at commit 86e5029) in one file, so that
``bench/rootcause_eval.py`` can measure the new method beside the old one in the same run.
Not used by the application.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2


#: Leaves per size bin when fitting how the noise shrinks with leaf size.
_PER_BIN = 40
#: Relative floor of the noise scale: below it, deviations count as exact.
_SIGMA_FLOOR = 1e-6
#: Backfitting sweeps of the main-effects fit behind the first noise scale.
_SWEEPS = 4


@dataclass(frozen=True)
class Cuboid:
    """One combination of dimensions: each leaf's group number and the groups' leaf counts."""

    dims: tuple[int, ...]
    ids: np.ndarray
    counts: np.ndarray


def log_ratios(actual: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each leaf's log(actual / expected) and size; empty leaves get 0 and size 0.

    >>> r, size = log_ratios(np.array([90.0, 0.0]), np.array([100.0, 0.0]))
    >>> np.round(r, 4).tolist(), size.tolist()
    ([-0.1054, 0.0], [95.0, 0.0])
    """
    size = (actual + expected) / 2
    positive = size[size > 0]
    eps = 1e-3 * float(np.median(positive)) if positive.size else 1.0
    both = (actual > 0) & (expected > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.log(np.where(both, actual, 1.0) / np.where(both, expected, 1.0))
    # A leaf that appears or vanishes has no finite ratio; eps and the clip keep it large but finite.
    padded = np.log((actual + eps) / (expected + eps))
    r = np.clip(np.where(both, exact, padded), -5.0, 5.0)
    return np.where(size > 0, r, 0.0), size


@dataclass(frozen=True)
class SizeBins:
    """Leaves with a size, their centred log size, and their split into size bins (fixed)."""

    valid: np.ndarray
    log_size: np.ndarray
    parts: list[np.ndarray]

    @classmethod
    def of(cls, size: np.ndarray) -> SizeBins:
        valid = size > 0
        log_size = np.log(size[valid])
        log_size = log_size - np.median(log_size) if log_size.size else log_size
        bins = min(10, log_size.size // _PER_BIN)
        parts = np.array_split(np.argsort(log_size, kind="stable"), bins) if bins >= 3 else []
        return cls(valid, log_size, parts)


def noise_scale(residual: np.ndarray, size: np.ndarray | SizeBins) -> np.ndarray:
    """Each leaf's noise standard deviation, ``σ · (size / median size) ** -β``, robustly.

    β (0 to 0.5: from constant relative noise to counting noise) is the slope of the log
    median absolute deviation against log size over size bins; σ is the normalised median
    absolute deviation of the size-adjusted residuals. Both are medians, so leaves moved by
    a cause (a minority) barely affect them. Empty leaves get an infinite scale.

    >>> rng = np.random.default_rng(0)
    >>> sigma = noise_scale(rng.normal(0, 0.05, 4000), rng.lognormal(0, 1, 4000))
    >>> round(float(np.median(sigma)), 2)
    0.05
    """
    bins = size if isinstance(size, SizeBins) else SizeBins.of(size)
    out = np.full(bins.valid.shape, np.inf)
    if not bins.valid.any():
        return out
    e, log_size = residual[bins.valid], bins.log_size
    beta = 0.0
    if bins.parts:
        centres = [np.median(log_size[part]) for part in bins.parts]
        spreads = np.array([np.median(np.abs(e[part] - np.median(e[part]))) for part in bins.parts])
        if (spreads > 0).all():
            beta = float(np.clip(-np.polyfit(centres, np.log(spreads), 1)[0], 0.0, 0.5))
    scaled = e * np.exp(beta * log_size)
    sigma = max(1.4826 * float(np.median(np.abs(scaled - np.median(scaled)))), _SIGMA_FLOOR)
    out[bins.valid] = sigma * np.exp(-beta * log_size)
    return out


def main_effects_scale(r: np.ndarray, bins: SizeBins, codes: list[np.ndarray]) -> np.ndarray:
    """:func:`noise_scale` of ``r`` less one additive effect per dimension value.

    When causes move most of the leaves (two of a dimension's three values rise), the median
    absolute deviation of ``r`` itself measures the causes, not the noise. Taking out one
    effect per value first (a few backfitting sweeps) removes every single-attribute cause
    and any common shift, and blurs the larger combinations over their values' effects;
    the scale is corrected for the effects fitted. With too few leaves for that, the scale of
    ``r`` itself.
    """
    valid = bins.valid
    cards = [int(c.max()) + 1 if c.size else 0 for c in codes]
    fitted_effects = 1 + sum(k - 1 for k in cards)
    leaves = int(valid.sum())
    if leaves < 2 * fitted_effects:
        return noise_scale(r, bins)
    e = r[valid].copy()
    # Effects are means of residuals clipped at 3 raw scales, so a wild leaf stays put.
    bound = 3 * 1.4826 * float(np.median(np.abs(e - np.median(e))))
    sub = [c[valid] for c in codes]
    counts = [np.maximum(np.bincount(c, minlength=k), 1) for c, k in zip(sub, cards, strict=True)]
    for _ in range(_SWEEPS):
        for c, k, n in zip(sub, cards, counts, strict=True):
            e -= (np.bincount(c, np.clip(e, -bound, bound), minlength=k) / n)[c]
    residual = np.zeros_like(r)
    residual[valid] = e
    return noise_scale(residual, bins) * np.sqrt(leaves / (leaves - fitted_effects))


def implied_dimensions(codes: list[np.ndarray], cards: list[int]) -> set[tuple[int, int]]:
    """Pairs ``(i, j)`` where dimension i's value fixes dimension j's (micro-region → branch).

    >>> sorted(implied_dimensions([np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1])], [3, 2]))
    [(0, 1)]
    """
    implied = set()
    for i, j in itertools.permutations(range(len(codes)), 2):
        pairs = _group_ids(codes[i] * np.int64(cards[j]) + codes[j], cards[i] * cards[j])[1]
        if pairs == cards[i]:
            implied.add((i, j))
    return implied


def _group_ids(combined: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Compact group numbers for combined codes, and how many groups there are."""
    if space <= max(4 * combined.size, 1 << 16):
        present = np.bincount(combined, minlength=space) > 0
        lookup = np.cumsum(present) - 1
        return lookup[combined], int(present.sum())
    uniques, inverse = np.unique(combined, return_inverse=True)
    return inverse, int(uniques.size)


def build_cuboids(codes: list[np.ndarray], cards: list[int], order: list[int],
                  max_attrs: int, implied: set[tuple[int, int]]) -> list[Cuboid]:
    """Every combination of 1..max_attrs dimensions, general first, without implied pairs.

    ``order`` lists the dimensions to search, the most general (fewest values) first, so that
    of two combinations with the same leaves the one met first is the simpler.
    """
    cuboids = []
    for k in range(0, max_attrs + 1):
        for dims in itertools.combinations(order, k):
            if any((i, j) in implied or (j, i) in implied for i, j in itertools.combinations(dims, 2)):
                continue
            combined, space = np.zeros(codes[0].size, dtype=np.int64), 1
            for d in dims:
                combined = combined * cards[d] + codes[d]
                space *= cards[d]
                if space > 1 << 40:  # keep the combined code far from overflowing
                    combined, space = _group_ids(combined, space)
            ids, groups = _group_ids(combined, space)
            cuboids.append(Cuboid(dims, ids, np.bincount(ids, minlength=groups)))
    return cuboids


#: Standardised residuals are clipped here when testing significance.
_CLIP = 3.0
#: E[min(Z², 9)] for standard normal Z: the variance of a clipped standardised residual.
_CLIPPED_NORMAL = 0.995
#: Pseudo degrees of freedom pulling a combination's own dispersion estimate towards 1.
_PRIOR_DF = 10.0


@dataclass(frozen=True)
class Found:
    """A selected attribute combination: dimension positions, value codes, leaves and effect."""

    dims: tuple[int, ...]
    codes: tuple[int, ...]
    mask: np.ndarray
    effect: float
    z: float


def _normal_equations(r: np.ndarray, w: np.ndarray,
                      masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``XᵀWX`` and ``XᵀWr`` for the indicator columns ``masks``."""
    x = np.column_stack(masks).astype(float)
    xtw = x.T * w
    return xtw @ x, xtw @ r


def _explained(gram: np.ndarray, rhs: np.ndarray, keep: list[int]) -> float:
    """Weighted sum of squares explained by the columns ``keep``."""
    if not keep:
        return 0.0
    sub = np.ix_(keep, keep)
    return float(rhs[keep] @ np.linalg.lstsq(gram[sub], rhs[keep], rcond=None)[0])


def greedy_search(codes: list[np.ndarray], cuboids: list[Cuboid], r: np.ndarray,
                  size: np.ndarray, *, alpha: float, min_effect: float,
                  max_causes: int) -> list[Found]:
    """Pick attribute combinations one at a time until nothing significant is left.

    Each candidate is scored on the residual of the causes already chosen: ``z²``, the squared
    weighted mean shift of its leaves over its standard error, less the heterogeneity of its
    leaves beyond what noise explains (a parent that mixes moved and unmoved leaves pays for
    the unmoved ones). A candidate must pass ``z² ≥ τ`` — τ the χ²₁ quantile at
    ``alpha / number of candidates`` (Bonferroni) — also with residuals clipped at ±3 noise
    sd, with its leaves' own scatter as the noise, and for the score itself (a shift that
    leaves its combination more scattered than it explains is not a common factor, whatever
    its size). After each pick the effects are
    refitted jointly and the noise scale is re-estimated from the residual. At the end,
    causes whose removal costs less than τ, or whose refitted effect is below ``min_effect``
    noise standard deviations of their leaves, are dropped, weakest first.

    >>> from analytics.rootcause.leaves import build_cuboids, log_ratios
    >>> rng = np.random.default_rng(0)
    >>> codes = [np.repeat(np.arange(4), 25), np.tile(np.arange(25), 4)]
    >>> expected = rng.lognormal(5, 0.5, 100)
    >>> actual = expected * np.where(codes[0] == 2, 0.7, 1.0) * (1 + rng.normal(0, 0.01, 100))
    >>> r, size = log_ratios(actual, expected)
    >>> cuboids = build_cuboids(codes, [4, 25], [0, 1], 2, set())
    >>> [cause] = greedy_search(codes, cuboids, r, size, alpha=0.001, min_effect=1.0, max_causes=5)
    >>> cause.dims, cause.codes, round(float(np.expm1(cause.effect)), 2)
    ((0,), (2,), -0.3)
    """
    elements = sum(int(c.counts.size) for c in cuboids)
    tau = float(chi2.isf(alpha / max(elements, 1), 1))
    # The effect floor waits for the backward pass: the first noise scale still holds the
    # causes' leaves, and flooring against it would prefer a cause's purest pieces.
    bins = SizeBins.of(size)
    if not bins.valid.any():  # every leaf is zero in both columns
        return []
    chosen, sigma = _forward(cuboids, r, bins, main_effects_scale(r, bins, codes), tau, max_causes)
    w = np.where(np.isfinite(sigma), 1.0 / sigma**2, 0.0)
    masks = [cuboids[c].ids == g for c, g in chosen]
    _backward(chosen, masks, r, w, tau, min_effect)
    if not masks:
        return []
    gram, rhs = _normal_equations(r, w, masks)
    inverse = np.linalg.pinv(gram)
    beta = inverse @ rhs
    found = []
    for k, ((c, _), mask) in enumerate(zip(chosen, masks, strict=True)):
        first = int(np.flatnonzero(mask)[0])
        dims = cuboids[c].dims
        found.append(Found(dims, tuple(int(codes[d][first]) for d in dims), mask,
                           float(beta[k]), float(beta[k] / np.sqrt(inverse[k, k]))))
    return found


def _forward(cuboids: list[Cuboid], r: np.ndarray, bins: SizeBins, sigma: np.ndarray, tau: float,
             max_causes: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The (cuboid, group) picks in order from a first noise scale, and the final scale."""
    chosen: list[tuple[int, int]] = []
    masks: list[np.ndarray] = []
    fitted = np.zeros_like(r)
    valid = bins.valid.astype(float)
    inside = [np.bincount(c.ids, valid, minlength=c.counts.size) for c in cuboids]
    while len(chosen) < max_causes:
        w = 1.0 / sigma**2
        best = _best_candidate(cuboids, inside, r - fitted, w, tau, set(chosen))
        if best is None:
            new_sigma = noise_scale(r - fitted, bins)
            with np.errstate(invalid="ignore"):  # empty leaves: inf / inf
                shrink = np.nanmedian(new_sigma / sigma)
            if not shrink < 0.9:
                break
            sigma = new_sigma  # the first scale still held the causes' leaves: look again
            continue
        chosen.append(best)
        masks.append(cuboids[best[0]].ids == best[1])
        gram, rhs = _normal_equations(r, w, masks)
        fitted = np.column_stack(masks) @ np.linalg.lstsq(gram, rhs, rcond=None)[0]
        sigma = np.minimum(sigma, noise_scale(r - fitted, bins))
    return chosen, sigma


def _backward(chosen: list[tuple[int, int]], masks: list[np.ndarray], r: np.ndarray,
              w: np.ndarray, tau: float, min_effect: float) -> None:
    """Drop, weakest first, picks that no longer hold up once all are fitted together."""
    while masks:
        gram, rhs = _normal_equations(r, w, masks)
        every = list(range(len(masks)))
        full = _explained(gram, rhs, every)
        gains = [full - _explained(gram, rhs, every[:k] + every[k + 1:]) for k in every]
        beta = np.linalg.lstsq(gram, rhs, rcond=None)[0]
        floor = [min_effect * np.sqrt(np.count_nonzero(m & (w > 0)) / gram[k, k])
                 for k, m in enumerate(masks)]
        weak = [k for k in every if gains[k] < tau or abs(beta[k]) < floor[k]]
        if not weak:
            return
        weakest = min(weak, key=lambda k: gains[k])
        del chosen[weakest], masks[weakest]


def _best_candidate(cuboids: list[Cuboid], inside: list[np.ndarray], e: np.ndarray,
                    w: np.ndarray, tau: float, taken: set[tuple[int, int]]) -> tuple[int, int] | None:
    """(cuboid, group) of the highest-scoring eligible candidate, or None.

    ``inside`` holds each cuboid's count of non-empty leaves per group.
    """
    w = np.where(np.isfinite(w), w, 0.0)
    we = w * e
    wee = we * e
    root_w = np.sqrt(w)
    # Significance on residuals clipped at ±3 noise sd: one wild leaf cannot make a cause.
    # Their variance per leaf, E[clip(t)²], is measured on the leaves outside the candidate
    # (heavy tails raise it), never below its value for normal noise: so one leaf can never
    # pass (9 / 0.995 < τ).
    clipped = np.clip(e * root_w, -_CLIP, _CLIP)
    valid = (w > 0).astype(float)
    squares = clipped**2 * valid
    total_squares, total_valid = float(squares.sum()), float(valid.sum())
    robust = clipped * root_w
    best, best_score = None, -np.inf
    for c, cuboid in enumerate(cuboids):
        groups = cuboid.counts.size
        weight = np.bincount(cuboid.ids, w, minlength=groups)
        s1 = np.bincount(cuboid.ids, we, minlength=groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(weight > 0, s1 / weight, 0.0)
        z2 = s1 * mean
        eligible = z2 >= tau
        if not eligible.any():
            continue
        outside = total_valid - inside[c]
        with np.errstate(divide="ignore", invalid="ignore"):
            variance = (total_squares - np.bincount(cuboid.ids, squares, minlength=groups)) / outside
            variance = np.maximum(np.where(outside > 0, variance, 1.0), _CLIPPED_NORMAL)
            z2_robust = np.bincount(cuboid.ids, robust, minlength=groups) ** 2 / (variance * weight)
        eligible &= (z2_robust >= tau)
        if not eligible.any():
            continue
        # Leaves that scatter around their mean more than noise does (a few wild leaves, not a
        # common factor) inflate the standard error, as overdispersion does in a GLM.
        spread = np.clip((e - mean[cuboid.ids]) * root_w, -_CLIP, _CLIP) ** 2
        df = np.maximum(inside[c] - 1.0, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            dispersion = np.bincount(cuboid.ids, spread, minlength=groups) / variance
            dispersion = np.maximum(1.0, (dispersion + _PRIOR_DF) / (df + _PRIOR_DF))
        eligible &= (z2 / dispersion >= tau)
        if not eligible.any():
            continue
        s2 = np.bincount(cuboid.ids, wee, minlength=groups)
        excess = np.maximum(0.0, s2 - z2 - df - 2.0 * np.sqrt(2.0 * df))
        score = np.where(eligible & (z2 - excess >= tau), z2 - excess, -np.inf)
        for c2, g2 in taken:
            if c2 == c:
                score[g2] = -np.inf
        g = int(np.argmax(score))
        # Strictly greater: of two combinations with the same leaves, the simpler (met first) stays.
        if score[g] > best_score:
            best, best_score = (c, g), float(score[g])
    return best


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

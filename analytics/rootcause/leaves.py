"""Leaf-level pieces of :mod:`analytics.rootcause.localiser`: deviations, noise model, hierarchies, cuboids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
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


def relative_deviations(actual: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each leaf's symmetric relative deviation and size; empty leaves get 0 and size 0.

    ``d = (actual − expected) / size`` with ``size = (actual + expected) / 2``: about the
    relative change for small changes (−0.105 for a 10% drop), and bounded by ±2 where a
    leaf appears or vanishes (a log ratio would be infinite there, and a leaf that falls by
    99% would outweigh ten that fell by 50%).

    >>> d, size = relative_deviations(np.array([90.0, 0.0, 0.0, 5.0]), np.array([100.0, 0.0, 3.0, 5.0]))
    >>> np.round(d, 4).tolist(), size.tolist()
    ([-0.1053, 0.0, -2.0, 0.0], [95.0, 0.0, 1.5, 5.0])
    """
    size = (actual + expected) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(size > 0, (actual - expected) / np.where(size > 0, size, 1.0), 0.0)
    return d, size


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
            x = np.asarray(centres) - np.mean(centres)  # least-squares slope, in closed form
            slope = float(np.sum(x * np.log(spreads)) / np.sum(x * x)) if np.any(x) else 0.0
            beta = float(np.clip(-slope, 0.0, 0.5))
    scaled = e * np.exp(beta * log_size)
    sigma = max(1.4826 * float(np.median(np.abs(scaled - np.median(scaled)))), _SIGMA_FLOOR)
    out[bins.valid] = sigma * np.exp(-beta * log_size)
    return out


def main_effects_scale(r: np.ndarray, bins: SizeBins, codes: list[np.ndarray], *,
                       with_residual: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """:func:`noise_scale` of ``r`` less one additive effect per dimension value.

    When causes move most of the leaves (two of a dimension's three values rise), the median
    absolute deviation of ``r`` itself measures the causes, not the noise. Taking out one
    effect per value first (a few backfitting sweeps) removes every single-attribute cause
    and any common shift, and blurs the larger combinations over their values' effects;
    the scale is corrected for the effects fitted. With too few leaves for that, the scale of
    ``r`` itself. ``with_residual``: also return ``r`` less those effects.
    """
    valid = bins.valid
    cards = [int(c.max()) + 1 if c.size else 0 for c in codes]
    fitted_effects = 1 + sum(k - 1 for k in cards)
    leaves = int(valid.sum())
    if leaves < 2 * fitted_effects:
        return (noise_scale(r, bins), r) if with_residual else noise_scale(r, bins)
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
    scale = noise_scale(residual, bins) * np.sqrt(leaves / (leaves - fitted_effects))
    return (scale, residual) if with_residual else scale


def tail_factor(d: np.ndarray, sigma: np.ndarray, exclude: np.ndarray, level: float = 1e-8) -> float:
    """How much heavier than normal the noise's far tail is, as a factor on z² (≥ 1).

    In noise whose scale varies from leaf to leaf, the largest of 40,000 leaves is far
    beyond the normal maximum. The tail of ``|d / sigma|`` over the leaves with a scale
    outside ``exclude`` (causes already found) is extrapolated from its 99th and 99.9th
    percentiles — z² growing linearly in log(1/p), as it does for normal noise (slope 2)
    and faster for heavier tails — to the one-sided ``level`` a single leaf must reach;
    the factor is that z² over the normal one. With under 1,000 such leaves, 1.

    >>> rng = np.random.default_rng(0)
    >>> round(tail_factor(rng.normal(0, 1, 20000), np.ones(20000), np.zeros(20000, bool)), 1)
    1.0
    >>> round(tail_factor(rng.standard_t(5, 20000), np.ones(20000), np.zeros(20000, bool)), 1)
    5.1
    """
    keep = np.isfinite(sigma) & ~exclude
    if keep.sum() < 1000:
        return 1.0
    q99, q999 = np.quantile(np.abs(d[keep] / sigma[keep]), [0.99, 0.999])
    slope = max((q999**2 - q99**2) / np.log(10.0), 0.0)
    far = q999**2 + slope * (np.log(1 / level) - np.log(1000.0))
    return max(1.0, float(far / chi2.isf(level, 1)))


def implied_dimensions(codes: list[np.ndarray], cards: list[int]) -> set[tuple[int, int]]:
    """Pairs ``(i, j)`` where dimension i's value fixes dimension j's (micro-region → branch).

    >>> sorted(implied_dimensions([np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1])], [3, 2]))
    [(0, 1)]
    """
    implied = set()
    for i, j in itertools.combinations(range(len(codes)), 2):  # one count serves both ways
        combined, space = codes[i] * np.int64(cards[j]) + codes[j], cards[i] * cards[j]
        if space <= max(4 * combined.size, 1 << 16):
            pairs = int(np.count_nonzero(np.bincount(combined, minlength=space)))
        else:
            pairs = int(np.unique(combined).size)
        if pairs == cards[i]:
            implied.add((i, j))
        if pairs == cards[j]:
            implied.add((j, i))
    return implied


def _group_ids(combined: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Compact group numbers for combined codes, and how many groups there are."""
    ids, counts = _groups(combined, space)
    return ids, counts.size


def _groups(combined: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Compact group numbers for combined codes (in their order), and each group's size."""
    if space <= max(4 * combined.size, 1 << 16):
        counts = np.bincount(combined, minlength=space)
        present = counts > 0
        lookup = np.cumsum(present) - 1
        return lookup[combined], counts[present]
    uniques, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts


def dimension_sets(order: list[int], max_attrs: int,
                   implied: set[tuple[int, int]]) -> list[list[tuple[int, ...]]]:
    """The combinations of dimensions searched, by layer: ``[[()], [(0,), (1,)], [(0, 1)], …]``.

    ``order`` lists the dimensions to search, the most general (fewest values) first, so that
    of two combinations with the same leaves the one met first is the simpler. Combinations
    holding a dimension and one it implies (micro_region and its branch) are left out.

    >>> dimension_sets([0, 1, 2], 2, {(1, 0)})
    [[()], [(0,), (1,), (2,)], [(0, 2), (1, 2)]]
    """
    layers = []
    for k in range(0, max_attrs + 1):
        layer = [dims for dims in itertools.combinations(order, k)
                 if not any((i, j) in implied or (j, i) in implied
                            for i, j in itertools.combinations(dims, 2))]
        if not layer:
            break
        layers.append(layer)
    return layers


def make_cuboid(codes: list[np.ndarray], cards: list[int], dims: tuple[int, ...],
                parent: tuple[np.ndarray, int] | None = None) -> Cuboid:
    """The cuboid of ``dims``: each leaf's group number and the groups' leaf counts.

    Group numbers follow the lexicographic order of the groups' value codes. ``parent``, the
    group numbers and group count of the cuboid of ``dims[:-1]`` (same order), saves
    combining the other dimensions again: one step instead of ``len(dims)``.

    >>> codes = [np.array([1, 0, 1, 0]), np.array([0, 1, 1, 1])]
    >>> make_cuboid(codes, [2, 2], (0, 1)).ids.tolist()
    [1, 0, 2, 0]
    >>> first = make_cuboid(codes, [2, 2], (0,))
    >>> make_cuboid(codes, [2, 2], (0, 1), (first.ids, first.counts.size)).ids.tolist()
    [1, 0, 2, 0]
    """
    if parent is not None and dims:
        ids, groups = parent
        last = dims[-1]
        ids, counts = _groups(ids * np.int64(cards[last]) + codes[last], groups * cards[last])
        return Cuboid(dims, ids, counts)
    combined, space = np.zeros(codes[0].size, dtype=np.int64), 1
    for d in dims:
        combined = combined * cards[d] + codes[d]
        space *= cards[d]
        if space > 1 << 40:  # keep the combined code far from overflowing
            combined, space = _group_ids(combined, space)
    ids, counts = _groups(combined, space)
    return Cuboid(dims, ids, counts)

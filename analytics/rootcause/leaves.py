"""Leaf-level pieces of :mod:`analytics.rootcause.localiser`: log ratios, noise model, hierarchies, cuboids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

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

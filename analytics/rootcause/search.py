"""The greedy search behind :mod:`analytics.rootcause.localiser`: score, pick and refit combinations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from analytics.rootcause.leaves import Cuboid, SizeBins, main_effects_scale, noise_scale

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

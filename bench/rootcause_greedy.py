"""A plain greedy root-cause baseline (Adtributor-like, extended to combinations greedily).

Only for comparison in ``bench/rootcause_eval.py``; not used by the application.

Adtributor scores each value of one dimension by its explanatory power
``EP = (A_v − F_v) / (A − F)`` (its share of the deviation) and its surprise, the
Jensen–Shannon divergence between its share of the expected and of the actual total. The
baseline extends that greedily to combinations: every combination of every set of
dimensions is scored the same way; the most surprising one with ``EP ≥ 0.1`` of what is
left is taken, its leaves are set to their expected values, and the search repeats while
at least 10% of the original deviation is left (at most ``max_causes`` causes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Least explanatory power of a pick (share of what is left); least share of the deviation left.
TEEP, REMAINING = 0.1, 0.1


def _js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-value Jensen–Shannon surprise of shares ``p`` (expected) and ``q`` (actual)."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / m), 0.0)
        b = np.where(q > 0, q * np.log(q / m), 0.0)
    return 0.5 * (a + b)


def localize_greedy(frame: pd.DataFrame, dimensions: Sequence[str], actual: str, expected: str,
                    max_causes: int = 10) -> list[dict[str, str]]:
    """The greedy baseline's causes, as :func:`analytics.rootcause.localiser.localize` returns them.

    Every combination of the dimensions (each cuboid, all its values) is scored by its
    Jensen–Shannon surprise; among those explaining at least ``TEEP`` of what is left of the
    total deviation (explanatory power), the most surprising is taken, its leaves are set to
    their expected values, and the search repeats while at least ``REMAINING`` of the
    original deviation is left.
    """
    import itertools

    names = list(dimensions)
    codes, values = [], []
    for name in names:
        code, uniques = pd.factorize(frame[name], sort=False)
        codes.append(code.astype(np.int64))
        values.append(uniques)
    cards = [len(v) for v in values]
    a = np.clip(frame[actual].to_numpy(dtype=float), 0.0, None)
    f = np.clip(frame[expected].to_numpy(dtype=float), 0.0, None)
    cuboids = []
    for k in range(1, len(names) + 1):
        for dims in itertools.combinations(range(len(names)), k):
            combined = np.zeros(a.size, dtype=np.int64)
            for d in dims:
                combined = combined * cards[d] + codes[d]
            ids = np.unique(combined, return_inverse=True)[1]
            cuboids.append((dims, ids))
    original = a.sum() - f.sum()
    work = a.copy()
    causes: list[tuple[tuple[int, ...], np.ndarray]] = []
    while len(causes) < max_causes and original != 0:
        left = work.sum() - f.sum()
        if abs(left) < REMAINING * abs(original) or work.sum() <= 0 or f.sum() <= 0:
            break
        best, best_score = None, 0.0
        for dims, ids in cuboids:
            av = np.bincount(ids, work)
            fv = np.bincount(ids, f)
            ep = (av - fv) / left
            score = np.where(ep >= TEEP, _js(fv / f.sum(), av / work.sum()), 0.0)
            g = int(np.argmax(score))
            if score[g] > best_score:  # strictly: of equal scores the simpler (met first) stays
                best, best_score = (dims, ids == g), float(score[g])
        if best is None:
            break
        dims, mask = best
        work[mask] = f[mask]
        causes.append(best)
    out = []
    for dims, mask in causes:
        first = int(np.flatnonzero(mask)[0])
        out.append({names[d]: str(values[d][codes[d][first]]) for d in dims})
    return out


def localize_greedy_ratio(frame: pd.DataFrame, dimensions: Sequence[str], numerator_actual: str,
                          numerator_expected: str, denominator_actual: str,
                          denominator_expected: str) -> list[dict[str, str]]:
    """The baseline on a ratio KPI, reduced the same way as the localiser's ratio mode:
    actual numerator against actual denominator × expected rate."""
    na, ne, da, de = (np.clip(frame[c].to_numpy(dtype=float), 0.0, None) for c in
                      (numerator_actual, numerator_expected, denominator_actual, denominator_expected))
    overall = ne.sum() / de.sum() if de.sum() > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(de > 0, ne / de, overall)
    work = frame[list(dimensions)].assign(_a=na, _f=da * rate)
    return localize_greedy(work, dimensions, "_a", "_f")

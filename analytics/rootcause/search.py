"""The layered search behind :mod:`analytics.rootcause.localiser`: test combinations top-down, keep the
most general one that explains its leaves, prune what cannot pass."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import f as f_distribution

from analytics.rootcause.leaves import make_cuboid

#: Standardised residuals are clipped here in the "moved alike" test.
_CLIP = 3.0
#: E[min(Z², 9)] for standard normal Z: the expected clipped square of a homogeneous leaf.
_CLIPPED_NORMAL = 0.995
#: Variance of min(Z², 9) for standard normal Z (about 2.0): the spread of that mean.
_CLIPPED_VARIANCE = 2.0
#: How many standard deviations of that statistic a combination may exceed it by.
_SLACK = 3.0
#: Efficiency of the median absolute deviation against the standard deviation (normal noise).
_MAD_EFFICIENCY = 0.37


@dataclass(frozen=True)
class Found:
    """A reported attribute combination: dimension positions, value codes, leaves and effect.

    ``effect`` is the mean shift of its leaves' relative deviation beyond what the causes
    above it explain, ``z`` its signed z-statistic.
    """

    dims: tuple[int, ...]
    codes: tuple[int, ...]
    mask: np.ndarray
    effect: float
    z: float


def candidate_count(cards: list[int], layers: list[list[tuple[int, ...]]], leaves: int) -> int:
    """How many combinations the search could test (for the Bonferroni level): each set of
    dimensions contributes its number of value combinations, at most the number of leaves."""
    total = 0
    for layer in layers:
        for dims in layer:
            total += int(min(np.prod([cards[d] for d in dims], dtype=float), leaves))
    return max(total, 1)


def layered_search(codes: list[np.ndarray], cards: list[int], layers: list[list[tuple[int, ...]]],
                   d: np.ndarray, sigma: np.ndarray, *, alpha: float, tolerance: float,
                   min_effect: float, max_causes: int, tail: float = 1.0,
                   fragile: np.ndarray | None = None,
                   cuboids: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] | None = None,
                   warm: list[Found] = (), max_group: float = np.inf) -> list[Found]:
    """The causes of the deviations ``d`` (leaf noise sd ``sigma``), layer by layer.

    Layer k holds the combinations of k dimensions (layer 0: the whole frame). On the
    residual ``e`` of the causes accepted in earlier layers, with leaf variance
    ``v = σ² + (tolerance × fitted shift)²`` (a cause's leaves need not move by exactly the
    same amount), a combination with leaves L is a cause when

    * its mean shift ``m = Σ e/v ÷ Σ 1/v`` is significant: ``z² = (Σ e/v)² ÷ Σ 1/v ≥ τ``,
      τ the F(1, df) quantile at ``alpha`` ÷ the number of combinations (Bonferroni; df
      the effective degrees of freedom of the noise scale, 0.37 × the leaves), times
      ``1 + (tail − 1) / n`` for heavy-tailed noise (a single leaf must beat ``tail × τ``);
    * most leaves moved at least half the mean shift — as many as noise and ``tolerance``
      allow, less three binomial standard deviations;
    * its leaves moved alike: the mean over L of ``min(((e − m)² ÷ (v + (tolerance·m)²)), 9)``
      is within ``_SLACK`` standard deviations of its value for noise (0.995) — a parent
      that mixes moved and unmoved leaves fails here, so the search goes on to its children;
    * ``|m|`` is at least ``min_effect`` noise sds of its leaves;
    * it is not a single ``fragile`` leaf (the caller's choice: one that appeared from or
      vanished to zero while smaller than the median leaf, in a frame where several small
      leaves did — its relative change is ±2 whatever its size, and there small leaves
      come and go: one subscriber moving in).

    Accepted causes are fitted (their leaves' residual shifted by ``m``) before the next
    layer, so a refinement of a cause is tested on what its parent leaves unexplained: it is
    reported only when it explains significantly more than the parent. Within a layer,
    candidates go by ``z²``; one that overlaps a cause just taken waits for the next pass
    over the layer, which tests it on the residual of that cause.
    Pruning: ``z² ≤ Σ_L e²/v`` and a child's leaves are a subset of each parent's, so a
    combination is built only where every parent reaches ``Σ e²/v ≥ τ``.

    >>> from analytics.rootcause.leaves import dimension_sets
    >>> rng = np.random.default_rng(0)
    >>> codes = [np.repeat(np.arange(4), 25), np.tile(np.arange(25), 4)]
    >>> d = rng.normal(0, 0.01, 100) - 0.3 * (codes[0] == 2)
    >>> [cause] = layered_search(codes, [4, 25], dimension_sets([0, 1], 2, set()), d,
    ...                          np.full(100, 0.01), alpha=0.001, tolerance=0.5,
    ...                          min_effect=0.5, max_causes=5)
    >>> cause.dims, cause.codes, round(cause.effect, 2)
    ((0,), (2,), -0.3)
    """
    cuboids = {} if cuboids is None else cuboids  # each cuboid's group ids and sizes, built once
    valid = np.isfinite(sigma)
    fragile = np.zeros(d.size, dtype=bool) if fragile is None else fragile & valid
    base_var = np.where(valid, sigma**2, np.inf)
    # The noise scale is itself estimated (a median absolute deviation: about 37% as
    # efficient as a standard deviation), so z² is an F(1, df) statistic, not a χ²₁ one; with
    # thousands of leaves the two agree, with a few dozen F is the honest one.
    df = max(1.0, _MAD_EFFICIENCY * float(valid.sum()))
    tau = float(f_distribution.isf(alpha / candidate_count(cards, layers, int(valid.sum())), 1, df))
    factor = np.ones_like(d)  # each leaf's fitted actual/expected factor: causes multiply
    # Where causes overlap, the leaf's shift is somewhere between their single shifts and
    # their product (they may multiply, or one may simply prevail): ``low``..``high``.
    low, high = np.zeros_like(d), np.zeros_like(d)
    covered = np.zeros(d.size, dtype=bool)
    found: list[Found] = []
    for item in warm:  # causes of an earlier pass, kept: only smaller groups are looked at
        _add(item, factor, low, high, covered)
        found.append(item)
    parents: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    for layer in layers:
        # A layer is searched again after it yields causes: a combination that failed
        # because it overlaps one found beside it (f=f2 holds f=f2 & e=e3, where two causes
        # multiply) is tested once that one is fitted.
        current: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        touched = None  # leaves whose fit changed since the last pass over this layer
        memo: dict = {}  # per-group sums carried from pass to pass
        while len(found) < max_causes:
            current, accepted, mixed = _search_layer(
                layer, parents, codes, cards, d, low, high, covered, fragile, base_var, valid,
                tau, tail, tolerance, min_effect, max_causes - len(found), cuboids, max_group,
                touched, memo)
            if not accepted and mixed is not None:
                # Two causes of one layer that cross (d0=3 and d4=2, multiplying where they
                # meet) each look mixed. Set the strongest mixed group's leaves aside as if
                # explained and look again: a cause crossing it now shows, and once it is
                # fitted the mixed group is judged on its leaves outside it. (Where the
                # mixed group is the parent of a deeper cause, nothing new shows.)
                _, accepted, _ = _search_layer(
                    layer, parents, codes, cards, d, low, high, covered | mixed, fragile,
                    base_var, valid, tau, tail, tolerance, min_effect, max_causes - len(found),
                    cuboids, max_group, mixed, memo)  # only groups crossing it can change
            touched = np.zeros(d.size, dtype=bool)
            for item in accepted:
                _add(item, factor, low, high, covered)
                touched |= item.mask
            found.extend(accepted)
            if not accepted:
                break
        if len(found) >= max_causes:
            break
        parents = current
    return _still_needed(found, d, base_var, valid, tau, tail, tolerance)


def _still_needed(found: list[Found], d: np.ndarray, base_var: np.ndarray, valid: np.ndarray,
                  tau: float, tail: float, tolerance: float) -> list[Found]:
    """The causes that each still shift their leaves significantly given all the others.

    A cause is taken on the residual of the causes found before it; one found early (a
    whole dimension value) can owe its shift to deeper causes found later (two of its
    children). Each cause is therefore tested again on the fit of every other cause, as in
    the search (leaves it shares with a cause it crosses left out, a refinement on all its
    leaves), and the weakest one that no longer reaches the level, or whose shift changed
    sign, is dropped; until all stand.
    """
    if len(found) < 2:
        return list(found)
    # Only the leaves under some cause matter: work on those.
    union = np.flatnonzero(np.logical_or.reduce([item.mask for item in found]))
    d, base_var, valid = d[union], base_var[union], valid[union]
    kept = list(found)
    found = [replace(item, mask=item.mask[union]) for item in found]
    while len(found) > 1:
        weakest, weakest_z2 = None, np.inf
        for i, item in enumerate(found):
            factor, low, high = np.ones_like(d), np.zeros_like(d), np.zeros_like(d)
            covered = np.zeros(d.size, dtype=bool)
            for other in found[:i] + found[i + 1:]:
                _add(other, factor, low, high, covered)
            mask = item.mask & valid
            if covered[mask].mean() <= 0.5:  # crossing: judged on its leaves outside them
                mask &= ~covered
            fitted = np.clip(d[mask], low[mask], high[mask])
            w = 1.0 / (base_var[mask] + (tolerance * fitted) ** 2)
            s1, weight = float(np.sum(w * (d[mask] - fitted))), float(np.sum(w))
            z2 = s1 * s1 / weight if weight > 0 else 0.0
            level = tau * (1.0 + (tail - 1.0) / max(int(mask.sum()), 1))
            if (z2 < level or np.sign(s1) != np.sign(item.effect)) and z2 < weakest_z2:
                weakest, weakest_z2 = i, z2
        if weakest is None:
            break
        del found[weakest], kept[weakest]
    return kept


def _add(item: Found, factor: np.ndarray, low: np.ndarray, high: np.ndarray,
         covered: np.ndarray) -> None:
    """Fit a cause just taken into each leaf's range of fitted shifts (in place).

    A leaf under one cause has that cause's shift. Under two that cross (b=b16 and d=d4),
    the shift may be their product or either one alone (data differ: a generator may
    overwrite, a real outage multiplies), so the range spans all three, and only a
    deviation outside it is left to explain: the crossing itself is not a further cause. A
    refinement (most of its leaves already under a cause) multiplies its parent's shift.
    """
    mask = item.mask
    factor[mask] *= as_factor(item.effect)
    compound = _as_shift(factor[mask])
    crossing = covered[mask].mean() <= 0.5
    old = covered[mask]
    own = np.full(compound.shape, item.effect) if crossing else compound
    low[mask] = np.where(old, np.minimum.reduce([low[mask], own, compound]), compound)
    high[mask] = np.where(old, np.maximum.reduce([high[mask], own, compound]), compound)
    if not crossing:  # a refinement: its leaves' shift is now known to be the product
        low[mask], high[mask] = compound, compound
    covered[mask] = True


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) to within 3e-4 (the tanh form; several times faster than the exact one)."""
    return 0.5 * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def as_factor(shift: np.ndarray | float) -> np.ndarray | float:
    """A relative deviation ``d`` as the factor actual/expected: ``(1 + d/2) / (1 − d/2)``."""
    shift = np.clip(shift, -2.0, 1.999)
    return (1 + shift / 2) / (1 - shift / 2)


def _as_shift(factor: np.ndarray) -> np.ndarray:
    """The inverse of :func:`as_factor`."""
    return 2 * (factor - 1) / (factor + 1)


def _search_layer(layer: list[tuple[int, ...]],
                  previous: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]],
                  codes: list[np.ndarray], cards: list[int], d: np.ndarray, low: np.ndarray,
                  high: np.ndarray, covered: np.ndarray, fragile: np.ndarray,
                  base_var: np.ndarray, valid: np.ndarray,
                  tau: float, tail: float,
                  tolerance: float, min_effect: float, room: int,
                  cuboids: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]],
                  max_group: float, touched: np.ndarray | None, memo: dict
                  ) -> tuple[dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]], list[Found],
                             np.ndarray | None]:
    """One pass over a layer's combinations: each cuboid's reach flags and the causes taken.

    Only groups of at most ``max_group`` leaves are tested, and with ``touched`` only groups
    holding one of those leaves (the rest are as they were in the previous pass). ``memo``
    carries each cuboid's Σ e²/v per group from one pass over the layer to the next.
    """
    fitted = np.clip(d, low, high)  # the fit nearest the leaf: residual = distance to the range
    e = np.where(valid, d - fitted, 0.0)
    v = base_var + (tolerance * fitted) ** 2
    w = np.where(valid, 1.0 / v, 0.0)
    q = w * e * e
    # Σ q per group changes only in groups holding a leaf whose fit changed (``touched``):
    # on a second pass over a layer the sums of the first are updated by those leaves alone.
    changed = None if touched is None else np.flatnonzero(touched)
    dq = None
    if changed is not None and memo.get("q") is not None:
        dq = q[changed] - memo["q"][changed]
    memo["q"] = q
    sums_of = memo.setdefault("sums", {})
    all_valid = bool(valid.all())
    current: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    candidates = []
    mixed: tuple[float, np.ndarray] | None = None  # the strongest significant group not alike
    any_covered, any_fragile = bool(covered.any()), bool(fragile.any())
    for dims in layer:
        if len(dims) >= 2 and not _alive(dims, previous):
            continue
        if dims not in cuboids:
            above = cuboids.get(dims[:-1]) if dims else None  # built one layer up, mostly
            cuboid = make_cuboid(codes, cards, dims,
                                 None if above is None else (above[0], above[1].size))
            cuboids[dims] = (cuboid.ids, cuboid.counts)
        ids, sizes = cuboids[dims]
        groups = sizes.size
        if dq is not None and dims in sums_of:
            sums = sums_of[dims] + np.bincount(ids[changed], dq, minlength=groups)
        else:
            sums = np.bincount(ids, q, minlength=groups)
        sums_of[dims] = sums
        reach = sums >= tau
        current[dims] = (ids, reach)
        reach = reach & (sizes <= max_group)
        if changed is not None:  # a second pass: only groups holding a newly fitted leaf changed
            reach &= np.bincount(ids[changed], minlength=groups) > 0
        if not reach.any():
            continue
        # From here on only the leaves of groups that can still pass are looked at.
        live = reach[ids]
        if not all_valid:
            live &= valid
        if live.all():  # every leaf: no copies
            sub, g = slice(None), ids
        else:
            sub = np.flatnonzero(live)
            g = ids[sub]
        # Leaves looked at per group: with every leaf valid, all of a reaching group's.
        count = sizes.astype(float) if all_valid else np.bincount(g, minlength=groups).astype(float)
        if any_covered:
            # A combination that crosses causes already found (b=b11 & c=c3 across e=e1)
            # is judged on its leaves outside them: how causes combine is not known, so
            # those leaves are no evidence either way. One mostly inside a cause (a
            # refinement) is judged on all its leaves, on the residual of that cause.
            cov = covered[sub]
            inside = np.bincount(g, cov, minlength=groups)
            refinement = inside > 0.5 * count
            keep = ~cov | refinement[g]
            sub = np.flatnonzero(keep) if isinstance(sub, slice) else sub[keep]
            g = g[keep]
            count = np.where(refinement, count, count - inside)
        e_s, w_s, v_s = e[sub], w[sub], v[sub]
        weight = np.bincount(g, w_s, minlength=groups)
        s1 = np.bincount(g, w_s * e_s, minlength=groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(weight > 0, s1 / weight, 0.0)
            typical = np.sqrt(np.where(weight > 0, count / weight, np.inf))
        z2 = s1 * mean
        # Heavy-tailed noise: a mean of few leaves needs more (``tail`` for a single leaf).
        level = tau * (1.0 + (tail - 1.0) / np.maximum(count, 1.0))
        ok = reach & (weight > 0) & (z2 >= level) & (np.abs(mean) >= min_effect * typical)
        if any_fragile and (ok & (count == 1)).any():  # a small leaf that appeared or
            # vanished is no cause on its own
            ok &= ~((count == 1) & (np.bincount(g, fragile[sub], minlength=groups) > 0))
        if not ok.any():
            continue
        significant = ok.copy()
        keep = ok[g]
        g, e_s, w_s, v_s = g[keep], e_s[keep], w_s[keep], v_s[keep]
        m_s = mean[g]
        loose = v_s + (tolerance * m_s) ** 2
        spread = np.minimum((e_s - m_s) ** 2 / loose, _CLIP**2)
        scatter = np.bincount(g, spread, minlength=groups)
        ok &= scatter <= _CLIPPED_NORMAL * count + _SLACK * np.sqrt(_CLIPPED_VARIANCE * count)
        # Most leaves must have moved at least half the mean, as many as noise allows:
        # a shift carried by two wild leaves among sixty is not a common one.
        half = np.abs(m_s) / 2
        agree = np.sign(m_s) * e_s >= half
        chance = _normal_cdf(half / np.sqrt(loose))
        expected = np.bincount(g, chance, minlength=groups)
        wobble = np.sqrt(np.bincount(g, chance * (1 - chance), minlength=groups))
        ok &= np.bincount(g, agree, minlength=groups) >= expected - _SLACK * wobble - 0.5
        # Nor a few leaves' doing: with each leaf's standardised residual clipped at
        # max(3, twice the combination's own mean shift), the shift must still reach the
        # level. Leaves of a real cause sit near its mean and lose nothing; a handful of
        # leaves of a deeper cause inside a large, otherwise quiet combination lose most.
        root_w = np.sqrt(w_s)
        bound = np.maximum(_CLIP, 2 * np.abs(m_s) * root_w)
        clipped = np.clip(e_s * root_w, -bound, bound) * root_w
        with np.errstate(divide="ignore", invalid="ignore"):
            robust = np.where(weight > 0, np.bincount(g, clipped, minlength=groups) ** 2 / weight, 0.0)
        ok &= robust >= level
        # Not one leaf's doing: without its strongest leaf, a combination must still show
        # a shift of the same sign worth half the level — else that leaf is the cause
        # (found one layer down), not the combination around it.
        pull = np.sign(m_s) * w_s * e_s
        top = np.full(groups, -np.inf)
        np.maximum.at(top, g, pull)
        strongest_w = np.zeros(groups)
        at_top = pull == top[g]
        strongest_w[g[at_top]] = w_s[at_top]
        rest_s1 = np.sign(mean) * s1 - np.where(ok, top, 0.0)
        rest_w = weight - np.where(ok, strongest_w, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(rest_w > 0, np.maximum(rest_s1, 0.0) ** 2 / rest_w, 0.0)
        ok &= (count <= 1) | (rest >= level / 2)
        failed = significant & ~ok
        if failed.any():
            k = int(np.argmax(np.where(failed, z2, -np.inf)))
            if mixed is None or z2[k] > mixed[0]:
                mixed = (float(z2[k]), ids == k)
        candidates.extend((float(z2[k]), dims, int(k), ids, float(mean[k]))
                          for k in np.flatnonzero(ok))
    candidates.sort(key=lambda c: -c[0])
    taken = np.zeros(d.size, dtype=bool)
    accepted: list[Found] = []
    for z2, dims, k, ids, mean in candidates:
        if len(accepted) >= room:
            break
        mask = ids == k
        inside = mask & valid
        if (inside & taken).any():
            continue  # tested again once the cause it overlaps is fitted
        first = int(np.flatnonzero(mask)[0])
        accepted.append(Found(dims, tuple(int(codes[x][first]) for x in dims), mask, mean,
                              float(np.sign(mean) * np.sqrt(z2))))
        taken |= mask
    return current, accepted, (mixed[1] if mixed is not None else None)


def _alive(dims: tuple[int, ...], previous: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether every parent cuboid of ``dims`` was searched and has a group reaching τ.

    (A child group's Σ e²/v is at most its parents' groups'; checking the groups leaf by
    leaf prunes a little more but costs more than it saves.)
    """
    for drop in range(len(dims)):
        parent = dims[:drop] + dims[drop + 1:]
        if parent not in previous or not previous[parent][1].any():
            return False
    return True

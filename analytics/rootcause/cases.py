"""Generated root-cause cases with known answers, and how to score answers, for tests and the bench."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Case:
    """A leaf frame (columns ``dimensions``, ``actual``, ``expected``) and its planted causes."""

    frame: pd.DataFrame = field(repr=False)
    dimensions: list[str]
    causes: list[dict[str, str]]
    noise: float


def make_case(rng: np.random.Generator, n_dims: int = 4, cardinalities: Sequence[int] | None = None,
              n_causes: int = 1, attrs_per_cause: int | Sequence[int] = 1,
              magnitude: float | tuple[float, float] = (0.1, 0.6), noise: float = 0.03, *,
              hierarchy: bool = False, keep: float = 1.0, min_support: int = 10) -> Case:
    """A case: leaves with a forecast, and causes that scale all their leaves by one factor.

    Every leaf gets a base value (log-normal, spread like revenue); ``expected`` is
    ``base × (1 + N(0, noise))`` and ``actual`` is ``base`` times ``(1 ± magnitude)`` for
    each cause over the leaf (drops and rises at random; ``magnitude`` a number or a range to
    draw from). ``keep`` < 1 drops leaves at random (sparse data). With ``hierarchy``,
    dimension ``d0`` is a parent of ``d1`` (like branch over micro-region). A cause covers at
    least ``min_support`` leaves, no simpler combination has the same leaves, and no cause
    contains another.

    >>> case = make_case(np.random.default_rng(0), n_causes=2, attrs_per_cause=2)
    >>> len(case.causes), all(len(c) == 2 for c in case.causes)
    (2, True)
    """
    if cardinalities is None:
        cardinalities = [int(c) for c in rng.integers(3, 9, n_dims)]
    cards = list(cardinalities)
    if len(cards) != n_dims:
        raise ValueError(f"{n_dims} dimensions but {len(cards)} cardinalities")
    names = [f"d{k}" for k in range(n_dims)]
    axes = cards[1:] if hierarchy else cards
    grid = np.stack(np.meshgrid(*[np.arange(c) for c in axes], indexing="ij"), -1).reshape(-1, len(axes))
    grid = grid[rng.random(len(grid)) < keep] if keep < 1 else grid
    if hierarchy:  # d0 is d1's parent; every parent gets at least two children
        grid = np.column_stack([grid[:, 0] % max(1, min(cards[0], cards[1] // 2)), grid])
    counts = [attrs_per_cause] * n_causes if isinstance(attrs_per_cause, int) else list(attrs_per_cause)
    causes: list[dict[int, int]] = []
    masks: list[np.ndarray] = []
    for attrs in counts:
        cause, mask = _draw_cause(rng, grid, attrs, hierarchy, min_support, masks)
        causes.append(cause)
        masks.append(mask)
    base = rng.lognormal(np.log(1000.0), 1.0, len(grid))
    actual = base.copy()
    for mask in masks:
        size = rng.uniform(*magnitude) if isinstance(magnitude, tuple) else float(magnitude)
        actual[mask] *= 1 + size if rng.random() < 0.5 else 1 - size
    expected = np.maximum(base * (1 + rng.normal(0.0, noise, len(grid))), 0.0)
    labels = {name: np.array([f"{name}_{v}" for v in range(int(grid[:, k].max()) + 1)], dtype=object)
              for k, name in enumerate(names)}
    frame = pd.DataFrame({name: labels[name][grid[:, k]] for k, name in enumerate(names)})
    frame = frame.assign(actual=actual, expected=expected)
    named = [{names[d]: f"{names[d]}_{v}" for d, v in sorted(c.items())} for c in causes]
    return Case(frame, names, named, noise)


def _draw_cause(rng: np.random.Generator, grid: np.ndarray, attrs: int, hierarchy: bool,
                min_support: int, taken: list[np.ndarray]) -> tuple[dict[int, int], np.ndarray]:
    for _ in range(1000):
        dims = sorted(rng.choice(grid.shape[1], attrs, replace=False).tolist())
        if hierarchy and 0 in dims and 1 in dims:
            continue
        row = grid[int(rng.integers(len(grid)))]
        cause = {d: int(row[d]) for d in dims}
        mask = _mask(grid, cause)
        if mask.sum() < min_support or any(_nested(mask, other) for other in taken):
            continue
        simpler = [dict(c) for c in itertools.combinations(cause.items(), attrs - 1)]
        if hierarchy and 1 in cause:  # the child's parent in its place
            simpler.append({**{k: v for k, v in cause.items() if k != 1}, 0: int(row[0])})
        if any((_mask(grid, other) == mask).all() for other in simpler):
            continue
        return cause, mask
    raise ValueError(f"cannot place a cause of {attrs} attributes with {min_support} leaves")


def _mask(grid: np.ndarray, cause: dict[int, int]) -> np.ndarray:
    mask = np.ones(len(grid), dtype=bool)
    for d, v in cause.items():
        mask &= grid[:, d] == v
    return mask


def _nested(a: np.ndarray, b: np.ndarray) -> bool:
    both = (a & b).sum()
    return both == a.sum() or both == b.sum()


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 over a suite: micro (pooled counts) and macro (per-case mean F1)."""

    cases: int
    precision: float
    recall: float
    f1: float
    macro_f1: float


def score_answers(answers: Sequence[Sequence[dict[str, str]]],
                  truths: Sequence[Sequence[dict[str, str]]]) -> Scores:
    """Score answers against truths; a cause counts only when its attributes match exactly.

    >>> score_answers([[{"a": "1"}, {"b": "2"}]], [[{"a": "1"}]])
    Scores(cases=1, precision=0.5, recall=1.0, f1=0.6666666666666666, macro_f1=0.6666666666666666)
    """
    tp = fp = fn = 0
    per_case = []
    for answer, truth in zip(answers, truths, strict=True):
        got = {tuple(sorted(c.items())) for c in answer}
        want = {tuple(sorted(c.items())) for c in truth}
        hit = len(got & want)
        tp, fp, fn = tp + hit, fp + len(got - want), fn + len(want - got)
        denominator = len(got) + len(want)
        per_case.append(2 * hit / denominator if denominator else 1.0)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(len(per_case), precision, recall, f1, float(np.mean(per_case)) if per_case else 1.0)


def suite(seed: int, n_cases: int, *, noise: tuple[float, float] = (0.0, 0.05),
          magnitude: tuple[float, float] = (0.1, 0.6), with_causes: bool = True,
          min_support: int = 10) -> list[Case]:
    """The generated suite: 4 dimensions of 4–12 values or 5 of 3–8, a third with a hierarchy,
    0–40% of leaves missing, 1–3 causes of 1–3 attributes (or none), magnitudes drawn from
    ``magnitude`` (10–60%),
    noise drawn from ``noise``; draws where a cause cannot span ``min_support`` leaves are
    redrawn."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    while len(cases) < n_cases:
        n_dims = int(rng.integers(4, 6))
        n_causes = int(rng.integers(1, 4)) if with_causes else 0
        high = 13 if n_dims == 4 else 9
        try:
            cases.append(make_case(
                rng, n_dims, [int(c) for c in rng.integers(4 if n_dims == 4 else 3, high, n_dims)],
                n_causes, [int(a) for a in rng.integers(1, 4, n_causes)], magnitude,
                float(rng.uniform(*noise)), hierarchy=bool(rng.random() < 1 / 3),
                keep=float(rng.uniform(0.6, 1.0)), min_support=min_support))
        except ValueError:  # a cause cannot span enough leaves in this draw: draw again
            continue
    return cases

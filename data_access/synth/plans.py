"""Planted plan history (产品视图): ordinary plan migrations and a new plan's launch.

``dim_subscriber.plan_id`` stays the plan a subscriber holds now (the plan the population drew),
and the history is drawn *backwards* from it, so history and current plan always agree: the
last change of every subscriber ends on its current plan and changes chain.

* **Ordinary migrations**: each month, subscribers move along the fee ladder (the plans in
  order of monthly fee, the launch plan left out): mostly up to the next tier, some down. The
  backward draw picks, for each plan ``p``, who came to it from a neighbour ``q`` with the
  count a forward rate ``rate × holders of q last month × P(q → p)`` gives, so each plan's
  outflow is a steady share of its own base, before and after the launch alike.
* **The launch**: one plan that nobody holds before the launch month. Every subscriber on it
  now who joined before the launch switched to it at or after the launch (timing: the
  variant's monthly hazard from the launch month), from a source plan drawn from a planted mix
  concentrated on a few plans (the cannibalisation truth); those who join later may take it
  directly. Holders of the launch plan who left before it existed are given a source plan
  instead (their current plan changes; they never held the launch plan).
* **Bills** are left as drawn, from the current plan's spend level, before and after a change
  (scaling them to the plan then held was tried and taken out: the
  launch's switchers would carry jumps of up to 2.6× into the spend trends the planted churn
  drivers are read from, and the churn model's planted drivers would be lost in them; a
  churn model that reads trends net of plan changes must come first).

Draws come from their own stream (``plans``); no other draw of the simulation changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_access.synth.calendar import Calendar, month_label, month_start
from data_access.synth.dims import Dimensions
from data_access.synth.population import Population
from data_access.synth.variants import Variant


@dataclass(frozen=True)
class PlanSettings:
    """What one variant plants."""

    launch_plan: int  # plan_id nobody holds before the launch
    months_back: int  # the launch month, counted back from the latest month
    sources: dict[int, float]  # source plan_id → share of the launch's switchers
    hazard: float  # chance a waiting switcher moves in a month, from the launch on
    rate: float  # ordinary migrations a month, as a share of a plan's base
    #: Forward moves along the fee ladder: tiers up (1, 2) or down (-1) and their weights.
    moves: dict[int, float]


SETTINGS = {
    "a": PlanSettings(launch_plan=4, months_back=6,
                      sources={2: 0.50, 5: 0.30, 6: 0.10, 3: 0.05, 9: 0.05},
                      hazard=0.35, rate=0.012, moves={1: 0.7, -1: 0.3}),
    "b": PlanSettings(launch_plan=8, months_back=4,
                      sources={6: 0.55, 4: 0.25, 5: 0.10, 7: 0.05, 9: 0.05},
                      hazard=0.20, rate=0.009, moves={1: 0.45, 2: 0.15, -1: 0.40}),
}


@dataclass
class PlanHistory:
    """The drawn history: change rows, and the plan each affected subscriber held each month."""

    settings: PlanSettings
    launch: int  # the launch month
    changes: pd.DataFrame  # position, month (number), from_plan_id, to_plan_id, launch (bool)
    reassigned: int  # launch-plan holders who left before the launch, given a source plan
    fee: np.ndarray = field(repr=False)  # by plan_id
    drawn: np.ndarray = field(repr=False)  # plan the spend level was drawn for, by position
    affected: np.ndarray = field(repr=False)  # positions whose plan differs in some month
    held: np.ndarray = field(repr=False)  # (affected, window months) plan held
    first: int = 0

    def frame(self) -> pd.DataFrame:
        """``fact_plan_change`` rows."""
        rows = self.changes.sort_values(["position", "month"])
        return pd.DataFrame({
            "subscriber_id": rows["position"].to_numpy(dtype=np.int64) + 1,
            "month": [np.datetime64(month_start(int(t)), "D") for t in rows["month"]],
            "from_plan_id": rows["from_plan_id"].to_numpy(dtype=np.int64),
            "to_plan_id": rows["to_plan_id"].to_numpy(dtype=np.int64),
        })

    def truth_rows(self, cal: Calendar, dims: Dimensions) -> list[tuple[str, dict, float, str, dict]]:
        """A ``plan_launch`` truth (size: switchers from other plans) and a ``plan_migration``
        truth (size: the monthly rate of ordinary migrations)."""
        s = self.settings
        name = dims.plans.set_index("plan_id")["plan_name"]
        launched = self.changes[self.changes["launch"]]
        counts = launched["from_plan_id"].value_counts()
        ordinary = self.changes[~self.changes["launch"]]
        months = cal.months_range(self.launch, cal.last)
        launch = ("plan_launch", {"plan_name": str(name[s.launch_plan])}, float(len(launched)),
                  months, {
                      "plan_id": s.launch_plan, "launch_month": month_label(self.launch),
                      "source_shares": {str(p): share for p, share in s.sources.items()},
                      "switchers_by_source": {str(int(p)): int(n) for p, n in counts.items()},
                      "source_names": {str(p): str(name[p]) for p in s.sources},
                      "monthly_hazard": s.hazard,
                      "reassigned_before_launch": self.reassigned,
                      "excess": "every switcher is beyond ordinary migration: the sources' "
                                "ordinary outflow keeps its rate after the launch",
                  })
        up = sum(w for k, w in s.moves.items() if k > 0)
        migration = ("plan_migration", {}, s.rate, cal.months_range(cal.first + 1, cal.last), {
            "changes": int(len(ordinary)), "up_share": round(up / sum(s.moves.values()), 3),
            "moves": {str(k): w for k, w in s.moves.items()},
            "ladder": "plans by monthly fee, the launch plan left out",
            "bills": "revenue and discount scaled by fee held / fee drawn; usage unchanged",
        })
        return [launch, migration]


def _ladder(dims: Dimensions, launch_plan: int) -> np.ndarray:
    plans = dims.plans[dims.plans["plan_id"] != launch_plan]
    return plans.sort_values(["monthly_fee", "plan_id"])["plan_id"].to_numpy()


def _forward(ladder: np.ndarray, moves: dict[int, float]) -> dict[int, dict[int, float]]:
    """P(q → p) of an ordinary migration from each plan ``q``, along the ladder."""
    out = {}
    for i, q in enumerate(ladder):
        reach = {int(ladder[i + k]): w for k, w in moves.items() if 0 <= i + k < len(ladder)}
        total = sum(reach.values())
        out[int(q)] = {p: w / total for p, w in reach.items()}
    return out


def _switch_months(rng: np.random.Generator, launch: int, last: np.ndarray,
                   hazard: float) -> np.ndarray:
    """Months from ``launch`` to ``last`` (inclusive), a geometric wait truncated to them."""
    span = last - launch + 1
    u = rng.random(span.size)
    cover = 1.0 - (1.0 - hazard) ** span
    wait = np.floor(np.log1p(-u * cover) / np.log1p(-hazard)).astype(np.int64)
    return launch + np.minimum(wait, span - 1)


def plan_history(rng: np.random.Generator, cal: Calendar, dims: Dimensions, pop: Population,
                 variant: Variant) -> PlanHistory:
    """Draw the history backwards from each subscriber's current plan (``pop.plan``; the
    launch plan's holders who left before the launch get a source plan there)."""
    s = SETTINGS[variant.name]
    launch = cal.last - s.months_back
    drawn = pop.plan.astype(np.int64).copy()
    plan = drawn.copy()
    last_billed = np.minimum(pop.churn.astype(np.int64) - 1, cal.last)
    on_launch = (plan == s.launch_plan) & (pop.join < launch)
    sources = np.array(list(s.sources), dtype=np.int64)
    shares = np.array(list(s.sources.values()))
    gone = np.flatnonzero(on_launch & (last_billed < launch))
    plan[gone] = rng.choice(sources, size=gone.size, p=shares / shares.sum())
    pop.plan = plan.astype(pop.plan.dtype)
    movers = np.flatnonzero(on_launch & (last_billed >= launch))
    source = np.zeros(pop.n, dtype=np.int64)
    source[movers] = rng.choice(sources, size=movers.size, p=shares / shares.sum())
    switch = np.full(pop.n, -1, dtype=np.int64)
    switch[movers] = _switch_months(rng, launch, last_billed[movers], s.hazard)

    ladder = _ladder(dims, s.launch_plan)
    forward = _forward(ladder, s.moves)
    held = plan.copy()
    records: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, bool]] = []
    for t in range(cal.last, cal.first, -1):
        moving = np.flatnonzero(switch == t)
        if moving.size:
            records.append((moving, t, source[moving], held[moving], True))
            held[moving] = source[moving]
        before = (pop.join <= t - 1) & (pop.churn > t - 1)
        counts = np.bincount(held[before], minlength=int(dims.plans["plan_id"].max()) + 1)
        stay = before & (pop.churn > t) & ~pop.farmed & (held != s.launch_plan) & (switch != t)
        came_from = np.zeros(pop.n, dtype=np.int64)
        for p in ladder:
            rows = np.flatnonzero(stay & (held == p))
            origins = [q for q in forward if int(p) in forward[q]]
            if rows.size == 0 or not origins:
                continue
            probs = np.array([s.rate * counts[q] * forward[q][int(p)] for q in origins]) / rows.size
            probs *= min(1.0, 0.5 / max(probs.sum(), 1e-12))  # never most of a plan in a month
            pick = np.searchsorted(np.cumsum(probs), rng.random(rows.size), side="right")
            chosen = pick < len(origins)
            came_from[rows[chosen]] = np.array(origins)[pick[chosen]]
        ordinary = np.flatnonzero(came_from > 0)
        if ordinary.size:
            records.append((ordinary, t, came_from[ordinary], held[ordinary], False))
            held[ordinary] = came_from[ordinary]
    changes = pd.DataFrame({
        "position": np.concatenate([r[0] for r in records] or [np.empty(0, np.int64)]),
        "month": np.concatenate([np.full(r[0].size, r[1]) for r in records] or [np.empty(0)]),
        "from_plan_id": np.concatenate([r[2] for r in records] or [np.empty(0, np.int64)]),
        "to_plan_id": np.concatenate([r[3] for r in records] or [np.empty(0, np.int64)]),
        "launch": np.concatenate([np.full(r[0].size, r[4]) for r in records] or [np.empty(0, bool)]),
    })
    return _with_timeline(s, launch, changes, gone.size, dims, cal, drawn, plan)


def _with_timeline(s: PlanSettings, launch: int, changes: pd.DataFrame, reassigned: int,
                   dims: Dimensions, cal: Calendar, drawn: np.ndarray,
                   plan: np.ndarray) -> PlanHistory:
    """The plan each affected line held in each window month, for the bills."""
    fee = np.zeros(int(dims.plans["plan_id"].max()) + 1)
    fee[dims.plans["plan_id"].to_numpy()] = dims.plans["monthly_fee"].to_numpy()
    affected = np.union1d(changes["position"].to_numpy(dtype=np.int64),
                          np.flatnonzero(plan != drawn))
    held = np.repeat(plan[affected][:, None], len(cal), axis=1)
    ordered = changes.sort_values("month", ascending=False)
    rows = np.searchsorted(affected, ordered["position"].to_numpy(dtype=np.int64))
    for row, t, source in zip(rows, ordered["month"].to_numpy(dtype=np.int64),
                              ordered["from_plan_id"].to_numpy(dtype=np.int64), strict=True):
        held[row, : t - cal.first] = source
    return PlanHistory(s, launch, changes, reassigned, fee, drawn, affected, held, cal.first)

"""Planted revenue leakage: lines billed too little, billed nothing, or discounted wrongly.

The generator picks a few lines per kind (after pass one, when everyone's churn month and
discount term are known), and the billing pass changes their bills in the planted months;
the usage is left alone, as a rating or provisioning fault would leave it. The agreed
discount terms are written to ``discount_term``; the lines discounted without a term have
none. Variant a and b plant the same kinds through other components, shares, lengths and
rates (``docs/generator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_access.synth.calendar import NEVER, Calendar, month_label
from data_access.synth.population import Population
from data_access.synth.variants import Variant

_PARTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas")


@dataclass(frozen=True)
class LeakSettings:
    """What one variant plants (see :data:`SETTINGS`)."""

    #: The revenue component left unrated, the share of its charge still billed, and months.
    unbilled_component: str
    unbilled_share: float
    unbilled_months: int
    #: Months in a row billed nothing at all (counted back from the latest month).
    zero_months: int
    #: Discount on lines with no term: rate; discount above the agreed rate: points added.
    rogue_rate: float
    extra_rate: float
    #: Months of the wrong discounts (latest months).
    discount_months: int
    #: Lines per kind: one per this many subscribers, at least ``min_lines``.
    per_subscribers: int
    min_lines: int


SETTINGS = {
    "a": LeakSettings(unbilled_component="rev_data", unbilled_share=0.0, unbilled_months=2,
                      zero_months=3, rogue_rate=0.20, extra_rate=0.15, discount_months=3,
                      per_subscribers=2_500, min_lines=4),
    "b": LeakSettings(unbilled_component="rev_voice", unbilled_share=0.04, unbilled_months=3,
                      zero_months=5, rogue_rate=0.12, extra_rate=0.07, discount_months=2,
                      per_subscribers=3_000, min_lines=5),
}
#: Lines per kind at most (their ids are listed in the planted truth).
MAX_LINES = 40
KINDS = ("unbilled_usage", "zero_revenue", "discount_beyond_term", "discount_without_term",
         "discount_above_rate")


@dataclass
class Leakage:
    """The planted lines and months per kind, and the yuan each kind took from the bills as
    they were made. ``kind_of`` and ``since`` run over the whole population: the kind a line
    leaks by (−1: none) and its first leaking month (every month after it leaks too)."""

    settings: LeakSettings
    kind_of: np.ndarray
    since: np.ndarray
    lost: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))

    def lines(self, kind: str) -> np.ndarray:
        return np.flatnonzero(self.kind_of == KINDS.index(kind))

    def apply(self, t: int, billed: np.ndarray, parts: np.ndarray, discount: np.ndarray,
              rate: np.ndarray) -> None:
        """Change month ``t``'s bills in place (``parts`` are the four gross components of the
        billed lines, ``discount`` their discounts, ``rate`` their agreed discount rates)."""
        s = self.settings
        leaking = self.since[billed] <= t
        kind = self.kind_of[billed]
        where = {name: leaking & (kind == i) for i, name in enumerate(KINDS)}
        hit = where["unbilled_usage"]
        if hit.any():
            c = _PARTS.index(s.unbilled_component)
            old = parts[hit].sum(axis=1)
            before = parts[hit, c].copy()
            parts[hit, c] = before * s.unbilled_share
            # the discount is a share of the gross bill, so it shrinks with it
            discount[hit] *= parts[hit].sum(axis=1) / old
            self.lost["unbilled_usage"] += float((before - parts[hit, c]).sum())
        hit = where["zero_revenue"]
        if hit.any():
            self.lost["zero_revenue"] += float((parts[hit].sum(axis=1) - discount[hit]).sum())
            parts[hit] = 0.0
            discount[hit] = 0.0
        gross = parts.sum(axis=1)
        for name, new_rate in (("discount_beyond_term", rate),
                               ("discount_without_term", np.full(rate.shape, s.rogue_rate)),
                               ("discount_above_rate", rate + s.extra_rate)):
            hit = where[name]
            if hit.any():
                wanted = new_rate[hit] * gross[hit]
                self.lost[name] += float((wanted - discount[hit]).sum())
                discount[hit] = wanted

    def truth_rows(self, cal: Calendar) -> list[tuple[str, dict, float, str, dict]]:
        """(kind, where, size, period, detail) per planted kind: size is the yuan taken; the
        lines are anywhere in the city (``where`` is empty), listed in ``detail``."""
        s, rows = self.settings, []
        for kind in KINDS:
            lines = self.lines(kind)
            first = int(self.since[lines].min()) if lines.size else cal.last
            detail = {"check": kind, "subscriber_ids": [int(p) + 1 for p in lines],
                      "first_months": sorted({month_label(int(m)) for m in self.since[lines]}),
                      "yuan_lost": round(self.lost[kind], 2)}
            if kind == "unbilled_usage":
                detail.update(component=s.unbilled_component, billed_share=s.unbilled_share,
                              usage="unchanged")
            rows.append(("revenue_leak", {}, round(self.lost[kind], 2), cal.months_range(first, cal.last),
                         detail))
        return rows


def plan_leakage(rng: np.random.Generator, cal: Calendar, pop: Population,
                 variant: Variant, exclude: np.ndarray | None = None) -> Leakage:
    """Pick the leaking lines of each kind among lines billed to the latest month with at
    least six months of history before the planted months, never a farmed number nor a line
    in ``exclude`` (other plants' lines, whose own figures the leaks must not blur), and no
    line in two kinds."""
    s = SETTINGS[variant.name]
    n = min(max(s.min_lines, pop.n // s.per_subscribers), MAX_LINES)
    last = cal.last
    first = {"unbilled_usage": last - s.unbilled_months + 1,
             "zero_revenue": last - s.zero_months + 1,
             "discount_without_term": last - s.discount_months + 1,
             "discount_above_rate": last - s.discount_months + 1}
    earliest = min(min(first.values()), last - s.discount_months + 1)
    steady = (pop.churn == NEVER) & ~pop.farmed & (pop.join <= earliest - 6)
    if exclude is not None:
        steady &= ~exclude
    kind_of = np.full(pop.n, -1, dtype=np.int8)
    since = np.full(pop.n, NEVER, dtype=np.int64)
    has_term = pop.disc_rate > 0
    # a term that ended inside the planted months: discounted on past its own end
    ended = has_term & (pop.disc_end > last - s.discount_months) & (pop.disc_end <= last)
    candidates = {"unbilled_usage": steady, "zero_revenue": steady,
                  "discount_beyond_term": steady & ended,
                  "discount_without_term": steady & ~has_term,
                  "discount_above_rate": steady & has_term & (pop.disc_end > last)}
    for i, kind in enumerate(KINDS):
        pool = np.flatnonzero(candidates[kind] & (kind_of < 0))
        chosen = rng.choice(pool, size=min(n, pool.size), replace=False)
        kind_of[chosen] = i
        since[chosen] = pop.disc_end[chosen] if kind == "discount_beyond_term" else first[kind]
    return Leakage(s, kind_of, since)


def term_frame(cal: Calendar, pop: Population) -> pd.DataFrame:
    """The agreed discounts (``discount_term`` rows): every line with a discount rate, until
    the end its contract reached after renewals."""
    has = np.flatnonzero(pop.disc_rate > 0)
    end = pop.disc_end[has].astype(np.int64)
    return pd.DataFrame({
        "subscriber_id": has.astype(np.int64) + 1,
        "rate": np.round(pop.disc_rate[has].astype(np.float64), 4),
        "end_month": (end - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]"),
    })

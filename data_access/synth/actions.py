"""Planted actions (效果跟踪): work-order actions on a unit, some of which really move its
revenue from the action day on and some of which do nothing.

An action with an effect scales every revenue component (and the discount) of the unit's
subscribers — by home micro-region, or by activation channel — in the monthly facts, by the
month's mean strength; the daily facts then split the month with the same day-by-day strength,
so daily and monthly revenue agree. Other plants' lines are left alone (the revenue drops,
both arms of the campaign with an uplift, the leaking lines). No random draw of the rest of the simulation changes: the
choice of units and days uses its own stream. ``docs/generator.md`` lists both variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_access.synth.billing import Billing, MonthTotals
from data_access.synth.calendar import Calendar, month_start
from data_access.synth.dims import E_CHANNEL, Dimensions
from data_access.synth.population import ArrivalTruths, Population
from data_access.synth.variants import Variant

_PARTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas", "discount")


@dataclass(frozen=True)
class Spec:
    """One planted action of a variant: where (level), its full effect and shape."""

    level: str  # "micro_region" or "channel"
    effect: float  # relative change of the unit's revenue at full strength; 0: none
    ramp_days: int  # 0: a step on the action day; else a linear build-up over these days
    tactic: str  # arsenal code used by the demo order
    kind: str  # the demo order's kind


@dataclass(frozen=True)
class Plan:
    """A variant's actions: the month they fall in (months before the latest), the days of
    that month they may fall on, and how long an effect lasts then fades."""

    months_back: int
    days: tuple[int, int]  # first and last day of the month (1-based), inclusive
    hold_days: int
    fade_days: int
    busy: float  # units are drawn among those at or above this quantile of subscribers
    specs: tuple[Spec, ...]


PLANS = {
    "a": Plan(months_back=7, days=(3, 20), hold_days=84, fade_days=14, busy=0.5, specs=(
        Spec("micro_region", 0.12, 0, "ROADSHOW", "task"),
        Spec("micro_region", 0.0, 0, "POSKIT", "task"),
        Spec("micro_region", 0.0, 0, "GIFTPACK", "alert"),
        Spec("channel", 0.25, 0, "STOCKXFER", "task"),
        Spec("channel", 0.0, 0, "DIVERSIONAUDIT", "task"),
    )),
    "b": Plan(months_back=8, days=(8, 25), hold_days=70, fade_days=21, busy=0.3, specs=(
        Spec("micro_region", 0.10, 21, "BBUPGRADE", "task"),
        Spec("micro_region", -0.09, 0, "PLANFIT", "alert"),
        Spec("micro_region", 0.0, 0, "POSKIT", "task"),
        Spec("channel", 0.30, 14, "CHANBONUS", "task"),
        Spec("channel", 0.0, 0, "DIVERSIONAUDIT", "task"),
        Spec("channel", 0.0, 0, "ROADSHOW", "alert"),
    )),
}


@dataclass
class Action:
    """A planted action on one unit (position in dim_region or dim_channel)."""

    spec: Spec
    unit: int
    day: np.datetime64
    hold_days: int
    fade_days: int
    yuan_added: float = 0.0
    share: float | None = None  # share of the unit's revenue on the lines acted on

    def strength(self, days: np.ndarray) -> np.ndarray:
        """The effect on each day (0 before the action, then the planted shape)."""
        since = (days - self.day).astype(np.int64)
        build = np.ones(len(days)) if not self.spec.ramp_days else np.minimum(
            1.0, (since + 1) / self.spec.ramp_days)
        fade = np.clip(1.0 - (since - self.hold_days) / self.fade_days, 0.0, 1.0)
        return np.where(since >= 0, self.spec.effect * build * fade, 0.0)

    @property
    def last_day(self) -> np.datetime64:
        return self.day + self.hold_days + self.fade_days - 1


@dataclass
class ActionEffects:
    """The planted actions of a mart and the daily lift they left in each month."""

    cal: Calendar
    dims: Dimensions
    pop: Population
    actions: list[Action]
    _lift: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _spared: np.ndarray | None = field(default=None, repr=False)

    def spare_plants(self, billing: Billing, members: pd.DataFrame,
                     campaign_ids: list[int]) -> None:
        """Leave other plants' lines alone: the revenue drops' cells and both arms of the
        campaigns with a planted uplift (an action's effect fading between a campaign's
        months would blur its measured uplift)."""
        spared = np.zeros(self.pop.n, dtype=bool)
        for drop in billing.drops:
            spared |= drop.mask
        ids = members.loc[members["campaign_id"].isin(campaign_ids), "subscriber_id"]
        spared[ids.to_numpy(dtype=np.int64) - 1] = True
        self._spared = spared

    def apply(self, t: int, frame: pd.DataFrame, totals: MonthTotals, billing: Billing) -> None:
        """Scale month ``t``'s revenue of the units acted on (frame and totals in place)."""
        days = self.cal.days(t)
        n_regions, n_channels = len(self.dims.regions), len(self.dims.channels)
        region_extra = np.zeros((len(days), n_regions))
        channel_extra = np.zeros((len(days), n_channels))
        pos = frame["subscriber_id"].to_numpy() - 1
        region, channel = self.pop.region[pos], self.pop.channel[pos]
        base_region, base_channel = totals.revenue.copy(), totals.channel_revenue.copy()
        leaking = getattr(billing.leaks, "kind_of", None)  # revenue-assurance plant's lines
        for action in self.actions:
            strength = action.strength(days)
            if not strength.any():
                continue
            rows = (region if action.spec.level == "micro_region" else channel) == action.unit
            if leaking is not None:
                rows &= leaking[pos] < 0  # a leaking line keeps the bill the leak gave it
            if self._spared is not None:
                rows &= ~self._spared[pos]
            before = frame.loc[rows, "revenue"].to_numpy()
            if action.share is None:  # first month: how much of the unit the effect reaches
                unit_total = (base_region if action.spec.level == "micro_region"
                              else base_channel)[action.unit]
                action.share = float(before.sum() / unit_total) if unit_total > 0 else 0.0
            scaled = np.round(frame.loc[rows, list(_PARTS)].to_numpy() * (1 + strength.mean()), 2)
            after = np.round(scaled[:, :4].sum(axis=1) - scaled[:, 4], 2)
            frame.loc[rows, list(_PARTS)] = scaled
            frame.loc[rows, "revenue"] = after
            delta = after - before
            action.yuan_added += float(delta.sum())
            region_extra += np.outer(strength, np.bincount(region[rows], weights=before,
                                                           minlength=n_regions))
            channel_extra += np.outer(strength, np.bincount(channel[rows], weights=before,
                                                            minlength=n_channels))
            totals.revenue += np.bincount(region[rows], weights=delta, minlength=n_regions)
            totals.channel_revenue += np.bincount(channel[rows], weights=delta,
                                                  minlength=n_channels)
            if billing.revenue3 is not None and t >= billing.value_from:
                billing.revenue3[pos[rows]] += delta
        if region_extra.any():
            self._lift[t] = (1 + region_extra / np.maximum(base_region, 1e-9),
                             1 + channel_extra / np.maximum(base_channel, 1e-9))

    def region_days(self, t: int) -> np.ndarray | float:
        """Day-by-day multipliers of each region's revenue in month ``t`` (days × regions)."""
        return self._lift[t][0] if t in self._lift else 1.0

    def channel_days(self, t: int) -> np.ndarray | float:
        """Day-by-day multipliers of each channel's revenue in month ``t``."""
        return self._lift[t][1] if t in self._lift else 1.0

    def truth_rows(self) -> list[tuple[str, dict, float, str, dict]]:
        """One ``action_effect`` planted truth per action, as (kind, where, size, period,
        detail) for ``truths.add_truths``."""
        return [self._row(a) for a in self.actions]

    def _row(self, action: Action) -> tuple[str, dict, float, str, dict]:
        regions, channels = self.dims.regions, self.dims.channels
        spec = action.spec
        if spec.level == "micro_region":
            label = str(regions.at[action.unit, "micro_region"])
            where, key, region_pos = {"micro_region": label}, label, action.unit
        else:
            label = str(channels.at[action.unit, "channel_name"])
            key = str(action.unit + 1)
            where, region_pos = {"channel_id": action.unit + 1}, channels.at[action.unit, "region_pos"]
        outcome = "works" if spec.effect > 0 else ("worse" if spec.effect < 0 else "none")
        detail = {
            "unit_level": spec.level, "unit_key": key, "unit_label": label,
            "branch": str(regions.at[region_pos, "branch"]),
            "micro_region": str(regions.at[region_pos, "micro_region"]),
            "kpi": "revenue", "metric": f"{'region' if spec.level == 'micro_region' else 'channel'}"
                                        "_revenue",
            "action_day": str(action.day), "outcome": outcome, "effect": spec.effect,
            "shape": f"ramp over {spec.ramp_days} days" if spec.ramp_days else "step",
            "hold_days": action.hold_days, "fade_days": action.fade_days,
            "tactic": spec.tactic, "order_kind": spec.kind,
            "yuan_added": round(action.yuan_added, 2),
            # the unit's own change at full strength: the effect on the lines acted on times
            # their share of its revenue (other plants' lines are spared)
            "unit_effect": round(spec.effect * (1.0 if action.share is None else action.share), 4),
            "applies_to": ("revenue components and discount of the unit's subscribers (home "
                           "micro-region or activation channel); daily facts split alike"),
        }
        return ("action_effect", where, float(spec.effect), f"{action.day}..{action.last_day}",
                detail)


def plant_actions(rng: np.random.Generator, cal: Calendar, dims: Dimensions, pop: Population,
                  arrivals: ArrivalTruths, variant: Variant) -> ActionEffects:
    """Choose the units and days of the variant's planted actions.

    Units are drawn among the busier ones (variant a: the busier half by subscribers;
    b: all but the quietest 30%) so an effect has customers to act on: micro-regions, then channels (no e-channel, nor the activation-drop, SIM-farming
    or cross-selling outlet) outside the chosen micro-regions.
    """
    plan = PLANS[variant.name]
    t = cal.last - plan.months_back
    first, last = plan.days
    specs = list(plan.specs)
    n_regions = sum(s.level == "micro_region" for s in specs)
    people = np.bincount(pop.region, minlength=len(dims.regions))
    busy = np.flatnonzero(people >= np.quantile(people, plan.busy))
    regions = list(rng.choice(busy, size=n_regions, replace=False))
    ch = dims.channels
    special = {dims.drop_channel, dims.farm_channel}
    if arrivals.cross:
        special.add(int(arrivals.cross["channel"]))
    sold = np.bincount(pop.channel, minlength=len(ch))
    ok = ((ch["type_code"].to_numpy() != E_CHANNEL) & ~np.isin(np.arange(len(ch)), list(special))
          & ~np.isin(ch["region_pos"].to_numpy(), regions))
    pool = np.flatnonzero(ok & (sold >= np.quantile(sold[ok], plan.busy)))
    channels = list(rng.choice(pool, size=len(specs) - n_regions, replace=False))
    start = np.datetime64(month_start(t), "D")
    actions = []
    for spec in specs:
        unit = regions.pop(0) if spec.level == "micro_region" else channels.pop(0)
        day = start + int(rng.integers(first - 1, last))
        actions.append(Action(spec, int(unit), day, plan.hold_days, plan.fade_days))
    return ActionEffects(cal, dims, pop, actions)

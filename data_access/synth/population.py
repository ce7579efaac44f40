"""The synthetic subscriber base: who is there, who joins when, where, on which plan and channel."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_access.synth.calendar import ACTIVATION_SEASON, NEVER, Calendar, month_start
from data_access.synth.dims import (E_CHANNEL, ENTERPRISE, HIGH_END, MASS, OWN_HALL, SOCIAL,
                                    YOUTH, Dimensions)
from data_access.synth.names import msisdns
from data_access.synth.variants import VARIANT_A, Variant

SEGMENT_SHARE = np.array([0.10, 0.55, 0.22, 0.13])
#: Plan ids and their probabilities, by segment.
PLAN_MIX = {
    HIGH_END: ([6, 7, 8, 4], [0.35, 0.25, 0.25, 0.15]),
    MASS: ([1, 2, 5, 4, 8, 6], [0.25, 0.20, 0.30, 0.12, 0.08, 0.05]),
    YOUTH: ([3, 2, 4, 1], [0.50, 0.25, 0.15, 0.10]),
    ENTERPRISE: ([9, 6, 5], [0.70, 0.20, 0.10]),
}
#: How much each segment prefers each channel type (rows: segments; columns: channel types).
TYPE_PREFERENCE = np.array([[2.0, 1.0, 0.4, 1.0], [1.0, 1.0, 1.0, 1.0],
                            [0.6, 0.8, 1.2, 1.8], [1.5, 0.8, 0.5, 1.2]])
#: Activations by weekday (Monday first) per channel type: weekends are busier in halls.
WEEKDAY_ACTIVATIONS = np.array([
    [1.0, 0.95, 0.95, 1.0, 1.1, 1.6, 1.5],
    [1.0, 0.95, 0.95, 1.0, 1.1, 1.45, 1.35],
    [1.0, 1.0, 1.0, 1.0, 1.1, 1.25, 1.2],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05],
])
E_CHANNEL_SALES, BRANCH_HALL_SALES = 0.16, 0.10  # shares of a region's activations
AGE_RANGE = ((28, 66), (20, 73), (16, 27), (23, 61))
SPEND_SIGMA = np.array([0.45, 0.40, 0.38, 0.35])
SPEND_MARKUP = 1.18  # gross spend over the plan fee: overage, add-ons, VAS
DISCOUNT_SHARE = np.array([0.55, 0.35, 0.40, 0.60])
SERVICE_BASE = np.array([8.0, 1.2, 0.8, 3.0])
NEW_RATE = 0.0165  # new activations per month as a share of the starting base
PRE_CHURN_RATE = 0.015  # churners in the first month (billed only before the window)
DROP_DAYS, DROP_SIZE = 14, 0.70  # variant a; farming and b's drop: data_access.synth.variants


@dataclass
class Population:
    """Static attributes of every subscriber, by position (subscriber_id = position + 1)."""

    join: np.ndarray
    churn: np.ndarray  # first month not billed; NEVER while active
    join_day: np.ndarray  # day of the join month (0-based), for the daily facts
    churn_u: np.ndarray  # where in its churn month a churn happens (0..1)
    region: np.ndarray
    segment: np.ndarray
    plan: np.ndarray  # plan_id
    channel: np.ndarray  # channel position
    group: np.ndarray  # group_id, 0 for none
    age: np.ndarray
    farmed: np.ndarray
    msisdn: np.ndarray
    level: np.ndarray = field(repr=False, default=None)
    shares: np.ndarray = field(repr=False, default=None)
    mou_level: np.ndarray = field(repr=False, default=None)
    data_level: np.ndarray = field(repr=False, default=None)
    sms_level: np.ndarray = field(repr=False, default=None)
    disc_rate: np.ndarray = field(repr=False, default=None)
    disc_end: np.ndarray = field(repr=False, default=None)
    vip_p: np.ndarray = field(repr=False, default=None)
    svc_base: np.ndarray = field(repr=False, default=None)

    @property
    def n(self) -> int:
        return len(self.join)


@dataclass(frozen=True)
class ArrivalTruths:
    """What was planted while drawing the arrivals."""

    drop_days: tuple[np.datetime64, np.datetime64]
    drop_baseline_daily: float
    drop_before: int
    drop_after: int
    farm_months: tuple[int, ...]
    farm_normal_monthly: float
    farm_counts: tuple[int, ...]
    cross: dict | None = None  # variant b's cross-region selling


def _region_affinity(dims: Dimensions) -> np.ndarray:
    """Relative pull of each region for each segment (rows: segments)."""
    regions = dims.regions
    branch, name = regions["branch"].to_numpy(), regions["micro_region"].to_numpy()
    affinity = np.ones((4, len(regions)))
    affinity[HIGH_END] = np.select([np.isin(name, ["Jida", "Hengqin"]), branch == "Xiangzhou",
                                    branch == "Doumen"], [1.7, 1.3, 0.6], 0.8)
    affinity[MASS] = np.select([branch == "Xiangzhou", branch == "Doumen"], [0.95, 1.15], 1.1)
    affinity[YOUTH] = np.select([name == "Tangjiawan", name == "Sanzao", branch == "Doumen"],
                                [3.0, 1.8, 0.85], 1.0)  # university towns
    return affinity * regions["weight"].to_numpy(dtype=float)


def _profiles(rng: np.random.Generator, dims: Dimensions, n: int) -> dict[str, np.ndarray]:
    segment = rng.choice(4, size=n, p=SEGMENT_SHARE).astype(np.int8)
    region = np.empty(n, dtype=np.int16)
    group = np.zeros(n, dtype=np.int32)
    affinity = _region_affinity(dims)
    for seg in (HIGH_END, MASS, YOUTH):
        rows = np.flatnonzero(segment == seg)
        region[rows] = rng.choice(affinity.shape[1], size=rows.size, p=affinity[seg] / affinity[seg].sum())
    rows = np.flatnonzero(segment == ENTERPRISE)
    size = dims.groups["size"].to_numpy()
    chosen = rng.choice(len(size), size=rows.size, p=size / size.sum())
    group[rows] = chosen + 1
    region[rows] = dims.groups["region_pos"].to_numpy()[chosen]
    plan = np.empty(n, dtype=np.int8)
    age = np.empty(n, dtype=np.int16)
    for seg, (ids, probs) in PLAN_MIX.items():
        rows = np.flatnonzero(segment == seg)
        plan[rows] = rng.choice(ids, size=rows.size, p=probs)
        age[rows] = rng.integers(*AGE_RANGE[seg], size=rows.size)
    return {"segment": segment, "region": region, "group": group, "plan": plan, "age": age,
            "channel": _choose_channels(rng, dims, region, segment)}


def _choose_channels(rng: np.random.Generator, dims: Dimensions, region: np.ndarray,
                     segment: np.ndarray) -> np.ndarray:
    """Activation channel: the region's own outlets, its branch's halls, or any e-channel."""
    ch = dims.channels
    kind, home, attract = ch["type_code"].to_numpy(), ch["region_pos"].to_numpy(), ch["attract"].to_numpy()
    home_branch = dims.region_branch[home]
    out = np.empty(len(region), dtype=np.int32)
    order = np.lexsort((segment, region))
    keys = region[order].astype(np.int64) * 4 + segment[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], len(keys)], strict=True):
        r, seg = divmod(int(keys[lo]), 4)
        # City-wide channels and the branch's halls elsewhere take a fixed share of each
        # region's sales, however many outlets the region happens to have.
        local = (home == r) & (kind != E_CHANNEL)
        halls = (kind == OWN_HALL) & (home != r) & (home_branch == dims.region_branch[r])
        sales = attract[local].sum()
        w = (np.where(local, attract, 0.0) + _share_of(attract, kind == E_CHANNEL, E_CHANNEL_SALES, sales)
             + _share_of(attract, halls, BRANCH_HALL_SALES, sales)) * TYPE_PREFERENCE[seg, kind]
        out[order[lo:hi]] = rng.choice(len(w), size=hi - lo, p=w / w.sum())
    return out


def _share_of(attract: np.ndarray, which: np.ndarray, share: float, local: float) -> np.ndarray:
    """Weights for the channels in ``which`` summing to ``share`` of all sales next to ``local``."""
    total = attract[which].sum()
    if total == 0:
        return np.zeros(len(attract))
    return np.where(which, attract / total * local * share / (1 - share), 0.0)


def _join_days(rng: np.random.Generator, cal: Calendar, months: np.ndarray,
               kind: np.ndarray) -> np.ndarray:
    days = np.empty(len(months), dtype=np.int16)
    for t in np.unique(months):
        weekday = cal.weekdays(int(t))
        for k in range(4):
            rows = np.flatnonzero((months == t) & (kind == k))
            p = WEEKDAY_ACTIVATIONS[k, weekday]
            days[rows] = rng.choice(len(p), size=rows.size, p=p / p.sum())
    return days


def build_population(rng: np.random.Generator, dims: Dimensions, cal: Calendar,
                     subscribers: int, variant: Variant = VARIANT_A,
                     cross_rng: np.random.Generator | None = None
                     ) -> tuple[Population, ArrivalTruths]:
    """Everyone billed in the window: the starting base, first-month churners and arrivals."""
    n_pre = round(subscribers * PRE_CHURN_RATE)
    months = np.array(cal.months)
    arrivals = np.round(subscribers * NEW_RATE * ACTIVATION_SEASON[months % 12]
                        * np.exp(rng.normal(0, 0.04, len(months)))).astype(np.int64)
    n_base = subscribers + n_pre
    prof = _profiles(rng, dims, n_base + int(arrivals.sum()))
    kind = dims.channels["type_code"].to_numpy()[prof["channel"]]
    opened_on = dims.channels["opened_on"].dt
    opened = opened_on.year.to_numpy() * 12 + opened_on.month.to_numpy() - 1
    tenure = np.where(rng.random(n_base) < 0.35, rng.geometric(1 / 12, n_base),
                      rng.geometric(1 / 60, n_base)).clip(1, 150)
    join = np.concatenate([np.maximum(cal.first - tenure, opened[prof["channel"][:n_base]]),
                           np.repeat(months, arrivals)]).astype(np.int32)
    churn = np.full(len(join), NEVER, dtype=np.int32)
    churn[subscribers:n_base] = cal.first
    join_day = np.zeros(len(join), dtype=np.int16)
    join_day[n_base:] = _join_days(rng, cal, join[n_base:], kind[n_base:])
    keep, drop_facts = _thin_drop_channel(rng, dims, cal, prof["channel"], join, join_day, n_base,
                                          variant)
    prof = {k: v[keep] for k, v in prof.items()}
    join, churn, join_day = join[keep], churn[keep], join_day[keep]
    cross = None if variant.name == "a" else _sell_across_branches(
        cross_rng if cross_rng is not None else rng, dims, cal, prof, join, n_base)
    farm, farm_facts = _farmed_numbers(rng, dims, cal, prof["channel"][n_base:], join[n_base:],
                                       variant)
    prof = {k: np.concatenate([prof[k], farm[k]]) for k in prof}
    join = np.concatenate([join, farm["join"]])
    churn = np.concatenate([churn, farm["churn"]])
    join_day = np.concatenate([join_day, farm["join_day"]])
    farmed = np.zeros(len(join), dtype=bool)
    farmed[len(farmed) - len(farm["join"]):] = True
    # Arrivals are numbered in order of activation.
    order = np.r_[np.arange(n_base), n_base + np.lexsort((join_day[n_base:], join[n_base:]))]
    pop = Population(join=join[order], churn=churn[order], join_day=join_day[order],
                     churn_u=rng.random(len(join)), farmed=farmed[order],
                     msisdn=msisdns(rng, len(join)), **{k: v[order] for k, v in prof.items()})
    _draw_economics(rng, dims, cal, pop, n_base)
    return pop, ArrivalTruths(**drop_facts, **farm_facts, cross=cross)


def _thin_drop_channel(rng: np.random.Generator, dims: Dimensions, cal: Calendar,
                       channel: np.ndarray, join: np.ndarray, join_day: np.ndarray,
                       n_base: int, variant: Variant = VARIANT_A) -> tuple[np.ndarray, dict]:
    """Remove ~70% of the drop channel's activations over the window's last 14 days (variant
    a: a step); variant b removes 55% on average over 11 days along a ramp (few at first,
    nearly all at the end)."""
    starts = np.array([np.datetime64(month_start(int(t)), "D") for t in cal.months])
    date = np.full(len(join), np.datetime64("1970-01-01"), dtype="datetime64[D]")
    date[n_base:] = starts[join[n_base:] - cal.first] + join_day[n_base:]
    last_day = cal.days(cal.last)[-1]
    first_drop = last_day - (variant.drop_days - 1)
    ours = channel == dims.drop_channel
    baseline = np.count_nonzero(ours & (date >= first_drop - 56) & (date < first_drop)) / 56
    inside = np.flatnonzero(ours & (date >= first_drop))
    keep = np.ones(len(join), dtype=bool)
    if variant.name == "a":
        after = min(len(inside), round((1 - DROP_SIZE) * baseline * DROP_DAYS))
        keep[rng.choice(inside, size=len(inside) - after, replace=False)] = False
    else:  # a ramp: the chance of losing a sale rises linearly over the days of the drop
        day = (date[inside] - first_drop).astype(np.int64)
        ramp = 2 * variant.drop_size * (day + 0.5) / variant.drop_days
        keep[inside[rng.random(len(inside)) < np.clip(ramp, 0, 0.97)]] = False
        after = int(keep[inside].sum())
    return keep, {"drop_days": (first_drop, last_day), "drop_baseline_daily": float(baseline),
                  "drop_before": int(len(inside)), "drop_after": int(after)}


#: Variant b: months of cross-region selling and the share of the outlet's new numbers it makes.
CROSS_MONTHS, CROSS_SHARE = 6, 0.4


def _sell_across_branches(rng: np.random.Generator, dims: Dimensions, cal: Calendar,
                          prof: dict[str, np.ndarray], join: np.ndarray, n_base: int) -> dict:
    """Variant b: Doumen's busiest social outlet (the drop channel aside) also sells numbers to
    Xiangzhou customers over the last six months (they live and are billed in Xiangzhou), so
    that about 40% of its new numbers are homed in another branch."""
    ch = dims.channels
    kind = ch["type_code"].to_numpy()
    branch = dims.region_branch[ch["region_pos"].to_numpy()]
    candidates = np.flatnonzero((branch == dims.branch_no("Doumen")) & (kind == SOCIAL)
                                & (np.arange(len(ch)) != dims.drop_channel))
    cross = int(candidates[np.argmax(ch["attract"].to_numpy()[candidates])])
    first = cal.last - CROSS_MONTHS + 1
    recent = (np.arange(len(join)) >= n_base) & (join >= first)
    own = int(np.count_nonzero(recent & (prof["channel"] == cross)))
    pool = np.flatnonzero(recent & (dims.region_branch[prof["region"]] == dims.branch_no("Xiangzhou"))
                          & (kind[prof["channel"]] == SOCIAL))
    count = min(len(pool), max(8, round(CROSS_SHARE / (1 - CROSS_SHARE) * own)))
    moved = rng.choice(pool, size=count, replace=False)
    prof["channel"][moved] = cross
    return {"channel": cross, "moved": int(count), "own": own, "months": (first, cal.last)}


def _farmed_numbers(rng: np.random.Generator, dims: Dimensions, cal: Calendar,
                    channel: np.ndarray, join: np.ndarray,
                    variant: Variant = VARIANT_A) -> tuple[dict, dict]:
    """Extra numbers the farming outlet activates in the last months (little used)."""
    farm_months = tuple(range(cal.last - variant.farm_months + 1, cal.last + 1))
    earlier = (channel == dims.farm_channel) & (join < farm_months[0])
    normal = np.count_nonzero(earlier) / max(1, farm_months[0] - cal.first)
    counts = tuple(max(3, round(variant.farm_multiple * normal)) for _ in farm_months)
    n = sum(counts)
    join_m = np.repeat(np.array(farm_months, dtype=np.int32), counts)
    join_day = np.empty(n, dtype=np.int16)
    for t in farm_months:  # activated in a few batches a month
        rows = np.flatnonzero(join_m == t)
        batches = rng.choice(cal.n_days(t), size=4, replace=False)
        join_day[rows] = rng.choice(batches, size=rows.size)
    churn = join_m + rng.choice(list(variant.farm_churn_after), size=n)
    churn = np.where(churn > cal.last, NEVER, churn).astype(np.int32)
    home = dims.channels.at[dims.farm_channel, "region_pos"]
    farm = {"segment": np.full(n, MASS, np.int8), "region": np.full(n, home, np.int16),
            "group": np.zeros(n, np.int32), "plan": np.full(n, 1, np.int8),
            "age": rng.integers(18, 60, n).astype(np.int16),
            "channel": np.full(n, dims.farm_channel, np.int32),
            "join": join_m, "churn": churn, "join_day": join_day}
    return farm, {"farm_months": farm_months, "farm_normal_monthly": float(normal),
                  "farm_counts": counts}


def _draw_economics(rng: np.random.Generator, dims: Dimensions, cal: Calendar,
                    pop: Population, n_base: int) -> None:
    """Each subscriber's spend level, revenue mix, usage levels, discount contract and costs."""
    n, seg = pop.n, pop.segment
    plans = dims.plans.set_index("plan_id").loc[pop.plan]
    sigma = SPEND_SIGMA[seg]
    pop.level = (plans["monthly_fee"].to_numpy() * SPEND_MARKUP
                 * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2))
    alpha = plans[["share_voice", "share_data", "share_sms", "share_vas"]].to_numpy() * 30
    mix = rng.gamma(alpha)
    pop.shares = (mix / mix.sum(axis=1, keepdims=True)).astype(np.float32)

    def around(mean: np.ndarray, s: float) -> np.ndarray:
        return (mean * np.exp(s * rng.standard_normal(n) - s**2 / 2)).astype(np.float32)

    pop.mou_level = around(plans["mou"].to_numpy(float), 0.55)
    pop.data_level = around(plans["data_mb"].to_numpy(float), 0.7)
    pop.sms_level = around(plans["sms"].to_numpy(float), 0.6)
    base = np.arange(n) < n_base
    # New customers more often sign a discounted contract than the base holds one.
    has = (rng.random(n) < DISCOUNT_SHARE[seg] * np.where(base, 1.0, 1.4)) & ~pop.farmed
    pop.disc_rate = np.where(has, rng.uniform(0.08, 0.30, n), 0.0).astype(np.float32)
    remaining = rng.integers(1, 25, n)
    contract = rng.choice([12, 24], size=n)
    pop.disc_end = np.where(base, cal.first + remaining, pop.join + contract).astype(np.int32)
    heavy = rng.random(n) < 0.30
    pop.vip_p = np.where(seg == HIGH_END, np.where(heavy, 0.25, 0.04), 0.0).astype(np.float32)
    pop.svc_base = (SERVICE_BASE[seg] * rng.uniform(0.7, 1.3, n)).astype(np.float32)


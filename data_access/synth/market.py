"""Rivals: their tariff and promotion events, and the three operators' monthly figures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_access.synth.calendar import REVENUE_SEASON, Calendar, month_start
from data_access.synth.dims import Dimensions
from data_access.synth.variants import VARIANT_A, Variant

OPERATOR_NAMES = {"rival_a": "Rival A", "rival_b": "Rival B"}
#: Event kinds, how much churn pressure each puts on our base, and what they say.
KIND_PRESSURE = {"tariff": 1.0, "promotion": 1.0, "handset_subsidy": 0.8, "campus": 0.6,
                 "enterprise_bid": 0.3, "network": 0.4}
TEMPLATES = (
    ("tariff", "{op} launches 5G {fee}-yuan unlimited plan 5G不限量套餐"),
    ("tariff", "{op} cuts extra data to {price} yuan per GB 流量资费下调"),
    ("promotion", "{op} gives {gb} GB free data to new numbers 新入网送流量"),
    ("promotion", "{op} bundles free home broadband with two-year contracts 合约送宽带"),
    ("promotion", "{op} runs door-to-door sales in residential compounds 扫楼营销"),
    ("handset_subsidy", "{op} subsidises new 5G handsets by up to {subsidy} yuan 购机补贴"),
    ("campus", "{op} campus card at {campus} yuan a month for students 校园卡促销"),
    ("enterprise_bid", "{op} bids for a government group contract 政企集团投标"),
    ("network", "{op} switches on new 5G base stations 新建5G基站"),
)
PRESSURE_DECAY, CITY_WIDE = 0.5, 0.5
SHARE_JUMP_REGION = "Jida"  # variant a (b: data_access.synth.variants)
#: Our share of each branch's market, drawn per micro-region in these ranges.
OUR_SHARE = {"Xiangzhou": (0.55, 0.65), "Doumen": (0.70, 0.78), "Jinwan": (0.66, 0.74)}


@dataclass(frozen=True)
class Events:
    frame: pd.DataFrame
    pressure: np.ndarray  # (regions, window months)
    jump_event_id: int


def build_events(rng: np.random.Generator, cal: Calendar, dims: Dimensions,
                 variant: Variant = VARIANT_A) -> Events:
    """A few dozen rival events before the last two months, plus the planted one (variant a:
    Rival A in Jida; b: Rival B in Sanzao)."""
    regions = dims.regions
    count = max(12, round(1.3 * len(cal)))
    month = rng.integers(cal.first, cal.last - 1, count)  # none in the last two months
    day = rng.integers(0, 28, count)
    template = rng.integers(0, len(TEMPLATES), count)
    weight = regions["weight"].to_numpy(dtype=float)
    region_pos = np.where(rng.random(count) < 0.6, rng.choice(len(weight), count, p=weight / weight.sum()),
                          -1)
    operator = np.where(rng.random(count) < 0.55, "rival_a", "rival_b")
    rows = []
    for i in range(count):
        kind, text = TEMPLATES[template[i]]
        text = text.format(op=OPERATOR_NAMES[operator[i]], fee=rng.choice([59, 79, 99, 129]),
                           price=rng.choice([3, 5]), gb=rng.choice([10, 20, 30]),
                           subsidy=rng.choice([300, 500, 800, 1000]), campus=rng.choice([19, 25, 29]))
        rows.append((np.datetime64(month_start(int(month[i])), "D") + day[i], operator[i],
                     int(region_pos[i]), kind, text, False))
    if variant.name == "a":
        jida = dims.region_pos(SHARE_JUMP_REGION)
        rows.append((np.datetime64(month_start(cal.last), "D") + 2, "rival_a", jida, "tariff",
                     "Rival A launches 5G 99-yuan unlimited plan 5G不限量套餐 with a free handset "
                     "and door-to-door sales 上门营销", True))
    else:
        rows.append((np.datetime64(month_start(cal.last), "D") + 9, variant.jump_operator,
                     dims.region_pos(variant.jump_region), "campus",
                     "Rival B signs the vocational college: 19-yuan campus cards and free "
                     "broadband in the dormitories 校园卡+宿舍宽带", True))
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[4]))
    pressure = np.zeros((len(regions), len(cal)))
    records = []
    jump_id = 0
    for event_id, (when, op, pos, kind, text, planted) in enumerate(rows, start=1):
        jump_id = event_id if planted else jump_id
        t = int(when.astype("datetime64[M]").astype(np.int64)) + 1970 * 12
        for lag in range(variant.pressure_months):
            if t + lag <= cal.last:
                strength = KIND_PRESSURE[kind] * variant.pressure_decay**lag
                if pos >= 0:
                    pressure[pos, t + lag - cal.first] += strength
                else:
                    pressure[:, t + lag - cal.first] += CITY_WIDE * strength
        where = (f" in {regions.at[pos, 'micro_region']} {regions.at[pos, 'micro_region_zh']}"
                 if pos >= 0 else " city-wide 全市")
        records.append({"event_id": event_id, "day": when, "operator": op,
                        "region_id": int(regions.at[pos, "region_id"]) if pos >= 0 else None,
                        "kind": kind, "description": text + where})
    frame = pd.DataFrame(records)
    frame["region_id"] = frame["region_id"].astype("Int64")
    return Events(frame, pressure, jump_id)


def build_competitor_month(rng: np.random.Generator, cal: Calendar, dims: Dimensions,
                           events: Events, us: dict[str, np.ndarray],
                           variant: Variant = VARIANT_A) -> tuple[pd.DataFrame, dict]:
    """Three operators per micro-region and month; ``us`` holds our own (months, regions) arrays.

    Returns the frame and the facts of the planted share jump.
    """
    regions = dims.regions
    n_regions, n_months = len(regions), len(cal)
    low, high = np.array([OUR_SHARE[b] for b in regions["branch"]]).T
    ours = rng.uniform(low, high)
    a_part = rng.uniform(0.55, 0.65, n_regions)
    start = us["billed"][0] / ours
    size = {"rival_a": start * (1 - ours) * a_part, "rival_b": start * (1 - ours) * (1 - a_part)}
    arpu_base = {"rival_a": rng.uniform(60, 72, n_regions), "rival_b": rng.uniform(50, 62, n_regions)}
    growth = {"rival_a": 0.0015, "rival_b": -0.0005}
    boost = {op: np.zeros((n_regions, n_months)) for op in OPERATOR_NAMES}
    ev = events.frame
    for row in ev.itertuples():
        k = (row.day.year * 12 + row.day.month - 1) - cal.first
        if pd.notna(row.region_id):
            target, share = (regions["region_id"] == row.region_id).to_numpy(), 1.0
        else:
            target, share = slice(None), CITY_WIDE
        boost[row.operator][target, k] += 0.008 * KIND_PRESSURE[row.kind] * share
    figures = {}
    for op in OPERATOR_NAMES:
        subs = np.empty((n_months, n_regions), dtype=np.int64)
        new = np.empty_like(subs)
        churned = np.empty_like(subs)
        level = np.round(size[op]).astype(np.int64)
        for k in range(n_months):
            rate = 0.017 * np.exp(rng.normal(0, 0.05, n_regions))
            churned[k] = np.round(level * rate)
            new[k] = np.round(level * (rate + growth[op] + boost[op][:, k].clip(0, 0.03))
                              * np.exp(rng.normal(0, 0.03, n_regions)))
            level = level + new[k] - churned[k]
            subs[k] = level
        arpu = (arpu_base[op][None, :] * REVENUE_SEASON[np.array(cal.months) % 12][:, None]
                * np.exp(rng.normal(0, 0.01, (n_months, n_regions))))
        figures[op] = {"subscribers": subs, "new_adds": new, "churned": churned, "arpu": arpu}
    jump = _plant_share_jump(dims, figures, us, variant)
    frames = [_frame(cal, regions, "us", us["billed"], us["new"], us["churned"],
                     us["revenue"] / np.maximum(us["billed"], 1))]
    for op, f in figures.items():
        frames.append(_frame(cal, regions, op, f["subscribers"], f["new_adds"], f["churned"],
                             f["arpu"].clip(50, 75)))
    return pd.concat(frames, ignore_index=True), jump


def _plant_share_jump(dims: Dimensions, figures: dict, us: dict,
                      variant: Variant = VARIANT_A) -> dict:
    """A rival wins share in one region in the latest month, half of it from the other rival
    (variant a: Rival A, six points in Jida; b: Rival B, four points in Sanzao)."""
    r = dims.region_pos(variant.jump_region)
    other = "rival_b" if variant.jump_operator == "rival_a" else "rival_a"
    a, b = figures[variant.jump_operator], figures[other]

    def share(k: int) -> float:
        total = us["billed"][k, r] + a["subscribers"][k, r] + b["subscribers"][k, r]
        return a["subscribers"][k, r] / total

    before = share(-2)
    target, from_b = before + variant.jump_points, 0.5
    total = us["billed"][-1, r] + a["subscribers"][-1, r] + b["subscribers"][-1, r]
    gain = round((target * total - a["subscribers"][-1, r]) / (1 - target * (1 - from_b)))
    taken = round(from_b * gain)
    a["new_adds"][-1, r] += gain
    a["subscribers"][-1, r] += gain
    b["churned"][-1, r] += taken
    b["subscribers"][-1, r] -= taken
    after = share(-1)
    return {"share_before": round(float(before), 4), "share_after": round(float(after), 4),
            "points": round(float(after - before) * 100, 2), "gained_subscribers": int(gain),
            f"from_{other}": int(taken)}


def _frame(cal: Calendar, regions: pd.DataFrame, operator: str, subs: np.ndarray, new: np.ndarray,
           churned: np.ndarray, arpu: np.ndarray) -> pd.DataFrame:
    n_months, n_regions = subs.shape
    return pd.DataFrame({
        "month": np.repeat([np.datetime64(month_start(t), "D") for t in cal.months], n_regions),
        "region_id": np.tile(regions["region_id"].to_numpy(), n_months),
        "operator": operator,
        "subscribers": subs.ravel(), "new_adds": new.ravel(), "churned": churned.ravel(),
        "net_adds": (new - churned).ravel(), "arpu": np.round(arpu.ravel(), 2),
    })

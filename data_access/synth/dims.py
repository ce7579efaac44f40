"""Dimensions of the synthetic mart: regions, plans, channels and enterprise groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_access.mart import schema
from data_access.mart.geography import load_regions
from data_access.synth.calendar import Calendar, month_start
from data_access.synth.names import (COMPANY_WORDS, E_CHANNELS, INDUSTRIES, SHOP_KINDS, SHOP_WORDS,
                                     person_names)
from data_access.synth.variants import VARIANT_A, Variant

SEGMENT_CODES = tuple(schema.SEGMENTS)
HIGH_END, MASS, YOUTH, ENTERPRISE = range(4)
TYPE_CODES = tuple(schema.CHANNEL_TYPES)
OWN_HALL, FRANCHISE, SOCIAL, E_CHANNEL = range(4)
#: Share of channels by type, and share of activations the type attracts city-wide.
TYPE_COUNT_SHARE = np.array([0.08, 0.20, 0.62, 0.10])
TYPE_SALES_SHARE = np.array([0.20, 0.24, 0.40, 0.16])

_PLAN_COLUMNS = ("plan_id", "plan_name", "plan_family", "monthly_fee", "data_quota_mb",
                 "share_voice", "share_data", "share_sms", "share_vas", "mou", "data_mb", "sms")
#: Tariff plans, with each plan's typical revenue mix and usage (MOU, MB, SMS per month).
PLANS = pd.DataFrame([
    (1, "Shenzhouxing Prepaid 18 神州行18元卡", "prepaid", 18.0, 1024.0,
     0.44, 0.38, 0.06, 0.12, 170, 1100, 40),
    (2, "Data King Prepaid 38 流量王38元卡", "prepaid", 38.0, 10240.0,
     0.22, 0.62, 0.03, 0.13, 210, 4800, 25),
    (3, "M-Zone Campus 28 动感地带校园卡", "data", 28.0, 15360.0,
     0.14, 0.70, 0.03, 0.13, 120, 6500, 20),
    (4, "5G Unlimited 98 5G畅享98", "data", 98.0, 40960.0,
     0.20, 0.64, 0.02, 0.14, 380, 11000, 20),
    (5, "GoTone 58 全球通58", "postpaid", 58.0, 5120.0,
     0.36, 0.48, 0.04, 0.12, 420, 3200, 35),
    (6, "GoTone 128 全球通128", "postpaid", 128.0, 20480.0,
     0.32, 0.52, 0.03, 0.13, 620, 7000, 35),
    (7, "GoTone VIP 288 全球通尊享288", "postpaid", 288.0, 61440.0,
     0.30, 0.52, 0.02, 0.16, 900, 12500, 40),
    (8, "Family Share 158 家庭共享158", "family", 158.0, 40960.0,
     0.30, 0.54, 0.03, 0.13, 560, 9500, 35),
    (9, "Enterprise Pro 88 集团商务88", "enterprise", 88.0, 15360.0,
     0.40, 0.45, 0.04, 0.11, 680, 4200, 45),
], columns=list(_PLAN_COLUMNS))


@dataclass
class Dimensions:
    """The dimension frames (mart columns plus internal ones) and the channels picked for truths."""

    regions: pd.DataFrame
    plans: pd.DataFrame
    channels: pd.DataFrame
    groups: pd.DataFrame
    drop_channel: int  # position of the channel whose activations collapse
    farm_channel: int  # position of the SIM-farming outlet

    @property
    def region_branch(self) -> np.ndarray:
        """Branch number of each region position."""
        return self.regions["branch_no"].to_numpy()

    def region_pos(self, name: str) -> int:
        return int(np.flatnonzero(self.regions["micro_region"].to_numpy() == name)[0])

    def branch_no(self, name: str) -> int:
        return int(self.regions.loc[self.regions["branch"] == name, "branch_no"].iloc[0])


def build_dimensions(rng: np.random.Generator, subscribers: int, cal: Calendar,
                     variant: Variant = VARIANT_A) -> Dimensions:
    """Regions, plans, channels (about one per 150 subscribers) and groups (one per 400)."""
    regions = load_regions().sort_values("region_id").reset_index(drop=True)
    regions["branch_no"] = pd.factorize(regions["branch"])[0]
    channels = _channels(rng, regions, max(40, subscribers // 150), cal)
    drop, farm = (_truth_channels(regions, channels) if variant.name == "a"
                  else _truth_channels_b(regions, channels))
    local = channels.groupby("region_pos")["attract"].sum()
    # The planted channels are busy ones, so their stories show in daily figures.
    busy = (0.8, 0.15) if variant.name == "a" else (1.0, 0.45)
    channels.loc[drop, "attract"] = busy[0] * local[channels.at[drop, "region_pos"]]
    channels.loc[farm, "attract"] = busy[1] * local[channels.at[farm, "region_pos"]]
    groups = _groups(rng, regions, max(6, subscribers // 400))
    return Dimensions(regions, PLANS.copy(), channels, groups, drop, farm)


def _spread(rng: np.random.Generator, weights: np.ndarray, count: int,
            first: np.ndarray | None = None) -> np.ndarray:
    """``count`` region positions: ``first`` (one each) and the rest drawn by weight."""
    first = np.empty(0, dtype=np.int64) if first is None else first[:count]
    rest = rng.choice(len(weights), size=count - len(first), p=weights / weights.sum())
    return np.sort(np.concatenate([first, rest]))


def _channels(rng: np.random.Generator, regions: pd.DataFrame, count: int,
              cal: Calendar) -> pd.DataFrame:
    weight = regions["weight"].to_numpy(dtype=float)
    branch = regions["branch_no"].to_numpy()
    n_own, n_fr, n_e = (max(3, round(count * TYPE_COUNT_SHARE[OWN_HALL])),
                        round(count * TYPE_COUNT_SHARE[FRANCHISE]),
                        max(2, round(count * TYPE_COUNT_SHARE[E_CHANNEL])))
    n_social = count - n_own - n_fr - n_e
    biggest_per_branch = np.array([np.flatnonzero(branch == b)[np.argmax(weight[branch == b])]
                                   for b in np.unique(branch)])
    xiangzhou = np.where(branch == 0, weight, 0.0)
    region_pos = np.concatenate([
        _spread(rng, weight, n_own, biggest_per_branch),
        _spread(rng, weight, n_fr),
        _spread(rng, weight, n_social, np.arange(len(weight))),
        _spread(rng, xiangzhou, n_e),
    ])
    type_code = np.repeat(np.arange(4), [n_own, n_fr, n_social, n_e])
    frame = pd.DataFrame({"type_code": type_code, "region_pos": region_pos})
    frame["number"] = frame.groupby(["type_code", "region_pos"]).cumcount() + 1
    counts = np.bincount(type_code, minlength=4)
    frame["attract"] = (TYPE_SALES_SHARE[type_code] / counts[type_code]
                        * np.exp(rng.normal(-0.18, 0.6, count)))
    frame["channel_id"] = np.arange(1, count + 1)
    frame["channel_type"] = np.array(TYPE_CODES)[type_code]
    frame["region_id"] = regions["region_id"].to_numpy()[region_pos]
    frame["channel_name"] = _channel_names(rng, frame, regions)
    managers = np.array(person_names(rng, min(1000, max(8, count // 6))))
    frame["manager"] = managers[rng.integers(0, len(managers), count)]
    start = np.datetime64(month_start(cal.first), "D")
    opened = start - rng.integers(1, 16 * 365, count)
    frame["opened_on"] = pd.to_datetime(opened)
    frame["restock_weekday"] = rng.integers(0, 7, count)
    return frame


def _channel_names(rng: np.random.Generator, frame: pd.DataFrame,
                   regions: pd.DataFrame) -> list[str]:
    names = []
    shops = rng.integers(0, len(SHOP_WORDS), len(frame))
    kinds = rng.integers(0, len(SHOP_KINDS), len(frame))
    e_index = 0
    for row, shop, kind in zip(frame.itertuples(), shops, kinds, strict=True):
        place, place_zh = regions.at[row.region_pos, "micro_region"], regions.at[row.region_pos,
                                                                             "micro_region_zh"]
        k = row.number
        if row.type_code == OWN_HALL:
            names.append(f"{place} Business Hall {k} {place_zh}营业厅{k}")
        elif row.type_code == FRANCHISE:
            names.append(f"{place} Franchise Hall {k} {place_zh}合作厅{k}")
        elif row.type_code == SOCIAL:
            (word, word_zh), (shop_kind, kind_zh) = SHOP_WORDS[shop], SHOP_KINDS[kind]
            names.append(f"{place} {word} {shop_kind} {k} {place_zh}{word_zh}{kind_zh}")
        else:
            if e_index < len(E_CHANNELS):
                name, name_zh = E_CHANNELS[e_index]
                names.append(f"{name} {name_zh}")
            else:
                names.append(f"Online Partner {e_index + 1} 线上合作商{e_index + 1}")
            e_index += 1
    return names


def _truth_channels(regions: pd.DataFrame, channels: pd.DataFrame) -> tuple[int, int]:
    """The activation-drop channel (a Xiangzhou franchise away from the revenue drops) and the
    SIM-farming outlet (a Doumen social outlet)."""
    name = regions["micro_region"].to_numpy()[channels["region_pos"].to_numpy()]
    branch = regions["branch"].to_numpy()[channels["region_pos"].to_numpy()]
    quiet = (branch == "Xiangzhou") & ~np.isin(name, ["Gongbei", "Jida"])
    kind = channels["type_code"].to_numpy()
    attract = channels["attract"].to_numpy()
    candidates = np.flatnonzero(quiet & (kind == FRANCHISE))
    if candidates.size == 0:
        candidates = np.flatnonzero(quiet & (kind == SOCIAL))
    size = regions["weight"].to_numpy()[channels["region_pos"].to_numpy()]
    drop = int(candidates[np.lexsort((attract[candidates], size[candidates]))[-1]])  # biggest region
    farms = np.flatnonzero((branch == "Doumen") & (kind == SOCIAL))
    farm = int(farms[np.argmax(attract[farms])])
    return drop, farm


def _truth_channels_b(regions: pd.DataFrame, channels: pd.DataFrame) -> tuple[int, int]:
    """Variant b: the activation-drop channel is Doumen's business hall (its busiest social
    outlet when it has none), and the SIM-farming channel a franchise hall of Jinwan (of
    Xiangzhou outside Gongbei when Jinwan has none)."""
    pos = channels["region_pos"].to_numpy()
    name, branch = regions["micro_region"].to_numpy()[pos], regions["branch"].to_numpy()[pos]
    kind, attract = channels["type_code"].to_numpy(), channels["attract"].to_numpy()
    size = regions["weight"].to_numpy()[pos]
    drops = np.flatnonzero((branch == "Doumen") & (kind == OWN_HALL))
    if drops.size == 0:
        drops = np.flatnonzero((branch == "Doumen") & (kind == SOCIAL))
    drop = int(drops[np.lexsort((attract[drops], size[drops]))[-1]])
    farms = np.flatnonzero((branch == "Jinwan") & (kind == FRANCHISE))
    if farms.size == 0:
        farms = np.flatnonzero((branch == "Xiangzhou") & (name != "Gongbei") & (kind == FRANCHISE))
    farm = int(farms[np.argmax(attract[farms])])
    return drop, farm


def _groups(rng: np.random.Generator, regions: pd.DataFrame, count: int) -> pd.DataFrame:
    weight = regions["weight"].to_numpy(dtype=float) * np.where(regions["branch_no"] == 0, 1.3, 1.0)
    region_pos = rng.choice(len(weight), size=count, p=weight / weight.sum())
    industry = rng.integers(0, len(INDUSTRIES), count)
    word = rng.integers(0, len(COMPANY_WORDS), count)
    size = np.exp(rng.normal(0.0, 1.0, count))
    rank = size.argsort().argsort() / max(count - 1, 1)
    leased = rng.random(count) < 0.12 + 0.45 * rank
    # The source's own example: a resort group in Hengqin with a leased line.
    region_pos[0], industry[0], size[0], leased[0] = (
        int(np.flatnonzero(regions["micro_region"] == "Hengqin")[0]), 5, size.max(), True)
    place = regions["micro_region"].to_numpy()[region_pos]
    place_zh = regions["micro_region_zh"].to_numpy()[region_pos]
    names = [f"{p} {COMPANY_WORDS[w][0]} {INDUSTRIES[i][1]} {pz}{COMPANY_WORDS[w][1]}{INDUSTRIES[i][2]}"
             for p, pz, w, i in zip(place, place_zh, word, industry, strict=True)]
    names[0] = "Hengqin Ocean Resort Group 横琴海洋度假集团"
    managers = np.array(person_names(rng, max(3, count // 12)))
    return pd.DataFrame({
        "group_id": np.arange(1, count + 1),
        "group_name": names,
        "industry": np.array([i[0] for i in INDUSTRIES])[industry],
        "account_manager": managers[rng.integers(0, len(managers), count)],
        "region_id": regions["region_id"].to_numpy()[region_pos],
        "has_leased_line": leased,
        "region_pos": region_pos,
        "size": size,
    })

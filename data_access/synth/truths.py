"""The planted_truth rows: what the generator planted, with everything a test needs to find it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from data_access.synth.behaviour import (AGE_CENTRE, AGE_SCALE, CHURN_COEF, CHURN_COEF_B,
                                         CHURN_INTERCEPT, CHURN_INTERCEPT_B, LOW_MOU,
                                         QUOTA_CENTRE, QUOTA_SLOPE, SHORT_TENURE,
                                         SPEND_FALL_SCALE)
from data_access.synth.billing import Billing, RevenueDrop
from data_access.synth.calendar import CHURN_SEASON, Calendar, month_label
from data_access.synth.campaigns import CampaignSpec
from data_access.synth.dims import HIGH_END, Dimensions
from data_access.synth.population import ArrivalTruths, Population
from data_access.synth.variants import VARIANT_A, Variant

_DETAIL_LIMIT = 1000


def _row(kind: str, where: dict, size: float, period: str, detail: dict) -> dict:
    text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"))
    if len(text) > _DETAIL_LIMIT:  # the column is String(1000): fail loudly rather than truncate
        raise ValueError(f"planted truth {kind}: detail is {len(text)} characters")
    return {"kind": kind, "where_json": json.dumps(where, ensure_ascii=False), "size": float(size),
            "period": period, "detail": text}


def planted_truths(cal: Calendar, dims: Dimensions, pop: Population, arrivals: ArrivalTruths,
                   billing: Billing, mean_prob: list[float], specs: list[CampaignSpec],
                   members: pd.DataFrame, jump: dict, jump_event_id: int,
                   variant: Variant = VARIANT_A) -> pd.DataFrame:
    """Every planted truth as a planted_truth row, numbered in a fixed order."""
    uplift = next(s for s in specs if s.effect)
    rows = [revenue_drop_row(drop) for drop in billing.drops] + [
        sim_farming_row(cal, dims, pop, arrivals, variant),
        uplift_row(cal, uplift, members, [s.campaign_id for s in specs if not s.effect], variant),
        churn_row(cal, mean_prob) if variant.name == "a" else churn_row_b(cal, mean_prob, variant),
        activation_drop_row(dims, arrivals, variant),
        share_jump_row(cal, jump, jump_event_id, variant),
        value_row(cal, billing, high_end_value(cal, pop, billing, members, specs)),
    ] + ([cross_region_row(cal, dims, arrivals.cross)] if arrivals.cross else [])
    frame = pd.DataFrame(rows)
    frame.insert(0, "truth_id", np.arange(1, len(frame) + 1))
    return frame


def add_truths(frame: pd.DataFrame, rows: list[tuple[str, dict, float, str, dict]]) -> pd.DataFrame:
    """``frame`` with more truths, given as (kind, where, size, period, detail), numbered on."""
    more = pd.DataFrame([_row(*row) for row in rows])
    if more.empty:
        return frame
    more.insert(0, "truth_id", np.arange(len(frame) + 1, len(frame) + len(more) + 1))
    return pd.concat([frame, more], ignore_index=True)


def revenue_drop_row(drop: RevenueDrop) -> dict:
    """``size`` is the fall of the latest month against the month before it (for a step, one
    minus the factor); a ramp's earlier months are listed in ``ramp``."""
    before = dict(drop.ramp).get(drop.month - 1, 1.0)
    detail = {
        "month": month_label(drop.month), "factor": drop.factor, "yuan_lost": round(drop.lost, 2),
        "revenue_without_drop": round(drop.revenue_before, 2), "subscribers": drop.subscribers,
        "scaled": ["rev_voice", "rev_data", "rev_sms", "rev_vas", "discount"],
        "usage": "unchanged", "cells": "activation channel type and segment as in dim_subscriber",
    }
    if drop.ramp:
        detail["ramp"] = {month_label(t): f for t, f in drop.ramp}
        detail["shape"] = "gradual: factors of the months before, then the latest month's factor"
    return _row("revenue_drop", drop.where, round(1 - drop.factor / before, 4),
                month_label(drop.month), detail)


def sim_farming_row(cal: Calendar, dims: Dimensions, pop: Population, arrivals: ArrivalTruths,
                    variant: Variant = VARIANT_A) -> dict:
    channel = dims.farm_channel
    months = arrivals.farm_months
    ours = (pop.channel == channel) & (pop.join >= months[0])
    farmed = int((ours & pop.farmed).sum())
    churned = int((pop.farmed & (pop.churn <= cal.last)).sum())
    return _row("sim_farming", {"channel_id": channel + 1}, farmed, cal.months_range(months[0], months[-1]), {
        "channel_name": dims.channels.at[channel, "channel_name"],
        "micro_region": dims.regions.at[dims.channels.at[channel, "region_pos"], "micro_region"],
        "months": [month_label(t) for t in months], "farmed_numbers": farmed,
        "all_new_numbers": int(ours.sum()), "farmed_share": round(farmed / max(1, int(ours.sum())), 4),
        "normal_per_month": round(arrivals.farm_normal_monthly, 2), "multiple": variant.farm_multiple,
        "usage": ("mou < 5, data_mb < 20, revenue < 3 yuan a month" if variant.name == "a" else
                  "mou 8-25, data_mb 40-300, revenue 2.8-5.2 yuan, sms 1-5 a month"),
        "churn_after_months": list(variant.farm_churn_after), "churned_in_window": churned,
    })


def uplift_row(cal: Calendar, spec: CampaignSpec, members: pd.DataFrame, others: list[int],
               variant: Variant = VARIANT_A) -> dict:
    ours = members[members["campaign_id"] == spec.campaign_id]
    treated = int((ours["arm"] == "treated").sum())
    return _row("campaign_uplift", {"campaign_id": spec.campaign_id}, spec.effect,
                cal.months_range(spec.start, spec.end), {
                    "months": [month_label(t) for t in range(spec.start, spec.end + 1)],
                    "effect_per_member_month": spec.effect, "component": variant.uplift_component,
                    "applies_to": "treated members in each month they are billed",
                    "treated": treated, "control": len(ours) - treated,
                    "assignment": "randomised 50/50 among eligible subscribers",
                    "eligible": ("mass segment, activated in own_hall/franchise/e_channel, billed "
                                 "at start" if variant.name == "a" else "youth segment, activated "
                                 "in social_outlet/e_channel/own_hall, billed at start"),
                    "campaigns_without_effect": others,
                })


def churn_row(cal: Calendar, mean_prob: list[float]) -> dict:
    return _row("churn_driver", {}, round(float(np.mean(mean_prob)), 5),
                cal.months_range(cal.first, cal.last), {
                    "model": "logistic: P(churn_month = t+1 | billed in t) = 1/(1+exp(-z))",
                    "intercept": CHURN_INTERCEPT, "coef": CHURN_COEF,
                    "season_by_calendar_month": [float(x) for x in CHURN_SEASON],
                    "decline3": "clip(1 - exp(d_t - d_{t-3}), 0, 1); d = latent log spend trend",
                    "discount_ending": "discount contract's last month, not renewed",
                    "competitor_pressure": "sum over rival events: kind weight x 0.5^months since, "
                                           "x0.5 city-wide",
                    "thresholds": {"low_mou": LOW_MOU, "short_tenure_months": SHORT_TENURE},
                    "low_mou": "expected MOU of the month (before monthly noise) below the threshold",
                    "farmed_numbers": "not modelled: churn after 3 or 4 months",
                    "truth_table": "truth_churn_prob",
                })


def cross_region_row(cal: Calendar, dims: Dimensions, cross: dict) -> dict:
    """Variant b: an outlet selling numbers to customers of another branch."""
    channel, (first, last) = cross["channel"], cross["months"]
    share = cross["moved"] / max(1, cross["moved"] + cross["own"])
    return _row("cross_region", {"channel_id": channel + 1}, round(share, 4),
                cal.months_range(first, last), {
                    "channel_type": dims.channels.at[channel, "channel_type"],
                    "micro_region": dims.regions.at[dims.channels.at[channel, "region_pos"],
                                                    "micro_region"],
                    "months": [month_label(t) for t in range(first, last + 1)],
                    "sold_to_other_branch": cross["moved"], "own_customers": cross["own"],
                    "other_branch": "Xiangzhou", "share_of_new_numbers": round(share, 4),
                })


def churn_row_b(cal: Calendar, mean_prob: list[float], variant: Variant) -> dict:
    return _row("churn_driver", {}, round(float(np.mean(mean_prob)), 5),
                cal.months_range(cal.first, cal.last), {
                    "model": "logistic: P(churn_month = t+1 | billed in t) = 1/(1+exp(-z))",
                    "intercept": CHURN_INTERCEPT_B, "coef": CHURN_COEF_B,
                    "season_by_calendar_month": [float(x) for x in CHURN_SEASON],
                    "spend_fall2": f"min(1, max(0, (d_(t-2) - d_t) / {SPEND_FALL_SCALE})) ** 1.5",
                    "quota_pressure": f"1/(1+exp(-{QUOTA_SLOPE} (expected data_mb / quota - "
                                      f"{QUOTA_CENTRE})))",
                    "prepaid_youth": "prepaid plan and youth segment together",
                    "age_curve": f"min(2, ((age - {AGE_CENTRE}) / {AGE_SCALE}) ** 2)",
                    "competitor_pressure": f"sum over rival events: kind weight x "
                                           f"{variant.pressure_decay}^months since, over "
                                           f"{variant.pressure_months} months, x0.5 city-wide",
                    "new_customer": "exp(-months since joining / 3)",
                    "farmed_numbers": "not modelled: churn after "
                                      f"{'/'.join(map(str, variant.farm_churn_after))} months",
                    "truth_table": "truth_churn_prob",
                })


def activation_drop_row(dims: Dimensions, arrivals: ArrivalTruths,
                        variant: Variant = VARIANT_A) -> dict:
    channel = dims.drop_channel
    first, last = arrivals.drop_days
    low, high = variant.drop_stock
    detail = {
        "channel_type": dims.channels.at[channel, "channel_type"],
        "micro_region": dims.regions.at[dims.channels.at[channel, "region_pos"], "micro_region"],
        "days": variant.drop_days, "baseline_daily": round(arrivals.drop_baseline_daily, 3),
        "baseline": "mean daily activations over the 56 days before",
        "activations_without_drop": arrivals.drop_before, "activations": arrivals.drop_after,
        "cause": "stock_shortage", "stock_level": f"{low}-{high} during the drop",
    }
    if variant.name != "a":
        detail["stock_level"] = f"{low}-{high} units each day during the drop (none of them sold)"
    if variant.name != "a":
        detail["shape"] = "ramp: the chance of losing a sale rises linearly over the days"
    return _row("activation_drop", {"channel_id": channel + 1}, variant.drop_size,
                f"{first}..{last}", detail)


def share_jump_row(cal: Calendar, jump: dict, event_id: int, variant: Variant = VARIANT_A) -> dict:
    return _row("share_jump", {"micro_region": variant.jump_region,
                               "operator": variant.jump_operator},
                round(jump["points"] / 100, 4), month_label(cal.last),
                {**jump, "event_id": event_id, "month": month_label(cal.last),
                 "previous_month": month_label(cal.last - 1)})


def high_end_value(cal: Calendar, pop: Population, billing: Billing, members: pd.DataFrame,
                   specs: list[CampaignSpec]) -> dict:
    """Net value of high-end customers over the last three months, and duplicate benefits."""
    start = billing.value_from
    window = {s.campaign_id: s.department for s in specs if s.start <= cal.last and s.end >= start}
    paid = members[members["campaign_id"].isin(list(window)) & (members["cost"] > 0)]
    paid = paid.assign(department=paid["campaign_id"].map(window))
    cost = np.zeros(pop.n)
    departments = np.zeros(pop.n, dtype=np.int64)
    by_sub = paid.groupby("subscriber_id").agg(cost=("cost", "sum"), departments=("department", "nunique"))
    cost[by_sub.index.to_numpy() - 1] = by_sub["cost"].to_numpy()
    departments[by_sub.index.to_numpy() - 1] = by_sub["departments"].to_numpy()
    high = np.flatnonzero((pop.segment == HIGH_END) & (pop.join <= cal.last) & (pop.churn > cal.last))
    net = billing.revenue3[high] - billing.service3[high] - cost[high]
    loss, duplicate = net < 0, departments[high] >= 2
    return {"high_end": int(high.size), "unprofitable": int(loss.sum()),
            "unprofitable_share": round(float(loss.mean()), 4),
            "duplicate_benefit_customers": int(duplicate.sum()),
            "duplicate_share_of_unprofitable": round(float(duplicate[loss].mean()) if loss.any() else 0.0, 4),
            "campaigns": sorted(window)}


def value_row(cal: Calendar, billing: Billing, value: dict) -> dict:
    return _row("unprofitable_high_end", {"segment": "high_end"}, value["unprofitable_share"],
                cal.months_range(billing.value_from, cal.last), {
                    **value,
                    "net_value": "sum(revenue) - sum(service_cost) - campaign costs (treated arm) of "
                                 "campaigns overlapping the period; revenue is already net of discount",
                    "population": "high_end subscribers billed in the latest month",
                    "duplicate": "paid benefits from two or more departments in the period",
                })


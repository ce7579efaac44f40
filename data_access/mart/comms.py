"""Mart reads behind the media-mix recommendation: past campaigns and their ARPU change."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema as s
from data_access.db import read_frame
from data_access.mart.queries import Slice, region_conditions
from analytics.periods import add_months

PRE_MONTHS = 3  # months before a campaign's start that make its "before"


def load_past_campaigns(engine: sa.Engine) -> pd.DataFrame:
    """Campaigns in the mart (company-wide facts, not tied to a region): id, name, offer,
    department, sales channel types, months, budget, whether a hold-out exists."""
    c = s.campaign
    frame = read_frame(engine, sa.select(
        c.c.campaign_id, c.c.campaign_name, c.c.offer, c.c.department, c.c.channel_types,
        c.c.start_month, c.c.end_month, c.c.budget, c.c.has_control).order_by(c.c.start_month))
    frame["budget"] = frame["budget"].astype(float)
    return frame


def _months_before(month: dt.date, k: int) -> dt.date:
    return add_months(month, -k)


def load_campaign_arpu_change(engine: sa.Engine) -> pd.DataFrame:
    """Each campaign's members' mean monthly ARPU change, campaign months against the three
    months before, per arm, aggregated in SQL over the members inside the acting scope.

    The effect is the treated arm's change less the hold-out's where a hold-out exists
    (difference in differences), else the treated change alone (before/after only).

    Returns
    -------
    DataFrame
        campaign_id, participants, control_members, arpu_before, arpu_change,
        control_change, effect (yuan per member and month), method.
    """
    campaigns = load_past_campaigns(engine)
    columns = ["campaign_id", "participants", "control_members", "arpu_before", "arpu_change",
               "control_change", "effect", "method"]
    if campaigns.empty:
        return pd.DataFrame(columns=columns)
    cm, c, f = s.campaign_member, s.campaign, s.fact_subscriber_month
    sub, region = s.dim_subscriber, s.dim_region
    pre_start = sa.case({int(r.campaign_id): _months_before(pd.Timestamp(r.start_month).date(),
                                                            PRE_MONTHS)
                         for r in campaigns.itertuples()}, value=cm.c.campaign_id)
    before = f.c.month < c.c.start_month
    per = (
        sa.select(cm.c.campaign_id, cm.c.arm, cm.c.subscriber_id,
                  sa.func.avg(sa.case((before, f.c.revenue))).label("pre"),
                  sa.func.avg(sa.case((sa.not_(before), f.c.revenue))).label("post"))
        .select_from(cm.join(c, c.c.campaign_id == cm.c.campaign_id)
                     .join(f, f.c.subscriber_id == cm.c.subscriber_id)
                     .join(sub, sub.c.subscriber_id == cm.c.subscriber_id)
                     .join(region, region.c.region_id == sub.c.region_id))
        .where(f.c.month >= pre_start, f.c.month <= c.c.end_month,
               *region_conditions(Slice()))
        .group_by(cm.c.campaign_id, cm.c.arm, cm.c.subscriber_id)
    ).subquery("per_member")
    both = sa.and_(per.c.pre.is_not(None), per.c.post.is_not(None))
    statement = (sa.select(per.c.campaign_id, per.c.arm,
                           sa.func.count().label("members"),
                           sa.func.avg(sa.case((both, per.c.pre))).label("pre"),
                           sa.func.avg(sa.case((both, per.c.post - per.c.pre))).label("change"))
                 .group_by(per.c.campaign_id, per.c.arm))
    arms = read_frame(engine, statement)
    for column in ("pre", "change"):
        arms[column] = pd.to_numeric(arms[column]).astype(float)
    treated = arms[arms["arm"] == "treated"].set_index("campaign_id")
    held = arms[arms["arm"] == "control"].set_index("campaign_id")
    control = held["change"]
    out = pd.DataFrame({"campaign_id": treated.index,
                        "participants": treated["members"].astype("int64").to_numpy(),
                        "arpu_before": treated["pre"].round(2).to_numpy(),
                        "arpu_change": treated["change"].round(2).to_numpy()})
    out["control_members"] = out["campaign_id"].map(held["members"]).fillna(0).astype("int64")
    out["control_change"] = out["campaign_id"].map(control).round(2)
    has_control = out["control_change"].notna()
    out["effect"] = (out["arpu_change"] - out["control_change"].fillna(0.0)).round(2)
    out["method"] = np.select(
        [out["arpu_change"].isna(), has_control],
        ["not measurable: no months before it in the mart", "vs hold-out (DiD)"],
        "before/after only")
    return out[columns].sort_values("campaign_id", ignore_index=True)

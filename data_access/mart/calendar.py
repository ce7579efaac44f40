"""Mart reads behind the campaign calendar and its conflict check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.campaigns.conflicts import split_codes
from data_access.mart import schema as s
from data_access.db import read_frame
from data_access.mart.queries import Slice, region_conditions


def load_mart_campaigns(mart: sa.Engine) -> pd.DataFrame:
    """The mart's campaigns in the calendar format of :mod:`analytics.campaigns.conflicts`: ids
    ``C<campaign_id>``, ``start`` the first and ``end`` the last day of their months."""
    c = s.campaign
    frame = read_frame(mart, sa.select(c).order_by(c.c.start_month, c.c.campaign_id))
    return pd.DataFrame({
        "campaign_id": "C" + frame["campaign_id"].astype(str),
        "campaign_name": frame["campaign_name"], "department": frame["department"],
        "benefit_kind": frame["benefit_kind"], "segments": frame["target_segment"],
        "channel_types": frame["channel_types"],
        "start": pd.to_datetime(frame["start_month"]).dt.date,
        "end": (pd.to_datetime(frame["end_month"]) + pd.offsets.MonthEnd(0)).dt.date,
        "budget": frame["budget"], "source": "mart", "status": "running"})


def count_duplicates(mart: sa.Engine, plan: Mapping[str, Any],
                     campaign_ids: list[int]) -> dict[int, int]:
    """Per mart campaign, the plan's eligible customers who hold a paid benefit from it.

    Eligible: in one of the plan's segments, activated through one of its channel types, in
    one of its micro-regions (all when none are named), billed at the plan's start, and
    inside the acting scope. Counted in SQL.
    """
    if not campaign_ids:
        return {}
    sub, region, channel, member = s.dim_subscriber, s.dim_region, s.dim_channel, s.campaign_member
    start = pd.Timestamp(plan["start"]).replace(day=1).date()
    conditions = [
        *region_conditions(Slice()),
        sub.c.segment.in_(split_codes(plan["segments"])),
        channel.c.channel_type.in_(split_codes(plan["channel_types"])),
        sub.c.join_month <= start,
        sa.or_(sub.c.churn_month.is_(None), sub.c.churn_month > start),
        member.c.campaign_id.in_(campaign_ids), member.c.cost > 0,
    ]
    regions = split_codes(plan.get("micro_regions"))
    if regions:
        conditions.append(region.c.micro_region.in_(regions))
    statement = (
        sa.select(member.c.campaign_id, sa.func.count(sa.distinct(member.c.subscriber_id))
                  .label("customers"))
        .select_from(member.join(sub, member.c.subscriber_id == sub.c.subscriber_id)
                     .join(region, sub.c.region_id == region.c.region_id)
                     .join(channel, sub.c.channel_id == channel.c.channel_id))
        .where(*conditions).group_by(member.c.campaign_id))
    frame = read_frame(mart, statement)
    return {int(k): int(v) for k, v in zip(frame["campaign_id"], frame["customers"], strict=True)}

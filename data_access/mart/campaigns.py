"""Mart reads behind the campaign page: the campaign list, per-subscriber panels around a
campaign (aggregated in SQL), its monthly spend and its masked participant list.

Every read is narrowed to the acting person's region and masks numbers unless their role
may see them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema as s
from data_access.db import ConcertoError, read_frame
from data_access.mart.queries import (Slice, available_months, masked, region_conditions,
                                     subscribers_in_scope)
from data_access.store.scope import reveal_numbers
from analytics.periods import add_months, months_between

#: Months before the start that make the pre-period.
PRE_MONTHS = 3
#: Per-subscriber columns of a panel (the metric stems match analytics.campaigns.effect).
MEASURES = {"arpu": "revenue", "mou": "mou", "dou": "data_mb"}


@dataclass(frozen=True)
class CampaignWindow:
    """A campaign's months as the mart sees them."""

    campaign_id: int
    name: str
    start: dt.date
    end: dt.date
    budget: float
    has_control: bool
    target_segment: str
    channel_types: tuple[str, ...]
    pre: tuple[dt.date, ...]  # up to PRE_MONTHS months before the start, in the mart
    post: tuple[dt.date, ...]  # the campaign's months present in the mart
    life: tuple[dt.date, ...]  # every month of the campaign (plan), present or not


def _month_add(month: dt.date, k: int) -> dt.date:
    return add_months(month, k)


def _date(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def _status(start: dt.date, end: dt.date, last: dt.date | None) -> str:
    if last is None or start > last:
        return "planned"
    return "running" if end >= last else "finished"


def load_campaign_list(engine: sa.Engine) -> pd.DataFrame:
    """Campaigns with their status, budget, participants, controls and spend (in scope).

    Participants and spend count members inside the acting person's region only. Status is
    'planned', 'running' (ends in or after the mart's last month) or 'finished'.
    """
    c, cm = s.campaign, s.campaign_member
    treated = cm.c.arm == "treated"
    members = (
        sa.select(cm.c.campaign_id,
                  sa.func.sum(sa.case((treated, 1), else_=0)).label("participants"),
                  sa.func.sum(sa.case((treated, 0), else_=1)).label("controls"),
                  sa.func.sum(sa.case((treated, cm.c.cost), else_=0.0)).label("spend"))
        .where(subscribers_in_scope(cm.c.subscriber_id))
        .group_by(cm.c.campaign_id).subquery("members"))
    statement = (
        sa.select(c, sa.func.coalesce(members.c.participants, 0).label("participants"),
                  sa.func.coalesce(members.c.controls, 0).label("controls"),
                  sa.func.coalesce(members.c.spend, 0.0).label("spend"))
        .select_from(c.outerjoin(members, c.c.campaign_id == members.c.campaign_id))
        .order_by(c.c.start_month, c.c.campaign_id))
    frame = read_frame(engine, statement)
    months = available_months(engine)
    last = months[-1] if months else None
    frame["status"] = [_status(_date(a), _date(b), last)
                       for a, b in zip(frame["start_month"], frame["end_month"], strict=True)]
    for col in ("participants", "controls"):
        frame[col] = frame[col].astype(int)
    frame["spend"] = frame["spend"].astype(float).round(2)
    return frame


def load_campaign_window(engine: sa.Engine, campaign_id: int) -> CampaignWindow:
    """The campaign's dates, budget and pre/post months in the mart.

    Raises
    ------
    ConcertoError
        When there is no campaign ``campaign_id``.
    """
    frame = read_frame(engine, sa.select(s.campaign).where(s.campaign.c.campaign_id == campaign_id))
    if frame.empty:
        raise ConcertoError(f"campaign_id: there is no campaign {campaign_id}.")
    row = frame.iloc[0]
    start, end = _date(row["start_month"]), _date(row["end_month"])
    months = set(available_months(engine))
    life, month = [], start
    while month <= end:
        life.append(month)
        month = _month_add(month, 1)
    pre = [_month_add(start, -k) for k in range(PRE_MONTHS, 0, -1)]
    return CampaignWindow(
        int(row["campaign_id"]), str(row["campaign_name"]), start, end, float(row["budget"]),
        bool(row["has_control"]), str(row["target_segment"]),
        tuple(t for t in str(row["channel_types"]).split(",") if t),
        tuple(m for m in pre if m in months), tuple(m for m in life if m in months), tuple(life))


def _per_subscriber(window: CampaignWindow, ids: sa.Select) -> sa.Subquery:
    """Pre- and campaign-period monthly means per subscriber in ``ids`` (one fact scan)."""
    fact = s.fact_subscriber_month
    first, last = (window.pre or window.post)[0], window.post[-1]
    is_pre = fact.c.month < window.start
    columns = [fact.c.subscriber_id]
    for period, flag in (("pre", is_pre), ("post", sa.not_(is_pre))):
        count = sa.func.sum(sa.case((flag, 1), else_=0))
        columns.append(count.label(f"{period}_months"))
        for stem, name in MEASURES.items():
            total = sa.func.sum(sa.case((flag, fact.c[name])))
            columns.append((total / sa.func.nullif(count, 0)).label(f"{period}_{stem}"))
    return (sa.select(*columns).where(fact.c.month >= first, fact.c.month <= last,
                                      fact.c.subscriber_id.in_(ids))
            .group_by(fact.c.subscriber_id).subquery("per_subscriber"))


def _describe(window: CampaignWindow, base: sa.FromClause, per: sa.Subquery,
              extra: list[sa.ColumnElement], conditions: list[sa.ColumnElement[bool]]
              ) -> sa.Select:
    """Who each subscriber is (dimensions, churn in the window) beside their means."""
    sub, region, channel = s.dim_subscriber, s.dim_region, s.dim_channel
    last = window.post[-1]
    churned = sa.case((sa.and_(sub.c.churn_month > window.start, sub.c.churn_month <= last), 1),
                      else_=0)
    statement = (
        sa.select(sub.c.subscriber_id, *extra, sub.c.segment, region.c.branch, region.c.micro_region,
                  channel.c.channel_type, sub.c.join_month, churned.label("churned"),
                  *[c for c in per.c if c.name != "subscriber_id"])
        .select_from(base.join(region, sub.c.region_id == region.c.region_id)
                     .join(channel, sub.c.channel_id == channel.c.channel_id)
                     .outerjoin(per, per.c.subscriber_id == sub.c.subscriber_id))
        .where(*conditions, *region_conditions(Slice())).order_by(sub.c.subscriber_id))
    return statement


def _finish(frame: pd.DataFrame, window: CampaignWindow) -> pd.DataFrame:
    joined = pd.to_datetime(frame["join_month"])
    start = pd.Timestamp(window.start)
    frame["tenure"] = months_between(start, joined)
    for col in [c for c in frame.columns if c.startswith(("pre_", "post_"))]:
        frame[col] = frame[col].astype(float)
    frame["churned"] = frame["churned"].astype(int)
    return frame


def load_campaign_panel(engine: sa.Engine, window: CampaignWindow) -> pd.DataFrame:
    """One row per member (participant or hold-out control) in scope: ``arm``, ``cost``,
    segment, branch, micro-region, channel type, tenure, ``churned`` and the pre- and
    campaign-period monthly means ``pre_/post_`` of arpu, mou and dou (NaN when not billed)."""
    if not window.post:
        raise ConcertoError(f"campaign_id: campaign {window.campaign_id} has not started in the mart.")
    cm, sub = s.campaign_member, s.dim_subscriber
    ids = sa.select(cm.c.subscriber_id).where(cm.c.campaign_id == window.campaign_id)
    per = _per_subscriber(window, ids)
    base = cm.join(sub, cm.c.subscriber_id == sub.c.subscriber_id)
    statement = _describe(window, base, per, [cm.c.arm, cm.c.cost],
                          [cm.c.campaign_id == window.campaign_id])
    return _finish(read_frame(engine, statement), window)


def load_matching_pool(engine: sa.Engine, window: CampaignWindow, limit: int = 200_000
                       ) -> pd.DataFrame:
    """Eligible non-participants (the campaign's target segment, activated in one of its
    channel types, billed when it started, not a member), in scope, as a panel like
    :func:`load_campaign_panel`; an evenly spread sample by subscriber id when more than
    ``limit`` qualify."""
    if not window.post:
        raise ConcertoError(f"campaign_id: campaign {window.campaign_id} has not started in the mart.")
    cm, sub, channel, region = s.campaign_member, s.dim_subscriber, s.dim_channel, s.dim_region
    members = sa.select(cm.c.subscriber_id).where(cm.c.campaign_id == window.campaign_id)
    eligible = [sub.c.segment == window.target_segment,
                channel.c.channel_type.in_(window.channel_types),
                sub.c.join_month <= window.start,
                sa.or_(sub.c.churn_month.is_(None), sub.c.churn_month > window.start),
                sub.c.subscriber_id.not_in(members)]
    dims = (sub.join(channel, sub.c.channel_id == channel.c.channel_id)
            .join(region, sub.c.region_id == region.c.region_id))
    count = read_frame(engine, sa.select(sa.func.count().label("n")).select_from(dims)
                       .where(*eligible, *region_conditions(Slice())))["n"].iloc[0]
    step = max(1, -(-int(count) // limit))
    if step > 1:
        eligible.append(sub.c.subscriber_id % step == 0)
    ids = sa.select(sub.c.subscriber_id).select_from(dims).where(*eligible)
    per = _per_subscriber(window, ids)
    statement = _describe(window, sub, per, [sa.literal("pool").label("arm"),
                                             sa.literal(0.0).label("cost")], eligible)
    return _finish(read_frame(engine, statement), window)


def load_campaign_spend(engine: sa.Engine, window: CampaignWindow) -> pd.DataFrame:
    """Spend booked per campaign month (in scope): each participant's cost is spread evenly
    over the campaign's months and booked in the months they were billed."""
    cm, fact = s.campaign_member, s.fact_subscriber_month
    share = cm.c.cost / float(len(window.life))
    statement = (
        sa.select(fact.c.month, sa.func.sum(share).label("spend"))
        .select_from(cm.join(fact, cm.c.subscriber_id == fact.c.subscriber_id))
        .where(cm.c.campaign_id == window.campaign_id, cm.c.arm == "treated",
               fact.c.month >= window.start, fact.c.month <= window.end,
               subscribers_in_scope(cm.c.subscriber_id))
        .group_by(fact.c.month).order_by(fact.c.month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    frame["spend"] = frame["spend"].astype(float).round(2)
    return frame


def load_participants(engine: sa.Engine, campaign_id: int, limit: int = 5000) -> pd.DataFrame:
    """The campaign's members in scope for follow-up (numbers masked unless the acting role
    may see them), participants first, then by subscriber id.

    The participants are read first, in subscriber order, then the controls only if room is
    left: the members' key (campaign, subscriber) hands them over in that order, so a
    campaign of 200,000 members costs the rows shown, not a sort of all of them.
    """
    cm, sub, region, channel, plan = (s.campaign_member, s.dim_subscriber, s.dim_region,
                                      s.dim_channel, s.dim_plan)
    number = sub.c.msisdn if reveal_numbers() else masked(sub.c.msisdn)

    def arm(participants: bool, rows: int = limit) -> sa.Select:
        return (
            sa.select(sub.c.subscriber_id, number.label("number"), cm.c.arm, cm.c.cost,
                      sub.c.segment, region.c.branch, region.c.micro_region,
                      channel.c.channel_type, channel.c.channel_name, plan.c.plan_name,
                      sub.c.join_month, sub.c.churn_month)
            .select_from(cm.join(sub, cm.c.subscriber_id == sub.c.subscriber_id)
                         .join(region, sub.c.region_id == region.c.region_id)
                         .join(channel, sub.c.channel_id == channel.c.channel_id)
                         .join(plan, sub.c.plan_id == plan.c.plan_id))
            .where(cm.c.campaign_id == campaign_id,
                   cm.c.arm == "treated" if participants else cm.c.arm != "treated",
                   *region_conditions(Slice()))
            .order_by(cm.c.subscriber_id).limit(rows))

    treated = read_frame(engine, arm(True))
    if len(treated) >= limit:
        return treated
    others = read_frame(engine, arm(False, limit - len(treated)))
    return others if treated.empty else (
        treated if others.empty else pd.concat([treated, others], ignore_index=True))

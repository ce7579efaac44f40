"""Mart reads behind channel management: per-channel figures, stock, one channel's history.

Every read is aggregated in SQL and narrowed to the acting person's scope by the channel's
own region (``dim_channel.region_id``); subscriber numbers are masked unless the role may
see them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from analytics.channels import STOCK_SHORT_FRACTION, low_use_cutoffs
from data_access.mart import queries
from data_access.mart import schema as s
from data_access.db import ConcertoError, read_frame
from data_access.mart.queries import Slice, masked, region_conditions
from data_access.store.scope import reveal_numbers
from analytics.periods import months_between

#: Months in the evaluation window unless the caller says otherwise.
WINDOW_MONTHS = 6


def window_months(engine: sa.Engine, months: int = WINDOW_MONTHS) -> list[dt.date]:
    """The last ``months`` months of the mart, oldest first."""
    if months < 2:
        raise ConcertoError("months: the window needs at least 2 months.")
    return queries.available_months(engine)[-months:]


def _channels() -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
    """dim_channel joined to its region, and the scope filter on that region."""
    channel, region = s.dim_channel, s.dim_region
    return (channel.join(region, channel.c.region_id == region.c.region_id),
            region_conditions(Slice()))


def _low_use(mou: sa.ColumnElement, data_mb: sa.ColumnElement, revenue: sa.ColumnElement,
             cutoffs: dict[str, float]) -> sa.ColumnElement[bool]:
    return sa.and_(mou < cutoffs["mou"], data_mb < cutoffs["data_mb"],
                   revenue < cutoffs["revenue"])


def load_low_use_cutoffs(engine: sa.Engine, months: list[dt.date]) -> dict[str, float]:
    """The low-use lines (``analytics.channels.low_use_cutoffs``) of the new numbers activated
    in ``months`` at the channels in scope: a share of the median new number's monthly
    minutes, data and revenue within the window."""
    joined, scope = _channels()
    new = _new_numbers(months)
    usage = read_frame(engine, sa.select(new.c.mou, new.c.data_mb, new.c.revenue).select_from(
        joined.join(new, new.c.channel_id == s.dim_channel.c.channel_id)).where(*scope))
    return low_use_cutoffs(usage)


def _new_numbers(months: list[dt.date], channel_id: int | None = None) -> sa.Subquery:
    """One row per number activated in ``months``: its monthly averages within the window."""
    fact, sub = s.fact_subscriber_month, s.dim_subscriber
    statement = (
        sa.select(sub.c.subscriber_id, sub.c.channel_id, sub.c.region_id, sub.c.join_month,
                  sa.func.avg(fact.c.mou).label("mou"),
                  sa.func.avg(fact.c.data_mb).label("data_mb"),
                  sa.func.avg(fact.c.revenue).label("revenue"))
        .select_from(sub.join(fact, fact.c.subscriber_id == sub.c.subscriber_id))
        .where(sub.c.join_month.in_(months), fact.c.month.in_(months))
        .group_by(sub.c.subscriber_id, sub.c.channel_id, sub.c.region_id, sub.c.join_month))
    if channel_id is not None:
        statement = statement.where(sub.c.channel_id == channel_id)
    return statement.subquery("new_numbers")


def _quality(engine: sa.Engine, months: list[dt.date], cutoffs: dict[str, float]) -> pd.DataFrame:
    joined, scope = _channels()
    new = _new_numbers(months)
    home = s.dim_region.alias("home")
    half = months[len(months) // 2:]

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    statement = (
        sa.select(new.c.channel_id, sa.func.count().label("new_numbers"),
                  count(_low_use(new.c.mou, new.c.data_mb, new.c.revenue, cutoffs))
                  .label("low_use"),
                  count(home.c.branch != s.dim_region.c.branch).label("other_branch"),
                  count(home.c.region_id != s.dim_region.c.region_id).label("other_micro"),
                  count(new.c.join_month.in_(half)).label("new_recent"),
                  sa.func.avg(new.c.revenue).label("new_revenue_month"))
        .select_from(joined.join(new, new.c.channel_id == s.dim_channel.c.channel_id)
                     .join(home, home.c.region_id == new.c.region_id))
        .where(*scope).group_by(new.c.channel_id))
    return read_frame(engine, statement)


def _money(engine: sa.Engine, months: list[dt.date]) -> pd.DataFrame:
    joined, scope = _channels()
    t = s.sum_channel_month
    statement = (
        sa.select(t.c.channel_id, sa.func.sum(t.c.revenue).label("revenue"),
                  sa.func.sum(t.c.service_cost).label("service_cost"),
                  (sa.func.sum(t.c.active_subs) / len(months)).label("active_subs"),
                  sa.func.sum(t.c.churned_subs).label("churned_subs"))
        .select_from(joined.join(t, t.c.channel_id == s.dim_channel.c.channel_id))
        .where(*scope, t.c.month.in_(months)).group_by(t.c.channel_id))
    return read_frame(engine, statement)


def _campaign_cost(engine: sa.Engine, months: list[dt.date]) -> pd.DataFrame:
    joined, scope = _channels()
    member, sub, camp = s.campaign_member, s.dim_subscriber, s.campaign
    statement = (
        sa.select(sub.c.channel_id, sa.func.sum(member.c.cost).label("campaign_cost"))
        .select_from(joined.join(sub, sub.c.channel_id == s.dim_channel.c.channel_id)
                     .join(member, member.c.subscriber_id == sub.c.subscriber_id)
                     .join(camp, camp.c.campaign_id == member.c.campaign_id))
        .where(*scope, camp.c.start_month <= max(months), camp.c.end_month >= min(months))
        .group_by(sub.c.channel_id))
    return read_frame(engine, statement)


def _market_share(engine: sa.Engine, month: dt.date) -> pd.DataFrame:
    comp, region = s.fact_competitor_month, s.dim_region
    own = sa.func.sum(sa.case((comp.c.operator == "us", comp.c.subscribers), else_=0))
    statement = (
        sa.select(comp.c.region_id, (own * 1.0 / sa.func.nullif(sa.func.sum(comp.c.subscribers), 0))
                  .label("market_share"))
        .select_from(comp.join(region, comp.c.region_id == region.c.region_id))
        .where(*region_conditions(Slice()), comp.c.month == month).group_by(comp.c.region_id))
    return read_frame(engine, statement)


def load_channel_metrics(engine: sa.Engine, months: list[dt.date]) -> pd.DataFrame:
    """One row per channel in scope: what ``analytics.channels.evaluate_channels`` needs.

    Columns: ``channel_id, channel_name, channel_type, manager, opened_on, region_id, branch,
    micro_region, age_months, new_numbers, low_use, other_branch, other_micro, new_before,
    new_recent, new_revenue_month, revenue, service_cost, active_subs, churned_subs,
    campaign_cost, market_share, low_mou_cut, low_data_cut, low_revenue_cut``. New numbers
    are those activated in ``months``; their usage is averaged over their billed months inside
    the window; a new number is low use when all three averages lie under the window's
    low-use lines (:func:`load_low_use_cutoffs`, carried in the ``low_*_cut`` columns); money
    is summed over the window.
    """
    if len(months) < 2:
        raise ConcertoError("months: the window needs at least 2 months.")
    joined, scope = _channels()
    channel, region = s.dim_channel, s.dim_region
    frame = read_frame(engine, sa.select(
        channel.c.channel_id, channel.c.channel_name, channel.c.channel_type, channel.c.manager,
        channel.c.opened_on, channel.c.region_id, region.c.branch, region.c.micro_region)
        .select_from(joined).where(*scope).order_by(channel.c.channel_id))
    cutoffs = load_low_use_cutoffs(engine, months)
    for part in (_quality(engine, months, cutoffs), _money(engine, months),
                 _campaign_cost(engine, months)):
        frame = frame.merge(part, on="channel_id", how="left")
    frame = frame.merge(_market_share(engine, max(months)), on="region_id", how="left")
    counts = ["new_numbers", "low_use", "other_branch", "other_micro", "new_recent"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    money = ["revenue", "service_cost", "active_subs", "churned_subs", "campaign_cost"]
    frame[money] = frame[money].astype(float).fillna(0.0)
    frame["new_before"] = frame["new_numbers"] - frame["new_recent"]
    frame["new_revenue_month"] = frame["new_revenue_month"].astype(float)
    frame["market_share"] = frame["market_share"].astype(float)
    end = pd.Timestamp(max(months))
    opened = pd.to_datetime(frame["opened_on"])
    frame["age_months"] = months_between(end, opened)
    frame["low_mou_cut"] = cutoffs["mou"]
    frame["low_data_cut"] = cutoffs["data_mb"]
    frame["low_revenue_cut"] = cutoffs["revenue"]
    return frame


def load_stock_summary(engine: sa.Engine, recent_days: int = 14,
                       baseline_days: int = 56) -> pd.DataFrame:
    """Per channel in scope: days short of stock and sales over the last ``recent_days``,
    against the channel's own ``baseline_days`` before them.

    A day is short when its end-of-day stock is below ``STOCK_SHORT_FRACTION`` of the
    channel's own mean stock over the baseline days (``normal_stock``). Columns:
    ``channel_id, recent_days, low_days, recent_sales, expected_sales, last_stock, min_stock,
    normal_stock, baseline_low_share``.
    """
    if recent_days < 1 or baseline_days < 1:
        raise ConcertoError("recent_days and baseline_days must be at least 1.")
    day_table = s.fact_channel_day
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(day_table.c.day))).scalar()
    if last is None:
        return pd.DataFrame(columns=["channel_id", "recent_days", "low_days", "recent_sales",
                                     "expected_sales", "last_stock", "min_stock", "normal_stock",
                                     "baseline_low_share"])
    last = pd.Timestamp(last).date()
    since = last - dt.timedelta(days=recent_days - 1)
    base_from = since - dt.timedelta(days=baseline_days)
    d = day_table.c
    recent = d.day >= since

    def total(value: sa.ColumnElement, when: sa.ColumnElement[bool]) -> sa.ColumnElement:
        return sa.func.sum(sa.case((when, value), else_=0))

    joined, scope = _channels()
    normal = (sa.select(d.channel_id, sa.func.avg(d.stock_level).label("normal_stock"))
              .where(d.day >= base_from, d.day < since).group_by(d.channel_id).subquery("normal"))
    short = d.stock_level < STOCK_SHORT_FRACTION * normal.c.normal_stock
    statement = (
        sa.select(d.channel_id, total(1, recent).label("recent_days"),
                  total(1, sa.and_(recent, short)).label("low_days"),
                  total(1, sa.and_(d.day < since, short)).label("baseline_low_days"),
                  sa.func.max(normal.c.normal_stock).label("normal_stock"),
                  total(d.new_activations, recent).label("recent_sales"),
                  total(d.new_activations, d.day < since).label("baseline_sales"),
                  total(1, d.day < since).label("baseline_days"),
                  sa.func.max(sa.case((d.day == last, d.stock_level))).label("last_stock"),
                  sa.func.min(sa.case((recent, d.stock_level))).label("min_stock"))
        .select_from(joined.join(day_table, d.channel_id == s.dim_channel.c.channel_id)
                     .join(normal, normal.c.channel_id == d.channel_id, isouter=True))
        .where(*scope, d.day >= base_from).group_by(d.channel_id).order_by(d.channel_id))
    frame = read_frame(engine, statement)
    frame["normal_stock"] = frame["normal_stock"].astype(float)
    frame["baseline_low_share"] = (frame["baseline_low_days"].astype(float)
                                   / frame["baseline_days"].where(frame["baseline_days"] > 0))
    rate = frame["baseline_sales"].astype(float) / frame["baseline_days"].where(
        frame["baseline_days"] > 0)
    frame["expected_sales"] = (rate * frame["recent_days"]).fillna(0.0)
    return frame.drop(columns=["baseline_sales", "baseline_days", "baseline_low_days"])


def load_channel_history(engine: sa.Engine, channel_id: int,
                         cutoffs: dict[str, float] | None = None) -> pd.DataFrame:
    """One channel's months (empty outside the acting scope): active, new and churned
    subscribers, revenue and service cost, and how many of that month's new numbers had
    low use over their billed months in the mart (under ``cutoffs``; by default the low-use
    lines of the mart's whole history, :func:`load_low_use_cutoffs`)."""
    joined, scope = _channels()
    t = s.sum_channel_month
    monthly = read_frame(engine, sa.select(
        t.c.month, t.c.active_subs, t.c.new_subs, t.c.churned_subs, t.c.revenue,
        t.c.service_cost, t.c.mou, t.c.data_mb)
        .select_from(joined.join(t, t.c.channel_id == s.dim_channel.c.channel_id))
        .where(*scope, t.c.channel_id == channel_id).order_by(t.c.month))
    if monthly.empty:
        return monthly
    months = [pd.Timestamp(m).date() for m in monthly["month"]]
    if cutoffs is None:  # one yardstick for every channel: the new numbers of every month
        cutoffs = load_low_use_cutoffs(engine, queries.available_months(engine))
    new = _new_numbers(months, channel_id)
    low = read_frame(engine, sa.select(
        new.c.join_month.label("month"),
        sa.func.sum(sa.case((_low_use(new.c.mou, new.c.data_mb, new.c.revenue, cutoffs), 1),
                            else_=0))
        .label("low_use_new")).group_by(new.c.join_month))
    monthly["month"] = pd.to_datetime(monthly["month"])
    low["month"] = pd.to_datetime(low["month"])
    monthly = monthly.merge(low, on="month", how="left")
    monthly["low_use_new"] = monthly["low_use_new"].fillna(0).astype("int64")
    return monthly


def load_channel_days(engine: sa.Engine, channel_id: int, days: int = 90) -> pd.DataFrame:
    """One channel's last ``days`` days: activations, revenue and end-of-day stock."""
    d, joined, scope = s.fact_channel_day.c, *_channels()
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(d.day))).scalar()
    if last is None:
        return pd.DataFrame(columns=["day", "new_activations", "revenue", "stock_level"])
    since = pd.Timestamp(last).date() - dt.timedelta(days=days - 1)
    frame = read_frame(engine, sa.select(d.day, d.new_activations, d.revenue, d.stock_level)
                       .select_from(joined.join(s.fact_channel_day,
                                                d.channel_id == s.dim_channel.c.channel_id))
                       .where(*scope, d.channel_id == channel_id, d.day >= since)
                       .order_by(d.day))
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def load_low_use_numbers(engine: sa.Engine, channel_id: int, months: list[dt.date],
                         limit: int = 200,
                         cutoffs: dict[str, float] | None = None) -> pd.DataFrame:
    """The channel's new numbers with low use in ``months`` (under the window's low-use
    lines: ``cutoffs``, else :func:`load_low_use_cutoffs` of ``months``; masked unless the
    role may see them), lowest revenue first; empty outside the acting scope."""
    joined, scope = _channels()
    if cutoffs is None:
        cutoffs = load_low_use_cutoffs(engine, months)
    new, sub, home = _new_numbers(months, channel_id), s.dim_subscriber, s.dim_region.alias("home")
    number = sub.c.msisdn if reveal_numbers() else masked(sub.c.msisdn)
    statement = (
        sa.select(sub.c.subscriber_id, number.label("number"), new.c.join_month,
                  sub.c.churn_month, home.c.micro_region.label("home_micro_region"), new.c.mou,
                  new.c.data_mb, new.c.revenue)
        .select_from(joined.join(new, new.c.channel_id == s.dim_channel.c.channel_id)
                     .join(sub, sub.c.subscriber_id == new.c.subscriber_id)
                     .join(home, home.c.region_id == new.c.region_id))
        .where(*scope, _low_use(new.c.mou, new.c.data_mb, new.c.revenue, cutoffs))
        .order_by(new.c.revenue, new.c.subscriber_id).limit(limit))
    return read_frame(engine, statement)

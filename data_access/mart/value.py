"""Mart reads for value-based operations: net value, ROI bands and duplicate benefits.

The window is the latest ``months`` months of the mart (three by default, as in the source);
the customers are those billed in the latest month. Everything is summed in SQL: per band,
per channel, per group and per micro-region, and the customer lists are limited. Rows lie in
the acting scope, and numbers are masked unless the acting role may see them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from analytics.value.netvalue import net_value
from analytics.value.operations import BAND_EDGES, BANDS
from data_access.mart import schema as s
from data_access.db import ConcertoError, read_frame
from data_access.mart.queries import Slice, masked, region_conditions
from data_access.store.scope import reveal_numbers

UNIT_LEVELS = ("channel", "group", "micro_region")
CUSTOMER_LISTS = ("negative_high_end", "duplicate_benefit")
#: A customer's money over the window (net value = gross − the three costs).
MONEY = ("gross", "discount", "service_cost", "campaign_cost", "net_value")


def window_statement(months: int) -> sa.Select:
    """``first`` and ``last``: the first and last of the fact's latest ``months`` months
    (NULL on an empty mart); the page's reads and the build's summaries share it. The months
    are read from the monthly summary, built from the fact before the value summaries: the
    fact's own DISTINCT took 2.7 s in PostgreSQL at 1M (6.9 s under load)."""
    cube = s.sum_cube_month
    recent = (sa.select(cube.c.month).distinct().order_by(cube.c.month.desc()).limit(months)
              .subquery())
    return sa.select(sa.func.min(recent.c.month).label("first"),
                     sa.func.max(recent.c.month).label("last"))


def load_value_window(engine: sa.Engine, months: int = 3) -> tuple[dt.date, dt.date]:
    """First and last month of the value window (the latest ``months`` months of the mart)."""
    if not 1 <= months <= 24:
        raise ConcertoError(f"months: choose 1 to 24, not {months}.")
    row = read_frame(engine, window_statement(months))
    if row.empty or pd.isna(row.loc[0, "last"]):
        raise ConcertoError("The mart has no billed months yet.")
    return pd.Timestamp(row.loc[0, "first"]).date(), pd.Timestamp(row.loc[0, "last"]).date()


def customers(window: tuple[dt.date, dt.date], *, scoped: bool = True) -> sa.Subquery:
    """One row per customer billed in the window's last month (in the acting scope unless
    ``scoped`` is False, as the build summarises the whole city): money over the window."""
    first, last = window
    fact, sub, region, camp, member = (s.fact_subscriber_month, s.dim_subscriber, s.dim_region,
                                       s.campaign, s.campaign_member)
    usage = (sa.select(fact.c.subscriber_id,
                       sa.func.sum(fact.c.revenue).label("revenue"),
                       sa.func.sum(fact.c.discount).label("discount"),
                       sa.func.sum(fact.c.service_cost).label("service_cost"),
                       sa.func.max(fact.c.month).label("last_month"))
             .where(fact.c.month.between(first, last)).group_by(fact.c.subscriber_id)
             .subquery("usage"))
    paid = (sa.select(member.c.subscriber_id, sa.func.sum(member.c.cost).label("campaign_cost"),
                      sa.func.count(sa.distinct(camp.c.department)).label("departments"),
                      sa.func.count(sa.distinct(camp.c.campaign_id)).label("campaigns"))
            .select_from(member.join(camp, member.c.campaign_id == camp.c.campaign_id))
            .where(member.c.cost > 0, camp.c.start_month <= last, camp.c.end_month >= first)
            .group_by(member.c.subscriber_id).subquery("paid"))
    campaign_cost = sa.func.coalesce(paid.c.campaign_cost, 0.0)
    return (sa.select(usage.c.subscriber_id, sub.c.segment, sub.c.channel_id, sub.c.group_id,
                      sub.c.msisdn, sub.c.region_id, region.c.branch, region.c.micro_region,
                      (usage.c.revenue + usage.c.discount).label("gross"), usage.c.discount,
                      usage.c.service_cost, campaign_cost.label("campaign_cost"),
                      net_value(usage.c.revenue, usage.c.service_cost, campaign_cost).label("net_value"),
                      sa.func.coalesce(paid.c.departments, 0).label("departments"),
                      sa.func.coalesce(paid.c.campaigns, 0).label("campaigns"))
            .select_from(usage.join(sub, usage.c.subscriber_id == sub.c.subscriber_id)
                         .join(region, sub.c.region_id == region.c.region_id)
                         .outerjoin(paid, paid.c.subscriber_id == usage.c.subscriber_id))
            .where(usage.c.last_month == last,
                   *(region_conditions(Slice()) if scoped else []))
            .subquery("customers"))


def roi_band(c: sa.Subquery) -> sa.ColumnElement[str]:
    """The ROI band in SQL, compared without division (ROI ≥ e ⟺ gross ≥ e × cost) and in
    whole cents, as ``analytics.value.operations.money_band`` does: a customer exactly on an
    edge lands in the band above it however the sums' floating point fell."""
    cost = sa.func.round((c.c.discount + c.c.service_cost + c.c.campaign_cost) * 100)
    gross = sa.func.round(c.c.gross * 100)
    whens = [(sa.and_(cost > 0, gross < edge * cost), BANDS[i])
             for i, edge in enumerate(BAND_EDGES[1:])]
    return sa.case(*whens, else_=BANDS[-1])


def _list_condition(c: sa.FromClause, kind: str) -> sa.ColumnElement[bool]:
    """Who is on a customer list: ``negative_high_end`` (high-end, net value below zero) or
    ``duplicate_benefit`` (paid benefits from two or more departments in the window)."""
    if kind not in CUSTOMER_LISTS:
        raise ConcertoError(f"list: choose one of {', '.join(CUSTOMER_LISTS)}, not {kind!r}.")
    if kind == "negative_high_end":
        return sa.and_(c.c.segment == "high_end", c.c.net_value < 0)
    return c.c.departments >= 2


def listed(c: sa.FromClause) -> sa.ColumnElement[bool]:
    """Whether a customer is on any of the ``CUSTOMER_LISTS``."""
    return sa.or_(*(_list_condition(c, kind) for kind in CUSTOMER_LISTS))


def _summarised(engine: sa.Engine, window: tuple[dt.date, dt.date]) -> bool:
    """Whether the mart's value summaries hold ``window`` (one of ``schema.VALUE_WINDOWS``
    of a mart built with them); otherwise the reads sum the fact."""
    cell = s.sum_value_cell
    try:
        found = read_frame(engine, sa.select(cell.c.band).where(*_of_window(cell, window))
                           .limit(1))
    except sa.exc.DBAPIError:  # a mart built before the value summaries existed
        return False
    return not found.empty


def _of_window(table: sa.Table, window: tuple[dt.date, dt.date]) -> list:
    return [table.c.first_month == window[0], table.c.last_month == window[1]]


def _in_scope(table: sa.Table) -> list:
    """A summary's rows in the acting scope (by the customers' micro-region)."""
    regional = region_conditions(Slice())
    if not regional:
        return []
    return [table.c.region_id.in_(sa.select(s.dim_region.c.region_id).where(*regional))]


def _count(column: sa.ColumnElement, name: str) -> sa.Label:
    """A summed count as an integer on every engine (PostgreSQL sums bigints to numeric)."""
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger).label(name)


def load_customer_bands(engine: sa.Engine, window: tuple[dt.date, dt.date],
                        segment: str | None = None) -> pd.DataFrame:
    """Customers per ROI band: ``band``, ``units`` (customers), ``net_value`` (their sum)."""
    if _summarised(engine, window):
        cell = s.sum_value_cell
        statement = (sa.select(cell.c.band, _count(cell.c.customers, "units"),
                               sa.func.sum(cell.c.net_value).label("net_value"))
                     .where(*_of_window(cell, window), *_in_scope(cell)).group_by(cell.c.band))
        if segment is not None:
            statement = statement.where(cell.c.segment == segment)
        return read_frame(engine, statement)
    c = customers(window)
    band = roi_band(c).label("band")
    statement = sa.select(band, sa.func.count().label("units"),
                          sa.func.sum(c.c.net_value).label("net_value")).group_by(band)
    if segment is not None:
        statement = statement.where(c.c.segment == segment)
    return read_frame(engine, statement)


def _unit_keys(level: str) -> tuple[list[sa.ColumnElement], sa.Table, sa.ColumnElement]:
    """A unit level's key and name columns, their dimension and its key."""
    if level == "channel":
        ch = s.dim_channel
        return [ch.c.channel_id, ch.c.channel_name, ch.c.channel_type], ch, ch.c.channel_id
    if level == "group":
        grp = s.dim_group
        return [grp.c.group_id, grp.c.group_name, grp.c.industry], grp, grp.c.group_id
    region = s.dim_region
    return ([region.c.branch, region.c.micro_region, region.c.micro_region_zh, region.c.lat,
             region.c.lon], region, region.c.region_id)


def load_unit_values(engine: sa.Engine, window: tuple[dt.date, dt.date],
                     level: str) -> pd.DataFrame:
    """Money summed per channel, group or micro-region of the customers in the window.

    Columns: the unit's key and name, ``customers``, ``negative_customers``, the money
    columns (``gross``, ``discount``, ``service_cost``, ``campaign_cost``) and ``net_value``;
    for micro-regions also ``lat`` and ``lon``.
    """
    if level not in UNIT_LEVELS:
        raise ConcertoError(f"level: choose one of {', '.join(UNIT_LEVELS)}, not {level!r}.")
    keys, dimension, key = _unit_keys(level)
    if _summarised(engine, window):
        table = s.sum_value_cell if level == "micro_region" else s.sum_value_unit
        where = [*_of_window(table, window), *_in_scope(table)]
        if level != "micro_region":
            where.append(table.c.level == level)
        unit = table.c.region_id if level == "micro_region" else table.c.unit_id
        statement = (sa.select(*keys, _count(table.c.customers, "customers"),
                               _count(table.c.negative_customers, "negative_customers"),
                               *[sa.func.sum(table.c[m]).label(m) for m in MONEY])
                     .select_from(table.join(dimension, unit == key)).where(*where)
                     .group_by(*keys).order_by(*keys[:2]))
        return read_frame(engine, statement)
    c = customers(window)
    sums = [sa.func.count().label("customers"),
            sa.func.sum(sa.case((c.c.net_value < 0, 1), else_=0)).label("negative_customers"),
            *[sa.func.sum(c.c[m]).label(m) for m in MONEY]]
    own = c.c.region_id if level == "micro_region" else c.c[f"{level}_id"]
    statement = (sa.select(*keys, *sums).select_from(c.join(dimension, own == key))
                 .group_by(*keys).order_by(*keys[:2]))
    return read_frame(engine, statement)


def load_value_customers(engine: sa.Engine, window: tuple[dt.date, dt.date], kind: str,
                         *, limit: int = 500) -> pd.DataFrame:
    """A customer list, worst first: ``negative_high_end`` (high-end, net value below zero)
    or ``duplicate_benefit`` (paid benefits from two or more departments in the window)."""
    _list_condition(s.sum_value_customer, kind)  # an unknown list is refused first
    if _summarised(engine, window):
        t, sub, region = s.sum_value_customer, s.dim_subscriber, s.dim_region
        number = sub.c.msisdn if reveal_numbers() else masked(sub.c.msisdn)
        statement = (sa.select(t.c.subscriber_id, number.label("number"), region.c.branch,
                               region.c.micro_region, t.c.segment, t.c.channel_id, t.c.group_id,
                               *[t.c[m] for m in MONEY], t.c.departments, t.c.campaigns)
                     .select_from(t.join(sub, sub.c.subscriber_id == t.c.subscriber_id)
                                  .join(region, region.c.region_id == t.c.region_id))
                     .where(*_of_window(t, window), _list_condition(t, kind),
                            *region_conditions(Slice()))
                     .order_by(t.c.net_value, t.c.subscriber_id).limit(int(limit)))
        return read_frame(engine, statement)
    c = customers(window)
    number = c.c.msisdn if reveal_numbers() else masked(c.c.msisdn)
    statement = (sa.select(c.c.subscriber_id, number.label("number"), c.c.branch,
                           c.c.micro_region, c.c.segment, c.c.channel_id, c.c.group_id,
                           *[c.c[m] for m in MONEY], c.c.departments, c.c.campaigns)
                 .where(_list_condition(c, kind)).order_by(c.c.net_value, c.c.subscriber_id)
                 .limit(int(limit)))
    return read_frame(engine, statement)


def load_high_end_summary(engine: sa.Engine, window: tuple[dt.date, dt.date]) -> dict[str, float]:
    """High-end customers, how many lose money and how many of those got duplicate benefits."""
    if _summarised(engine, window):
        cell = s.sum_value_cell
        statement = sa.select(
            _count(cell.c.customers, "high_end"),
            _count(cell.c.negative_customers, "unprofitable"),
            _count(cell.c.negative_duplicates, "dup"),
        ).where(*_of_window(cell, window), *_in_scope(cell), cell.c.segment == "high_end")
    else:
        c = customers(window)
        loss = c.c.net_value < 0
        statement = sa.select(
            sa.func.count().label("high_end"),
            sa.func.sum(sa.case((loss, 1), else_=0)).label("unprofitable"),
            sa.func.sum(sa.case((sa.and_(loss, c.c.departments >= 2), 1), else_=0)).label("dup"),
        ).where(c.c.segment == "high_end")
    row = read_frame(engine, statement).iloc[0]
    high, unprofitable = int(row["high_end"] or 0), int(row["unprofitable"] or 0)
    return {"high_end": high, "unprofitable": unprofitable,
            "unprofitable_share": unprofitable / high if high else 0.0,
            "duplicate_share_of_unprofitable":
                int(row["dup"] or 0) / unprofitable if unprofitable else 0.0}

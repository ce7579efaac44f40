"""Mart reads behind the product view 产品视图: monthly figures by the plan held, plan changes
counted by month, and the plan catalogue.

Rows lie inside the acting scope (the subscriber's home micro-region); the statements run on
DuckDB and PostgreSQL. The figures come from the summary ``sum_plan_month`` and from
``fact_plan_change`` grouped in SQL, never from a frame of subscribers.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access.db import ConcertoError, has_table, read_frame
from data_access.mart import schema as s
from data_access.mart.queries import Slice, region_conditions

_MEASURES = ("active_subs", "new_subs", "churned_subs", "revenue", "mou", "data_mb")


def has_plan_summary(engine: sa.Engine) -> bool:
    """Whether the mart has monthly figures by the plan held (a mart built before the product
    view has neither ``sum_plan_month`` nor ``fact_plan_change``)."""
    return has_table(engine, s.sum_plan_month.name) and has_table(engine, s.fact_plan_change.name)


def has_plan_changes(engine: sa.Engine) -> bool:
    """Whether the mart holds any plan change (the table is optional in an extract)."""
    if not has_table(engine, s.fact_plan_change.name):
        return False
    return not read_frame(engine, sa.select(s.fact_plan_change.c.month).limit(1)).empty


def _check(channel_type: str | None, start: dt.date, end: dt.date) -> None:
    if channel_type is not None and channel_type not in s.CHANNEL_TYPES:
        raise ConcertoError(f"channel type {channel_type!r} is not one of "
                            f"{', '.join(s.CHANNEL_TYPES)}")
    if start > end:
        raise ConcertoError(f"the first month {start:%Y-%m} is after the last {end:%Y-%m}; "
                            "choose a first month on or before the last")


def load_plan_catalogue(engine: sa.Engine) -> pd.DataFrame:
    """Every plan: ``plan_id``, ``plan_name``, ``plan_family``, ``monthly_fee``."""
    plan = s.dim_plan
    return read_frame(engine, sa.select(plan.c.plan_id, plan.c.plan_name, plan.c.plan_family,
                                        plan.c.monthly_fee).order_by(plan.c.plan_id))


def load_plan_months(engine: sa.Engine, where: Slice, channel_type: str | None,
                     start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per month and plan held, from ``start`` to ``end``, for the subscribers of ``where``
    (branch / micro-region, narrowed to the acting scope) activated through ``channel_type``
    (None: every type). Columns ``month``, ``plan_id`` and the sums ``active_subs``,
    ``new_subs``, ``churned_subs``, ``revenue``, ``mou``, ``data_mb``."""
    _check(channel_type, start, end)
    cube, region = s.sum_plan_month, s.dim_region
    conditions = [*region_conditions(where), cube.c.month >= start, cube.c.month <= end]
    if channel_type is not None:
        conditions.append(cube.c.channel_type == channel_type)
    statement = (
        sa.select(cube.c.month, cube.c.plan_id,
                  *[sa.func.sum(cube.c[m]).label(m) for m in _MEASURES])
        .select_from(cube.join(region, region.c.region_id == cube.c.region_id))
        .where(*conditions)
        .group_by(cube.c.month, cube.c.plan_id)
        .order_by(cube.c.plan_id, cube.c.month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    counts = ["active_subs", "new_subs", "churned_subs"]
    frame[counts] = frame[counts].astype("int64")  # PostgreSQL sums bigints as numeric
    frame[["revenue", "mou", "data_mb"]] = frame[["revenue", "mou", "data_mb"]].astype(float)
    return frame


def load_plan_changes(engine: sa.Engine, where: Slice, channel_type: str | None,
                      start: dt.date, end: dt.date) -> pd.DataFrame:
    """Plan changes from ``start`` to ``end`` of the subscribers of ``where`` (narrowed to the
    acting scope) activated through ``channel_type``, counted per month and pair of plans.
    Columns ``month``, ``from_plan_id``, ``to_plan_id``, ``changes``."""
    _check(channel_type, start, end)
    change, sub, region, chan = s.fact_plan_change, s.dim_subscriber, s.dim_region, s.dim_channel
    conditions = [*region_conditions(where), change.c.month >= start, change.c.month <= end]
    if channel_type is not None:
        conditions.append(chan.c.channel_type == channel_type)
    statement = (
        sa.select(change.c.month, change.c.from_plan_id, change.c.to_plan_id,
                  sa.func.count().label("changes"))
        .select_from(change.join(sub, sub.c.subscriber_id == change.c.subscriber_id)
                     .join(region, region.c.region_id == sub.c.region_id)
                     .join(chan, chan.c.channel_id == sub.c.channel_id))
        .where(*conditions)
        .group_by(change.c.month, change.c.from_plan_id, change.c.to_plan_id)
        .order_by(change.c.month, change.c.from_plan_id, change.c.to_plan_id))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    frame["changes"] = frame["changes"].astype("int64")
    return frame

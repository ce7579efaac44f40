"""Mart reads beside the network: daily KPIs per micro-region, their monthly means, and the
micro-regions' monthly subscribers, churn and activations (from the summary cube).

Rows lie inside the acting scope; the statements run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access.db import has_table, read_frame
from data_access.mart import schema as s
from data_access.mart.queries import Slice, region_conditions


def has_network_data(engine: sa.Engine) -> bool:
    """Whether the mart holds any network KPI (the table is optional in an extract, and a
    mart built before it existed has none)."""
    if not has_table(engine, s.fact_network_day.name):
        return False
    found = read_frame(engine, sa.select(s.fact_network_day.c.day).limit(1))
    return not found.empty


def _regions() -> sa.Select:
    region = s.dim_region
    return sa.select(region.c.region_id).where(*region_conditions(Slice()))


def load_network_months(engine: sa.Engine) -> pd.DataFrame:
    """Per micro-region and month: mean coverage, drop rate and throughput, complaints summed,
    days with figures. Columns ``region`` (micro-region name), ``branch``, ``month``,
    ``coverage_pct``, ``call_drop_rate``, ``throughput_mbps``, ``complaints``, ``days``."""
    net, region = s.fact_network_day, s.dim_region
    month = sa.func.date_trunc("month", net.c.day)
    statement = (
        sa.select(region.c.micro_region.label("region"), region.c.branch, month.label("month"),
                  sa.func.avg(net.c.coverage_pct).label("coverage_pct"),
                  sa.func.avg(net.c.call_drop_rate).label("call_drop_rate"),
                  sa.func.avg(net.c.throughput_mbps).label("throughput_mbps"),
                  sa.func.sum(net.c.complaints).label("complaints"),
                  sa.func.count().label("days"))
        .select_from(net.join(region, region.c.region_id == net.c.region_id))
        .where(net.c.region_id.in_(_regions()))
        .group_by(region.c.micro_region, region.c.branch, month)
        .order_by(region.c.micro_region, month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"]).dt.tz_localize(None)
    numbers = ["coverage_pct", "call_drop_rate", "throughput_mbps", "complaints", "days"]
    frame[numbers] = frame[numbers].astype(float)  # PostgreSQL's averages come as Decimal
    return frame


def load_network_days(engine: sa.Engine, micro_region: str, since: dt.date) -> pd.DataFrame:
    """One micro-region's daily KPIs from ``since`` (nothing outside the acting scope).
    Columns ``day``, ``coverage_pct``, ``call_drop_rate``, ``throughput_mbps``, ``complaints``."""
    net, region = s.fact_network_day, s.dim_region
    statement = (
        sa.select(net.c.day, net.c.coverage_pct, net.c.call_drop_rate, net.c.throughput_mbps,
                  net.c.complaints)
        .select_from(net.join(region, region.c.region_id == net.c.region_id))
        .where(region.c.micro_region == micro_region, net.c.day >= since,
               net.c.region_id.in_(_regions()))
        .order_by(net.c.day))
    frame = read_frame(engine, statement)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def load_region_months(engine: sa.Engine) -> pd.DataFrame:
    """Per micro-region and month: billed subscribers, lines whose churn_month is that month,
    new lines. Columns ``region``, ``branch``, ``month``, ``active_subs``, ``churned_subs``,
    ``new_subs``."""
    cube, region = s.sum_cube_month, s.dim_region
    statement = (
        sa.select(region.c.micro_region.label("region"), region.c.branch, cube.c.month,
                  sa.func.sum(cube.c.active_subs).label("active_subs"),
                  sa.func.sum(cube.c.churned_subs).label("churned_subs"),
                  sa.func.sum(cube.c.new_subs).label("new_subs"))
        .select_from(cube.join(region, region.c.region_id == cube.c.region_id))
        .where(*region_conditions(Slice()))
        .group_by(region.c.micro_region, region.c.branch, cube.c.month)
        .order_by(region.c.micro_region, cube.c.month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    counts = ["active_subs", "churned_subs", "new_subs"]
    frame[counts] = frame[counts].astype("int64")  # PostgreSQL sums bigints as numeric
    return frame

"""Mart reads behind the competitor monitor: operators' monthly figures and rivals' events."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema as s
from data_access.store import scope
from data_access.db import ConcertoError, read_frame
from data_access.mart.queries import Slice, region_conditions

#: Levels the figures can be summed to (``city``: the whole company's scope).
UNIT_LEVELS: dict[str, str] = {
    "micro_region": "micro-region 微区域",
    "branch": "branch 分公司",
    "city": "city 全市",
}
CITY_LABEL = "Zhuhai 珠海"


def load_competitor_months(engine: sa.Engine, level: str = "micro_region",
                           since: dt.date | None = None, slice_: Slice = Slice()
                           ) -> pd.DataFrame:
    """The three operators' monthly figures summed to ``level`` (in SQL), inside the scope.

    ARPU is weighted by subscribers. A regional manager gets their own branch or
    micro-region only, whatever ``slice_`` asks (``Forbidden`` for another one); their
    ``city`` level is their whole area, named after it.

    Returns
    -------
    DataFrame
        unit, month, operator, subscribers, new_adds, churned, net_adds, arpu.
    """
    if level not in UNIT_LEVELS:
        raise ConcertoError(f"level: choose one of {', '.join(UNIT_LEVELS)}, not {level!r}")
    comp, region = s.fact_competitor_month, s.dim_region
    who = scope.acting()
    whole = CITY_LABEL if who is None or who.scope_value is None else who.scope_value
    unit = sa.literal(whole) if level == "city" else region.c[level]
    subs = sa.func.sum(comp.c.subscribers)
    conditions = region_conditions(slice_)
    if since is not None:
        conditions.append(comp.c.month >= since)
    groups = [comp.c.month, comp.c.operator] + ([] if level == "city" else [region.c[level]])
    statement = (
        sa.select(unit.label("unit"), comp.c.month, comp.c.operator, subs.label("subscribers"),
                  sa.func.sum(comp.c.new_adds).label("new_adds"),
                  sa.func.sum(comp.c.churned).label("churned"),
                  sa.func.sum(comp.c.net_adds).label("net_adds"),
                  (sa.func.sum(comp.c.arpu * comp.c.subscribers)
                   / sa.func.nullif(subs, 0)).label("arpu"))
        .select_from(comp.join(region, comp.c.region_id == region.c.region_id))
        .where(*conditions).group_by(*groups).order_by(*groups)
    )
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    for column in ("subscribers", "new_adds", "churned", "net_adds"):
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    frame["arpu"] = pd.to_numeric(frame["arpu"]).astype(float).round(2)
    return frame[["unit", "month", "operator", "subscribers", "new_adds", "churned",
                  "net_adds", "arpu"]]


def load_competitor_events(engine: sa.Engine, since: dt.date | None = None,
                           slice_: Slice = Slice()) -> pd.DataFrame:
    """Rivals' tariff and promotion events, newest first: those in micro-regions inside the
    scope, and city-wide ones (``micro_region`` empty) that reach every region.

    Returns
    -------
    DataFrame
        event_id, day, operator, kind, branch, micro_region, description.
    """
    event, region = s.competitor_event, s.dim_region
    local = region_conditions(slice_)
    place = sa.and_(event.c.region_id.is_not(None), *local) if local else sa.true()
    conditions = [sa.or_(event.c.region_id.is_(None), place)]
    if since is not None:
        conditions.append(event.c.day >= since)
    statement = (
        sa.select(event.c.event_id, event.c.day, event.c.operator, event.c.kind,
                  region.c.branch, region.c.micro_region, event.c.description)
        .select_from(event.outerjoin(region, event.c.region_id == region.c.region_id))
        .where(*conditions).order_by(event.c.day.desc(), event.c.event_id.desc())
    )
    frame = read_frame(engine, statement)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame

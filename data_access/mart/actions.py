"""Daily series around work-order actions (效果跟踪): the units orders name, and one KPI per
unit and day over a window, inside the acting scope."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access.db import ConcertoError, read_frame
from data_access.mart import schema as s
from data_access.mart.queries import Slice, region_conditions

#: Unit levels an action is measured on → (daily table, id column, daily KPIs it holds).
LEVELS = {
    "micro_region": (s.fact_region_day, "region_id",
                     ("revenue", "new_activations", "churned", "active_subs")),
    "channel": (s.fact_channel_day, "channel_id", ("revenue", "new_activations")),
}


def load_effect_units(engine: sa.Engine) -> pd.DataFrame:
    """Every micro-region and channel in scope, as a work order names it.

    Returns columns ``unit_level``, ``unit_key`` (micro-region name, or channel id as text),
    ``unit_id``, ``unit_label``, ``region_id``, ``channel_id`` (missing for micro-regions),
    ``channel_type``, ``branch``, ``micro_region``.
    """
    region, channel = s.dim_region, s.dim_channel
    conditions = region_conditions(Slice())
    regions = read_frame(engine, sa.select(region.c.region_id, region.c.branch,
                                           region.c.micro_region).where(*conditions)
                         .order_by(region.c.region_id))
    channels = read_frame(engine, sa.select(channel.c.channel_id, channel.c.channel_name,
                                            channel.c.channel_type, channel.c.region_id,
                                            region.c.branch, region.c.micro_region)
                          .select_from(channel.join(region, channel.c.region_id == region.c.region_id))
                          .where(*conditions).order_by(channel.c.channel_id))
    out = pd.concat([
        regions.assign(unit_level="micro_region", unit_key=regions["micro_region"],
                       unit_id=regions["region_id"], unit_label=regions["micro_region"],
                       channel_id=pd.NA, channel_type=None),
        channels.assign(unit_level="channel", unit_key=channels["channel_id"].astype(str),
                        unit_id=channels["channel_id"], unit_label=channels["channel_name"]),
    ], ignore_index=True)
    columns = ["unit_level", "unit_key", "unit_id", "unit_label", "region_id", "channel_id",
               "channel_type", "branch", "micro_region"]
    out = out[columns]
    out["channel_id"] = out["channel_id"].astype("Int64")
    return out


def load_effect_panel(engine: sa.Engine, unit_level: str, kpi: str, start: dt.date,
                      end: dt.date) -> pd.DataFrame:
    """One KPI per unit and day from ``start`` to ``end`` inclusive, for every unit of the
    level in scope.

    Returns columns ``unit_id``, ``region_id`` (and ``channel_id`` for channels), ``day``,
    ``value``, oldest first.

    Raises
    ------
    ConcertoError
        For an unknown unit level or a KPI the level's daily table does not hold.
    """
    if unit_level not in LEVELS:
        raise ConcertoError(f"unit_level: actions are measured on {', '.join(LEVELS)}, "
                            f"not {unit_level!r}.")
    table, key, kpis = LEVELS[unit_level]
    if kpi not in kpis:
        raise ConcertoError(f"kpi: the daily {unit_level} facts hold {', '.join(kpis)}, "
                            f"not {kpi!r}.")
    region = s.dim_region
    if unit_level == "channel":
        joined = table.join(s.dim_channel, table.c.channel_id == s.dim_channel.c.channel_id
                            ).join(region, s.dim_channel.c.region_id == region.c.region_id)
        ids = [table.c.channel_id.label("unit_id"), region.c.region_id,
               table.c.channel_id.label("channel_id")]
    else:
        joined = table.join(region, table.c.region_id == region.c.region_id)
        ids = [table.c.region_id.label("unit_id"), region.c.region_id]
    statement = (sa.select(*ids, table.c.day, table.c[kpi].label("value"))
                 .select_from(joined)
                 .where(*region_conditions(Slice()), table.c.day >= start, table.c.day <= end)
                 .order_by(table.c.day, table.c[key]))
    frame = read_frame(engine, statement)
    frame["day"] = pd.to_datetime(frame["day"])
    frame["value"] = pd.to_numeric(frame["value"]).astype(float)
    return frame

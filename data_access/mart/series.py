"""Time series the alert scan scores: daily per micro-region and channel, monthly per rival."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema as s
from data_access.db import ConcertoError, read_frame
from data_access.mart.queries import Slice, region_conditions

#: Series the scan knows: name → (table, unit column, time column, value column).
SERIES = {
    "region_new_activations": (s.fact_region_day, "region_id", "day", "new_activations"),
    "region_revenue": (s.fact_region_day, "region_id", "day", "revenue"),
    "region_churned": (s.fact_region_day, "region_id", "day", "churned"),
    "channel_new_activations": (s.fact_channel_day, "channel_id", "day", "new_activations"),
    "rival_new_adds": (s.fact_competitor_month, "region_id", "month", "new_adds"),
}


def load_series_panel(engine: sa.Engine, name: str, since: dt.date | None = None) -> pd.DataFrame:
    """One series per unit in long form: unit, unit_label, time, value (oldest first).

    ``rival_new_adds`` sums both rivals' monthly new adds per micro-region. Only units
    inside the acting scope are returned.
    """
    if name not in SERIES:
        raise ConcertoError(f"Unknown series {name!r}; choose one of {', '.join(SERIES)}")
    table, unit, time, value = SERIES[name]
    if unit == "channel_id":
        label = s.dim_channel.c.channel_name
        joined = table.join(s.dim_channel, table.c.channel_id == s.dim_channel.c.channel_id
                            ).join(s.dim_region, s.dim_channel.c.region_id == s.dim_region.c.region_id)
    else:
        label = s.dim_region.c.micro_region
        joined = table.join(s.dim_region, table.c.region_id == s.dim_region.c.region_id)
    conditions = region_conditions(Slice())  # the acting scope's units only
    if since:
        conditions.append(table.c[time] >= since)
    if name == "rival_new_adds":
        conditions.append(table.c.operator != "us")
    statement = (sa.select(table.c[unit].label("unit"), label.label("unit_label"),
                           table.c[time].label("time"), sa.func.sum(table.c[value]).label("value"))
                 .select_from(joined).where(*conditions)
                 .group_by(table.c[unit], label, table.c[time]).order_by(table.c[unit], table.c[time]))
    frame = read_frame(engine, statement)
    frame["time"] = pd.to_datetime(frame["time"])
    frame["value"] = frame["value"].astype(float)
    return frame

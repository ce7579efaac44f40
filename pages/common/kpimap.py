"""The micro-region map coloured by one KPI's status; a click focuses the page on a region."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.kpis.drill import member_kpis, months_needed
from analytics.formatting import format_value
from analytics.kpis.registry import REGISTRY
from pages.common import cache
from pages.common import maps
from pages.sections import drilldown


def render_kpi_map(kpi: str, month: pd.Timestamp, selected: str | None, prefix: str,
                   height: int = 430) -> None:
    """Draw the map; clicking a micro-region sets the global filters to it and restarts the
    page's drill path (prefix) from the top."""
    months = [m.date() for m in months_needed(month)]
    frame = (cache.market_breakdown("micro_region", months) if kpi == "market_share"
             else cache.breakdown("micro_region", months))
    regions = cache.region_table().merge(member_kpis(frame, ["micro_region"], kpi, month),
                                         on="micro_region", how="left")
    regions["status"] = regions["status"].fillna("grey")
    regions["shown"] = [format_value(v, REGISTRY[kpi].unit) for v in regions["value"]]
    regions["selected"] = regions["micro_region"] == selected

    def focus() -> None:
        clicked = maps.selected_region(st.session_state.get(f"{prefix}_map"))
        if clicked:
            row = regions[regions["micro_region"] == clicked].iloc[0]
            st.session_state["global_branch"] = row["branch"]
            st.session_state["global_micro_region"] = clicked
            drilldown.set_path(prefix, [])

    deck = maps.region_map(regions, tooltip_html="<b>{micro_region}</b> {micro_region_zh}<br/>"
                           "{branch}<br/>" + REGISTRY[kpi].label + ": {shown}")
    st.pydeck_chart(deck, on_select=focus, selection_mode="single-object", key=f"{prefix}_map",
                    height=height)
    st.caption("Colours: each micro-region's status for the selected KPI (hover for the "
               "value). Click one to focus the page on it.")

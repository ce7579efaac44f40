"""The micro-region map coloured by one KPI's status; a click focuses the page on a region."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.formatting import format_value
from analytics.kpis.drill import member_kpis, months_needed
from analytics.kpis.registry import REGISTRY
from data_access.mart.queries import Slice
from data_access.store import scope
from pages.common import cache
from pages.common import filters, fragments
from pages.common import maps
from pages.sections import drilldown


def _drilled(prefix: str, selected: str | None) -> tuple[str | None, str | None]:
    """The micro-region, else the branch, the page's drill path has reached (or the filters')."""
    path = st.session_state.get(f"{prefix}_path", [])
    chosen = filters.current()
    micro = next((str(s.value) for s in reversed(path) if s.level == "micro_region"), selected)
    branch = next((str(s.value) for s in reversed(path) if s.level == "branch"),
                  chosen.branch if chosen is not None else None)
    return micro, branch


def render_kpi_map(kpi: str, month: pd.Timestamp, selected: str | None, prefix: str,
                   height: int = 430) -> None:
    """Draw the map; clicking a micro-region sets the global filters to it and restarts the
    page's drill path (prefix) from the top.

    The unit the drill path (or ``selected``) has reached is outlined. A scoped viewer sees
    their own micro-regions coloured among the city's other cells, which are greyed, unnamed
    and without figures.
    """
    months = [m.date() for m in months_needed(month)]
    frame = (cache.market_breakdown("micro_region", months) if kpi == "market_share"
             else cache.breakdown("micro_region", months))
    regions = cache.region_table().merge(member_kpis(frame, ["micro_region"], kpi, month),
                                         on="micro_region", how="left")
    regions["status"] = regions["status"].fillna("grey")
    regions["shown"] = [format_value(v, REGISTRY[kpi].unit) for v in regions["value"]]
    micro, branch = _drilled(prefix, selected)
    regions["selected"] = ((regions["micro_region"] == micro) if micro is not None
                           else (regions["branch"] == branch))

    def focus() -> None:
        clicked = maps.selected_region(st.session_state.get(f"{prefix}_map"))
        if clicked:
            row = regions[regions["micro_region"] == clicked].iloc[0]
            st.session_state["global_branch"] = row["branch"]
            st.session_state["global_micro_region"] = clicked
            drilldown.set_path(prefix, [])
            st.rerun()  # new filters: the whole page, though the map may sit in a fragment

    maps.draw_region_map(regions, height=height, on_select=focus, key=f"{prefix}_map",
                         tooltip=[("micro_region", "Micro-region"), ("micro_region_zh", "微区域"),
                                  ("branch", "Branch"), ("shown", REGISTRY[kpi].label)])
    drilled = drilldown.unit_label(Slice(branch=branch, micro_region=micro), "")
    where = f" Outlined: {drilled}." if (micro or branch) and drilled else ""
    who = scope.acting()
    if who is not None and who.scope_level is not None:
        own = drilldown.unit_label(Slice(), "")
        st.caption(f"Your area 您的范围: {own}, coloured by each micro-region's status for the "
                   f"selected KPI (hover for the value); the rest of the city is greyed.{where}")
    else:
        st.caption("Colours: each micro-region's status for the selected KPI (hover for the "
                   f"value). Click one to focus the page on it.{where}")


def section_key(prefix: str) -> str:
    """The key of a page's map fragment (the drill reruns it when its area changes)."""
    return f"{prefix}_map_section"


_SECTIONS: dict[str, object] = {}


def map_section(kpi: str, month: pd.Timestamp, selected: str | None, prefix: str,
                height: int = 430) -> None:
    """:func:`render_kpi_map` as a fragment: the drill reruns it (``section_key``) when the
    branch or micro-region its path reached changes, so the outline follows without a
    whole-page rerun; a click on the map still reruns the whole page (new filters)."""
    if prefix not in _SECTIONS:
        _SECTIONS[prefix] = fragments.section(key=section_key(prefix))(render_kpi_map)
    _SECTIONS[prefix](kpi, month, selected, prefix, height=height)

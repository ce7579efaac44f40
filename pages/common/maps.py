"""Offline pydeck maps: micro-region cells coloured by status, no tile server needed."""

from __future__ import annotations

import json
import math
from functools import cache

import pandas as pd
import pydeck as pdk

from analytics.geo import voronoi_cells
from data_access.db import PROJECT_ROOT
from data_access.mart.geography import load_regions

STATUS_RGB = {
    "green": [46, 160, 67],
    "amber": [230, 160, 20],
    "red": [214, 57, 57],
    "grey": [160, 160, 160],
}
_SEA = [225, 236, 244]
#: Cells outside the viewer's scope: an outline on a pale fill, no name, no figure.
_OUTSIDE_FILL = [226, 226, 226, 200]
_OUTSIDE_LINE = [190, 190, 190, 255]


@cache
def _outline() -> tuple[tuple[float, float], ...]:
    data = json.loads((PROJECT_ROOT / "assets" / "city_outline.json").read_text(encoding="utf-8"))
    return tuple(tuple(p) for p in data["outline"])

#: Streamlit's chart fetches a public basemap style when ``map_style`` is None; its "no style"
#: value draws only our own layers, so the map makes no request outside the app.
NO_BASEMAP = "__MAP_STYLE__"


def _cells(sites: pd.DataFrame) -> list[list[tuple[float, float]]]:
    # Work in a locally isotropic plane: a degree of longitude is shorter at 22°N.
    scale = math.cos(math.radians(float(sites["lat"].mean())))
    points = [(lon * scale, lat) for lon, lat in zip(sites["lon"], sites["lat"], strict=True)]
    outline = [(lon * scale, lat) for lon, lat in _outline()]
    return [[(x / scale, y) for x, y in cell] for cell in voronoi_cells(points, outline)]


def region_map(regions: pd.DataFrame, *, tooltip_html: str, height: int = 460) -> pdk.Deck:
    """A map of micro-regions.

    ``regions`` needs micro_region, lat, lon and status (green/amber/red/grey); any other
    columns can be named in ``tooltip_html`` as ``{column}``. Micro-regions with column
    ``selected`` true are outlined in black. The city's other micro-regions (those a scoped
    viewer may not see) are drawn as pale outlines with no name and no figure, and cannot be
    hovered: the cells keep their real shapes, so a manager's own area sits where it lies.
    """
    frame = regions.copy()
    others = load_regions()
    others = others.loc[~others["micro_region"].isin(frame["micro_region"]), ["lat", "lon"]]
    cells = _cells(pd.concat([frame[["lat", "lon"]], others], ignore_index=True))
    frame["polygon"] = [[list(p) for p in cell] for cell in cells[:len(frame)]]
    outside = [{"polygon": [list(p) for p in cell]} for cell in cells[len(frame):]]
    frame["fill"] = [STATUS_RGB.get(s, STATUS_RGB["grey"]) + [170] for s in frame["status"]]
    selected = frame.get("selected", pd.Series(False, index=frame.index)).astype(bool)
    frame["line"] = [[20, 20, 20, 255] if s else [255, 255, 255, 255] for s in selected]
    frame["width"] = [4 if s else 1.5 for s in selected]
    # Outlined cells drawn last, so their black border is not covered by a neighbour's white.
    frame = frame.assign(_on_top=selected.values).sort_values("_on_top", kind="stable")
    sea = pdk.Layer("PolygonLayer", [{"polygon": [[112.9, 21.85], [113.8, 21.85], [113.8, 22.55],
                                                  [112.9, 22.55]]}],
                    get_polygon="polygon", get_fill_color=_SEA, stroked=False, pickable=False)
    rest = pdk.Layer("PolygonLayer", outside, id="outside_scope", get_polygon="polygon",
                     get_fill_color=_OUTSIDE_FILL, get_line_color=_OUTSIDE_LINE,
                     get_line_width=1, line_width_units='"pixels"', stroked=True,
                     pickable=False)
    cells_layer = pdk.Layer(
        "PolygonLayer", frame.drop(columns=["selected", "_on_top"], errors="ignore"),
        id="micro_regions", get_polygon="polygon", get_fill_color="fill",
        get_line_color="line", get_line_width="width", line_width_units='"pixels"',
        stroked=True, pickable=True, auto_highlight=True,
    )
    labels = pdk.Layer("TextLayer", frame[["micro_region", "lon", "lat"]],
                       get_position=["lon", "lat"], get_text="micro_region", get_size=13,
                       get_color=[25, 25, 25], get_text_anchor='"middle"',
                       get_alignment_baseline='"center"')
    view = pdk.ViewState(latitude=22.20, longitude=113.37, zoom=9.1, pitch=0)
    return pdk.Deck(layers=[sea, rest, cells_layer, labels], initial_view_state=view,
                    map_provider=None, map_style=NO_BASEMAP, tooltip={"html": tooltip_html},
                    height=height)


def selected_region(event: object) -> str | None:
    """The micro-region a user clicked on the map, from ``st.pydeck_chart``'s selection."""
    try:
        objects = event.selection["objects"].get("micro_regions", [])  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError):
        return None
    return objects[0].get("micro_region") if objects else None

"""Offline maps of micro-regions coloured by status, drawn by Vega-Lite (Altair) as SVG: no
tile server and no WebGL.

The maps used to be pydeck (deck.gl) charts. Drawn without a GPU (a virtual desktop, or the
load test's headless browsers) deck.gl's WebGL runs in software: the sandbox's landing took
2.4 s of the browser's main thread, 1.1 s without the map. Sixty-odd polygons need no GPU.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

import altair as alt
import pandas as pd
import streamlit as st

from analytics.geo import voronoi_cells
from data_access.db import PROJECT_ROOT
from data_access.mart.geography import load_regions

STATUS_RGB = {
    "green": [46, 160, 67],
    "amber": [230, 160, 20],
    "red": [214, 57, 57],
    "grey": [160, 160, 160],
}
_SEA = "#e1ecf4"
#: Cells outside the viewer's scope: an outline on a pale fill, no name, no figure.
_OUTSIDE_FILL = "#e2e2e2"
_OUTSIDE_LINE = "#bebebe"
#: The name of the map's click selection (``st.altair_chart``'s ``selection_mode``).
SELECTION = "cell"
#: Sea around the city's outline in the map's frame, in degrees.
_MARGIN = 0.03


@cache
def _outline() -> tuple[tuple[float, float], ...]:
    data = json.loads((PROJECT_ROOT / "assets" / "city_outline.json").read_text(encoding="utf-8"))
    return tuple(tuple(p) for p in data["outline"])


def _cells(sites: pd.DataFrame) -> list[list[tuple[float, float]]]:
    # Work in a locally isotropic plane: a degree of longitude is shorter at 22°N.
    scale = math.cos(math.radians(float(sites["lat"].mean())))
    points = [(lon * scale, lat) for lon, lat in zip(sites["lon"], sites["lat"], strict=True)]
    outline = [(lon * scale, lat) for lon, lat in _outline()]
    return [[(x / scale, y) for x, y in cell] for cell in voronoi_cells(points, outline)]


@cache
def _frame() -> tuple[tuple[float, float], tuple[float, float]]:
    """The map's frame (south-west and north-east corners): the city and a little sea."""
    lons, lats = zip(*_outline(), strict=True)
    return ((min(lons) - _MARGIN, min(lats) - _MARGIN), (max(lons) + _MARGIN,
                                                         max(lats) + _MARGIN))


def _ring(cell: Sequence[tuple[float, float]]) -> list[list[float]]:
    """A closed ring wound clockwise (east = x, north = y), as the map's spherical geometry
    reads an outer ring: wound the other way it would cover the rest of the globe."""
    ring = [[round(float(x), 6), round(float(y), 6)] for x, y in cell]
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    twice_area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))
    return ring[::-1] if twice_area > 0 else ring  # positive: anticlockwise


def _shape(cell: Sequence[tuple[float, float]], **fields: object) -> dict:
    """A GeoJSON feature whose own fields (beside its geometry) the chart encodes."""
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring(cell)]},
            **fields}


def _hex(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def region_map(regions: pd.DataFrame, *, tooltip: Sequence[tuple[str, str]],
               height: int = 460) -> alt.LayerChart:
    """A map of micro-regions for ``st.altair_chart``.

    ``regions`` needs micro_region, lat, lon and status (green/amber/red/grey); ``tooltip``
    names the columns shown on hover, as (column, title) pairs. Micro-regions with column
    ``selected`` true are outlined in black. A click selects a cell (selection
    :data:`SELECTION`, read by :func:`selected_region`). The city's other micro-regions
    (those a scoped viewer may not see) are drawn as pale outlines with no name and no
    figure, and cannot be hovered: the cells keep their real shapes, so a manager's own
    area sits where it lies.
    """
    frame = regions.reset_index(drop=True)
    others = load_regions()
    others = others.loc[~others["micro_region"].isin(frame["micro_region"]), ["lat", "lon"]]
    cells = _cells(pd.concat([frame[["lat", "lon"]], others], ignore_index=True))
    selected = frame.get("selected", pd.Series(False, index=frame.index)).fillna(False)
    shown = ["micro_region", *dict.fromkeys(c for c, _ in tooltip if c != "micro_region")]
    own = [_shape(cell, **{c: _plain(frame.at[i, c]) for c in shown},
                  status=str(frame.at[i, "status"]), selected=bool(selected.iat[i]))
           for i, cell in enumerate(cells[:len(frame)])]
    # Outlined cells drawn last, so their black border is not covered by a neighbour's white.
    own.sort(key=lambda shape: shape["selected"])
    (west, south), (east, north) = _frame()
    sea = alt.Chart(alt.Data(values=[_shape([(west, south), (east, south), (east, north),
                                             (west, north)])])).mark_geoshape(
        fill=_SEA, stroke=None)
    layers = [sea]
    rest = [_shape(cell) for cell in cells[len(frame):]]
    if rest:
        layers.append(alt.Chart(alt.Data(values=rest)).mark_geoshape(
            fill=_OUTSIDE_FILL, stroke=_OUTSIDE_LINE, strokeWidth=1))
    click = alt.selection_point(name=SELECTION, fields=["micro_region"], on="click",
                                clear="dblclick", empty=False)
    statuses = list(STATUS_RGB)
    layers.append(alt.Chart(alt.Data(values=own)).mark_geoshape(fillOpacity=0.67).encode(
        fill=alt.Fill("status:N", legend=None, scale=alt.Scale(
            domain=statuses, range=[_hex(STATUS_RGB[s]) for s in statuses])),
        stroke=alt.condition("datum.selected", alt.value("#141414"), alt.value("#ffffff")),
        strokeWidth=alt.condition("datum.selected", alt.value(4), alt.value(1.5)),
        tooltip=[alt.Tooltip(f"{column}:N", title=title) for column, title in tooltip],
    ).add_params(click))
    labels = frame[["micro_region", "lon", "lat"]]
    layers.append(alt.Chart(labels).mark_text(fontSize=11, color="#191919").encode(
        longitude="lon:Q", latitude="lat:Q", text="micro_region:N"))
    return alt.layer(*layers).project(type="mercator").properties(height=height).configure_view(
        stroke=None)


def draw_region_map(regions: pd.DataFrame, *, tooltip: Sequence[tuple[str, str]],
                    height: int = 460, key: str | None = None,
                    on_select: Callable[[], None] | str = "ignore") -> object:
    """Draw :func:`region_map` (with ``st.vega_lite_chart``; ``on_select`` and ``key`` as
    ``st.altair_chart`` takes them, the click selection being :data:`SELECTION`).

    The chart's Vega-Lite spec is kept for the last maps drawn, by what they show: building
    the chart with Altair (whose every encoding is checked against the Vega-Lite schema)
    and converting it took 78 ms of the server's CPU, on every drill click that moves the
    outline (the map's section reruns with the drill). Drawn again it costs the copy.
    """
    columns = [c for c in dict.fromkeys(["micro_region", "lat", "lon", "status", "selected",
                                         *(c for c, _ in tooltip)]) if c in regions.columns]
    rows = tuple(tuple(_plain(v) for v in row)
                 for row in regions[columns].itertuples(index=False, name=None))
    spec = copy.deepcopy(_spec(tuple(columns), rows, tuple(tuple(t) for t in tooltip), height))
    return st.vega_lite_chart(spec, on_select=on_select,
                              selection_mode=None if on_select == "ignore" else SELECTION,
                              key=key, width="stretch")


@lru_cache(maxsize=64)
def _spec(columns: tuple[str, ...], rows: tuple[tuple, ...],
          tooltip: tuple[tuple[str, str], ...], height: int) -> dict:
    """:func:`region_map`'s spec for these rows (a bounded cache shared by every session: the
    key is everything the map shows, so no one gets a map drawn from rows they may not see)."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    spec = region_map(frame, tooltip=list(tooltip), height=height).to_dict()
    view = spec.get("config", {}).get("view", {})
    for default in ("continuousWidth", "continuousHeight"):  # Altair's theme; Streamlit's
        view.pop(default, None)  # own chart path drops them too
    return spec


def _plain(value: object) -> object:
    """A value as JSON holds it (numpy numbers to Python's; missing to None)."""
    if value is None or pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def selected_region(event: object) -> str | None:
    """The micro-region a user clicked on the map, from ``st.altair_chart``'s selection."""
    try:
        points = event.selection[SELECTION]  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError):
        try:
            points = event["selection"][SELECTION]  # type: ignore[index]
        except (KeyError, TypeError):
            return None
    if isinstance(points, dict):  # {field: [values]} in some versions
        values = points.get("micro_region") or []
        return str(values[0]) if values else None
    first = points[0] if points else None
    return str(first["micro_region"]) if isinstance(first, dict) and "micro_region" in first \
        else None

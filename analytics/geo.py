"""Map geometry without a tile server: micro-region cells as clipped Voronoi polygons."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def _clip(polygon: list[Point], a: Point, b: Point) -> list[Point]:
    """Keep the part of ``polygon`` closer to site ``a`` than to site ``b`` (one half-plane)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    nx, ny = b[0] - a[0], b[1] - a[1]

    def side(p: Point) -> float:  # negative: on a's side of the bisector
        return (p[0] - mx) * nx + (p[1] - my) * ny

    out: list[Point] = []
    for i, current in enumerate(polygon):
        prev = polygon[i - 1]
        s_cur, s_prev = side(current), side(prev)
        if (s_cur <= 0) != (s_prev <= 0):
            t = s_prev / (s_prev - s_cur)
            out.append((prev[0] + t * (current[0] - prev[0]), prev[1] + t * (current[1] - prev[1])))
        if s_cur <= 0:
            out.append(current)
    return out


def voronoi_cells(sites: Sequence[Point], outline: Sequence[Point]) -> list[list[Point]]:
    """One polygon per site: the part of ``outline`` nearer that site than any other.

    Parameters
    ----------
    sites : sequence of (x, y)
        Cell centres, e.g. micro-region (lon, lat).
    outline : sequence of (x, y)
        The area to divide, e.g. the city's outline.

    Examples
    --------
    >>> square = [(0, 0), (2, 0), (2, 2), (0, 2)]
    >>> left, right = voronoi_cells([(0.5, 1), (1.5, 1)], square)
    >>> max(x for x, _ in left), min(x for x, _ in right)
    (1.0, 1.0)
    """
    cells = []
    for i, site in enumerate(sites):
        cell = [tuple(p) for p in outline]
        for j, other in enumerate(sites):
            if i != j and cell:
                cell = _clip(cell, tuple(site), tuple(other))
        cells.append(cell)
    return cells

"""Turning scored series into alerts worth reading: surprise and business size, ranked by
expected impact, grouped into incidents (pure functions: DataFrames and dicts in and out).

An alert needs both:

- **surprise**: the point's anomaly score reaches the threshold (a tail probability, see
  :mod:`analytics.anomaly.scores`), and
- **size**: ``|actual − expected|`` reaches a minimum effect in the KPI's own unit (yuan,
  subscribers, share points), so that "net adds 1 against 0 expected" is not an alert
  however improbable it is (:data:`DEFAULT_MIN_EFFECT`, or the caller's).

Alerts rank by **expected impact** = ``|actual − expected|`` × surprise (−log10 p): a large
miss that is certainly real comes before a large miss that may be noise and before a small
certain one. :func:`group_incidents` then folds alerts that share a time window and either
a unit (several KPIs of one unit) or a parent/child link of the unit hierarchy into one
incident, led by its highest-impact alert, with the rest beneath it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analytics.anomaly.scores import DEFAULT_THRESHOLD, anomaly_scores_frame, surprise_from_score

#: Smallest |actual − expected| worth an alert, in each metric's own unit (per point: per day
#: for daily series, per 7 days for the ``_7d`` totals, per month for rival series).
DEFAULT_MIN_EFFECT: dict[str, float] = {
    "new_activations": 3.0,        # subscribers per day
    "new_activations_7d": 10.0,    # subscribers per 7 days
    "churned": 3.0,                # subscribers per day
    "revenue": 1000.0,             # yuan per day
    "rival_new_adds": 5.0,         # subscribers per month
    "share": 0.5,                  # share points
}


def min_effect_for(metric: str, min_effect: float | Mapping[str, float] | None = None) -> float:
    """The minimum effect for ``metric``: a number applies to every metric; a mapping (or
    ``None`` for :data:`DEFAULT_MIN_EFFECT`) is looked up by metric, then by the metric
    without a ``_7d`` suffix, else 0 (surprise alone decides)."""
    if min_effect is not None and not isinstance(min_effect, Mapping):
        value = float(min_effect)
    else:
        table = DEFAULT_MIN_EFFECT if min_effect is None else min_effect
        value = float(table.get(metric, table.get(metric.removesuffix("_7d"), 0.0)))
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"the minimum effect of {metric} must be a number ≥ 0, not {value!r}")
    return value


def expected_impact(actual: Any, expected: Any, score: Any) -> np.ndarray:
    """``|actual − expected|`` (in the KPI's unit) × surprise (−log10 p of the score); 0
    where the expected value is unknown."""
    gap = np.abs(np.asarray(actual, dtype=float) - np.asarray(expected, dtype=float))
    surprise = surprise_from_score(np.asarray(score, dtype=float))
    with np.errstate(invalid="ignore"):
        impact = gap * surprise
    return np.where(np.isfinite(impact), impact, 0.0)


def scan_panel(panel: pd.DataFrame, metric: str, unit_level: str, *,
               threshold: float = DEFAULT_THRESHOLD, recent: int = 1,
               min_effect: float | Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """Score every unit's series and return an alert row for each of its last ``recent`` points
    that scores at or above ``threshold`` and misses its expected value by at least the
    metric's minimum effect; rows ordered by expected impact, largest first.

    All units are scored at once (:func:`analytics.anomaly.scores.anomaly_scores_frame` on the
    time × unit table; a unit without a row at a time has a missing value there).

    Parameters
    ----------
    panel : DataFrame
        Long form: unit, unit_label, time, value (see ``data_access.mart.series``).
    metric, unit_level : str
        What the alerts name (e.g. ``"new_activations"``, ``"channel"``).
    threshold : float
        Score in [0, 1] from which a point raises an alert.
    recent : int
        How many of each unit's latest points to look at (a daily job looks at 1).
    min_effect : float, mapping or None
        Smallest |actual − expected| in the metric's unit (see :func:`min_effect_for`);
        ``None`` uses :data:`DEFAULT_MIN_EFFECT`.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")
    floor = min_effect_for(metric, min_effect)
    if panel.empty:
        return []
    labels = panel.drop_duplicates("unit", keep="last").set_index("unit")["unit_label"]
    wide = (panel.groupby(["time", "unit"], sort=True)["value"].sum(min_count=1)
            .unstack("unit"))  # a missing value stays missing; repeated rows add up
    wide.index = pd.DatetimeIndex(wide.index)
    scores, expected = anomaly_scores_frame(wide, expected=True)
    seen = wide.notna().to_numpy()
    # each unit's last ``recent`` points with a value
    rank = np.cumsum(seen[::-1], axis=0)[::-1]
    latest = seen & (rank <= recent)
    s, e, v = scores.to_numpy(), expected.to_numpy(), wide.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        hit = latest & (s >= threshold) & (np.abs(v - e) >= floor)
    rows: list[dict[str, Any]] = []
    for i, j in zip(*np.nonzero(hit)):
        when, unit = wide.index[i], wide.columns[j]
        actual, exp, score = float(v[i, j]), float(e[i, j]), float(s[i, j])
        label = labels.get(unit, unit)
        direction = "above" if math.isfinite(exp) and actual > exp else "below"
        stamp = when.strftime("%Y-%m" if unit_level == "rival_region" else "%Y-%m-%d")
        rows.append({
            "source": "anomaly", "metric": metric, "unit_level": unit_level,
            "unit_key": str(unit), "unit_label": str(label)[:120], "observed_at": stamp,
            "score": round(score, 4), "actual": actual,
            "expected": exp if math.isfinite(exp) else None,
            "message": (f"{metric} {actual:,.0f} on {stamp} at {label}, {direction} the "
                        f"expected {exp:,.0f} (score {score:.2f})" if math.isfinite(exp)
                        else f"{metric} {actual:,.0f} on {stamp} at {label} (score {score:.2f})"),
        })
    impact = expected_impact([r["actual"] for r in rows],
                             [np.nan if r["expected"] is None else r["expected"] for r in rows],
                             [r["score"] for r in rows])
    order = np.argsort(-impact, kind="stable")
    return [rows[k] for k in order]


def rank_alerts(alerts: pd.DataFrame | list[dict[str, Any]], *,
                min_effect: float | Mapping[str, float] | None = None,
                threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Alerts worth reading, largest expected impact first.

    Keeps the rows whose ``score`` reaches ``threshold`` and whose ``|actual − expected|``
    reaches the minimum effect of their ``metric`` (:func:`min_effect_for`), and adds
    ``effect`` (actual − expected, in the KPI's unit), ``surprise`` (−log10 p) and
    ``impact`` (|effect| × surprise).

    Parameters
    ----------
    alerts : DataFrame or list of dicts
        Needs ``metric``, ``actual``, ``expected`` and ``score`` (the rows of
        :func:`scan_panel` or the stored alerts).

    Examples
    --------
    >>> rows = [{"metric": "new_activations", "actual": 1.0, "expected": 0.0, "score": 0.99},
    ...         {"metric": "new_activations", "actual": 2.0, "expected": 18.0, "score": 0.93},
    ...         {"metric": "revenue", "actual": 9e4, "expected": 1.2e5, "score": 0.95}]
    >>> ranked = rank_alerts(rows)       # the 1-against-0 row is too small to read
    >>> ranked["metric"].tolist(), ranked["effect"].tolist(), ranked["impact"].round().tolist()
    (['revenue', 'new_activations'], [-30000.0, -16.0], [88554.0, 42.0])
    """
    frame = pd.DataFrame(alerts).copy()
    missing = [c for c in ("metric", "actual", "expected", "score") if c not in frame.columns]
    if missing:
        raise ValueError(f"alerts lack columns: {', '.join(missing)}")
    if frame.empty:
        return frame.assign(effect=pd.Series(dtype=float), surprise=pd.Series(dtype=float),
                            impact=pd.Series(dtype=float))
    actual = pd.to_numeric(frame["actual"], errors="coerce").to_numpy(dtype=float)
    expected = pd.to_numeric(frame["expected"], errors="coerce").to_numpy(dtype=float)
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    floors = np.array([min_effect_for(str(m), min_effect) for m in frame["metric"]])
    effect = actual - expected
    with np.errstate(invalid="ignore"):
        keep = (score >= threshold) & (np.abs(effect) >= floors)
    frame = frame.assign(effect=effect, surprise=surprise_from_score(score),
                         impact=expected_impact(actual, expected, score))[keep]
    return frame.sort_values("impact", ascending=False, kind="stable").reset_index(drop=True)


def group_incidents(alerts: pd.DataFrame, parents: Mapping[str, str | None] | None = None, *,
                    window: str | pd.Timedelta = "1D", unit: str = "unit",
                    time: str = "observed_at") -> pd.DataFrame:
    """Fold alerts into incidents: one lead alert, the rest beneath it.

    Two alerts belong to one incident when their times are at most ``window`` apart and they
    are on the same unit (several KPIs of one unit) or on a unit and its parent or child in
    ``parents`` (child → parent); incidents are the connected groups of such links.

    Parameters
    ----------
    alerts : DataFrame
        One row per alert with ``time`` (anything ``pd.to_datetime`` reads: "2026-08-28",
        "2026-08"), ``unit`` and, for ranking, ``impact`` (see :func:`rank_alerts`; computed
        from ``actual``, ``expected`` and ``score`` when absent). Without a ``unit`` column,
        ``unit_level:unit_key`` is used (e.g. ``"channel:1021"``), and ``parents`` should
        name units the same way.
    parents : mapping, optional
        The unit hierarchy, child → parent (e.g. channel → micro-region → district).
    window : str or Timedelta
        Largest gap between linked alerts.

    Returns
    -------
    DataFrame
        The alerts with ``incident`` (1 = the incident with the largest total impact),
        ``lead`` (True for the highest-impact alert of each incident), ``incident_size``
        and ``incident_impact`` (sum over its alerts); ordered by incident, lead first, then
        by impact.

    Examples
    --------
    >>> alerts = pd.DataFrame({
    ...     "unit": ["region:north", "channel:7", "channel:7", "channel:9", "region:south"],
    ...     "metric": ["revenue", "new_activations", "revenue", "new_activations", "revenue"],
    ...     "observed_at": ["2026-08-28"] * 4 + ["2026-08-20"],
    ...     "impact": [50.0, 80.0, 30.0, 5.0, 60.0]})
    >>> hierarchy = {"channel:7": "region:north", "channel:9": "region:south"}
    >>> out = group_incidents(alerts, hierarchy)
    >>> for row in out[["incident", "lead", "unit", "metric"]].itertuples(index=False):
    ...     print(*row)
    1 True channel:7 new_activations
    1 False region:north revenue
    1 False channel:7 revenue
    2 True region:south revenue
    3 True channel:9 new_activations
    """
    frame = pd.DataFrame(alerts).reset_index(drop=True).copy()
    if frame.empty:
        return frame.assign(incident=pd.Series(dtype=int), lead=pd.Series(dtype=bool),
                            incident_size=pd.Series(dtype=int),
                            incident_impact=pd.Series(dtype=float))
    if unit not in frame.columns:
        if not {"unit_level", "unit_key"} <= set(frame.columns):
            raise ValueError(f"alerts need a {unit!r} column or unit_level and unit_key")
        frame[unit] = frame["unit_level"].astype(str) + ":" + frame["unit_key"].astype(str)
    if time not in frame.columns:
        raise ValueError(f"alerts need a {time!r} column")
    if "impact" not in frame.columns:
        frame["impact"] = expected_impact(frame.get("actual"), frame.get("expected"),
                                          frame.get("score"))
    gap = pd.Timedelta(window)
    stamps = frame[time].astype(str).str.replace(  # a quarter ("2026-Q4") starts its first month
        r"^(\d{4})-Q([1-4])$", lambda m: f"{m[1]}-{3 * int(m[2]) - 2:02d}", regex=True)
    when = pd.to_datetime(stamps, format="mixed").to_numpy()
    units = frame[unit].astype(str).to_numpy()
    parents = {str(k): (None if v is None else str(v)) for k, v in (parents or {}).items()}
    n = len(frame)
    root = list(range(n))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    by_unit: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        by_unit.setdefault(u, []).append(i)
    for i, u in enumerate(units):
        related = by_unit.get(u, []) + by_unit.get(parents.get(u) or "", [])
        for j in related:
            if j != i and abs(when[i] - when[j]) <= gap:
                root[find(i)] = find(j)
    group = np.array([find(i) for i in range(n)])
    impact = pd.to_numeric(frame["impact"], errors="coerce").fillna(0.0).to_numpy()
    frame["_group"] = group
    totals = frame.assign(_impact=impact).groupby("_group")["_impact"].agg(["sum", "size",
                                                                             "max"])
    order = totals.sort_values(["sum", "max"], ascending=False, kind="stable").index
    number = {g: k + 1 for k, g in enumerate(order)}
    frame["incident"] = frame["_group"].map(number).astype(int)
    frame["incident_size"] = frame["_group"].map(totals["size"]).astype(int)
    frame["incident_impact"] = frame["_group"].map(totals["sum"]).astype(float)
    frame["_impact"] = impact
    frame = frame.sort_values(["incident", "_impact"], ascending=[True, False], kind="stable")
    frame["lead"] = ~frame["incident"].duplicated()
    return frame.drop(columns=["_group", "_impact"]).reset_index(drop=True)


def seven_day_totals(panel: pd.DataFrame) -> pd.DataFrame:
    """Daily panel → totals of 7-day periods ending on the latest day (partial first dropped).

    A channel selling a handful a day hides a sustained fall in daily noise; its weekly total
    shows it.
    """
    if panel.empty:
        return panel
    last = panel["time"].max()
    periods = last - ((last - panel["time"]).dt.days // 7) * pd.Timedelta(days=7)
    weekly = (panel.assign(time=periods).groupby(["unit", "unit_label", "time"], as_index=False)
              ["value"].sum())
    first = last - ((last - panel["time"].min()).days // 7) * pd.Timedelta(days=7)
    full_first = (panel["time"].min() <= first - pd.Timedelta(days=6))
    return weekly if full_first else weekly[weekly["time"] > first]


def impact_in_minimum_effects(alerts: pd.DataFrame,
                              min_effect: float | Mapping[str, float] | None = None) -> pd.Series:
    """Each alert's ``impact`` over its metric's minimum effect: comparable across KPIs of
    different units (a metric without a minimum effect keeps its impact as it is)."""
    floor = alerts["metric"].map(lambda m: min_effect_for(str(m), min_effect)).astype(float)
    return (alerts["impact"] / floor.where(floor > 0, 1.0)).rename("impact")

"""The three operators side by side: market shares, and unusual points of every rival series."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analytics.anomaly.alerting import expected_impact, group_incidents, min_effect_for
from analytics.anomaly.scores import DEFAULT_THRESHOLD, anomaly_details

#: Series shown per operator (code → label); ``share`` is derived from subscribers.
METRICS: dict[str, str] = {
    "share": "market share 市场份额",
    "subscribers": "subscribers 用户数",
    "new_adds": "new activations 新增",
    "net_adds": "net adds 净增",
    "arpu": "ARPU",
}
RIVALS: tuple[str, ...] = ("rival_a", "rival_b")
_KEYS = ["unit", "month"]


def add_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``share``: each operator's subscribers over all operators' in its unit
    and month.

    Parameters
    ----------
    frame : DataFrame
        Long form: unit, month, operator, subscribers (and any other measures).

    Examples
    --------
    >>> f = pd.DataFrame({"unit": "Jida", "month": pd.Timestamp("2026-01-01"),
    ...                   "operator": ["us", "rival_a"], "subscribers": [75, 25]})
    >>> add_shares(f)["share"].tolist()
    [0.75, 0.25]
    """
    total = frame.groupby(_KEYS)["subscribers"].transform("sum").astype(float)
    return frame.assign(share=np.where(total > 0, frame["subscribers"] / total.where(total > 0),
                                       np.nan))


def side_by_side(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per unit and month, one column per operator, for ``metric``.

    Raises
    ------
    ValueError
        When ``metric`` is not one of :data:`METRICS`.
    """
    _check_metric(metric)
    if metric == "share" and "share" not in frame:
        frame = add_shares(frame)
    wide = frame.pivot_table(index=_KEYS, columns="operator", values=metric, aggfunc="sum")
    wide.columns.name = None
    return wide.reset_index()


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; choose one of {', '.join(METRICS)}")


def flag_series(frame: pd.DataFrame, *, metrics: Sequence[str] = tuple(METRICS),
                operators: Sequence[str] = RIVALS,
                threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Score every (unit, operator, metric) monthly series with the project's anomaly detector.

    Each point's score is :func:`analytics.anomaly.scores.anomaly_scores` (causal: it depends on the
    points before it only), ``expected`` the one-step-ahead expected value it was judged by
    (:func:`analytics.anomaly.scores.anomaly_details`), and ``unusual``
    whether the score reaches ``threshold``.

    Parameters
    ----------
    frame : DataFrame
        Long form: unit, month, operator and the measures in ``metrics`` (``share`` is added
        when missing).
    metrics, operators : sequence of str
        Which series to score (by default every metric of both rivals).
    threshold : float
        Score in (0, 1] from which a point is unusual.

    Returns
    -------
    DataFrame
        unit, operator, metric, month, value, expected, score, unusual.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")
    for metric in metrics:
        _check_metric(metric)
    if "share" in metrics and "share" not in frame:
        frame = add_shares(frame)
    parts: list[pd.DataFrame] = []
    chosen = frame[frame["operator"].isin(list(operators))]
    for (unit, operator), group in chosen.groupby(["unit", "operator"], sort=True):
        ordered = group.sort_values("month").set_index("month")
        ordered.index = pd.DatetimeIndex(ordered.index)
        for metric in metrics:
            series = ordered[metric].astype(float)
            details = anomaly_details(series)  # the score and the expected value it judged by
            parts.append(pd.DataFrame({
                "unit": unit, "operator": operator, "metric": metric, "month": series.index,
                "value": series.to_numpy(), "expected": details["expected"].to_numpy(),
                "score": details["score"].to_numpy()}))
    columns = ["unit", "operator", "metric", "month", "value", "expected", "score", "unusual"]
    if not parts:
        return pd.DataFrame({"unit": pd.Series(dtype=object), "operator": pd.Series(dtype=object),
                             "metric": pd.Series(dtype=object),
                             "month": pd.Series(dtype="datetime64[ns]"),
                             **{c: pd.Series(dtype=float) for c in ("value", "expected", "score")},
                             "unusual": pd.Series(dtype=bool)})
    out = pd.concat(parts, ignore_index=True)
    out["unusual"] = out["score"] >= threshold
    return out[columns]


#: The smallest move worth an alert, in each metric's own unit (business sizes, not
#: statistics): half a share point, five activations or net adds, twenty subscribers, ¥1 ARPU.
MIN_EFFECT: dict[str, float] = {"share": 0.005, "subscribers": 20.0, "new_adds": 5.0,
                                "net_adds": 5.0, "arpu": 1.0}


def unusual_points(flags: pd.DataFrame, *, recent: int | None = None,
                   min_effect: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The unusual points of :func:`flag_series` worth reading, grouped and ranked.

    A point needs both surprise (``unusual``) and size: it must miss its expected value by at
    least the metric's minimum effect (:data:`MIN_EFFECT`). Each point's ``impact`` is the
    miss in minimum effects × its surprise (comparable across metrics); points of one unit in
    one month (several operators or metrics) are one incident, listed together, the
    incident with the largest total impact first and its lead point on top.

    Parameters
    ----------
    recent : int, optional
        Keep only points in the latest ``recent`` months of the frame.
    min_effect : mapping, optional
        Minimum effect per metric (default :data:`MIN_EFFECT`).
    """
    floors = MIN_EFFECT if min_effect is None else min_effect
    points = flags.loc[flags["unusual"].astype(bool)]
    if recent is not None and not flags.empty:
        months = sorted(flags["month"].unique())[-recent:]
        points = points[points["month"].isin(months)]
    change = points["value"] - points["expected"]
    floor = points["metric"].map(lambda m: min_effect_for(m, floors)).astype(float)
    points = points[change.abs() >= floor]
    change, floor = change[points.index], floor[points.index]
    relative = (change / points["expected"].abs().where(points["expected"] != 0)).abs()
    impact = expected_impact(points["value"], points["expected"], points["score"]) \
        / floor.where(floor > 0, 1.0).to_numpy()
    points = points.assign(change=change, relative_change=relative.fillna(float("inf")),
                           impact=impact)
    grouped = group_incidents(points, None, unit="unit", time="month", window="1D")
    return grouped.reset_index(drop=True)


def describe_point(row: pd.Series | dict[str, Any]) -> str:
    """One sentence about an unusual point, e.g. "rival_a market share in Jida 2026-02: 30.1%,
    expected 24.0% (score 1.00)".

    >>> describe_point({"unit": "Jida", "operator": "rival_a", "metric": "share",
    ...                 "month": pd.Timestamp("2026-02-01"), "value": 0.301,
    ...                 "expected": 0.24, "score": 1.0})
    'rival_a market share in Jida 2026-02: 30.1%, expected 24.0% (score 1.00)'
    """
    metric = str(row["metric"])
    name = METRICS[metric].split(" ")[0] if metric == "arpu" else metric.replace("_", " ")
    name = "market share" if metric == "share" else name

    def show(x: Any) -> str:
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return "n/a"
        if metric == "share":
            return f"{x:.1%}"
        return f"¥{x:,.2f}" if metric == "arpu" else f"{x:,.0f}"

    month = pd.Timestamp(row["month"]).strftime("%Y-%m")
    return (f"{row['operator']} {name} in {row['unit']} {month}: {show(float(row['value']))}, "
            f"expected {show(float(row['expected']))} (score {float(row['score']):.2f})")


def alert_rows(points: pd.DataFrame, unit_level: str = "micro_region") -> list[dict[str, Any]]:
    """Rows for the workflow store's ``alert`` table (source ``competitor``), one per point.

    Micro-region units become ``rival_region`` alerts, which the dispatch rules route to the
    regional manager; other levels keep their level name.
    """
    level = "rival_region" if unit_level == "micro_region" else unit_level
    rows = []
    for row in points.to_dict("records"):
        expected = float(row["expected"])
        rows.append({
            "source": "competitor", "metric": f"{row['operator']}_{row['metric']}"[:40],
            "unit_level": level, "unit_key": str(row["unit"])[:80],
            "unit_label": str(row["unit"])[:120],
            "observed_at": pd.Timestamp(row["month"]).strftime("%Y-%m"),
            "score": round(float(row["score"]), 4), "actual": float(row["value"]),
            "expected": expected if math.isfinite(expected) else None,
            "message": describe_point(row)[:400],
        })
    return rows


def share_change(frame: pd.DataFrame) -> pd.DataFrame:
    """Each unit and operator's share in the latest month, the month before, and the change in
    points (the table behind "who moved where")."""
    if "share" not in frame:
        frame = add_shares(frame)
    months = sorted(frame["month"].unique())
    if len(months) < 2:
        return pd.DataFrame(columns=["unit", "operator", "share_before", "share_now", "points"])
    wide = frame[frame["month"].isin(months[-2:])].pivot_table(
        index=["unit", "operator"], columns="month", values="share")
    wide.columns = ["share_before", "share_now"]
    wide["points"] = (wide["share_now"] - wide["share_before"]) * 100
    return wide.reset_index().sort_values("points", ascending=False, ignore_index=True)

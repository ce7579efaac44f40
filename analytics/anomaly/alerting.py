"""Turning scored series into alerts: the latest unusual points of many units at once."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analytics.anomaly.scores import DEFAULT_THRESHOLD, anomaly_scores
from analytics.anomaly.forecast import expected_values


def scan_panel(panel: pd.DataFrame, metric: str, unit_level: str, *,
               threshold: float = DEFAULT_THRESHOLD, recent: int = 1) -> list[dict[str, Any]]:
    """Score every unit's series and return an alert row for each of its last ``recent`` points
    that scores at or above ``threshold``.

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
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")
    rows: list[dict[str, Any]] = []
    for (unit, label), group in panel.groupby(["unit", "unit_label"], sort=False):
        series = group.set_index("time")["value"].sort_index()
        scores = anomaly_scores(series)
        tail = scores.iloc[-recent:]
        hits = tail[tail >= threshold]
        if hits.empty:
            continue
        expected = expected_values(series)
        for when, score in hits.items():
            actual, exp = float(series.loc[when]), float(expected.loc[when])
            direction = "above" if math.isfinite(exp) and actual > exp else "below"
            stamp = when.strftime("%Y-%m-%d") if unit_level != "rival_region" else when.strftime("%Y-%m")
            rows.append({
                "source": "anomaly", "metric": metric, "unit_level": unit_level,
                "unit_key": str(unit), "unit_label": str(label)[:120], "observed_at": stamp,
                "score": round(float(score), 4), "actual": actual,
                "expected": exp if math.isfinite(exp) else None,
                "message": (f"{metric} {actual:,.0f} on {stamp} at {label}, {direction} the "
                            f"expected {exp:,.0f} (score {score:.2f})" if math.isfinite(exp)
                            else f"{metric} {actual:,.0f} on {stamp} at {label} (score {score:.2f})"),
            })
    return rows


def seven_day_totals(panel: pd.DataFrame) -> pd.DataFrame:
    """Daily panel → totals of 7-day periods ending on the latest day (partial first dropped).

    A channel selling a handful a day hides a sustained fall in daily noise; its weekly total
    shows it (the planted activation drop scores 1.0 weekly and at most 0.39 daily).
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

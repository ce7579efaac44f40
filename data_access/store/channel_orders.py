"""Channel alerts into the workflow store: a work order for one alert, or alert rows for the
dispatch rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.store import diagnosis
from data_access.store import workorders
from data_access.store.auth import Principal
from data_access.db import ConcertoError

#: What each alert asks the channel manager to do (the order's title and first line).
ORDER_TEXT: dict[str, str] = {
    "sim_farming": "Check SIM farming 养卡核查",
    "cross_region": "Check cross-region selling 跨区销售核查",
    "stock_shortage": "Restock the channel 渠道补货",
}
PRIORITY = {"sim_farming": "high", "cross_region": "normal", "stock_shortage": "high"}


def _metric(row: Mapping[str, Any]) -> str:
    metric = str(row.get("metric", ""))
    if metric not in ORDER_TEXT:
        raise ConcertoError(f"metric: {metric!r} is not one of {', '.join(ORDER_TEXT)}.")
    return metric


def raise_channel_order(engine: sa.Engine, actor: Principal, alert: Mapping[str, Any], *,
                        due_at: dt.datetime, assignee: str | None = None,
                        note: str = "") -> int:
    """Create a task order for the channel manager about one channel alert; returns its id.

    Parameters
    ----------
    alert : mapping
        One row of ``analytics.channels``'s detectors (``channel_id``, ``channel_name``,
        ``branch``, ``micro_region``, ``metric``, ``reason``).
    due_at : datetime
        The deadline (in the future).
    assignee : str, optional
        A person to dispatch it to at once; otherwise the order starts new.
    """
    metric = _metric(alert)
    detail = str(alert.get("reason", "")) + (f"\n\n{note.strip()}" if note.strip() else "")
    return workorders.create_order(
        engine, actor, kind="task", title=f"{ORDER_TEXT[metric]}: {alert['channel_name']}"[:200],
        unit_level="channel", unit_key=str(int(alert["channel_id"])),
        unit_label=str(alert["channel_name"])[:120], branch=alert.get("branch"),
        micro_region=alert.get("micro_region"), metric=metric, owner_role="channel_manager",
        assignee=assignee or None, due_at=due_at, priority=PRIORITY[metric],
        detail=detail[:2000])


def alert_rows(alerts: pd.DataFrame, observed_at: str) -> list[dict[str, Any]]:
    """Detector rows as ``alert`` table rows (source ``channel``), for ``raise_alerts``."""
    rows = []
    for r in alerts.to_dict("records"):
        rows.append({
            "source": "channel", "metric": _metric(r), "unit_level": "channel",
            "unit_key": str(int(r["channel_id"])), "unit_label": str(r["channel_name"])[:120],
            "observed_at": observed_at[:20], "score": float(min(max(r["score"], 0.0), 1.0)),
            "actual": None if pd.isna(r["actual"]) else float(r["actual"]),
            "expected": None if pd.isna(r["expected"]) else float(r["expected"]),
            "message": str(r["reason"])[:400]})
    return rows


def record_channel_alerts(engine: sa.Engine, alerts: pd.DataFrame, observed_at: str) -> int:
    """Write the detectors' rows to the workflow ``alert`` table; returns how many were new
    (an alert already raised for the same channel, metric and period is skipped)."""
    return diagnosis.raise_alerts(engine, alert_rows(alerts, observed_at))

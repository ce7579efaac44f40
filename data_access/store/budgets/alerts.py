"""Budget alerts: a row in the ``alert`` table when a unit's use reaches one of its thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from analytics.ops import budget as arith
from analytics.formatting import format_value
from data_access.store.budgets.ledger import now_utc, whose
from data_access.store.workflow import alert


def raise_alerts(conn: sa.Connection, unit: Mapping[str, Any]) -> int:
    """Raise an alert for each threshold the unit's use has reached, once per unit and period.

    Every caller has just updated the unit's row, so on PostgreSQL its row lock orders the
    callers and the check sees the other's alert; the savepoint still catches a duplicate
    without aborting the caller's transaction.
    """
    used = round(unit["booked"] + unit["spent"], 2)
    raised = 0
    for threshold in arith.crossed_thresholds(used, unit["quota"],
                                              arith.parse_thresholds(unit["thresholds"])):
        key = dict(source="budget", metric=arith.threshold_metric(threshold),
                   unit_level="budget", unit_key=str(unit["unit_id"]),
                   observed_at=unit["period"])
        if conn.execute(sa.select(alert.c.alert_id).where(
                *[alert.c[k] == v for k, v in key.items()])).first() is not None:
            continue
        use = used / unit["quota"]
        message = (f"{whose(unit)} is {use:.0%} used ({format_value(used, 'yuan')} of "
                   f"{format_value(unit['quota'], 'yuan')}).")
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(alert).values(
                    raised_at=now_utc(), unit_label=f"{unit['name']} ({unit['period']})"[:120],
                    score=min(use, 1.0), actual=used, expected=unit["quota"],
                    message=message[:400], status="open", run_id=None, **key))
            raised += 1
        except sa.exc.IntegrityError:
            pass
    return raised

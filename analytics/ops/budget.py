"""Budget arithmetic: periods, roll-ups over the hierarchy, use, accuracy, pace, thresholds."""

from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd

from analytics.formatting import MISSING, format_value
from analytics.periods import add_months

#: The hierarchy, top down; a unit's children sit one level below it.
LEVELS: tuple[str, ...] = ("company", "department", "team", "person")
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.8, 1.0)
#: Money compares with half a fen of slack: sums of rounded doubles are not exact.
EPSILON = 0.005
_PERIOD = re.compile(r"(\d{4})-(?:Q([1-4])|(0[1-9]|1[0-2]))")
_COLOURS = {"ok": "#d9f2d9", "warn": "#ffe8b3", "over": "#f8c4c4"}


def yuan_exact(value: float) -> str:
    """Yuan to the fen with thousands separators, for amounts a person booked.

    >>> yuan_exact(3000), yuan_exact(120.5)
    ('¥3,000.00', '¥120.50')
    """
    return f"¥{value:,.2f}"


def child_level(parent_level: str | None) -> str:
    """The level of a new unit under a parent of ``parent_level`` (None: the company).

    >>> child_level(None), child_level("team")
    ('company', 'person')
    """
    if parent_level is None:
        return LEVELS[0]
    if parent_level not in LEVELS[:-1]:
        raise ValueError(f"nothing goes below a {parent_level} unit")
    return LEVELS[LEVELS.index(parent_level) + 1]


def parse_period(period: str) -> tuple[dt.date, dt.date]:
    """The first day of ``period`` and the first day after it.

    Examples
    --------
    >>> parse_period("2026-Q4")
    (datetime.date(2026, 10, 1), datetime.date(2027, 1, 1))
    >>> parse_period("2026-02")
    (datetime.date(2026, 2, 1), datetime.date(2026, 3, 1))
    """
    match = _PERIOD.fullmatch(str(period).strip())
    if match is None:
        raise ValueError(f"{period!r} is not a period like 2026-Q4 or 2026-11")
    year, quarter, month = int(match[1]), match[2], match[3]
    first = int(month) if month else 3 * int(quarter) - 2
    span = 1 if month else 3
    start = dt.date(year, first, 1)
    end = add_months(start, span)
    return start, end


def quarter_of(day: dt.date) -> str:
    """The quarter ``day`` lies in, as ``YYYY-Qn``.

    >>> quarter_of(dt.date(2026, 11, 5))
    '2026-Q4'
    """
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def elapsed_share(period: str, today: dt.date) -> float:
    """How much of ``period`` has passed on ``today``: 0 before it starts, 1 after it ends.

    >>> elapsed_share("2026-02", dt.date(2026, 2, 15))
    0.5
    """
    start, end = parse_period(period)
    share = (today - start).days / (end - start).days
    return min(max(share, 0.0), 1.0)


def parse_thresholds(text: str) -> tuple[float, ...]:
    """Use thresholds from text such as ``"0.8, 1.0"`` or ``"80%,100%"``, ascending.

    Raises
    ------
    ValueError
        When a part is not a number in (0, 2], or there are none or more than five.

    Examples
    --------
    >>> parse_thresholds("1.0, 80%, 0.8")
    (0.8, 1.0)
    """
    values: set[float] = set()
    for part in str(text).replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part[:-1]) / 100 if part.endswith("%") else float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number (write 0.8 or 80%)") from None
        if not (math.isfinite(value) and 0 < value <= 2):
            raise ValueError(f"{part!r} must lie between 0 and 2 (200%)")
        values.add(round(value, 4))
    if not values or len(values) > 5:
        raise ValueError("give one to five thresholds, such as 0.8,1.0")
    return tuple(sorted(values))


def format_thresholds(thresholds: tuple[float, ...]) -> str:
    """The stored form of thresholds: ``"0.8,1.0"``."""
    return ",".join(f"{t:g}" if t != int(t) else f"{t:.1f}" for t in thresholds)


def threshold_metric(threshold: float) -> str:
    """The alert metric for a threshold: ``budget_use_80`` for 0.8."""
    return f"budget_use_{round(threshold * 100):d}"


def crossed_thresholds(used: float, quota: float, thresholds: tuple[float, ...]) -> list[float]:
    """The thresholds that ``used`` of ``quota`` has reached (none for a zero quota).

    >>> crossed_thresholds(820, 1000, (0.8, 1.0)), crossed_thresholds(1000, 1000, (0.8, 1.0))
    ([0.8], [0.8, 1.0])
    """
    if quota <= 0:
        return []
    return [t for t in thresholds if used + EPSILON >= t * quota]


def accuracy(spent: float | pd.Series, budget: float | pd.Series) -> float | pd.Series:
    """Budget accuracy ``1 − |spent − budget| ÷ budget`` (NaN for a zero budget).

    It is 1 when exactly the budget was spent and falls by the share missed either way; it
    goes below 0 only when more than twice the budget was spent.

    >>> accuracy(870.0, 1000.0), accuracy(1130.0, 1000.0)
    (0.87, 0.87)
    """
    if isinstance(spent, pd.Series) or isinstance(budget, pd.Series):
        budget = pd.Series(budget, dtype="float64") if not isinstance(budget, pd.Series) else budget
        safe = budget.where(budget > 0)
        return 1 - (spent - safe).abs() / safe
    if budget <= 0:
        return math.nan
    return round(1 - abs(spent - budget) / budget, 12)


def use_status(use: float, thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS) -> str:
    """``over`` at or beyond 100% (or the top threshold), ``warn`` from the first, else ``ok``.

    >>> use_status(0.5), use_status(0.85), use_status(1.0)
    ('ok', 'warn', 'over')
    """
    if not isinstance(use, (int, float)) or math.isnan(use):
        return "ok"
    if use + 1e-9 >= min(1.0, max(thresholds)):
        return "over"
    return "warn" if use + 1e-9 >= min(thresholds) else "ok"


def roll_up(units: pd.DataFrame) -> pd.DataFrame:
    """Add each unit's depth and its own plus all descendants' booked and spent.

    Parameters
    ----------
    units : DataFrame
        One row per unit with ``unit_id``, ``parent_id`` (NaN or None at the top),
        ``booked`` and ``spent``; a parent missing from the frame makes its child a top.

    Returns
    -------
    DataFrame
        ``units`` with ``depth``, ``rolled_booked``, ``rolled_spent`` and ``path`` (the ids
        from the top down, for sorting a tree into reading order).
    """
    out = units.copy()
    ids = set(out["unit_id"].astype(int))
    parent = {int(u): (int(p) if pd.notna(p) and int(p) in ids else None)
              for u, p in zip(out["unit_id"], out["parent_id"])}
    chains: dict[int, list[int]] = {}
    for unit in parent:
        chain, seen = [unit], {unit}
        while parent[chain[-1]] is not None and parent[chain[-1]] not in seen:
            seen.add(parent[chain[-1]])
            chain.append(parent[chain[-1]])
        chains[unit] = chain  # the unit, then its ancestors upwards
    booked = dict(zip(out["unit_id"].astype(int), out["booked"].astype(float)))
    spent = dict(zip(out["unit_id"].astype(int), out["spent"].astype(float)))
    rolled_booked = dict.fromkeys(parent, 0.0)
    rolled_spent = dict.fromkeys(parent, 0.0)
    for unit, chain in chains.items():
        for holder in chain:
            rolled_booked[holder] += booked[unit]
            rolled_spent[holder] += spent[unit]
    key = out["unit_id"].astype(int)
    out["depth"] = key.map(lambda u: len(chains[u]) - 1).astype("int64")
    out["rolled_booked"] = key.map(rolled_booked).round(2)
    out["rolled_spent"] = key.map(rolled_spent).round(2)
    out["path"] = key.map(lambda u: "/".join(f"{a:08d}" for a in reversed(chains[u])))
    return out.sort_values("path", kind="stable").reset_index(drop=True)


def budget_table(tree: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Add left, use, accuracy, pace and status to a rolled-up tree (see :func:`roll_up`).

    ``left`` is the quota less everything booked, spent or handed down to children;
    ``use`` = (rolled booked + rolled spent) ÷ quota; ``accuracy`` compares the rolled
    spend with the quota; ``expected_spent`` is the quota times the elapsed share of the
    period, and ``pace`` the rolled spend over that (1 on plan, NaN before the period).
    """
    out = tree.copy()
    quota = out["quota"].astype(float)
    safe = quota.where(quota > 0)
    allocated = out["allocated"] if "allocated" in out else 0.0
    out["left"] = (quota - out["booked"] - out["spent"] - allocated).clip(lower=0).round(2)
    out["use"] = (out["rolled_booked"] + out["rolled_spent"]) / safe
    out["accuracy"] = accuracy(out["rolled_spent"], quota)
    share = out["period"].map(lambda p: elapsed_share(p, today))
    out["expected_spent"] = (quota * share).round(2)
    out["pace"] = out["rolled_spent"] / out["expected_spent"].where(out["expected_spent"] > 0)
    out["status"] = [use_status(u, parse_thresholds(t) if isinstance(t, str) and t else
                                DEFAULT_THRESHOLDS) for u, t in zip(out["use"], out["thresholds"])]
    return out


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The tree for the reader: indented names, yuan with ¥ and 万, percentages."""
    def pct(value: float) -> str:
        return format_value(value, "pct")

    return pd.DataFrame({
        "unit": ["\u00a0\u00a0\u00a0" * int(d) + ("└ " if d else "") + str(n)
                 for d, n in zip(table["depth"], table["name"])],
        "level": table["level"],
        "owner": table["owner"].fillna(""),
        "quota": table["quota"].map(lambda v: format_value(v, "yuan")),
        "booked": table["rolled_booked"].map(lambda v: format_value(v, "yuan")),
        "spent": table["rolled_spent"].map(lambda v: format_value(v, "yuan")),
        "left": table["left"].map(lambda v: format_value(v, "yuan")),
        "use": table["use"].map(pct),
        "accuracy": table["accuracy"].map(pct),
        "pace": table["pace"].map(lambda v: MISSING if pd.isna(v) else f"{v:.2f}×"),
        "status": table["status"],
    })


def row_style(row: pd.Series) -> list[str]:
    """CSS for one row of :func:`display_table`'s frame, coloured by its status (Styler.apply)."""
    return [f"background-color: {_COLOURS.get(row['status'], 'transparent')}"] * len(row)


def display_bookings(bookings: pd.DataFrame) -> pd.DataFrame:
    """Bookings for the reader: exact yuan, one "settled" column, times to the minute (UTC)."""
    def when(value: object) -> str:
        return "" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")

    spent = bookings["spent_amount"].map(lambda v: "" if pd.isna(v) else yuan_exact(v))
    return pd.DataFrame({
        "#": bookings["booking_id"],
        "budget": bookings["unit"],
        "amount": bookings["amount"].map(yuan_exact),
        "status": bookings["status"],
        "spent": spent,
        "work order": bookings["work_order_id"].map(lambda v: "" if pd.isna(v) else f"#{v:.0f}"),
        "note": bookings["note"],
        "booked by": bookings["created_by"],
        "booked at (UTC)": bookings["created_at"].map(when),
        "settled": [f"{b} {when(a)}" if isinstance(b, str) else ""
                    for b, a in zip(bookings["settled_by"], bookings["settled_at"])],
    })

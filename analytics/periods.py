"""Month arithmetic through pandas periods: the one way months are moved and counted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def add_months(month: dt.date | pd.Timestamp, months: int) -> dt.date:
    """The first day of the month ``months`` after ``month``'s (negative: before).

    >>> add_months(dt.date(2025, 11, 1), 3), add_months(dt.date(2025, 1, 20), -1)
    (datetime.date(2026, 2, 1), datetime.date(2024, 12, 1))
    """
    return (pd.Period(month, freq="M") + int(months)).to_timestamp().date()


def month_number(when: dt.date | pd.Timestamp | pd.Series) -> int | pd.Series:
    """Months since January 1970 of ``when`` (a date, or a datetime Series; NaT stays missing).

    The difference of two month numbers is the number of whole calendar months between them.

    >>> month_number(dt.date(2026, 3, 15)) - month_number(dt.date(2025, 12, 1))
    3
    """
    if isinstance(when, pd.Series):
        periods = pd.to_datetime(when).dt.to_period("M").array
        ordinals = pd.Series(periods.asi8, index=when.index)
        missing = np.asarray(periods.isna())
        return ordinals.astype(float).where(~missing) if missing.any() else ordinals
    return pd.Period(when, freq="M").ordinal


def months_between(later: dt.date | pd.Timestamp | pd.Series,
                   earlier: dt.date | pd.Timestamp | pd.Series) -> int | pd.Series:
    """Whole calendar months from ``earlier`` to ``later`` (days are ignored).

    >>> months_between(dt.date(2026, 1, 31), dt.date(2025, 11, 1))
    2
    """
    return month_number(later) - month_number(earlier)

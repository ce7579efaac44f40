"""Month arithmetic and the seasonal and trend factors of the synthetic mart."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

from data_access.db import ConcertoError

_MONTH_TEXT = re.compile(r"^(\d{4})-(\d{2})$")
#: Trends (data growth, voice decline) are measured from this month, so that a month's
#: level never depends on where the window starts.
TREND_ORIGIN = 2025 * 12
#: A churn month meaning "not churned (yet)".
NEVER = 10**6

# Factors by calendar month (January first). October equals September, so the default
# latest month carries no seasonal step against the month before it.
REVENUE_SEASON = np.array([0.98, 0.94, 0.99, 1.00, 1.00, 1.00, 1.01, 1.02, 1.00, 1.00, 1.00, 1.01])
DATA_REVENUE_SEASON = np.array([1.00, 0.99, 1.00, 1.00, 1.00, 1.01, 1.03, 1.04, 1.00, 1.00,
                                1.00, 1.00])
MOU_SEASON = np.array([0.96, 0.86, 0.98, 1.00, 1.00, 1.00, 0.99, 0.99, 1.00, 1.00, 1.00, 1.01])
DATA_MB_SEASON = np.array([1.02, 1.04, 0.99, 0.99, 1.00, 1.02, 1.08, 1.10, 1.00, 1.00, 0.99, 1.00])
#: New activations: Chinese New Year dip, campus season in September.
ACTIVATION_SEASON = np.array([0.92, 0.76, 1.05, 1.00, 1.00, 1.02, 1.06, 1.10, 1.22, 1.00, 0.95,
                              1.00])
#: Added to the churn logit: migrant workers leave after the New Year, graduates in July.
CHURN_SEASON = np.array([0.10, 0.25, 0.05, 0.0, 0.0, 0.0, 0.10, 0.05, 0.0, 0.0, 0.0, 0.0])
#: Monthly trend of each revenue component (voice, data, SMS, VAS) and of usage.
COMPONENT_TREND = np.array([-0.004, 0.0025, -0.010, 0.0])
MOU_TREND, DATA_MB_TREND, SMS_TREND = -0.003, 0.012, -0.010


def parse_month(text: str) -> int:
    """A 'YYYY-MM' month as a month number (year * 12 + month - 1)."""
    found = _MONTH_TEXT.match(str(text))
    if not found or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2100:
        raise ConcertoError(
            f"end month {text!r} is not a month written YYYY-MM between 2000-01 and 2100-12 "
            "(for example 2026-10)")
    return int(found.group(1)) * 12 + int(found.group(2)) - 1


def month_start(t: int) -> dt.date:
    """The first day of month number ``t``."""
    return dt.date(t // 12, t % 12 + 1, 1)


def month_label(t: int) -> str:
    """Month number ``t`` as 'YYYY-MM'."""
    return f"{t // 12:04d}-{t % 12 + 1:02d}"


@dataclass(frozen=True)
class Calendar:
    """The generated window: ``first`` to ``last`` inclusive, as month numbers."""

    first: int
    last: int

    @classmethod
    def ending(cls, end_month: str, months: int) -> Calendar:
        last = parse_month(end_month)
        return cls(last - months + 1, last)

    def __len__(self) -> int:
        return self.last - self.first + 1

    @property
    def months(self) -> range:
        return range(self.first, self.last + 1)

    def n_days(self, t: int) -> int:
        return calendar.monthrange(t // 12, t % 12 + 1)[1]

    def days(self, t: int) -> np.ndarray:
        """The days of month ``t`` as datetime64[D]."""
        start = np.datetime64(month_start(t), "D")
        return start + np.arange(self.n_days(t))

    def weekdays(self, t: int) -> np.ndarray:
        """Weekday (0 = Monday) of each day of month ``t``."""
        return (self.days(t).astype("int64") + 3) % 7  # 1970-01-01 was a Thursday

    def months_range(self, start: int, end: int) -> str:
        """Whole months ``start``..``end`` as a 'YYYY-MM-DD..YYYY-MM-DD' period."""
        return f"{month_start(start)}..{self.days(end)[-1]}"

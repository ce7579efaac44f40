"""The KPI registry, targets and red/amber/green status rules, from monthly measure sums."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from analytics.formatting import UNITS, format_value

#: Additive measures of every monthly summary (kept in step with data_access.mart.schema by a test).
MEASURES: tuple[str, ...] = (
    "active_subs", "new_subs", "churned_subs", "rev_voice", "rev_data", "rev_sms", "rev_vas",
    "discount", "revenue", "mou", "data_mb", "sms_cnt", "service_cost",
)
#: Optional competitor columns the caller adds when the slice has competitor figures.
SHARE_COLUMNS: tuple[str, str] = ("own_subs", "market_subs")

Status = Literal["green", "amber", "red", "grey"]
# Comparisons forgive rounding in the target's own arithmetic (100 * 1.03 != 103.0).
_EPS = 1e-9


@dataclass(frozen=True)
class Target:
    """How a KPI's target is set.

    ``kind='absolute'``: ``value`` is the threshold itself (ARPU ≥ 80).
    ``kind='growth'``: ``value`` is the growth over the same month last year (0.03 is +3%);
    with no value a year ago, the monthly equivalent ``(1 + value) ** (1 / 12) - 1`` over
    last month is used instead. Growth is applied to ``|reference|`` so that it still asks for
    improvement when the reference is negative (net adds).
    """

    kind: Literal["absolute", "growth"]
    value: float

    def __post_init__(self) -> None:
        if self.kind not in ("absolute", "growth"):
            raise ValueError(f"target kind must be 'absolute' or 'growth', not {self.kind!r}")
        if self.kind == "growth" and not self.value > -1:
            raise ValueError(f"a growth target must be above -100%, not {self.value!r}")


@dataclass(frozen=True)
class KPI:
    """One key performance indicator: what it means, its unit, and how it is judged.

    ``tolerance`` is the relative width of the amber band: a KPI that misses its target by no
    more than ``tolerance * |target|`` is amber.
    """

    key: str
    label: str
    unit: str
    direction: Literal["higher", "lower"]
    formula: str
    target: Target
    tolerance: float
    description: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"KPI {self.key!r}: unknown unit {self.unit!r}")
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"KPI {self.key!r}: direction must be 'higher' or 'lower'")
        if not self.tolerance >= 0:
            raise ValueError(f"KPI {self.key!r}: tolerance must be >= 0")


def _growth(rate: float) -> Target:
    return Target("growth", rate)


def _at(level: float) -> Target:
    return Target("absolute", level)


_KPIS = (
    KPI("revenue", "revenue 收入", "yuan", "higher", "voice + data + SMS + VAS − discount",
        _growth(0.03), 0.02, "Billed revenue after discount."),
    KPI("arpu", "ARPU 每户平均收入", "yuan_per_sub", "higher", "revenue ÷ active subscribers",
        _at(80.0), 0.05,
        "Revenue per subscriber billed in the month (the month's billed base is its average "
        "active base; this keeps revenue = subscribers × ARPU exact in the KPI tree)."),
    KPI("mou", "MOU 户均通话分钟", "min", "higher", "call minutes ÷ active subscribers",
        _at(380.0), 0.05, "Minutes of use per billed subscriber."),
    KPI("dou", "DOU 户均流量", "mb", "higher", "data MB ÷ active subscribers",
        _at(5000.0), 0.05, "Data volume per billed subscriber."),
    KPI("active_subs", "active subscribers 出账用户", "subs", "higher",
        "subscribers billed in the month", _growth(0.02), 0.01,
        "Subscribers with a bill this month."),
    KPI("new_subs", "new activations 新放号", "subs", "higher",
        "subscribers billed for the first time", _growth(0.02), 0.10,
        "New activations: first bill this month."),
    KPI("churn_rate", "churn rate 离网率", "pct", "lower",
        "churned this month ÷ active subscribers last month", _at(0.016), 0.10,
        "Share of last month's billed base that is gone this month."),
    KPI("net_adds", "net adds 净增", "subs", "higher", "new activations − churned",
        _growth(0.0), 0.25, "Net change of the base from activations and churn."),
    KPI("market_share", "market share 市场份额", "pct", "higher",
        "own subscribers ÷ all three operators' subscribers", _at(0.60), 0.02,
        "Our share of the three operators' subscribers (where competitor figures exist)."),
    KPI("discount_rate", "discount rate 折扣率", "pct", "lower",
        "discount ÷ gross revenue (voice + data + SMS + VAS)", _at(0.08), 0.10,
        "Share of gross revenue given away as discounts."),
)
#: Every KPI by key, in display order.
REGISTRY: dict[str, KPI] = {kpi.key: kpi for kpi in _KPIS}

_CARD_COLUMNS = (
    "key", "label", "unit", "direction", "value", "previous", "change", "change_pct",
    "last_year", "yoy_pct", "target", "target_basis", "status", "trend",
)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator ÷ denominator, NaN where the denominator is zero or missing."""
    den = denominator.astype(float)
    return numerator.astype(float) / den.where(den != 0)


def _months(index: pd.Index) -> pd.PeriodIndex:
    """The index as monthly periods, checked to be sorted and consecutive."""
    if isinstance(index, pd.DatetimeIndex):
        months = index.to_period("M")
    elif isinstance(index, pd.PeriodIndex):
        months = index.asfreq("M")
    else:
        raise ValueError("the monthly frame must be indexed by month (DatetimeIndex)")
    steps = np.diff(months.asi8)
    if len(steps) and not (steps == 1).all():
        raise ValueError("the monthly frame's months must be sorted, unique and consecutive")
    return months


def compute_kpis(monthly: pd.DataFrame) -> pd.DataFrame:
    """Compute every KPI in ``REGISTRY`` for each month of one slice.

    Parameters
    ----------
    monthly : DataFrame
        Indexed by month (DatetimeIndex, sorted, consecutive), with the ``MEASURES`` columns and
        optionally ``own_subs`` and ``market_subs`` (all three operators, ourselves included).

    Returns
    -------
    DataFrame
        Same index, one float column per KPI key; NaN where a KPI cannot be computed (churn rate
        in the first month, ratios over zero subscribers, market share without competitor data).

    Examples
    --------
    >>> frame = pd.DataFrame({m: [0.0, 0.0] for m in MEASURES},
    ...                      index=pd.to_datetime(["2026-01-01", "2026-02-01"]))
    >>> frame["active_subs"], frame["revenue"] = [100, 110], [8000, 8250]
    >>> frame["churned_subs"] = [0, 2]
    >>> compute_kpis(frame)[["arpu", "churn_rate"]].round(4).to_dict("list")
    {'arpu': [80.0, 75.0], 'churn_rate': [nan, 0.02]}
    """
    missing = [m for m in MEASURES if m not in monthly.columns]
    if missing:
        raise ValueError(f"the monthly frame lacks measure columns: {', '.join(missing)}")
    _months(monthly.index)
    m = monthly
    subs = m["active_subs"]
    gross = m["rev_voice"] + m["rev_data"] + m["rev_sms"] + m["rev_vas"]
    if all(c in m.columns for c in SHARE_COLUMNS):
        share = _ratio(m["own_subs"], m["market_subs"])
    else:
        share = pd.Series(np.nan, index=m.index)
    values = {
        "revenue": m["revenue"].astype(float),
        "arpu": _ratio(m["revenue"], subs),
        "mou": _ratio(m["mou"], subs),
        "dou": _ratio(m["data_mb"], subs),
        "active_subs": subs.astype(float),
        "new_subs": m["new_subs"].astype(float),
        "churn_rate": _ratio(m["churned_subs"], subs.shift(1)),
        "net_adds": (m["new_subs"] - m["churned_subs"]).astype(float),
        "market_share": share.astype(float),
        "discount_rate": _ratio(m["discount"], gross),
    }
    return pd.DataFrame({key: values[key] for key in REGISTRY}, index=monthly.index)


def kpi_status(kpi: KPI | str, value: float | None, target: float | None) -> Status:
    """Judge a value against its target: green when met, amber within tolerance, red beyond.

    Parameters
    ----------
    kpi : KPI or str
        The KPI or its key in ``REGISTRY``; gives the direction and the tolerance.
    value, target : float or None
        'grey' when either is missing.

    Returns
    -------
    {'green', 'amber', 'red', 'grey'}

    Examples
    --------
    >>> [kpi_status("arpu", v, 80.0) for v in (80.0, 77.0, 75.0, None)]  # tolerance 5%
    ['green', 'amber', 'red', 'grey']
    >>> [kpi_status("churn_rate", v, 0.016) for v in (0.016, 0.0175, 0.018)]  # lower is better
    ['green', 'amber', 'red']
    """
    spec = REGISTRY[kpi] if isinstance(kpi, str) else kpi
    value, target = _as_float(value), _as_float(target)
    if not (math.isfinite(value) and math.isfinite(target)):
        return "grey"
    shortfall = target - value if spec.direction == "higher" else value - target
    slack = _EPS * max(abs(target), abs(value), 1e-12)
    if shortfall <= slack:
        return "green"
    if shortfall <= spec.tolerance * abs(target) + slack:
        return "amber"
    return "red"


def _resolve_targets(targets: Mapping[str, float | Target] | None) -> dict[str, Target]:
    """Each KPI's target rule, with the caller's overrides (a bare number keeps the kind)."""
    rules = {key: kpi.target for key, kpi in REGISTRY.items()}
    for key, override in (targets or {}).items():
        if key not in rules:
            raise ValueError(f"no KPI {key!r} to set a target for; known: {', '.join(rules)}")
        rules[key] = (override if isinstance(override, Target)
                      else replace(rules[key], value=float(override)))
    return rules


def _as_float(value: object) -> float:
    """``value`` as a float; NaN for None, pd.NA and anything not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _finite(value: object) -> bool:
    return math.isfinite(_as_float(value))


def _target_for(kpi: KPI, rule: Target, series: pd.Series, months: pd.PeriodIndex,
                pos: int) -> tuple[float, str]:
    """The target for ``series`` at position ``pos`` and the text saying how it was set."""
    sign = "≥" if kpi.direction == "higher" else "≤"
    if rule.kind == "absolute":
        # Targets in MB stay exact: "≥ 4.9 GB" would hide that 4,950 MB misses 5,000.
        shown = (f"{rule.value:,.0f} MB" if kpi.unit == "mb"
                 else format_value(rule.value, kpi.unit))
        return rule.value, f"{sign} {shown} (fixed target)"
    if pos >= 12 and _finite(series.iloc[pos - 12]):
        reference = float(series.iloc[pos - 12])
        target = reference + rule.value * abs(reference)
        return target, f"{months[pos - 12]} (same month last year) {rule.value:+.1%}"
    if pos >= 1 and _finite(series.iloc[pos - 1]):
        reference = float(series.iloc[pos - 1])
        monthly = (1 + rule.value) ** (1 / 12) - 1
        target = reference + monthly * abs(reference)
        return target, (f"{months[pos - 1]} (last month) {monthly:+.2%}: no value a year ago, "
                        f"monthly equivalent of {rule.value:+.1%} a year")
    return math.nan, "no earlier value to set a growth target"


def _relative(change: float, base: float) -> float:
    return change / abs(base) if _finite(base) and base != 0 else math.nan


def kpi_cards(monthly: pd.DataFrame, month: object,
              targets: Mapping[str, float | Target] | None = None) -> pd.DataFrame:
    """One card per KPI for ``month``: value, changes, target, status and a 12-month trend.

    Parameters
    ----------
    monthly : DataFrame
        As for ``compute_kpis``; include at least 13 months for year-on-year figures.
    month : str, date, Timestamp or Period
        The month to report (any day of it).
    targets : mapping, optional
        Overrides by KPI key: a ``Target``, or a bare number that replaces the default's value
        (the threshold of an absolute target, the growth rate of a growth target).

    Returns
    -------
    DataFrame
        One row per KPI in ``REGISTRY`` order with columns key, label, unit, direction, value,
        previous, change, change_pct, last_year, yoy_pct, target, target_basis, status and
        trend (a list of up to 12 floats ending at ``month``). Percentages are fractions.

    Examples
    --------
    >>> frame = pd.DataFrame({m: [0.0, 0.0] for m in MEASURES},
    ...                      index=pd.to_datetime(["2026-01-01", "2026-02-01"]))
    >>> frame["active_subs"], frame["revenue"] = [100, 110], [8000, 8470]
    >>> cards = kpi_cards(frame, "2026-02").set_index("key")
    >>> print(*cards.loc["arpu", ["value", "target", "status"]])
    77.0 80.0 amber
    >>> print(cards.loc["revenue", "status"], cards.loc["revenue", "target_basis"][:20])
    green 2026-01 (last month)
    """
    values = compute_kpis(monthly)
    months = _months(monthly.index)
    wanted = (month.asfreq("M") if isinstance(month, pd.Period)
              else pd.Period(pd.Timestamp(month), freq="M"))
    if wanted not in months:
        raise ValueError(f"month {wanted} is not in the monthly frame")
    pos = months.get_loc(wanted)
    rules = _resolve_targets(targets)
    rows = []
    for key, kpi in REGISTRY.items():
        series = values[key]
        value = float(series.iloc[pos])
        previous = float(series.iloc[pos - 1]) if pos >= 1 else math.nan
        last_year = float(series.iloc[pos - 12]) if pos >= 12 else math.nan
        target, basis = _target_for(kpi, rules[key], series, months, pos)
        rows.append({
            "key": key, "label": kpi.label, "unit": kpi.unit, "direction": kpi.direction,
            "value": value, "previous": previous, "change": value - previous,
            "change_pct": _relative(value - previous, previous),
            "last_year": last_year, "yoy_pct": _relative(value - last_year, last_year),
            "target": target, "target_basis": basis,
            "status": kpi_status(kpi, value, target),
            "trend": [float(v) for v in series.iloc[max(0, pos - 11): pos + 1]],
        })
    return pd.DataFrame(rows, columns=list(_CARD_COLUMNS))

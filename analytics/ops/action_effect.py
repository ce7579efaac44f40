"""Did the action work? (效果跟踪) A resolved order's KPI on its unit before and after the
action day, against comparable units with no order in the same weeks.

Difference in differences on daily data, in relative terms so that units of any size compare:
each unit's change is ``log(mean after / mean before)``; the effect is the treated unit's
change minus the controls' mean change. With one treated unit the uncertainty is how far a
unit's change can stray from the controls' mean by itself, so the interval is a t prediction
interval from the spread of the control units' changes (``s * sqrt(1 + 1/n)``, n − 1 degrees
of freedom), and a placebo p-value ranks the treated change among the controls'.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Daily KPIs an order may be raised for, and whether higher is better.
DAILY_KPIS: dict[str, bool] = {"revenue": True, "new_activations": True, "churned": False,
                               "active_subs": True}
#: Verdicts and what the reader sees.
VERDICTS: dict[str, str] = {
    "worked": "worked 见效",
    "no_effect": "no measurable effect 无明显效果",
    "worse": "made it worse 适得其反",
    "not_enough_data": "not enough data 数据不足",
}


def daily_kpi(metric: str | None) -> str | None:
    """The daily column behind an order's metric (``region_revenue`` → ``revenue``), or None.

    >>> daily_kpi("channel_new_activations"), daily_kpi("arpu")
    ('new_activations', None)
    """
    if not metric:
        return None
    name = str(metric)
    for prefix in ("region_", "channel_", "micro_region_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name if name in DAILY_KPIS else None


@dataclass(frozen=True)
class ActionCase:
    """One resolved order to judge: its unit, the KPI it was raised for and the action day."""

    order_id: int
    unit_level: str  # "micro_region" or "channel"
    unit_id: int  # the unit's id in the panel
    unit_label: str
    kpi: str  # a key of DAILY_KPIS
    action_day: dt.date
    tactic: str = ""  # the tactic used ("" when none was picked)
    order_kind: str = ""


@dataclass(frozen=True)
class EffectSettings:
    """Windows and thresholds of the comparison."""

    pre_days: int = 56  # days before the action day compared
    post_days: int = 56  # days from the action day on
    min_days: int = 14  # fewest days with data on each side
    min_controls: int = 3  # fewest comparable units
    level: float = 0.95


@dataclass(frozen=True)
class ActionEffect:
    """The measured effect of one action; relative figures (0.12 is +12%)."""

    order_id: int
    unit_level: str
    unit_label: str
    kpi: str
    action_day: dt.date
    tactic: str
    order_kind: str
    verdict: str  # a key of VERDICTS
    message: str
    estimate: float = math.nan  # relative effect on the KPI
    ci_low: float = math.nan
    ci_high: float = math.nan
    treated_change: float = math.nan  # after / before − 1 on the unit
    control_change: float = math.nan  # the same for the controls (geometric mean)
    p_value: float = math.nan  # placebo: share of controls moving at least as far
    se_log: float = math.nan  # standard error of the log effect (prediction)
    n_controls: int = 0
    days_before: int = 0
    days_after: int = 0
    level: float = 0.95

    @property
    def improvement(self) -> float:
        """The relative effect seen from the good side: for a KPI where lower is better, a
        fall to 0.8× is an improvement of 1/0.8 − 1 = +25% (positive is always better)."""
        if not math.isfinite(self.estimate):
            return math.nan
        sign = 1.0 if DAILY_KPIS.get(self.kpi, True) else -1.0
        return math.expm1(sign * math.log1p(self.estimate))


def _windows(panel: pd.DataFrame, day: pd.Timestamp, settings: EffectSettings) -> pd.DataFrame:
    """Per unit: mean and number of days before and after ``day``."""
    days = panel["day"].to_numpy(dtype="datetime64[ns]")
    first = (day - pd.Timedelta(days=settings.pre_days)).to_datetime64()
    last = (day + pd.Timedelta(days=settings.post_days)).to_datetime64()
    moment = day.to_datetime64()
    codes, units = pd.factorize(panel["unit_id"], sort=True)
    values = panel["value"].to_numpy(dtype=float)
    table = {}
    for side, mask in (("pre", (days >= first) & (days < moment)),
                       ("post", (days >= moment) & (days < last))):
        count = np.bincount(codes[mask], minlength=len(units)).astype(float)
        total = np.bincount(codes[mask], weights=values[mask], minlength=len(units))
        table[f"{side}_count"] = count
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"{side}_mean"] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return pd.DataFrame(table, index=pd.Index(units, name="unit_id"))


def _around(panel: pd.DataFrame, day: pd.Timestamp, settings: EffectSettings) -> pd.DataFrame:
    """The panel's rows inside the two windows, with datetime days and numeric values."""
    days = pd.to_datetime(panel["day"]).to_numpy(dtype="datetime64[ns]")
    first = (day - pd.Timedelta(days=settings.pre_days)).to_datetime64()
    last = (day + pd.Timedelta(days=settings.post_days)).to_datetime64()
    inside = (days >= first) & (days < last)
    frame = pd.DataFrame({"unit_id": panel["unit_id"].to_numpy()[inside], "day": days[inside],
                          "value": pd.to_numeric(panel["value"], errors="coerce").to_numpy(
                              dtype=float)[inside]})
    return frame[np.isfinite(frame["value"].to_numpy())]


def _short(case: ActionCase, message: str, **extra: object) -> ActionEffect:
    return ActionEffect(case.order_id, case.unit_level, case.unit_label, case.kpi,
                        case.action_day, case.tactic, case.order_kind, "not_enough_data",
                        message, **extra)


def estimate_action_effect(panel: pd.DataFrame, case: ActionCase,
                           excluded: set[int] | frozenset[int] = frozenset(),
                           settings: EffectSettings = EffectSettings()) -> ActionEffect:
    """Difference in differences of one treated unit against comparable units.

    Parameters
    ----------
    panel : DataFrame
        Daily values of the case's KPI: ``unit_id``, ``day``, ``value``, for the treated unit
        and its candidate controls (all of one kind).
    case : ActionCase
        The order: unit, KPI and action day.
    excluded : set of int
        Units that had an order of their own in these weeks (never used as controls).
    settings : EffectSettings
        Windows, fewest days and controls, interval level.

    Returns
    -------
    ActionEffect
        With verdict ``not_enough_data`` and a message (never an exception) when the unit
        has too few days before or after the action, or fewer than ``min_controls`` comparable
        units have both.

    Examples
    --------
    >>> days = pd.date_range("2026-01-01", periods=60)
    >>> rows = [(u, d, 100.0 * (1.2 if u == 0 and d >= days[30] else 1.0) + u)
    ...         for u in range(5) for d in days]
    >>> panel = pd.DataFrame(rows, columns=["unit_id", "day", "value"])
    >>> case = ActionCase(1, "micro_region", 0, "A", "revenue", days[30].date())
    >>> effect = estimate_action_effect(panel, case, settings=EffectSettings(pre_days=30, post_days=30))
    >>> round(effect.estimate, 3), effect.verdict
    (0.2, 'worked')
    """
    if case.kpi not in DAILY_KPIS:
        return _short(case, f"The KPI {case.kpi!r} has no daily series to compare.")
    day = pd.Timestamp(case.action_day)
    table = _windows(_around(panel, day, settings), day, settings)
    if case.unit_id not in table.index:
        return _short(case, f"{case.unit_label} has no {case.kpi} data around "
                            f"{day:%Y-%m-%d}.")
    own = table.loc[case.unit_id]
    n_pre, n_post = int(own["pre_count"]), int(own["post_count"])
    counts = {"days_before": n_pre, "days_after": n_post}
    if n_pre < settings.min_days:
        return _short(case, f"Only {n_pre} day(s) of data before the action on "
                            f"{day:%Y-%m-%d}; at least {settings.min_days} are needed.", **counts)
    if n_post < settings.min_days:
        return _short(case, f"Only {n_post} day(s) of data from the action on {day:%Y-%m-%d}; "
                            f"at least {settings.min_days} are needed (wait for more days "
                            "in the mart).", **counts)
    if not own["pre_mean"] > 0:
        return _short(case, f"{case.unit_label} had no {case.kpi} before the action, so a "
                            "relative change cannot be measured.", **counts)
    usable = ((table["pre_count"] >= settings.min_days) & (table["post_count"] >= settings.min_days)
              & (table["pre_mean"] > 0) & (table["post_mean"] > 0))
    controls = table[usable & ~table.index.isin(list(excluded) + [case.unit_id])]
    n = len(controls)
    if n < settings.min_controls:
        return _short(case, f"{n} comparable unit(s) without an order in these weeks; at least "
                            f"{settings.min_controls} are needed to tell an effect from "
                            "the usual spread.", n_controls=n, **counts)
    treated = math.log(max(own["post_mean"], 1e-12) / own["pre_mean"])
    changes = np.log(controls["post_mean"].to_numpy() / controls["pre_mean"].to_numpy())
    centre, spread = float(changes.mean()), float(changes.std(ddof=1))
    effect = treated - centre
    se = spread * math.sqrt(1 + 1 / n)
    half = float(stats.t.ppf(0.5 + settings.level / 2, n - 1)) * se
    p_value = (1 + int(np.sum(np.abs(changes - centre) >= abs(effect)))) / (n + 1)
    low, high = math.exp(effect - half) - 1, math.exp(effect + half) - 1
    verdict = _verdict(low, high, DAILY_KPIS[case.kpi])
    return ActionEffect(
        case.order_id, case.unit_level, case.unit_label, case.kpi, case.action_day, case.tactic,
        case.order_kind, verdict, _message(verdict, math.exp(effect) - 1, settings.level, n),
        estimate=math.exp(effect) - 1, ci_low=low, ci_high=high,
        treated_change=math.exp(treated) - 1, control_change=math.exp(centre) - 1,
        p_value=p_value, se_log=se, n_controls=n, level=settings.level, **counts)


def _verdict(low: float, high: float, higher_is_better: bool) -> str:
    if low > 0:
        return "worked" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "worked"
    return "no_effect"


def _message(verdict: str, estimate: float, level: float, n: int) -> str:
    sure = f"{level:.0%} interval"
    if verdict == "no_effect":
        return (f"The change ({estimate:+.1%} against {n} comparable units) lies within what "
                f"units without an order show by themselves: the {sure} includes zero.")
    return (f"The KPI moved {estimate:+.1%} against {n} comparable units, beyond the spread "
            f"of units without an order (the {sure} excludes zero).")


def indexed_series(panel: pd.DataFrame, case: ActionCase,
                   excluded: set[int] | frozenset[int] = frozenset(),
                   settings: EffectSettings = EffectSettings(), smooth: int = 7) -> pd.DataFrame:
    """The treated unit and the controls' average over the windows, each as an index (its
    mean before the action = 100), smoothed over ``smooth`` days, for a chart.

    Returns columns ``day``, ``treated``, ``controls`` (empty when the unit is missing).
    """
    day = pd.Timestamp(case.action_day)
    frame = panel.assign(day=pd.to_datetime(panel["day"]))
    frame = frame[frame["day"].between(day - pd.Timedelta(days=settings.pre_days),
                                       day + pd.Timedelta(days=settings.post_days - 1))]
    base = frame[frame["day"] < day].groupby("unit_id")["value"].mean()
    base = base[base > 0]
    frame = frame[frame["unit_id"].isin(base.index)]
    if case.unit_id not in base.index:
        return pd.DataFrame(columns=["day", "treated", "controls"])
    frame = frame.assign(index=100 * frame["value"] / frame["unit_id"].map(base))
    treated = frame[frame["unit_id"] == case.unit_id].groupby("day")["index"].mean()
    others = frame[~frame["unit_id"].isin(list(excluded) + [case.unit_id])]
    controls = others.groupby("day")["index"].mean()
    out = pd.DataFrame({"treated": treated, "controls": controls}).sort_index()
    out = out.rolling(max(1, smooth), min_periods=1).mean()
    return out.rename_axis("day").reset_index()


def effects_frame(effects: list[ActionEffect]) -> pd.DataFrame:
    """Effects as rows (one per order), with ``improvement`` (positive is better)."""
    columns = [f for f in ActionEffect.__dataclass_fields__] + ["improvement"]
    rows = [{**asdict(e), "improvement": e.improvement} for e in effects]
    return pd.DataFrame(rows, columns=columns)


def rank_effects(effects: pd.DataFrame | list[ActionEffect], by: str = "tactic",
                 level: float = 0.95) -> pd.DataFrame:
    """Tactics (or order kinds, KPIs…) ranked by their measured effect.

    Orders with an estimate are pooled per group by inverse variance on the log scale (each
    order's prediction variance), giving a pooled improvement with a t interval (degrees of
    freedom from the order with the fewest controls, so one order keeps its own interval); the
    counts of each verdict come with it. Orders measured in the same weeks share controls,
    so the pooled interval is on the narrow side when many are. Groups whose orders all
    lack data rank last.

    Returns columns ``by``, ``orders``, ``measured``, ``worked``, ``no_effect``, ``worse``,
    ``not_enough_data``, ``improvement``, ``ci_low``, ``ci_high``, best first.
    """
    frame = effects_frame(effects) if isinstance(effects, list) else effects
    if by not in frame.columns:
        raise ValueError(f"cannot rank by {by!r}; choose a column of the effects")
    rows = []
    for name, group in frame.groupby(by, sort=False, dropna=False):
        counts = group["verdict"].value_counts()
        ok = group[np.isfinite(group["improvement"]) & (group["se_log"] > 0)]
        row = {by: name if isinstance(name, str) and name else "(none)", "orders": len(group),
               "measured": len(ok),
               **{v: int(counts.get(v, 0)) for v in VERDICTS},
               "improvement": math.nan, "ci_low": math.nan, "ci_high": math.nan}
        if len(ok):
            logs = np.log1p(ok["improvement"].to_numpy())
            weights = 1 / ok["se_log"].to_numpy() ** 2
            pooled = float(np.sum(weights * logs) / weights.sum())
            # t with the fewest controls of the group's orders: never narrower than needed
            dof = max(1, int(ok["n_controls"].min()) - 1)
            half = float(stats.t.ppf(0.5 + level / 2, dof)) / math.sqrt(weights.sum())
            row.update(improvement=math.expm1(pooled), ci_low=math.expm1(pooled - half),
                       ci_high=math.expm1(pooled + half))
        rows.append(row)
    out = pd.DataFrame(rows, columns=[by, "orders", "measured", *VERDICTS, "improvement",
                                      "ci_low", "ci_high"])
    return out.sort_values(["improvement", "orders"], ascending=[False, False],
                           na_position="last", ignore_index=True)

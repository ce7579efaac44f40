"""Drill-down tables: each member's KPI, status and exact share of the parent's change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.anomaly.forecast import expected_by_member, expected_values
from analytics.kpis.registry import REGISTRY, Target, compute_kpis, kpi_status


@dataclass(frozen=True)
class RatioSpec:
    """A KPI as numerator ÷ denominator of additive measures (denominator None: additive KPI).

    ``lagged`` takes the denominator from the month before (churn rate: churned ÷ last
    month's base).
    """

    numerator: tuple[str, ...]
    denominator: tuple[str, ...] | None = None
    lagged: bool = False
    negate: tuple[str, ...] = ()


#: KPIs that can be split across members (market share needs own_subs and market_subs columns,
#: which only region levels have).
SPECS: dict[str, RatioSpec] = {
    "revenue": RatioSpec(("revenue",)),
    "active_subs": RatioSpec(("active_subs",)),
    "new_subs": RatioSpec(("new_subs",)),
    "net_adds": RatioSpec(("new_subs",), negate=("churned_subs",)),
    "arpu": RatioSpec(("revenue",), ("active_subs",)),
    "mou": RatioSpec(("mou",), ("active_subs",)),
    "dou": RatioSpec(("data_mb",), ("active_subs",)),
    "churn_rate": RatioSpec(("churned_subs",), ("active_subs",), lagged=True),
    "market_share": RatioSpec(("own_subs",), ("market_subs",)),
    "discount_rate": RatioSpec(("discount",), ("rev_voice", "rev_data", "rev_sms", "rev_vas")),
}


#: Statuses of a slice for which its drill leads with the members that pulled it off target.
OFF_TARGET: frozenset[str] = frozenset({"red", "amber"})

#: What the subscriber step lists for each KPI: (the measure whose fall ranks the rows, which
#: numbers). ``new``: activated this month; ``churned``: gone this month; ``both``: the two,
#: labelled (net adds and the base move by new − churned).
SUBSCRIBER_STEP: dict[str, tuple[str, str | None]] = {
    "revenue": ("revenue", None), "arpu": ("revenue", None), "mou": ("mou", None),
    "dou": ("data_mb", None), "new_subs": ("revenue", "new"),
    "churn_rate": ("revenue", "churned"), "net_adds": ("revenue", "both"),
    "active_subs": ("revenue", "both"), "discount_rate": ("revenue", None),
}


def months_needed(month: pd.Timestamp | str, compare: pd.Timestamp | str | None = None
                  ) -> list[pd.Timestamp]:
    """The months :func:`member_kpis` reads: this, the comparison (default: the month before),
    the month before each (for lagged KPIs), and a year earlier."""
    start = pd.Timestamp(month).to_period("M")
    other = pd.Timestamp(compare).to_period("M") if compare is not None else start - 1
    periods = [start, start - 1, other, other - 1, start - 12, start - 13]
    return sorted({p.to_timestamp() for p in periods})


#: KPIs whose movement is judged against another measure's size: net adds of 3 is "barely
#: moved" for a base of 40,000 subscribers, however small last month's net adds were.
SCALE_MEASURE: dict[str, str] = {"net_adds": "active_subs"}


def measures_for(kpi: str) -> tuple[str, ...]:
    """The summed measures a KPI is computed from (what a query needs to fetch for it), and
    the measure its movement is judged against (``SCALE_MEASURE``)."""
    spec = SPECS[kpi]
    scale = (SCALE_MEASURE[kpi],) if kpi in SCALE_MEASURE else ()
    return tuple(dict.fromkeys(spec.numerator + spec.negate + (spec.denominator or ()) + scale))


def _numerator(frame: pd.DataFrame, spec: RatioSpec) -> pd.Series:
    value = sum(frame[c] for c in spec.numerator)
    for column in spec.negate:
        value = value - frame[column]
    return value.astype(float)


def member_kpis(frame: pd.DataFrame, keys: Sequence[str], kpi: str, month: pd.Timestamp | str,
                targets: Mapping[str, float | Target] | None = None, *,
                compare: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Each member's KPI in ``month``, its change, status and contribution to the total's change.

    Parameters
    ----------
    frame : DataFrame
        One row per member and month: the ``keys`` columns, ``month`` and the measures the
        KPI needs, for (at least) ``month`` and the month before; also two months before for
        lagged KPIs, and a year before for growth targets (see :func:`months_needed`).
    keys : sequence of str
        Columns identifying a member (e.g. ``["channel_id", "channel_name"]``).
    kpi : str
        A key of ``SPECS``.
    month : month to report.
    targets : mapping, optional
        Overrides as in :func:`analytics.kpis.registry.kpi_cards`.
    compare : month, optional
        The month to compare with (``previous``, ``change`` and contributions); default the
        month before ``month``.

    Returns
    -------
    DataFrame
        keys, value, previous, change, last_year, target, status, contribution and
        share_of_change, sorted by absolute contribution, largest first. Contributions sum
        exactly to the change of the KPI over all members (for ratios, a member's
        contribution is its weighted rate change centred on the mean ratio, so a growing
        member below the average counts as pulling the ratio down).

    Examples
    --------
    >>> rows = pd.DataFrame({"region": ["a", "a", "b", "b"],
    ...                      "month": pd.to_datetime(["2026-01-01", "2026-02-01"] * 2),
    ...                      "revenue": [100.0, 80.0, 50.0, 60.0]})
    >>> table = member_kpis(rows, ["region"], "revenue", "2026-02")
    >>> table[["region", "change", "contribution"]].to_dict("list")
    {'region': ['a', 'b'], 'change': [-20.0, 10.0], 'contribution': [-20.0, 10.0]}
    """
    if kpi not in SPECS:
        raise ValueError(f"KPI {kpi!r} cannot be split across members; choose one of "
                         f"{', '.join(SPECS)}")
    spec, meta = SPECS[kpi], REGISTRY[kpi]
    keys = list(keys)
    t0 = pd.Timestamp(month).to_period("M")
    c0 = pd.Timestamp(compare).to_period("M") if compare is not None else t0 - 1
    t0, t1, c0, c1 = (p.to_timestamp() for p in (t0, t0 - 1, c0, c0 - 1))
    y0, y1 = ((pd.Timestamp(month).to_period("M") - lag).to_timestamp() for lag in (12, 13))
    frame = frame.assign(month=pd.to_datetime(frame["month"]))
    members = frame[keys].drop_duplicates().reset_index(drop=True)
    # every month read, summed in one grouping (the keys are factorised once, not per month)
    sums = (frame[frame["month"].isin([t0, t1, c0, c1, y0, y1])]
            .groupby([*keys, "month"], dropna=False).sum(numeric_only=True))
    per_month: dict[pd.Timestamp, pd.DataFrame] = {}

    def at(when: pd.Timestamp) -> pd.DataFrame:
        if when not in per_month:
            rows = sums[sums.index.get_level_values("month") == when].droplevel("month")
            per_month[when] = members.join(rows, on=keys).fillna(0.0)
        return per_month[when]

    def parts(now: pd.Timestamp, before: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
        """Numerator and denominator per member (denominator 1 for additive KPIs)."""
        current = at(now)
        numerator = _numerator(current, spec)
        if spec.denominator is None:
            return numerator, pd.Series(1.0, index=members.index)
        source = at(before) if spec.lagged else current
        return numerator, sum(source[c] for c in spec.denominator).astype(float)

    n1, d1 = parts(t0, t1)
    n0, d0 = parts(c0, c1)
    ny, dy = parts(y0, y1)

    def rate(n: pd.Series, d: pd.Series) -> pd.Series:
        return n / d.where(d != 0)

    value, previous, last_year = rate(n1, d1), rate(n0, d0), rate(ny, dy)
    seen_last_year = members.join(
        frame[frame["month"] == y0].groupby(keys, dropna=False).size().rename("_rows"), on=keys)
    last_year = last_year.where(seen_last_year["_rows"].notna())
    if spec.denominator is None:
        contribution = value.fillna(0.0) - previous.fillna(0.0)
    else:
        total1, total0 = d1.sum(), d0.sum()
        r1 = n1.sum() / total1 if total1 else 0.0
        r0 = n0.sum() / total0 if total0 else 0.0
        w1 = d1 / total1 if total1 else d1 * 0.0
        w0 = d0 / total0 if total0 else d0 * 0.0
        mean = (r1 + r0) / 2
        contribution = (n1 / total1 if total1 else 0.0) - (n0 / total0 if total0 else 0.0) \
            - (w1 - w0) * mean
    total_change = contribution.sum()
    target = _member_targets(meta.key, value, previous, last_year, targets)
    out = members.assign(
        value=value, previous=previous, change=value - previous, last_year=last_year,
        target=target,
        status=[kpi_status(meta, v, t) for v, t in zip(value, target, strict=True)],
        contribution=contribution,
        share_of_change=contribution / total_change if total_change else np.nan,
    )
    order = out["contribution"].abs().sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _member_targets(key: str, value: pd.Series, previous: pd.Series, last_year: pd.Series,
                    targets: Mapping[str, float | Target] | None) -> pd.Series:
    rule = REGISTRY[key].target
    override = (targets or {}).get(key)
    if isinstance(override, Target):
        rule = override
    elif override is not None:
        rule = Target(rule.kind, float(override))
    if rule.kind == "absolute":
        return pd.Series(rule.value, index=value.index)
    monthly = (1 + rule.value) ** (1 / 12) - 1
    yearly = last_year + rule.value * last_year.abs()
    fallback = previous + monthly * previous.abs()
    return yearly.where(last_year.notna(), fallback)


def history_months(month: pd.Timestamp | str, compare: pd.Timestamp | str | None = None,
                   years: int = 2) -> list[pd.Timestamp]:
    """The months :func:`member_kpis` needs plus ``years`` of history for expected values."""
    end = pd.Timestamp(month).to_period("M")
    history = [(end - lag).to_timestamp() for lag in range(12 * years + 1)]
    return sorted(set(history) | set(months_needed(month, compare)))


def member_expected(frame: pd.DataFrame, keys: Sequence[str], kpi: str,
                    month: pd.Timestamp | str, *, start: pd.Timestamp | str | None = None
                    ) -> pd.DataFrame:
    """Each member's expected KPI in ``month`` from its own history (a seasonal baseline).

    Additive KPIs use :func:`analytics.anomaly.forecast.expected_by_member` on the measure; ratios are
    the expected numerator over the expected denominator (a lagged denominator, like last
    month's base for churn, is already known and taken as it is).

    ``start``: the first month of the history the members were drawn from, when ``frame``
    holds only some of them (the drill's shown members), so each gets the value it would get
    among all (see ``expected_by_member``).

    Returns the ``keys`` columns and ``expected`` (NaN without enough history).
    """

    if kpi not in SPECS:
        raise ValueError(f"KPI {kpi!r} has no expected value per member; choose one of "
                         f"{', '.join(SPECS)}")
    spec, keys = SPECS[kpi], list(keys)
    frame = frame.assign(month=pd.to_datetime(frame["month"]))
    base = frame[keys + ["month"]].copy()
    base["_num"] = _numerator(frame, spec)
    out = expected_by_member(base, keys, "_num", month, start=start)[keys + ["expected"]]
    if spec.denominator is None:
        return out
    base["_den"] = sum(frame[c] for c in spec.denominator).astype(float)
    if spec.lagged:
        before = (pd.Timestamp(month).to_period("M") - 1).to_timestamp()
        den = (base[base["month"] == before].groupby(keys, dropna=False)["_den"].sum()
               .rename("_d").reset_index())
    else:
        den = expected_by_member(base, keys, "_den", month, start=start)[
            keys + ["expected"]].rename(
            columns={"expected": "_d"})
    out = out.merge(den, on=keys, how="left")
    out["expected"] = out["expected"] / out["_d"].where(out["_d"] != 0)
    return out[keys + ["expected"]]


def kpi_expected(monthly: pd.DataFrame, month: pd.Timestamp | str) -> dict[str, float]:
    """Every KPI's expected value for ``month`` from the slice's own earlier months.

    ``monthly`` is what :func:`analytics.kpis.registry.compute_kpis` takes; each KPI's series is
    forecast one step ahead causally (:func:`analytics.anomaly.forecast.expected_values`), so the value
    for ``month`` uses only the months before it.
    """

    values = compute_kpis(monthly.loc[:pd.Timestamp(month)])
    out = {}
    for key in values.columns:
        series = values[key].dropna()
        out[key] = (float(expected_values(series).iloc[-1]) if len(series) > 2
                    and series.index[-1] == pd.Timestamp(month) else float("nan"))
    return out


def adverse_first(table: pd.DataFrame, kpi: str, status: str) -> pd.DataFrame:
    """Order a :func:`member_kpis` table for reading: culprits first when the KPI is off target.

    For a slice whose KPI is off target (``status`` red or amber) the members whose
    contribution moved the KPI the wrong way come first, biggest first: falls for a KPI where
    higher is better, rises where lower is better (churn rate, discount rate); then the
    others, biggest first. On target (or without a target) members are ranked by the size of
    their contribution either way.

    Examples
    --------
    >>> table = pd.DataFrame({"m": ["a", "b", "c"], "contribution": [32.0, -30.0, 5.0]})
    >>> adverse_first(table, "net_adds", "red")["m"].tolist()
    ['b', 'a', 'c']
    >>> adverse_first(table, "churn_rate", "red")["m"].tolist()
    ['a', 'c', 'b']
    >>> adverse_first(table, "net_adds", "green")["m"].tolist()
    ['a', 'b', 'c']
    """
    contribution = table["contribution"].astype(float).fillna(0.0).to_numpy()
    size = -np.abs(contribution)
    if status in OFF_TARGET:
        adverse = contribution < 0 if REGISTRY[kpi].direction == "higher" else contribution > 0
        order = np.lexsort((size, ~adverse))  # the last key sorts first; lexsort is stable
    else:
        order = np.argsort(size, kind="stable")
    return table.iloc[order].reset_index(drop=True)


def rank_members(frame: pd.DataFrame, keys: Sequence[str], kpi: str, month: pd.Timestamp | str,
                 targets: Mapping[str, float | Target] | None = None, *,
                 compare: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """:func:`member_kpis` for the drill: judged as a whole, then ordered by :func:`adverse_first`.

    The slice's own KPI (all members together) is judged against its target with the same
    rules as each member's; the returned table carries it in ``parent_value``,
    ``parent_change``, ``parent_status`` and ``parent_level`` (one value on every row):
    the level is the size the change is judged against (the KPI's own value, or for
    ``SCALE_MEASURE`` KPIs that measure's total this month when the frame has it), so a page
    can withhold shares of a change that is barely a move.
    """
    table = member_kpis(frame, keys, kpi, month, targets, compare=compare)
    whole = member_kpis(frame.drop(columns=list(keys)).assign(_slice="all"), ["_slice"], kpi,
                        month, targets, compare=compare)
    status = str(whole["status"].iloc[0]) if len(whole) else "grey"
    value = float(whole["value"].iloc[0]) if len(whole) else np.nan
    change = float(whole["change"].iloc[0]) if len(whole) else np.nan
    level = value
    scale = SCALE_MEASURE.get(kpi)
    if scale is not None and scale in frame.columns:
        when = pd.to_datetime(frame["month"]) == pd.Timestamp(month).to_period("M").to_timestamp()
        level = float(frame.loc[when, scale].sum())
    return adverse_first(table, kpi, status).assign(
        parent_value=value, parent_change=change, parent_status=status, parent_level=level)

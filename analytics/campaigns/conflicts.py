"""Campaign conflicts and rhythm 营销冲突与节奏: the checks run before a campaign is saved.

Four kinds of conflict (the source report's campaign-conflict rules), each a row of the frame :func:`check_plan` returns:

* ``overlap`` — another campaign runs at the same time on a shared target segment *and* a
  shared channel type;
* ``duplicate_benefit`` — customers eligible for the plan already hold a paid benefit from a
  campaign overlapping the plan's window (counted by the caller, usually in SQL);
* ``channel_overload`` — in some month a channel type would carry more campaigns than the
  loading rule allows;
* ``channel_not_allowed`` — the loading rule for the plan's benefit kind does not allow one
  of its channel types.

Campaign frames hold ``campaign_id``, ``campaign_name``, ``department``, ``benefit_kind``,
``segments`` and ``channel_types`` (lists of codes, or comma-separated strings) and ``start``
/ ``end`` (dates, inclusive; month-granular mart campaigns end on the month's last day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

KINDS: dict[str, str] = {
    "overlap": "overlapping campaign 活动重叠",
    "duplicate_benefit": "duplicate benefit 重复优惠",
    "channel_overload": "channel overloaded 渠道过载",
    "channel_not_allowed": "channel not allowed 渠道不允许",
}
#: Used when no loading rule names the plan's benefit kind.
DEFAULT_MAX_PER_MONTH = 3
COLUMNS = ["kind", "label", "campaign_id", "campaign_name", "month", "channel_type",
           "customers", "message"]


@dataclass(frozen=True)
class Rule:
    """A channel loading rule for one benefit kind."""

    allowed: frozenset[str] | None  # None: any channel type
    max_per_month: int


def split_codes(value: Any) -> list[str]:
    """A list of codes from a list or a comma-separated string (blanks dropped).

    >>> split_codes("own_hall, e_channel,"), split_codes(["mass"])
    (['own_hall', 'e_channel'], ['mass'])
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def month_end(day: dt.date) -> dt.date:
    """The last day of ``day``'s month."""
    return (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()


def months_of(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months from ``start`` to ``end`` inclusive."""
    return [m.date() for m in pd.date_range(pd.Timestamp(start).replace(day=1),
                                            pd.Timestamp(end), freq="MS")]


def normalise(campaigns: pd.DataFrame) -> pd.DataFrame:
    """Campaign rows with list-valued ``segments`` / ``channel_types`` and date ``start`` /
    ``end``."""
    out = campaigns.copy()
    for col in ("segments", "channel_types"):
        out[col] = [split_codes(v) for v in out[col]] if len(out) else []
    for col in ("start", "end"):
        out[col] = pd.to_datetime(out[col]).dt.date if len(out) else []
    return out


def rule_for(rules: pd.DataFrame, benefit_kind: str) -> Rule:
    """The loading rule for ``benefit_kind`` (columns ``benefit_kind``, ``allowed_channel_types``,
    ``max_per_month``), else any channel and ``DEFAULT_MAX_PER_MONTH``."""
    match = rules[rules["benefit_kind"] == benefit_kind] if len(rules) else rules
    if match is None or match.empty:
        return Rule(None, DEFAULT_MAX_PER_MONTH)
    row = match.iloc[0]
    allowed = split_codes(row["allowed_channel_types"])
    return Rule(frozenset(allowed) if allowed else None, int(row["max_per_month"]))


def overlapping(plan: Mapping[str, Any], campaigns: pd.DataFrame) -> pd.DataFrame:
    """Campaigns whose dates overlap the plan's (whatever their segments and channels)."""
    camp = normalise(campaigns)
    if camp.empty:
        return camp
    mask = (camp["start"] <= plan["end"]) & (camp["end"] >= plan["start"])
    if "campaign_id" in plan and plan.get("campaign_id") is not None:
        mask &= camp["campaign_id"] != plan["campaign_id"]
    return camp[mask]


def _row(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "label": KINDS[kind], "campaign_id": None, "campaign_name": None,
            "month": None, "channel_type": None, "customers": None, "message": message} | extra


def find_overlaps(plan: Mapping[str, Any], campaigns: pd.DataFrame) -> list[dict[str, Any]]:
    """``overlap`` rows: same time, a shared segment and a shared channel type."""
    segs, types = set(plan["segments"]), set(plan["channel_types"])
    rows = []
    for c in overlapping(plan, campaigns).itertuples(index=False):
        shared_s, shared_t = segs & set(c.segments), types & set(c.channel_types)
        if shared_s and shared_t:
            rows.append(_row(
                "overlap", f"{c.campaign_name} ({c.department}, {c.start}–{c.end}) also targets "
                f"{', '.join(sorted(shared_s))} through {', '.join(sorted(shared_t))}.",
                campaign_id=c.campaign_id, campaign_name=c.campaign_name))
    return rows


def find_overloads(plan: Mapping[str, Any], campaigns: pd.DataFrame,
                   rule: Rule) -> list[dict[str, Any]]:
    """``channel_overload`` rows: months where a plan channel type would carry more than
    ``rule.max_per_month`` campaigns (the plan included)."""
    load = monthly_load(overlapping(plan, campaigns))
    rows = []
    for month in months_of(plan["start"], plan["end"]):
        for ctype in plan["channel_types"]:
            count = int(load.get((month, ctype), 0)) + 1
            if count > rule.max_per_month:
                rows.append(_row(
                    "channel_overload", f"{month:%Y-%m}: {ctype} would carry {count} campaigns "
                    f"(at most {rule.max_per_month} allowed).", month=month, channel_type=ctype))
    return rows


def check_plan(plan: Mapping[str, Any], campaigns: pd.DataFrame, rules: pd.DataFrame,
               duplicates: Mapping[Any, int] | None = None) -> pd.DataFrame:
    """Every conflict of ``plan`` with the calendar ``campaigns`` under ``rules``.

    Parameters
    ----------
    plan : mapping
        ``benefit_kind``, ``segments``, ``channel_types``, ``start``, ``end`` (dates) and
        optionally ``campaign_id`` (a saved plan being re-checked is not its own conflict).
    campaigns : DataFrame
        The calendar (see the module docstring).
    rules : DataFrame
        Loading rules: ``benefit_kind``, ``allowed_channel_types``, ``max_per_month``.
    duplicates : mapping, optional
        Campaign id → eligible customers of the plan who already hold a paid benefit from that
        campaign (only campaigns overlapping the plan's window are reported).

    Returns
    -------
    DataFrame
        One row per conflict (columns ``COLUMNS``); empty when the plan is clean.
    """
    plan = dict(plan) | {"segments": split_codes(plan["segments"]),
                         "channel_types": split_codes(plan["channel_types"])}
    rule = rule_for(rules, plan["benefit_kind"])
    rows = find_overlaps(plan, campaigns)
    if duplicates:
        names = dict(zip(campaigns["campaign_id"], campaigns["campaign_name"], strict=True))
        live = set(overlapping(plan, campaigns)["campaign_id"]) if len(campaigns) else set()
        for cid, count in sorted(duplicates.items(), key=lambda kv: -kv[1]):
            if count > 0 and cid in live:
                rows.append(_row("duplicate_benefit", f"{count:,} eligible customer(s) already "
                                 f"hold a paid benefit from {names.get(cid, cid)} in this window.",
                                 campaign_id=cid, campaign_name=names.get(cid),
                                 customers=int(count)))
    rows += find_overloads(plan, campaigns, rule)
    if rule.allowed is not None:
        for ctype in plan["channel_types"]:
            if ctype not in rule.allowed:
                rows.append(_row("channel_not_allowed", f"{plan['benefit_kind']} may not be sold "
                                 f"through {ctype}; allowed: {', '.join(sorted(rule.allowed))}.",
                                 channel_type=ctype))
    return pd.DataFrame(rows, columns=COLUMNS)


def monthly_load(campaigns: pd.DataFrame) -> pd.Series:
    """Campaigns running per (month, channel type), as a Series with a MultiIndex."""
    camp = normalise(campaigns)
    pairs = [(m, t) for c in camp.itertuples(index=False)
             for m in months_of(c.start, c.end) for t in c.channel_types]
    if not pairs:
        return pd.Series(dtype=int)
    return pd.Series(1, index=pd.MultiIndex.from_tuples(pairs, names=["month", "channel_type"])
                     ).groupby(level=[0, 1]).sum()


def calendar_window(view: str, year: int, part: int = 1) -> tuple[dt.date, dt.date]:
    """First and last day of a ``year``, ``quarter`` (part 1–4) or ``month`` (part 1–12) view."""
    if view == "year":
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if view == "quarter":
        start = dt.date(year, 3 * (part - 1) + 1, 1)
        return start, month_end(dt.date(year, 3 * part, 1))
    if view == "month":
        start = dt.date(year, part, 1)
        return start, month_end(start)
    raise ValueError(f"unknown calendar view {view!r}; use year, quarter or month")


def calendar_bars(campaigns: pd.DataFrame, window: tuple[dt.date, dt.date]) -> pd.DataFrame:
    """The campaigns visible in ``window``, clipped to it: one bar each for a Gantt chart
    (``bar_start``, ``bar_end`` plus the campaign's columns), by department then start."""
    camp = normalise(campaigns)
    if camp.empty:
        return camp.assign(bar_start=[], bar_end=[])
    first, last = window
    shown = camp[(camp["start"] <= last) & (camp["end"] >= first)].copy()
    shown["bar_start"] = [max(s, first) for s in shown["start"]]
    shown["bar_end"] = [min(e, last) for e in shown["end"]]
    shown["segments"] = shown["segments"].map(", ".join)
    shown["channel_types"] = shown["channel_types"].map(", ".join)
    return shown.sort_values(["department", "start", "campaign_id"]).reset_index(drop=True)


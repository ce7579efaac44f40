"""Enterprise-group management 集团客户管理: the account manager's portfolio and the group early
warning (a key line's traffic falling before it is cancelled, a group's usage or members
falling), each warning with its evidence and severity, and how a rescue ended.

Pure: frames in, frames out. Every threshold is statistical: a series is judged against its
own history, on its own noise (a robust median and MAD), after the month's common movement of
all lines of the same product (seasonality) is taken out. Nothing here knows how the demo
mart was generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Signals of the early warning (code → label).
SIGNALS: dict[str, str] = {
    "line_traffic": "line traffic falling 专线流量下滑",
    "group_usage": "group usage falling 集团用量下滑",
    "group_members": "members leaving faster 成员流失加快",
}
SEVERITIES = ("high", "medium")
#: The arsenal tactic suggested for each signal (the account manager picks on the order).
OFFERS = {"line_traffic": "LINERENEW", "group_usage": "GROUPVISIT", "group_members": "GROUPVISIT"}
OUTCOMES: dict[str, str] = {"pending": "pending 待观察", "retained": "retained 挽留成功",
                            "lost": "lost 已流失"}
WARNING_COLUMNS = ("signal", "group_id", "line_id", "as_of", "since", "months_down", "fall",
                   "latest_fall", "z", "scale", "level", "baseline", "severity", "score")
_MAD = 1.4826  # MAD → standard deviation for normal noise
_MEDIAN_SE = 1.2533  # standard error of a median, in standard deviations × √n


@dataclass(frozen=True)
class WarningPolicy:
    """How the early warning judges a series (statistics, not business numbers).

    A series warns when the mean of its ``recent`` months lies ``z_alarm`` standard errors
    below its own baseline (the median of up to ``max_history`` earlier months, at least
    ``min_history``), the noise scale being the MAD of those months (pooled with its peers');
    and each of the ``persist`` latest months is at least ``z_month`` scales below it (a
    fall that persists, not one bad month).
    """

    recent: int = 3
    min_history: int = 5
    max_history: int = 12
    z_alarm: float = 3.0
    z_month: float = 1.0
    #: Months left out between the baseline and the judged months when the history is long
    #: enough (a slow slide would otherwise pull its own baseline down).
    gap: int = 3
    #: The latest months that must each be ``z_month`` scales low.
    persist: int = 2
    #: Smallest noise scale (log units, about 2%): a series that never moved is not infinitely sure.
    scale_floor: float = 0.02
    #: High severity: the latest month lost at least this share, or the contract ends soon.
    high_fall: float = 0.5
    contract_months: int = 3
    #: A rescue is judged this many months after the warning.
    outcome_months: int = 3


DEFAULT_POLICY = WarningPolicy()


def subject(signal: str, group_id: int, line_id: object = None) -> str:
    """What a warning is about, as one key: a line, or a group's usage or members.

    >>> subject("line_traffic", 3, 12), subject("group_members", 3)
    ('line:12', 'group:3:members')
    """
    if signal == "line_traffic":
        return f"line:{int(line_id)}"
    return f"group:{int(group_id)}:{signal.removeprefix('group_')}"


def month_index(months: pd.Series) -> pd.Series:
    """Months as whole numbers (year × 12 + month − 1), for month arithmetic."""
    stamps = pd.to_datetime(months)
    return stamps.dt.year * 12 + stamps.dt.month - 1


def month_number(when: object) -> int:
    """One month as a whole number, as :func:`month_index` numbers a column of them.

    >>> month_number("2026-10-01") - month_number("2025-10-15")
    12
    """
    stamp = pd.Timestamp(when)
    return stamp.year * 12 + stamp.month - 1


def _stamp(index: int) -> pd.Timestamp:
    return pd.Timestamp(year=int(index) // 12, month=int(index) % 12 + 1, day=1)


def line_residuals(line_months: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Log traffic of each line up to ``as_of`` with the month's common movement removed.

    The common movement of a month is the median, over the lines of the same product billed
    that month (all lines when a product has fewer than five), of each line's log traffic
    less its own median: seasonality shared by a product, learnt from the data. Returns a
    wide frame: lines × month numbers.
    """
    frame = line_months[pd.to_datetime(line_months["month"]) <= as_of]
    frame = frame.assign(t=month_index(frame["month"]),
                         log=np.log(frame["traffic"].clip(lower=1e-6)))
    frame["dev"] = frame["log"] - frame.groupby("line_id")["log"].transform("median")
    common_all = frame.groupby("t")["dev"].median()
    by_product = frame.groupby(["product", "t"])["dev"].agg(["median", "size"])
    common = by_product["median"].where(by_product["size"] >= 5)
    frame = frame.join(common.rename("common"), on=["product", "t"])
    frame["common"] = frame["common"].fillna(frame["t"].map(common_all))
    frame["resid"] = frame["log"] - frame["common"]
    return frame.pivot(index="line_id", columns="t", values="resid")


def _split(values: np.ndarray, policy: WarningPolicy) -> tuple[np.ndarray, np.ndarray] | None:
    """(history, recent) of one series (oldest first), or None when it cannot be judged: a
    recent month missing, or too little history."""
    if np.isnan(values[-policy.recent:]).any():
        return None
    values = values[~np.isnan(values)]
    if values.size < policy.recent + policy.min_history:
        return None
    earlier = values[:-policy.recent]
    if earlier.size - policy.gap >= policy.min_history:  # a slow slide must not hide in its baseline
        earlier = earlier[:-policy.gap]
    return earlier[-policy.max_history:], values[-policy.recent:]


def _median(values: np.ndarray) -> float:
    """``np.median`` of a short series without NaN (the same value: the middle of the sorted
    values, or the mean of the two middle ones), at a tenth of its cost per call: the scan
    takes thousands of medians of a few months each."""
    ordered = np.sort(values)
    half = ordered.size // 2
    if ordered.size % 2:
        return float(ordered[half])
    return float((ordered[half - 1] + ordered[half]) / 2)


def _raw_scale(history: np.ndarray) -> float:
    return _MAD * _median(np.abs(history - _median(history)))


def _pooled(raw: list[float], count: list[int], policy: WarningPolicy) -> list[float]:
    """Each series' noise scale shrunk toward the typical scale of its peers (a prior worth
    ``min_history`` months): a MAD of a few months is itself noisy, and a series that happened
    to sit still for five months must not make a small dip look certain."""
    pool = float(np.median(raw)) if raw else policy.scale_floor
    weight = policy.min_history
    return [max(float(np.sqrt((n * r ** 2 + weight * pool ** 2) / (n + weight))),
                policy.scale_floor) for r, n in zip(raw, count, strict=True)]


def _judge(history: np.ndarray, recent: np.ndarray, scale: float,
           policy: WarningPolicy) -> dict | None:
    """The level test (see :class:`WarningPolicy`); None when the series holds."""
    base = _median(history)
    se = scale * np.sqrt(1 / policy.recent + _MEDIAN_SE ** 2 / history.size)
    z = float((recent.mean() - base) / se)
    per_month = (recent - base) / scale
    if z > -policy.z_alarm or (per_month[-policy.persist:] > -policy.z_month).any():
        return None
    down = (np.concatenate([history, recent]) - base) / scale < -policy.z_month
    run = int(np.argmin(down[::-1])) if not down.all() else down.size
    return {"z": round(z, 2), "scale": round(scale, 4), "months_down": run,
            "fall": round(1 - float(np.exp(recent.mean() - base)), 4),
            "latest_fall": round(1 - float(np.exp(recent[-1] - base)), 4),
            "level": float(recent[-1]), "baseline": base}


def _judge_all(series: dict[object, np.ndarray], policy: WarningPolicy) -> dict[object, dict]:
    """The test on many series, their noise scales pooled (:func:`_pooled`)."""
    parts = {key: found for key, values in series.items()
             if (found := _split(values, policy)) is not None}
    keys = list(parts)
    scales = _pooled([_raw_scale(parts[k][0]) for k in keys],
                     [parts[k][0].size for k in keys], policy)
    judged = {k: _judge(*parts[k], scale, policy) for k, scale in zip(keys, scales, strict=True)}
    return {k: v for k, v in judged.items() if v is not None}


def group_usage(centred: pd.DataFrame, owners: pd.Series, recent: int) -> dict[int, np.ndarray]:
    """Each group's usage series: the mean, month by month, of its lines that have every one
    of the ``recent`` months (a month missing in any of them is missing in the mean), for
    groups with at least two such lines. ``centred``: one row per line, one column per
    month; ``owners``: each line's group. One pass over all groups, not a frame per group
    (1.6 s → 0.1 s for 2,500 groups at 1M subscribers)."""
    full = centred.iloc[:, -recent:].notna().all(axis=1).to_numpy()
    full_owners = owners[full]
    counted = full_owners.value_counts()
    means = centred[full].groupby(full_owners, sort=True).mean(skipna=False)
    return {int(group_id): row for group_id, row in zip(means.index, means.to_numpy(
        dtype=float), strict=True) if counted.get(group_id, 0) >= 2}


def line_warnings(lines: pd.DataFrame, line_months: pd.DataFrame, as_of: object,
                  policy: WarningPolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Lines (active at ``as_of``) whose traffic is falling against their own history, and
    groups whose lines' usage falls together; columns ``WARNING_COLUMNS``.

    ``lines``: line_id, group_id, product, contract_end, cancel_month; ``line_months``:
    month, line_id, traffic. ``since`` is the first month of the run of low months.
    """
    as_of = pd.Timestamp(as_of)
    t_end = month_number(as_of)
    months = line_months.merge(lines[["line_id", "product"]], on="line_id")
    resid = line_residuals(months, as_of)
    if resid.empty or t_end not in resid.columns:
        return _empty()
    resid = resid.reindex(columns=range(int(resid.columns.min()), t_end + 1))
    info = lines.set_index("line_id")
    rows = []
    for line_id, found in _judge_all(dict(zip(resid.index, resid.to_numpy(dtype=float),
                                              strict=True)), policy).items():
        rows.append({"signal": "line_traffic", "group_id": int(info.at[line_id, "group_id"]),
                     "line_id": int(line_id), **found})
    # a group's usage: the mean of its lines' residuals about each line's own median
    centred = resid.sub(resid.iloc[:, :-policy.recent].median(axis=1), axis=0)
    usage = group_usage(centred, info["group_id"].reindex(centred.index), policy.recent)
    for group_id, found in _judge_all(usage, policy).items():
        rows.append({"signal": "group_usage", "group_id": group_id, "line_id": None, **found})
    return _finish(rows, as_of, t_end, lines, policy)


def member_warnings(group_months: pd.DataFrame, as_of: object,
                    policy: WarningPolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Groups whose members leave faster than their own usual pace: the test above on the
    month-on-month change of log active members (``group_months``: month, group_id,
    active_subs)."""
    as_of = pd.Timestamp(as_of)
    t_end = month_number(as_of)
    frame = group_months[pd.to_datetime(group_months["month"]) <= as_of]
    frame = frame.assign(t=month_index(frame["month"]),
                         log=np.log(frame["active_subs"].clip(lower=1).astype(float)))
    wide = frame.pivot(index="group_id", columns="t", values="log")
    if wide.empty or t_end not in wide.columns:
        return _empty()
    change = wide.diff(axis=1).iloc[:, 1:]
    rows = []
    for group_id, found in _judge_all(dict(zip(change.index, change.to_numpy(dtype=float),
                                               strict=True)),
                                      policy).items():
        found["level"] = float(np.exp(wide.at[group_id, t_end]))  # members now
        rows.append({"signal": "group_members", "group_id": int(group_id), "line_id": None,
                     **found})
    return _finish(rows, as_of, t_end, None, policy)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(WARNING_COLUMNS))


def _finish(rows: list[dict], as_of: pd.Timestamp, t_end: int, lines: pd.DataFrame | None,
            policy: WarningPolicy) -> pd.DataFrame:
    if not rows:
        return _empty()
    frame = pd.DataFrame(rows)
    frame["as_of"] = as_of
    frame["since"] = [_stamp(t_end - n + 1) for n in frame["months_down"]]
    ends = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if lines is not None:
        ends = frame["line_id"].map(lines.set_index("line_id")["contract_end"]).astype(
            "datetime64[ns]")
    frame["severity"] = [severity(f, e, as_of, policy) for f, e in
                         zip(frame["latest_fall"], ends, strict=True)]
    frame["score"] = -frame["z"]
    frame["line_id"] = frame["line_id"].astype("Int64")
    return frame[list(WARNING_COLUMNS)].sort_values("score", ascending=False,
                                                     ignore_index=True)


def severity(latest_fall: float, contract_end: object, as_of: object,
             policy: WarningPolicy = DEFAULT_POLICY) -> str:
    """"high" when the latest month lost at least ``high_fall`` of the line's usual traffic or
    its contract ends within ``contract_months`` (the group can leave without a penalty),
    else "medium".

    >>> severity(0.6, None, "2026-10-01"), severity(0.2, "2026-12-01", "2026-10-01")
    ('high', 'high')
    >>> severity(0.2, "2027-10-01", "2026-10-01")
    'medium'
    """
    if latest_fall >= policy.high_fall:
        return "high"
    if contract_end is not None and not pd.isna(contract_end):
        left = month_number(contract_end) - month_number(as_of)
        if left <= policy.contract_months:
            return "high"
    return "medium"


def evidence(row: pd.Series) -> str:
    """One sentence of a warning's evidence: how much, since when, how sure."""
    group = row.get("group_name") or f"group {row['group_id']}"
    what = f"line {row['line_id']} of {group}" if row["signal"] == "line_traffic" else group
    measure = "members' monthly change" if row["signal"] == "group_members" else "traffic"
    size = (f"{row['fall']:.0%} below" if row["signal"] != "group_members"
            else "faster than")
    return (f"{SIGNALS[row['signal']]}: {what}'s {measure} {size} its own usual level over "
            f"the last 3 months (latest month {row['latest_fall']:.0%} down), low since "
            f"{pd.Timestamp(row['since']):%Y-%m}; {abs(row['z']):.1f} standard errors, "
            f"noise {row['scale']:.1%} a month; severity {row['severity']}.")


def classify_outcome(warned: object, cancelled: object, latest: object,
                     policy: WarningPolicy = DEFAULT_POLICY) -> tuple[str, pd.Timestamp | None]:
    """How a line's rescue ended: "lost" when it was cancelled within ``outcome_months`` of
    the warning, "retained" when it was still billed that long after, else "pending".
    Returns the outcome and the month it was decided.

    >>> classify_outcome("2026-05-01", "2026-07-01", "2026-10-01")[0]
    'lost'
    >>> classify_outcome("2026-05-01", None, "2026-10-01")
    ('retained', Timestamp('2026-08-01 00:00:00'))
    >>> classify_outcome("2026-09-01", None, "2026-10-01")
    ('pending', None)
    """
    w = month_number(warned)
    horizon = w + policy.outcome_months
    if cancelled is not None and not pd.isna(cancelled):
        c = month_number(cancelled)
        if c <= horizon:
            return "lost", _stamp(c)
    if month_number(latest) >= horizon:
        return "retained", _stamp(horizon)
    return "pending", None


def classify_group_outcome(change: float | None, scale: float,
                           policy: WarningPolicy = DEFAULT_POLICY) -> str:
    """A group signal's rescue: ``change`` is the log change of the group's measure (its
    lines' traffic, averaged over lines, or its members) from the warned month to
    ``outcome_months`` later. "lost" when it kept falling by more than ``z_alarm`` noise
    scales over those months, "retained" when it held, "pending" before then (None).

    >>> classify_group_outcome(-0.5, 0.05), classify_group_outcome(-0.02, 0.05)
    ('lost', 'retained')
    >>> classify_group_outcome(None, 0.05)
    'pending'
    """
    if change is None or pd.isna(change):
        return "pending"
    bound = policy.z_alarm * scale * np.sqrt(policy.outcome_months)
    return "lost" if change < -bound else "retained"


PORTFOLIO_COLUMNS = ("group_id", "group_name", "industry", "account_manager", "branch",
                     "micro_region", "members", "member_churn", "lines", "products", "revenue",
                     "net_value", "net_value_change", "next_contract_end", "warnings",
                     "severity")


def group_trend(group_months: pd.DataFrame, line_months: pd.DataFrame) -> pd.DataFrame:
    """Per group and month: ``members``, ``member_revenue`` (after discounts), ``line_revenue``,
    ``revenue`` (both) and ``net_value`` = revenue − the members' cost to serve (campaign
    costs are not in the monthly summaries)."""
    members = group_months.rename(columns={"active_subs": "members",
                                           "revenue": "member_revenue"})
    lines = (line_months.groupby(["group_id", "month"], as_index=False)["revenue"].sum()
             .rename(columns={"revenue": "line_revenue"}))
    frame = members.merge(lines, on=["group_id", "month"], how="outer")
    frame[["members", "member_revenue", "service_cost", "line_revenue"]] = frame[
        ["members", "member_revenue", "service_cost", "line_revenue"]].fillna(0)
    frame["revenue"] = frame["member_revenue"] + frame["line_revenue"]
    frame["net_value"] = frame["revenue"] - frame["service_cost"]
    return frame.sort_values(["group_id", "month"], ignore_index=True)[
        ["group_id", "month", "members", "churned_subs", "member_revenue", "line_revenue",
         "revenue", "net_value"]]


def portfolio(groups: pd.DataFrame, group_months: pd.DataFrame, lines: pd.DataFrame,
              line_months: pd.DataFrame, warnings: pd.DataFrame, as_of: object,
              months: int = 3) -> pd.DataFrame:
    """An account manager's portfolio as of a month: per group its members, member churn over
    the last ``months`` (lines churned ÷ members at the start), active lines and products,
    revenue and net value of the month, the net value's change against ``months`` earlier,
    the next contract end of its active lines, and its warnings (count, worst severity)."""
    as_of = pd.Timestamp(as_of)
    start = as_of - pd.DateOffset(months=months)
    trend = group_trend(group_months, line_months)
    now = trend[trend["month"] == as_of].set_index("group_id")
    then = trend[trend["month"] == start].set_index("group_id")
    window = trend[(trend["month"] > start) & (trend["month"] <= as_of)]
    churned = window.groupby("group_id")["churned_subs"].sum()
    active = lines[(lines["start_month"] <= as_of)
                   & (lines["cancel_month"].isna() | (lines["cancel_month"] > as_of))]
    out = groups.set_index("group_id")[["group_name", "industry", "account_manager", "branch",
                                        "micro_region"]].copy()
    out["members"] = now["members"].reindex(out.index).fillna(0).astype(int)
    base = then["members"].reindex(out.index)
    out["member_churn"] = (churned.reindex(out.index).fillna(0) / base).where(base > 0)
    out["lines"] = active.groupby("group_id").size().reindex(out.index).fillna(0).astype(int)
    out["products"] = active.groupby("group_id")["product"].agg(
        lambda p: ", ".join(sorted(set(p)))).reindex(out.index).fillna("")
    out["revenue"] = now["revenue"].reindex(out.index)
    out["net_value"] = now["net_value"].reindex(out.index)
    before = then["net_value"].reindex(out.index)
    out["net_value_change"] = ((out["net_value"] - before) / before.abs()).where(before != 0)
    out["next_contract_end"] = active.groupby("group_id")["contract_end"].min().reindex(out.index)
    counts = warnings.groupby("group_id").size() if not warnings.empty else pd.Series(dtype=int)
    out["warnings"] = counts.reindex(out.index).fillna(0).astype(int)
    worst = (warnings.assign(rank=warnings["severity"].map({"high": 0, "medium": 1}))
             .groupby("group_id")["rank"].min() if not warnings.empty else pd.Series(dtype=int))
    out["severity"] = worst.reindex(out.index).map({0: "high", 1: "medium"}).fillna("")
    out = out.reset_index()
    order = out.assign(rank=out["severity"].map({"high": 0, "medium": 1, "": 2}))
    return out.loc[order.sort_values(["rank", "revenue"], ascending=[True, False]).index,
                   list(PORTFOLIO_COLUMNS)].reset_index(drop=True)

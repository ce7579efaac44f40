"""The product view 产品视图: plan KPIs, migrations between plans, launches and what a new
plan took from the others (cannibalisation).

Inputs are monthly aggregates by plan (``plan_months``: month, plan_id, active_subs,
new_subs, churned_subs, revenue, mou, data_mb; the plan is the one held that month) and
plan changes counted by month (``changes``: month, from_plan_id, to_plan_id, changes; month
is the first month on the new plan). Nothing here knows how a mart was generated.

Cannibalisation of a launch plan L from a source plan q compares q's outflow (changes from q
to any plan, per subscriber-month of q's base the month before) after the launch with the
rate before it: the excess over that baseline is the switching the launch caused, beyond
the migration that would have happened anyway. Counts are taken as Poisson for the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Columns of :func:`plan_kpis` (per plan and month).
KPI_COLUMNS = ("month", "plan_id", "base", "new", "switched_in", "switched_out", "uptake",
               "churned", "churn_rate", "arpu", "mou", "dou", "revenue")


@dataclass(frozen=True)
class Launch:
    """A plan nobody held before ``month`` (its first month with holders)."""

    plan_id: int
    month: pd.Timestamp
    quiet_months: int  # months of the window before it with no holder


@dataclass(frozen=True)
class Cannibalisation:
    """Where a launch plan's switchers came from.

    ``sources`` has one row per source plan, ranked by ``excess`` (largest first):
    ``switchers`` (changes to the launch plan from it since the launch), ``share`` of all
    switchers with a Wilson interval (``share_low``, ``share_high``), the monthly outflow
    rate before the launch (``pre_rate``, over ``pre_exposure`` subscriber-months), the
    outflow since (``post_outflow`` over ``post_exposure``), ``expected`` outflow at the old
    rate, ``excess`` = post_outflow − expected with its interval (``excess_low``,
    ``excess_high``), and ``excess_share`` = excess ÷ all switchers.
    """

    plan_id: int
    launch_month: pd.Timestamp
    switchers: int
    sources: pd.DataFrame
    level: float


def _months(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(month=pd.to_datetime(frame["month"]))


def _flows(changes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    changes = _months(changes)
    into = changes.groupby(["month", "to_plan_id"], as_index=False)["changes"].sum().rename(
        columns={"to_plan_id": "plan_id", "changes": "switched_in"})
    out = changes.groupby(["month", "from_plan_id"], as_index=False)["changes"].sum().rename(
        columns={"from_plan_id": "plan_id", "changes": "switched_out"})
    return into, out


def plan_kpis(plan_months: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Each plan's monthly KPIs: base (billed subscribers), new lines, switched in and out,
    uptake (new + switched in), churned, churn rate (churned ÷ last month's base), ARPU,
    MOU and DOU (MB) per subscriber.

    >>> months = pd.DataFrame({"month": ["2026-01-01", "2026-02-01"], "plan_id": [1, 1],
    ...     "active_subs": [100, 90], "new_subs": [5, 2], "churned_subs": [0, 10],
    ...     "revenue": [5000.0, 4500.0], "mou": [1e4, 9e3], "data_mb": [1e5, 9e4]})
    >>> no_changes = pd.DataFrame(columns=["month", "from_plan_id", "to_plan_id", "changes"])
    >>> plan_kpis(months, no_changes)[["base", "arpu", "churn_rate"]].to_numpy().tolist()
    [[100.0, 50.0, nan], [90.0, 50.0, 0.1]]
    """
    frame = _months(plan_months).sort_values(["plan_id", "month"])
    into, out = _flows(changes)
    frame = frame.merge(into, on=["month", "plan_id"], how="left").merge(
        out, on=["month", "plan_id"], how="left")
    base = frame["active_subs"].astype(float)
    previous = frame.groupby("plan_id")["active_subs"].shift().astype(float)
    gap = frame.groupby("plan_id")["month"].diff() > pd.Timedelta(days=31)
    previous = previous.mask(gap)
    per_user = base.where(base > 0)
    kpis = pd.DataFrame({
        "month": frame["month"], "plan_id": frame["plan_id"].astype(int), "base": base,
        "new": frame["new_subs"].astype(float),
        "switched_in": frame["switched_in"].fillna(0).astype(float),
        "switched_out": frame["switched_out"].fillna(0).astype(float),
        "churned": frame["churned_subs"].astype(float),
        "churn_rate": frame["churned_subs"] / previous.where(previous > 0),
        "arpu": frame["revenue"] / per_user, "mou": frame["mou"] / per_user,
        "dou": frame["data_mb"] / per_user, "revenue": frame["revenue"].astype(float),
    })
    kpis["uptake"] = kpis["new"] + kpis["switched_in"]
    return kpis[list(KPI_COLUMNS)].reset_index(drop=True)


def summarise_plans(plan_months: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """One row per plan over all the months given: base in the last month, new lines,
    switched in and out, uptake, churned, churn rate (churned ÷ base-months before), ARPU,
    MOU and DOU per subscriber-month, and the base's change over the window."""
    frame = _months(plan_months)
    kpis = plan_kpis(frame, changes)
    last, first = frame["month"].max(), frame["month"].min()
    totals = frame.groupby("plan_id").agg(
        base_months=("active_subs", "sum"), revenue=("revenue", "sum"), mou=("mou", "sum"),
        data_mb=("data_mb", "sum"))
    flows = kpis.groupby("plan_id")[["new", "switched_in", "switched_out", "uptake",
                                     "churned"]].sum()
    previous = kpis.groupby("plan_id")["base"].shift().where(
        kpis.groupby("plan_id")["month"].diff() <= pd.Timedelta(days=31))
    # leavers of a month whose base before is in the window, over those bases
    exposed = previous.groupby(kpis["plan_id"]).sum()
    leavers = kpis["churned"].where(previous.notna()).groupby(kpis["plan_id"]).sum()
    at = frame.pivot_table(index="plan_id", columns="month", values="active_subs",
                           aggfunc="sum").reindex(columns=[first, last]).fillna(0)
    out = flows.join(totals)
    per = out["base_months"].where(out["base_months"] > 0)
    summary = pd.DataFrame({
        "plan_id": out.index.astype(int),
        "base": at[last].reindex(out.index).to_numpy(),
        "base_change": (at[last] - at[first]).reindex(out.index).to_numpy(),
        "new": out["new"], "switched_in": out["switched_in"],
        "switched_out": out["switched_out"], "uptake": out["uptake"], "churned": out["churned"],
        "churn_rate": leavers.reindex(out.index) / exposed.reindex(out.index).where(
            lambda e: e > 0),
        "arpu": out["revenue"] / per, "mou": out["mou"] / per, "dou": out["data_mb"] / per,
        "revenue": out["revenue"],
    })
    return summary.sort_values("revenue", ascending=False).reset_index(drop=True)


def _exposure(plan_months: pd.DataFrame) -> pd.DataFrame:
    """Each plan's base in the month before each month (who could leave it that month)."""
    base = _months(plan_months).groupby(["plan_id", "month"], as_index=False)["active_subs"].sum()
    base["month"] = base["month"] + pd.DateOffset(months=1)
    return base.rename(columns={"active_subs": "exposure"})


def migration_matrix(changes: pd.DataFrame, plan_months: pd.DataFrame) -> pd.DataFrame:
    """Changes from each plan to each other plan, with the monthly rate per subscriber of
    the from-plan (changes ÷ the from-plan's base the month before each change month,
    summed over the months of ``plan_months`` after the first).

    Returns columns from_plan_id, to_plan_id, changes, exposure, rate; one row per pair seen.
    """
    changes = _months(changes)
    exposure = _exposure(plan_months)
    months = set(_months(plan_months)["month"])
    exposure = exposure[exposure["month"].isin(months)]
    at_risk = exposure.groupby("plan_id")["exposure"].sum()
    pairs = changes.groupby(["from_plan_id", "to_plan_id"], as_index=False)["changes"].sum()
    pairs["exposure"] = pairs["from_plan_id"].map(at_risk).astype(float)
    pairs["rate"] = pairs["changes"] / pairs["exposure"].where(pairs["exposure"] > 0)
    return pairs.sort_values(["from_plan_id", "to_plan_id"]).reset_index(drop=True)


def detect_launches(plan_months: pd.DataFrame, min_quiet: int = 3) -> list[Launch]:
    """Plans with no holder in at least ``min_quiet`` first months of the window and holders
    later: launched inside the window (latest launch first)."""
    frame = _months(plan_months)
    months = sorted(frame["month"].unique())
    held = frame[frame["active_subs"] > 0].groupby("plan_id")["month"].min()
    launches = [Launch(int(plan), pd.Timestamp(first), months.index(first))
                for plan, first in held.items() if months.index(first) >= min_quiet]
    return sorted(launches, key=lambda x: x.month, reverse=True)


def _wilson(k: np.ndarray, n: int, z: float) -> tuple[np.ndarray, np.ndarray]:
    if n == 0:
        return np.full(len(k), np.nan), np.full(len(k), np.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def estimate_cannibalisation(changes: pd.DataFrame, plan_months: pd.DataFrame, plan_id: int,
                             launch_month: object, level: float = 0.95) -> Cannibalisation:
    """Where launch plan ``plan_id``'s switchers came from, and how many of them each source
    lost beyond its usual outflow.

    Parameters
    ----------
    changes, plan_months : DataFrame
        As described in the module docstring (the same scope and months for both).
    plan_id : int
        The launched plan.
    launch_month : date-like
        Its first month (see :func:`detect_launches`).
    level : float
        Coverage of the intervals.

    Returns
    -------
    Cannibalisation
    """
    z = float(norm.ppf(0.5 + level / 2))
    launch = pd.Timestamp(launch_month)
    changes = _months(changes)
    exposure = _exposure(plan_months)
    months = set(_months(plan_months)["month"])
    exposure = exposure[exposure["month"].isin(months)]
    into = changes[(changes["to_plan_id"] == plan_id) & (changes["month"] >= launch)]
    switchers = into.groupby("from_plan_id")["changes"].sum()
    total = int(switchers.sum())
    outflow = changes[changes["from_plan_id"] != plan_id]
    after = outflow["month"] >= launch
    post_out = outflow[after].groupby("from_plan_id")["changes"].sum()
    pre_out = outflow[~after].groupby("from_plan_id")["changes"].sum()
    post_exp = exposure[exposure["month"] >= launch].groupby("plan_id")["exposure"].sum()
    pre_exp = exposure[exposure["month"] < launch].groupby("plan_id")["exposure"].sum()
    sources = pd.Index(sorted(set(switchers.index) | set(post_out.index)), name="from_plan_id")
    frame = pd.DataFrame(index=sources)
    frame["switchers"] = switchers.reindex(sources).fillna(0).astype(int)
    frame["share"] = frame["switchers"] / total if total else np.nan
    low, high = _wilson(frame["switchers"].to_numpy(float), total, z)
    frame["share_low"], frame["share_high"] = low, high
    frame["pre_exposure"] = pre_exp.reindex(sources).fillna(0).astype(float)
    frame["pre_outflow"] = pre_out.reindex(sources).fillna(0).astype(float)
    frame["pre_rate"] = frame["pre_outflow"] / frame["pre_exposure"].where(frame["pre_exposure"] > 0)
    frame["post_exposure"] = post_exp.reindex(sources).fillna(0).astype(float)
    frame["post_outflow"] = post_out.reindex(sources).fillna(0).astype(float)
    frame["expected"] = frame["pre_rate"] * frame["post_exposure"]
    frame["excess"] = frame["post_outflow"] - frame["expected"]
    ratio = frame["post_exposure"] / frame["pre_exposure"].where(frame["pre_exposure"] > 0)
    spread = z * np.sqrt(frame["post_outflow"] + ratio**2 * frame["pre_outflow"])
    frame["excess_low"], frame["excess_high"] = frame["excess"] - spread, frame["excess"] + spread
    frame["excess_share"] = frame["excess"] / total if total else np.nan
    frame = frame[frame["switchers"] > 0].sort_values(["excess", "switchers"], ascending=False)
    return Cannibalisation(int(plan_id), launch, total, frame.reset_index(), level)

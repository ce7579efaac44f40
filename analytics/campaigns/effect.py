"""Campaign effect: difference-in-differences of participants against a control, and ROI.

The input is a per-subscriber panel (one row per participant or control, already averaged
over the pre-period and the campaign months in SQL): ``arm`` ('treated' / 'control'),
``pre_<m>`` and ``post_<m>`` per-month means for each metric ``m``, ``churned`` (left before
the window's last month) and ``cost``. Each subscriber's own change ``post - pre`` removes
their level; the difference of the two arms' mean changes is the effect, and its standard
error comes from those per-subscriber changes (Welch, unequal variances — the
subscriber-clustered error of the two-period DiD regression). Matched controls (no hold-out)
come as pairs (a ``pair`` column) and use the paired differences instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Metrics with a before-and-after estimate (column stem → label).
METRICS: dict[str, str] = {"arpu": "ARPU (yuan)", "mou": "MOU (minutes)", "dou": "DOU (MB)"}
#: Breakdowns of the uplift (panel column → label).
BREAKDOWNS: dict[str, str] = {"segment": "segment 客户群", "branch": "branch 分公司",
                              "channel_type": "channel type 渠道类型"}
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """One effect with its confidence interval."""

    metric: str
    estimate: float
    se: float
    low: float
    high: float
    n_treated: int
    n_control: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class CampaignEffect:
    """Everything the campaign page shows about one campaign's effect."""

    effects: tuple[Estimate, ...]  # ARPU, MOU, DOU, churn rate
    participants: int  # treated members
    months: int  # campaign months observed
    cost: float
    incremental_revenue: float
    incremental_low: float
    incremental_high: float
    net_effect: float
    roi: float | None  # incremental revenue ÷ cost; None without cost
    method: str  # how the control group was formed

    def effect(self, metric: str) -> Estimate:
        """The estimate for ``metric`` ('arpu', 'mou', 'dou' or 'churn_rate'), if estimated."""
        return next(e for e in self.effects if e.metric == metric)

    def table(self) -> pd.DataFrame:
        """The effects as rows (metric, estimate, se, low, high, n_treated, n_control)."""
        return pd.DataFrame([e.__dict__ for e in self.effects])


def _interval(metric: str, estimate: float, se: float, df: float, n_t: int, n_c: int) -> Estimate:
    if not np.isfinite(se) or df <= 0:
        return Estimate(metric, estimate, float("nan"), float("nan"), float("nan"), n_t, n_c)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    return Estimate(metric, float(estimate), float(se), float(estimate - half),
                    float(estimate + half), n_t, n_c)


def _welch(metric: str, treated: np.ndarray, control: np.ndarray) -> Estimate:
    n_t, n_c = len(treated), len(control)
    if n_t < 2 or n_c < 2:
        return _interval(metric, float("nan"), float("nan"), 0, n_t, n_c)
    v_t, v_c = treated.var(ddof=1) / n_t, control.var(ddof=1) / n_c
    se = float(np.sqrt(v_t + v_c))
    denominator = v_t ** 2 / (n_t - 1) + v_c ** 2 / (n_c - 1)
    df = (v_t + v_c) ** 2 / denominator if denominator > 0 else float(n_t + n_c - 2)
    return _interval(metric, treated.mean() - control.mean(), se, df, n_t, n_c)


def _paired(metric: str, treated: np.ndarray, control: np.ndarray, used: np.ndarray) -> Estimate:
    """Matched pairs, controls reused: the paired-difference variance plus, for each control
    serving K_j pairs, (K_j² − K_j) × the controls' variance (Abadie and Imbens' form, with
    the controls' overall variance standing in for the conditional one: conservative)."""
    n = len(treated)
    if n < 2:
        return _interval(metric, float("nan"), float("nan"), 0, n, n)
    differences = treated - control
    reuse = float((used ** 2).sum() - used.sum())
    spread = float(np.var(control, ddof=1)) if reuse > 0 else 0.0
    se = float(np.sqrt(differences.var(ddof=1) / n + reuse * spread / n ** 2))
    return _interval(metric, differences.mean(), se, n - 1, n, len(used))


def _changes(panel: pd.DataFrame, metric: str) -> pd.Series:
    return panel[f"post_{metric}"] - panel[f"pre_{metric}"]


def estimate_did(panel: pd.DataFrame, metric: str) -> Estimate:
    """Difference-in-differences of ``metric`` between the arms, with a 95% interval.

    Parameters
    ----------
    panel
        Per-subscriber rows with ``arm``, ``pre_<metric>`` and ``post_<metric>`` (NaN where
        the subscriber was not billed in that window: such rows are left out), and a
        ``pair`` column when the controls are matched to the participants one to one.
    metric
        A column stem such as ``'arpu'``, or ``'churn_rate'`` for the share that left during
        the campaign (every member was billed when it started, so the pre-period rate is zero
        in both arms and the DiD is the difference of the campaign-period rates).

    Examples
    --------
    >>> panel = pd.DataFrame({"arm": ["treated"] * 3 + ["control"] * 3,
    ...                       "pre_arpu": [10.0, 20, 30, 10, 20, 30],
    ...                       "post_arpu": [16.0, 27, 35, 10, 21, 29]})
    >>> round(estimate_did(panel, "arpu").estimate, 2)
    6.0
    """
    if metric == "churn_rate":
        values = panel["churned"].astype(float)
    else:
        values = _changes(panel, metric)
    if "pair" in panel.columns:
        ids = panel["subscriber_id"] if "subscriber_id" in panel.columns else panel.index
        frame = pd.DataFrame({"pair": panel["pair"].to_numpy(), "arm": panel["arm"].to_numpy(),
                              "v": values.to_numpy(), "id": np.asarray(ids)})
        t = frame[frame["arm"] == "treated"].set_index("pair")
        c = frame[frame["arm"] == "control"].set_index("pair")
        both = t.merge(c, left_index=True, right_index=True, suffixes=("_t", "_c"))
        both = both.dropna(subset=["v_t", "v_c"])
        used = both.groupby("id_c").size().to_numpy(dtype=float)
        return _paired(metric, both["v_t"].to_numpy(float), both["v_c"].to_numpy(float), used)
    treated = values[panel["arm"].eq("treated")].dropna().to_numpy(dtype=float)
    control = values[panel["arm"].eq("control")].dropna().to_numpy(dtype=float)
    return _welch(metric, treated, control)


def estimate_effect(panel: pd.DataFrame, *, months: int, participants: int | None = None,
                    cost: float | None = None, method: str = "randomised hold-out"
                    ) -> CampaignEffect:
    """The campaign's effects on ARPU, MOU, DOU and churn rate, and its money.

    Incremental revenue is the ARPU uplift × participants × campaign months (and its interval
    likewise); the net effect is incremental revenue − cost; ROI is incremental revenue ÷ cost.

    Parameters
    ----------
    panel
        As for :func:`estimate_did`, with a ``cost`` column for the treated rows.
    months
        Campaign months observed (the post window's length).
    participants, cost
        Defaults: the panel's treated rows and the sum of their cost.
    method
        How the control group was formed, stated on the page.
    """
    treated = panel[panel["arm"].eq("treated")]
    if "pair" in panel.columns:  # a treated row may not appear twice; controls may
        treated = treated.drop_duplicates("subscriber_id") if "subscriber_id" in treated else treated
    n = int(len(treated) if participants is None else participants)
    spent = float(treated["cost"].sum() if cost is None else cost)
    present = [m for m in METRICS if {f"pre_{m}", f"post_{m}"} <= set(panel.columns)]
    present += ["churn_rate"] if "churned" in panel.columns else []
    if "arpu" not in present:
        raise KeyError("the panel needs pre_arpu and post_arpu")
    effects = tuple(estimate_did(panel, m) for m in present)
    arpu = effects[0]
    scale = n * months
    incremental = arpu.estimate * scale
    return CampaignEffect(
        effects=effects, participants=n, months=months, cost=round(spent, 2),
        incremental_revenue=round(incremental, 2) if np.isfinite(incremental) else float("nan"),
        incremental_low=arpu.low * scale, incremental_high=arpu.high * scale,
        net_effect=incremental - spent, roi=incremental / spent if spent > 0 else None,
        method=method)


def uplift_by(panel: pd.DataFrame, column: str, metric: str = "arpu", min_size: int = 5
              ) -> pd.DataFrame:
    """The DiD of ``metric`` within each value of ``column`` (segment, branch, channel type).

    Groups with fewer than ``min_size`` subscribers in an arm are left out. With matched
    pairs, a pair belongs to its participant's group. Returns one row per group:
    ``column, estimate, low, high, n_treated, n_control``.
    """
    if column not in panel.columns:
        raise KeyError(f"the panel has no column {column!r}")
    keys = panel[column]
    if "pair" in panel.columns:
        owner = panel[panel["arm"].eq("treated")].drop_duplicates("pair").set_index("pair")[column]
        keys = panel["pair"].map(owner)
    rows = []
    for value, part in panel.groupby(keys, sort=True):
        arms = part["arm"].value_counts()
        if arms.get("treated", 0) < min_size or arms.get("control", 0) < min_size:
            continue
        e = estimate_did(part, metric)
        rows.append({column: value, "estimate": e.estimate, "low": e.low, "high": e.high,
                     "n_treated": e.n_treated, "n_control": e.n_control})
    return pd.DataFrame(rows, columns=[column, "estimate", "low", "high", "n_treated", "n_control"])


def budget_burn(monthly_spend: pd.DataFrame, budget: float, months: list[pd.Timestamp]
                ) -> pd.DataFrame:
    """Cumulative spend per campaign month against a straight-line plan of the budget.

    Parameters
    ----------
    monthly_spend
        ``month`` and ``spend`` (yuan booked in that month).
    budget
        The campaign's budget.
    months
        Every month of the campaign's life (the plan spreads the budget evenly over them).

    Returns
    -------
    DataFrame
        ``month, spend, spent_to_date, plan_to_date, burn`` (spent_to_date ÷ budget) for each
        month up to the last one with data.
    """
    if not months:
        return pd.DataFrame(columns=["month", "spend", "spent_to_date", "plan_to_date", "burn"])
    frame = pd.DataFrame({"month": pd.to_datetime(pd.Series(months))})
    spend = monthly_spend.assign(month=pd.to_datetime(monthly_spend["month"]))
    frame = frame.merge(spend[["month", "spend"]], on="month", how="left")
    seen = frame["spend"].notna()
    last = seen[::-1].idxmax() if seen.any() else -1
    frame["spend"] = frame["spend"].fillna(0.0)
    frame["spent_to_date"] = frame["spend"].cumsum().round(2)
    frame["plan_to_date"] = (budget * np.arange(1, len(frame) + 1) / len(frame)).round(2)
    frame["burn"] = frame["spent_to_date"] / budget if budget > 0 else np.nan
    return frame.iloc[: last + 1].reset_index(drop=True)


def participant_breakdown(panel: pd.DataFrame, column: str) -> pd.DataFrame:
    """Subscribers per value of ``column`` and arm (each subscriber once), with cost."""
    frame = panel.drop_duplicates(["arm", "subscriber_id"]) if "subscriber_id" in panel else panel
    out = (frame.groupby([column, "arm"], sort=True)
           .agg(subscribers=("arm", "size"), cost=("cost", "sum")).reset_index())
    out["cost"] = out["cost"].round(2)
    return out

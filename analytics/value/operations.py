"""Value-based operations 价值经营: net value and ROI per customer, channel and group.

Definitions (the source report's value-based operations 价值经营):

* **net value** = revenue − discounts − service and VIP costs − campaign costs, computed by
  :func:`analytics.value.netvalue.subscriber_net_value` (the mart's ``revenue`` is already net of
  discount, so there it is Σ revenue − Σ service_cost − Σ campaign cost);
* **ROI** (input-output ratio 投入产出比) = gross revenue ÷ (discounts + service and VIP costs +
  campaign costs), with gross revenue = revenue before discount. ROI is below 1 exactly when
  net value is negative. A customer who cost nothing has an infinite ROI (band "above 2").
* **bands**: 0–1, 1–1.5, 1.5–2 and above 2 (lower edge inclusive).
* **duplicate benefits**: paid benefits (cost > 0) from two or more departments in the window.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analytics.value.netvalue import subscriber_net_value

#: Band labels, lowest first, and their lower edges (ROI ≥ edge; the first starts at 0).
BANDS: tuple[str, ...] = ("0–1", "1–1.5", "1.5–2", ">2")
BAND_EDGES: tuple[float, ...] = (0.0, 1.0, 1.5, 2.0)
#: The money columns a value frame carries, in yuan.
MONEY = ("gross", "discount", "service_cost", "campaign_cost")
LEVELS = {"customer": "customers 客户", "channel": "channels 渠道", "group": "groups 集团"}
#: Map colour of each band: losing money red, thin margins amber.
BAND_STATUS = {"0–1": "red", "1–1.5": "amber", "1.5–2": "green", ">2": "green"}


def compute_roi(gross: pd.Series | float, cost: pd.Series | float) -> pd.Series | float:
    """Gross revenue ÷ cost; ``inf`` where nothing was spent (and 0 ÷ 0 is ``inf`` too).

    Examples
    --------
    >>> compute_roi(1000.0, 1200.0), compute_roi(50.0, 0.0)
    (0.8333333333333334, inf)
    """
    if isinstance(gross, pd.Series) or isinstance(cost, pd.Series):
        gross_s = pd.Series(gross, dtype=float) if not isinstance(gross, pd.Series) else gross
        cost_s = cost if isinstance(cost, pd.Series) else pd.Series(cost, index=gross_s.index)
        ratio = gross_s.astype(float) / cost_s.astype(float).where(cost_s > 0)
        return ratio.fillna(math.inf).rename("roi")
    return math.inf if cost <= 0 else float(gross) / float(cost)


def roi_band(roi: pd.Series) -> pd.Series:
    """The band of each ROI value (an ordered categorical over ``BANDS``).

    Examples
    --------
    >>> roi_band(pd.Series([0.2, 1.0, 1.49, 1.5, 2.0, float("inf")])).tolist()
    ['0–1', '1–1.5', '1–1.5', '1.5–2', '>2', '>2']
    """
    codes = np.searchsorted(np.asarray(BAND_EDGES[1:]), roi.to_numpy(float), side="right")
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(BANDS), ordered=True),
                     index=roi.index, name="band")


def money_band(gross: pd.Series, cost: pd.Series) -> pd.Series:
    """The band of gross ÷ cost, compared in whole cents without dividing (gross ≥ edge × cost),
    as the mart's SQL compares: a customer exactly on an edge (ROI 1.5) lands in the band
    above it however the sums were rounded. Nothing spent is the top band.

    Examples
    --------
    >>> money_band(pd.Series([150.0, 0.1 + 0.2, 5.0]), pd.Series([100.0, 0.3, 0.0])).tolist()
    ['1.5–2', '1–1.5', '>2']
    """
    cents = gross.astype(float).mul(100).round().to_numpy()
    paid = cost.astype(float).mul(100).round().to_numpy()
    codes = np.zeros(len(cents), dtype=int)
    for edge in BAND_EDGES[1:]:
        codes += (paid <= 0) | (cents >= edge * paid)
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(BANDS), ordered=True),
                     index=gross.index, name="band")


def customer_values(usage: pd.DataFrame, benefits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-subscriber money, net value, ROI and band.

    Parameters
    ----------
    usage : DataFrame
        ``subscriber_id``, ``revenue`` (after discount), ``discount`` and ``service_cost``;
        one row per subscriber and month or already summed. Other columns that are constant
        per subscriber (segment, channel_id, group_id…) are kept.
    benefits : DataFrame, optional
        ``subscriber_id`` and ``cost`` of benefits received in the same window.

    Returns
    -------
    DataFrame
        Indexed by subscriber_id: the attributes, ``MONEY`` columns, ``net_value``, ``roi``
        and ``band``.

    Examples
    --------
    The source's case: 1,000 billed, 300 discount, 500 of VIP events, a 400 gift.

    >>> usage = pd.DataFrame({"subscriber_id": [1], "revenue": [700.0], "discount": [300.0],
    ...                       "service_cost": [500.0]})
    >>> row = customer_values(usage, pd.DataFrame({"subscriber_id": [1], "cost": [400.0]})).loc[1]
    >>> float(row["net_value"]), round(float(row["roi"]), 3), row["band"]
    (-200.0, 0.833, '0–1')
    """
    attrs = [c for c in usage.columns
             if c not in ("subscriber_id", "revenue", "discount", "service_cost", "month")]
    grouped = usage.groupby("subscriber_id")
    frame = grouped[["revenue", "discount", "service_cost"]].sum()
    if attrs:
        frame = frame.join(grouped[attrs].first())
    frame["gross"] = frame["revenue"] + frame["discount"]
    cost = (benefits.groupby("subscriber_id")["cost"].sum()
            if benefits is not None and not benefits.empty else pd.Series(dtype=float))
    frame["campaign_cost"] = cost.reindex(frame.index).fillna(0.0)
    frame["net_value"] = subscriber_net_value(usage, benefits)
    return add_roi(frame.drop(columns="revenue"))


def add_roi(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with the ``MONEY`` columns, possibly sums over many customers) plus
    ``cost``, ``net_value`` (when missing), ``roi`` and ``band``."""
    out = frame.copy()
    out["cost"] = out["discount"] + out["service_cost"] + out["campaign_cost"]
    if "net_value" not in out:
        out["net_value"] = (out["gross"] - out["cost"]).round(2)
    out["roi"] = compute_roi(out["gross"], out["cost"])
    out["band"] = money_band(out["gross"], out["cost"])
    return out


def band_distribution(units: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Counts and shares per band for several levels, side by side.

    Parameters
    ----------
    units : dict
        Level name → frame with a ``band`` column (one row per unit) and optionally
        ``units`` (how many units the row stands for, when bands were counted in SQL).

    Returns
    -------
    DataFrame
        ``level``, ``band``, ``units``, ``share`` (of the level's units); every band appears
        for every level, with zeros where empty.
    """
    rows = []
    for level, frame in units.items():
        weights = frame["units"] if "units" in frame else pd.Series(1, index=frame.index)
        counts = weights.groupby(frame["band"].astype(str)).sum().reindex(list(BANDS),
                                                                          fill_value=0)
        total = counts.sum()
        for band, count in counts.items():
            rows.append({"level": level, "band": band, "units": int(count),
                         "share": float(count / total) if total else 0.0})
    return pd.DataFrame(rows, columns=["level", "band", "units", "share"])


def aggregate_values(customers: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sum customers' money to ``by`` (``channel_id``, ``group_id``, ``micro_region``…) and
    recompute net value, ROI and band on the sums; customers without a key are left out."""
    keyed = customers.dropna(subset=[by])
    sums = keyed.groupby(by)[[*MONEY, "net_value"]].sum()
    sums["customers"] = keyed.groupby(by).size()
    sums["negative_customers"] = keyed.assign(neg=keyed["net_value"] < 0).groupby(by)["neg"].sum()
    return add_roi(sums.reset_index())


def negative_high_end(customers: pd.DataFrame, segment: str = "high_end") -> pd.DataFrame:
    """High-end customers whose net value is below zero, most negative first."""
    mask = (customers["segment"] == segment) & (customers["net_value"] < 0)
    return customers[mask].sort_values("net_value")


def duplicate_benefits(benefits: pd.DataFrame, min_departments: int = 2) -> pd.DataFrame:
    """Customers with paid benefits from at least ``min_departments`` departments.

    Parameters
    ----------
    benefits : DataFrame
        ``subscriber_id``, ``campaign_id``, ``department`` and ``cost`` (one row per
        membership); rows with cost 0 (control arm) do not count.

    Returns
    -------
    DataFrame
        Indexed by subscriber_id: ``departments`` (how many), ``campaigns`` (how many),
        ``department_list`` (sorted, comma-separated) and ``benefit_cost``, costliest first.
    """
    paid = benefits[benefits["cost"] > 0]
    grouped = paid.groupby("subscriber_id")
    out = pd.DataFrame({
        "departments": grouped["department"].nunique(),
        "campaigns": grouped["campaign_id"].nunique(),
        "department_list": grouped["department"].agg(lambda d: ",".join(sorted(set(d)))),
        "benefit_cost": grouped["cost"].sum().round(2),
    })
    return out[out["departments"] >= min_departments].sort_values(
        ["benefit_cost", "departments"], ascending=False)


def high_end_summary(customers: pd.DataFrame, duplicates: pd.DataFrame,
                     segment: str = "high_end") -> dict[str, float]:
    """How many high-end customers lose money, and how many of those got duplicate benefits
    (the source: about 20% and 62%)."""
    high = customers[customers["segment"] == segment]
    loss = high[high["net_value"] < 0]
    dup = loss.index.isin(duplicates.index)
    return {"high_end": int(len(high)), "unprofitable": int(len(loss)),
            "unprofitable_share": float(len(loss) / len(high)) if len(high) else 0.0,
            "duplicate_share_of_unprofitable": float(dup.mean()) if len(loss) else 0.0}

"""Revenue assurance 收入保障: leakage checks over billed lines, each finding with its yuan.

Four kinds of leakage, each judged against the line's own history, its plan's peers or its
agreed terms — never against fixed amounts:

* **unbilled usage** 用量未计费: a line keeps using voice or data, but the component is billed
  at well under the line's own rate of the months before (nothing, or a small fraction);
  the leak is the usage priced at the line's own earlier rate, less what was billed;
* **zero revenue** 零收入在网: a billed line with usage and no revenue at all for
  consecutive months; the leak is what its plan's peers paid in those months (median);
* **discount beyond its term** 优惠超期: a discount applied in a month at or after the end of
  the line's agreed discount;
* **discount without a term** 无资格优惠: a discount on a line that has no agreed discount;
* **discount above the agreed rate** 超标优惠: the discount's share of the gross bill above
  the agreed rate by more than a rounding tolerance; the leak is the excess.

The frames come from ``data_access.mart.assurance`` (which narrows them with SQL first);
the functions here decide and price. Findings share one shape (:data:`FINDING_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: Check code → the reader's name (bilingual).
CHECKS: dict[str, str] = {
    "unbilled_usage": "Usage billed too little 用量未计费",
    "zero_revenue": "Active with zero revenue 零收入在网",
    "discount_beyond_term": "Discount beyond its term 优惠超期",
    "discount_without_term": "Discount without a term 无资格优惠",
    "discount_above_rate": "Discount above the agreed rate 超标优惠",
}
#: Every finding: which check, which line, from which month for how many, and the yuan lost.
FINDING_COLUMNS = ("check", "subscriber_id", "first_month", "months", "amount", "detail")


@dataclass(frozen=True)
class AssurancePolicy:
    """The checks' settings: business rules an assurance team states, not fitted numbers.

    Attributes
    ----------
    underbilled_share : float
        A component billed at less than this share of the line's own earlier rate is
        under-billed (0.1: nine tenths or more of the charge missing).
    min_history_months : int
        Months of earlier billing a line needs for its own rate to be trusted.
    material_usage_share : float
        Usage below this share of the plan's median usage that month is not judged (a line
        that barely used the service cannot show a rating fault).
    min_zero_months : int
        Consecutive months of zero revenue with usage before a line is reported.
    rate_tolerance : float
        Discount rate above the agreed one (absolute, 0.01 = one point) still taken as rounding.
    min_amount : float
        Findings worth less than this many yuan are dropped (noise, not leakage).
    """

    underbilled_share: float = 0.1
    min_history_months: int = 2
    material_usage_share: float = 0.2
    min_zero_months: int = 2
    rate_tolerance: float = 0.01
    min_amount: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.underbilled_share < 1:
            raise ValueError("underbilled_share must lie between 0 and 1")
        if self.min_history_months < 1 or self.min_zero_months < 1:
            raise ValueError("min_history_months and min_zero_months must be at least 1")
        if self.material_usage_share < 0 or self.rate_tolerance < 0 or self.min_amount < 0:
            raise ValueError("material_usage_share, rate_tolerance and min_amount must not be "
                             "negative")


DEFAULT_POLICY = AssurancePolicy()
#: Components judged for unbilled usage: revenue column → usage column.
USAGE_COMPONENTS: dict[str, str] = {"rev_data": "data_mb", "rev_voice": "mou"}


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        FINDING_COLUMNS, ("object", "int64", "datetime64[ns]", "int64", "float64", "object"),
        strict=True)})


def _finish(frame: pd.DataFrame, policy: AssurancePolicy) -> pd.DataFrame:
    if frame.empty:
        return _empty()
    frame = frame[frame["amount"] >= policy.min_amount]
    return (frame[list(FINDING_COLUMNS)].sort_values(["check", "amount"], ascending=[True, False])
            .reset_index(drop=True))


def unbilled_usage(candidates: pd.DataFrame, typical: pd.DataFrame,
                   policy: AssurancePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Components billed far below the line's own earlier rate while the use goes on.

    Parameters
    ----------
    candidates : DataFrame
        Line-months of the judged window, one row per line, month and component:
        ``subscriber_id``, ``month``, ``plan_id``, ``component`` (a revenue column of
        :data:`USAGE_COMPONENTS`), ``billed`` and ``usage`` that month, and the line's
        history before the window: ``hist_revenue`` and ``hist_usage`` (sums) and
        ``hist_months`` (months billed with usage). Any superset of the findings will do
        (the reader narrows with SQL; this function decides).
    typical : DataFrame
        ``plan_id``, ``month``, ``component``, ``median_usage``: the plan's lines' median use.
    policy : AssurancePolicy

    Returns
    -------
    DataFrame
        One finding per line and component (the window's months summed), columns
        :data:`FINDING_COLUMNS`.

    Examples
    --------
    >>> candidates = pd.DataFrame({"subscriber_id": [1, 1, 2], "plan_id": 1,
    ...     "month": pd.to_datetime(["2026-09-01", "2026-10-01", "2026-10-01"]),
    ...     "component": "rev_data", "billed": [0.0, 0.0, 30.0],
    ...     "usage": [1000.0, 1200.0, 1000.0], "hist_revenue": 90.0, "hist_usage": 3000.0,
    ...     "hist_months": 3})
    >>> typical = pd.DataFrame({"plan_id": 1, "component": "rev_data", "median_usage": 1100.0,
    ...     "month": pd.to_datetime(["2026-09-01", "2026-10-01"])})
    >>> found = unbilled_usage(candidates, typical)
    >>> found[["subscriber_id", "months", "amount"]].to_dict("records")
    [{'subscriber_id': 1, 'months': 2, 'amount': 66.0}]
    """
    if candidates.empty:
        return _empty()
    rows = candidates.merge(typical, on=["plan_id", "month", "component"], how="left")
    rows = rows[(rows["usage"] > 0)
                & (rows["usage"] >= policy.material_usage_share * rows["median_usage"].fillna(0))
                & (rows["hist_months"] >= policy.min_history_months)
                & (rows["hist_usage"] > 0) & (rows["hist_revenue"] > 0)]
    rate = rows["hist_revenue"] / rows["hist_usage"]
    due = rows["usage"] * rate
    short = rows.assign(rate=rate, due=due, lost=due - rows["billed"])[
        rows["billed"] < policy.underbilled_share * due]
    if short.empty:
        return _empty()
    per_line = short.groupby(["subscriber_id", "component"]).agg(
        first_month=("month", "min"), months=("month", "nunique"), amount=("lost", "sum"),
        billed=("billed", "sum"), due=("due", "sum"), usage=("usage", "sum"),
        rate=("rate", "first")).reset_index()
    per_line["detail"] = [_unbilled_detail(r) for r in per_line.itertuples()]
    return _finish(per_line.assign(check="unbilled_usage", amount=per_line["amount"].round(2)),
                   policy)


def _unbilled_detail(row) -> str:
    unit = "MB" if USAGE_COMPONENTS.get(row.component) == "data_mb" else "min"
    return (f"{row.usage:,.0f} {unit} of {row.component.removeprefix('rev_')} billed "
            f"¥{row.billed:,.2f} against ¥{row.due:,.2f} at the line's own earlier rate "
            f"(¥{row.rate:.4f}/{unit})")


def zero_revenue(rows: pd.DataFrame, peers: pd.DataFrame,
                 policy: AssurancePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Billed lines with use and no revenue for ``min_zero_months`` consecutive months or more.

    Parameters
    ----------
    rows : DataFrame
        Line-months with zero revenue and some usage: ``subscriber_id``, ``month``, ``plan_id``.
    peers : DataFrame
        ``plan_id``, ``month``, ``median_revenue``: what the plan's billed lines paid (median).

    Returns
    -------
    DataFrame
        One finding per line (its longest run; the run must reach the window's last month
        or be at least ``min_zero_months`` long), priced at the peers' median revenue.

    Examples
    --------
    >>> rows = pd.DataFrame({"subscriber_id": [7, 7, 7, 8], "plan_id": 2,
    ...     "month": pd.to_datetime(["2026-08-01", "2026-09-01", "2026-10-01", "2026-10-01"])})
    >>> peers = pd.DataFrame({"plan_id": 2, "month": pd.to_datetime(
    ...     ["2026-08-01", "2026-09-01", "2026-10-01"]), "median_revenue": [50.0, 50.0, 60.0]})
    >>> zero_revenue(rows, peers)[["subscriber_id", "months", "amount"]].to_dict("records")
    [{'subscriber_id': 7, 'months': 3, 'amount': 160.0}]
    """
    if rows.empty:
        return _empty()
    frame = rows.merge(peers, on=["plan_id", "month"], how="left").sort_values(
        ["subscriber_id", "month"])
    index = frame["month"].dt.year * 12 + frame["month"].dt.month
    run = (index.diff() != 1) | (frame["subscriber_id"].diff() != 0)
    frame = frame.assign(run=run.cumsum())
    runs = frame.groupby(["subscriber_id", "run"]).agg(
        first_month=("month", "min"), months=("month", "size"),
        amount=("median_revenue", "sum")).reset_index()
    runs = runs[runs["months"] >= policy.min_zero_months]
    runs = runs.sort_values("months", ascending=False).drop_duplicates("subscriber_id")
    if runs.empty:
        return _empty()
    runs = runs.assign(check="zero_revenue", amount=runs["amount"].fillna(0.0).round(2),
                       detail=[f"billed ¥0 for {m} month(s) in a row while using the service; "
                               "priced at what the plan's lines paid (median)"
                               for m in runs["months"]])
    return _finish(runs, policy)


def discounts(rows: pd.DataFrame, policy: AssurancePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Discounts with no agreed term, after its end, or above its rate.

    Parameters
    ----------
    rows : DataFrame
        Discounted line-months: ``subscriber_id``, ``month``, ``gross`` (bill before the
        discount), ``discount``, and the agreed term if any: ``term_rate`` and
        ``term_end`` (the first month no longer covered), both missing without a term.

    Returns
    -------
    DataFrame
        One finding per line and check (months summed).

    Examples
    --------
    >>> rows = pd.DataFrame({"subscriber_id": [1, 2, 3, 4],
    ...     "month": pd.to_datetime(["2026-10-01"] * 4), "gross": [100.0] * 4,
    ...     "discount": [10.0, 10.0, 30.0, 10.0], "term_rate": [None, 0.1, 0.1, 0.1],
    ...     "term_end": pd.to_datetime([None, "2026-09-01", "2027-01-01", "2027-01-01"])})
    >>> discounts(rows)[["check", "subscriber_id", "amount"]].to_dict("records")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'check': 'discount_above_rate', 'subscriber_id': 3, 'amount': 20.0},
     {'check': 'discount_beyond_term', 'subscriber_id': 2, 'amount': 10.0},
     {'check': 'discount_without_term', 'subscriber_id': 1, 'amount': 10.0}]
    """
    if rows.empty:
        return _empty()
    rows = rows[rows["discount"] > 0]
    no_term = rows["term_rate"].isna()
    ended = ~no_term & (rows["month"] >= rows["term_end"])
    rate = rows["discount"] / rows["gross"].where(rows["gross"] > 0)
    above = ~no_term & ~ended & (rate > rows["term_rate"] + policy.rate_tolerance)
    excess = rows["discount"] - rows["term_rate"] * rows["gross"]
    parts = []
    for check, mask, lost in (("discount_without_term", no_term, rows["discount"]),
                              ("discount_beyond_term", ended, rows["discount"]),
                              ("discount_above_rate", above, excess)):
        hit = rows[mask].assign(lost=lost[mask])
        if hit.empty:
            continue
        per_line = hit.groupby("subscriber_id").agg(
            first_month=("month", "min"), months=("month", "nunique"), amount=("lost", "sum"),
            term_rate=("term_rate", "first"), term_end=("term_end", "first")).reset_index()
        per_line["detail"] = [_discount_detail(check, r) for r in per_line.itertuples()]
        parts.append(per_line.assign(check=check, amount=per_line["amount"].round(2)))
    return _finish(pd.concat(parts, ignore_index=True) if parts else _empty(), policy)


def _discount_detail(check: str, row) -> str:
    if check == "discount_without_term":
        return f"discounted in {row.months} month(s) with no agreed discount on the line"
    if check == "discount_beyond_term":
        return (f"discounted in {row.months} month(s) after its term ended "
                f"({pd.Timestamp(row.term_end):%Y-%m})")
    return f"discounted above the agreed {row.term_rate:.0%} in {row.months} month(s)"


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The checks' findings together, largest first; a line billed nothing at all is one
    zero-revenue finding, not also an unbilled-usage finding per component.

    >>> zero = pd.DataFrame({"check": ["zero_revenue"], "subscriber_id": [7],
    ...     "first_month": pd.to_datetime(["2026-08-01"]), "months": [3], "amount": [150.0],
    ...     "detail": ["…"]})
    >>> unbilled = zero.assign(check="unbilled_usage", amount=90.0)
    >>> combine([unbilled, zero])["check"].tolist()
    ['zero_revenue']
    """
    found = [p for p in parts if not p.empty]
    if not found:
        return _empty()
    frame = pd.concat(found, ignore_index=True)
    silent = frame.loc[frame["check"] == "zero_revenue", "subscriber_id"]
    frame = frame[~((frame["check"] == "unbilled_usage") & frame["subscriber_id"].isin(silent))]
    return frame.sort_values("amount", ascending=False, kind="stable").reset_index(drop=True)


def summarise(findings: pd.DataFrame) -> pd.DataFrame:
    """Per check: findings, lines and yuan, every check listed (zeros included), largest first.

    >>> int(summarise(pd.DataFrame(columns=list(FINDING_COLUMNS)))["findings"].sum())
    0
    """
    grouped = findings.groupby("check").agg(findings=("subscriber_id", "size"),
                                            lines=("subscriber_id", "nunique"),
                                            amount=("amount", "sum"))
    table = grouped.reindex(list(CHECKS)).fillna(0)
    table = table.astype({"findings": "int64", "lines": "int64", "amount": "float64"})
    table.insert(0, "name", [CHECKS[c] for c in table.index])
    return table.reset_index(names="check").sort_values("amount", ascending=False,
                                                         kind="stable").reset_index(drop=True)


def leak_share(findings: pd.DataFrame, billed: float) -> float:
    """The findings' yuan as a share of the revenue billed over the same months (0 when none).

    >>> leak_share(pd.DataFrame({"amount": [10.0, 5.0]}), 1500.0)
    0.01
    """
    return float(findings["amount"].sum() / billed) if billed > 0 else 0.0


def top_findings(findings: pd.DataFrame, per_check: int) -> pd.DataFrame:
    """The ``per_check`` largest findings of each check (for alerts; the page lists all)."""
    if findings.empty:
        return findings
    order = findings.sort_values("amount", ascending=False)
    return order.groupby("check", sort=False).head(per_check).reset_index(drop=True)


__all__ = ["AssurancePolicy", "CHECKS", "DEFAULT_POLICY", "FINDING_COLUMNS", "USAGE_COMPONENTS",
           "combine", "discounts", "leak_share", "summarise", "top_findings", "unbilled_usage",
           "zero_revenue"]

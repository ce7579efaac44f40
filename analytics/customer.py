"""One subscriber's view: what a search box means, the 24-month ledger, net value and benefits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analytics.formatting import mask_msisdn
from analytics.value.netvalue import net_value

#: Months of the ledger the customer view shows (and exports).
LEDGER_MONTHS = 24
#: Revenue components of a bill, in display order (gross, before discount).
COMPONENTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas")
SEARCH_KINDS = ("id", "prefix", "pattern", "number")
_WILDCARDS = str.maketrans({"x": "*", "X": "*", "?": "*", "＊": "*"})
_ELEVEN_DIGITS = re.compile(r"(?<!\d)1\d{10}(?!\d)")


@dataclass(frozen=True)
class SearchTerm:
    """What a search box asked for.

    ``kind`` is ``id`` (a subscriber id), ``prefix`` (a number as masked pages show it,
    ``1351234****``), ``pattern`` (eleven characters of digits and ``*`` that give hidden
    digits, e.g. ``135****5678``) or ``number`` (a full number). ``value`` is the id, or the
    eleven-character text with ``*`` for unknown digits.
    """

    kind: str
    value: int | str

    @property
    def reveals_hidden_digits(self) -> bool:
        """Whether a match would confirm digits that masked numbers hide (positions 8–11)."""
        return self.kind in ("pattern", "number")

    def like(self) -> str:
        """The SQL LIKE pattern of a number search (digits and ``_`` only: nothing to escape)."""
        if self.kind == "id":
            raise ValueError("a subscriber id is not a number pattern")
        return str(self.value).replace("*", "_")


def parse_search(text: object) -> SearchTerm:
    """Read a search box: a subscriber id, a masked number, a pattern or a full number.

    Spaces and dashes are ignored; ``x``, ``X`` and ``?`` stand for ``*``.

    Raises
    ------
    ValueError
        With a message saying what may be searched.

    Examples
    --------
    >>> parse_search(" 1234 "), parse_search("1351234****").kind, parse_search("135 1234 5678").kind
    (SearchTerm(kind='id', value=1234), 'prefix', 'number')
    >>> parse_search("135xxxx5678")
    SearchTerm(kind='pattern', value='135****5678')
    """
    raw = "" if text is None else str(text)
    term = re.sub(r"[\s-]", "", raw).lstrip("#").translate(_WILDCARDS)
    if re.fullmatch(r"\d{1,10}", term) and int(term) > 0:
        return SearchTerm("id", int(term))
    if re.fullmatch(r"1\d{10}", term):
        return SearchTerm("number", term)
    if re.fullmatch(r"1\d{6}\*{4}", term):
        return SearchTerm("prefix", term)
    if re.fullmatch(r"[\d*]{11}", term) and term.startswith("1") and any(
            c.isdigit() for c in term[7:]):
        return SearchTerm("pattern", term)
    shown = raw.strip()[:40]
    raise ValueError(f"search: {shown!r} is not a subscriber id (e.g. 1234), a masked number "
                     "(e.g. 1351234****) or an eleven-digit number.")


def last_months(ledger: pd.DataFrame, latest: Any, months: int = LEDGER_MONTHS) -> pd.DataFrame:
    """The ledger's rows of the ``months`` months ending with ``latest`` (the mart's last
    month), oldest first, with ``gross`` (before discount) added.

    >>> rows = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2025-12-01"]),
    ...                      "rev_voice": [1.0, 2.0], "rev_data": [0.0, 1.0],
    ...                      "rev_sms": [0.0, 0.0], "rev_vas": [0.0, 0.0]})
    >>> last_months(rows, "2025-12-01", 12)["gross"].tolist()
    [3.0]
    """
    end = pd.Timestamp(latest).to_period("M")
    periods = pd.to_datetime(ledger["month"]).dt.to_period("M")
    kept = ledger[(periods > end - months) & (periods <= end)].sort_values("month")
    kept = kept.assign(gross=kept[list(COMPONENTS)].sum(axis=1))
    return kept.reset_index(drop=True)


def components_long(ledger: pd.DataFrame) -> pd.DataFrame:
    """Gross revenue by component and the discount (negative), one row per month and part,
    for a stacked chart whose bars add up to the revenue after discount."""
    parts = ledger.assign(discount=-ledger["discount"])[["month", *COMPONENTS, "discount"]]
    return parts.melt(id_vars="month", var_name="component", value_name="yuan")


@dataclass(frozen=True)
class WindowValue:
    """A subscriber's money over a window of months (yuan)."""

    first: pd.Timestamp
    last: pd.Timestamp
    months_billed: int
    gross: float
    discount: float
    revenue: float  # after discount
    service_cost: float
    campaign_cost: float
    net_value: float
    roi: float | None  # gross ÷ (discount + service + campaign costs); None without costs


def window_value(ledger: pd.DataFrame, campaigns: pd.DataFrame, first: Any,
                 last: Any) -> WindowValue:
    """Net value over ``first``–``last`` as the value page counts it: revenue after discount
    − service and VIP costs − the paid benefits of campaigns overlapping the window
    (:func:`analytics.value.netvalue.net_value`).

    >>> ledger = pd.DataFrame({"month": pd.to_datetime(["2026-01-01", "2026-02-01"]),
    ...     "rev_voice": [500.0, 500.0], "rev_data": [0.0, 0.0], "rev_sms": [0.0, 0.0],
    ...     "rev_vas": [0.0, 0.0], "discount": [150.0, 150.0], "revenue": [350.0, 350.0],
    ...     "service_cost": [0.0, 500.0]})
    >>> gifts = pd.DataFrame({"cost": [400.0], "start_month": pd.to_datetime(["2026-02-01"]),
    ...                       "end_month": pd.to_datetime(["2026-04-01"])})
    >>> window_value(ledger, gifts, "2026-01-01", "2026-02-01").net_value
    -200.0
    """
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    months = pd.to_datetime(ledger["month"])
    rows = ledger[(months >= first) & (months <= last)]
    paid = campaigns.iloc[0:0] if campaigns.empty else campaigns[
        (campaigns["cost"] > 0) & (pd.to_datetime(campaigns["start_month"]) <= last)
        & (pd.to_datetime(campaigns["end_month"]) >= first)]
    gross = float(rows[list(COMPONENTS)].sum().sum())
    discount, revenue = float(rows["discount"].sum()), float(rows["revenue"].sum())
    service, campaign = float(rows["service_cost"].sum()), float(paid["cost"].sum())
    costs = discount + service + campaign
    return WindowValue(first, last, int(len(rows)), round(gross, 2), round(discount, 2),
                       round(revenue, 2), round(service, 2), round(campaign, 2),
                       round(float(net_value(revenue, service, campaign)), 2),
                       gross / costs if costs > 0 else None)


def benefits_by_department(campaigns: pd.DataFrame) -> pd.DataFrame:
    """What each department gave the subscriber: campaigns joined (treated), held out
    (control), and the benefits' cost, most generous first.

    >>> joined = pd.DataFrame({"department": ["product", "product", "channel"],
    ...                        "arm": ["treated", "treated", "control"], "cost": [5.0, 7.0, 0.0]})
    >>> benefits_by_department(joined).to_dict("records")[0]
    {'department': 'product', 'campaigns': 2, 'held_out': 0, 'cost': 12.0}
    """
    columns = ["department", "campaigns", "held_out", "cost"]
    if campaigns.empty:
        return pd.DataFrame(columns=columns)
    treated = campaigns["arm"].eq("treated")
    table = (campaigns.assign(campaigns=treated.astype(int), held_out=(~treated).astype(int))
             .groupby("department", as_index=False)[["campaigns", "held_out", "cost"]].sum())
    table["cost"] = table["cost"].astype(float).round(2)
    return table.sort_values(["cost", "department"], ascending=[False, True],
                             kind="stable")[columns].reset_index(drop=True)


def tenure_months(join_month: Any, as_of: Any) -> int:
    """Whole months billed from ``join_month`` up to and including ``as_of``.

    >>> tenure_months("2025-01-01", "2025-12-01")
    12
    """
    start, end = pd.Timestamp(join_month).to_period("M"), pd.Timestamp(as_of).to_period("M")
    return max((end - start).n + 1, 0)


def mask_numbers_in_text(text: object, reveal: bool) -> str:
    """``text`` with every eleven-digit mobile number masked unless ``reveal``.

    >>> mask_numbers_in_text("call 13512345678 today", False)
    'call 1351234**** today'
    """
    value = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    return value if reveal else _ELEVEN_DIGITS.sub(lambda m: mask_msisdn(m.group(0)), value)

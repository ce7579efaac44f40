"""Customer net value: what a subscriber brings in after discounts, service and campaign costs."""

from __future__ import annotations

from typing import TypeVar

import pandas as pd

#: Anything that subtracts: a float, a Series, or a column expression of the caller's query.
Money = TypeVar("Money")


def net_value(revenue: Money, service_cost: Money, other_costs: Money) -> Money:
    """Net value = revenue − discounts − service and VIP costs − campaign and other costs.

    The one definition every figure of net value goes through (subscribers, customers,
    channels, groups, and the mart's own SQL, which passes column expressions). The mart's
    ``revenue`` is already net of discount (revenue = gross − discount), so discounts are not
    subtracted again. ``other_costs`` are the campaign benefits given in the window, plus,
    for a channel, its commission.

    >>> net_value(700.0, 500.0, 400.0)
    -200.0
    """
    return revenue - service_cost - other_costs


def subscriber_net_value(usage: pd.DataFrame,
                         campaign_costs: pd.DataFrame | None = None) -> pd.Series:
    """Net value per subscriber over the rows given (typically the last three months).

    Net value = revenue − discounts − service and VIP costs − campaign costs (:func:`net_value`).
    The mart's ``revenue`` is already net of discount (revenue = gross − discount), so here
    net value = Σ revenue − Σ service_cost − Σ campaign cost.

    Parameters
    ----------
    usage : DataFrame
        Columns ``subscriber_id``, ``revenue`` and ``service_cost``; one row per subscriber
        and month (or already summed), in yuan.
    campaign_costs : DataFrame, optional
        Columns ``subscriber_id`` and ``cost``: benefits given in the same period.

    Returns
    -------
    Series
        ``net_value`` in yuan, rounded to 0.01, indexed by subscriber_id.

    Examples
    --------
    The source's example: three months' bills of 1,000 yuan with 300 of discount (so
    revenue 700), two VIP events costing 500 and a 400-yuan gift come to −200 yuan.

    >>> usage = pd.DataFrame({"subscriber_id": [7, 7, 7], "revenue": [250.0, 200.0, 250.0],
    ...                       "service_cost": [0.0, 500.0, 0.0]})
    >>> gifts = pd.DataFrame({"subscriber_id": [7], "cost": [400.0]})
    >>> subscriber_net_value(usage, gifts).to_dict()
    {7: -200.0}
    """
    totals = usage.groupby("subscriber_id")[["revenue", "service_cost"]].sum()
    cost = pd.Series(0.0, index=totals.index)
    if campaign_costs is not None and not campaign_costs.empty:
        given = campaign_costs.groupby("subscriber_id")["cost"].sum()
        cost = given.reindex(totals.index).fillna(0.0)
    value = net_value(totals["revenue"], totals["service_cost"], cost)
    return value.round(2).rename("net_value")

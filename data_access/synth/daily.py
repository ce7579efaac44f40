"""Daily facts per micro-region and per channel, consistent with the monthly ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_access.synth.actions import ActionEffects
from data_access.synth.billing import MonthTotals
from data_access.synth.calendar import Calendar
from data_access.synth.dims import Dimensions
from data_access.synth.population import WEEKDAY_ACTIVATIONS, ArrivalTruths, Population

#: Other daily sales that draw on a channel's stock (handsets, SIM swaps, top-up cards), by type.
OTHER_SALES = np.array([4.0, 2.5, 1.2, 0.0])
#: Weeks of demand a restock brings the stock up to (e-channels sell from a warehouse).
COVER_WEEKS = np.array([2.0, 2.0, 2.0, 6.0])
#: Chance that a weekly restock is missed, falling over the window (source: 2.7% → 1.6% of
#: channels short of stock each week).
MISSED_RESTOCK = (0.07, 0.04)


class DailyFacts:
    """Produces each month's fact_region_day and fact_channel_day rows in turn."""

    def __init__(self, rng: np.random.Generator, cal: Calendar, dims: Dimensions,
                 pop: Population, truths: ArrivalTruths, stock_range: tuple[int, int] = (0, 2),
                 lift: ActionEffects | None = None):
        self.rng, self.cal, self.dims, self.pop, self.truths = rng, cal, dims, pop, truths
        self.lift = lift  # planted actions: revenue multipliers by day (synth.actions)
        self.stock_range = stock_range  # end-of-day stock of the drop channel during the drop
        ch = dims.channels
        self.kind = ch["type_code"].to_numpy()
        self.restock_day = ch["restock_weekday"].to_numpy()
        window_days = sum(cal.n_days(t) for t in cal.months)
        arrivals = pop.channel[pop.join >= cal.first]
        self.activation_rate = np.bincount(arrivals, minlength=len(ch)) / window_days
        self.other = OTHER_SALES[self.kind] * (0.5 + rng.random(len(ch)))
        demand = self.activation_rate + self.other
        self.target = np.ceil(COVER_WEEKS[self.kind] * 7 * demand).astype(np.int64) + 3
        self.stock = np.round(self.target * rng.uniform(0.6, 1.0, len(ch))).astype(np.int64)

    def month(self, t: int, totals: MonthTotals) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The region-day and channel-day rows of month ``t``."""
        return self._regions(t, totals), self._channels(t, totals)

    def _split(self, totals: np.ndarray, weekday_weight: np.ndarray) -> np.ndarray:
        """Split monthly amounts (one per column) over the days (rows); columns keep their sums."""
        noise = np.exp(self.rng.normal(0.0, 0.04, weekday_weight.shape))
        w = weekday_weight * noise
        return totals[None, :] * w / w.sum(axis=0, keepdims=True)

    def _regions(self, t: int, totals: MonthTotals) -> pd.DataFrame:
        pop, cal = self.pop, self.cal
        n_days, regions = cal.n_days(t), len(self.dims.regions)
        weekday = cal.weekdays(t)
        joined = pop.join == t
        new = np.bincount(pop.join_day[joined].astype(np.int64) * regions + pop.region[joined],
                          minlength=n_days * regions).reshape(n_days, regions)
        leaving = pop.churn == t
        day = np.minimum((pop.churn_u[leaving] * n_days).astype(np.int64), n_days - 1)
        churned = np.bincount(day * regions + pop.region[leaving],
                              minlength=n_days * regions).reshape(n_days, regions)
        before = totals.billed - totals.new + totals.churned  # billed in the month before
        active = before[None, :] + np.cumsum(new - churned, axis=0)
        shape = np.where(weekday >= 5, 1.03, 1.0)[:, None] * np.ones((1, regions))
        if self.lift is not None:
            shape = shape * self.lift.region_days(t)
        revenue = self._split(totals.revenue, shape)
        return pd.DataFrame({
            "day": np.repeat(cal.days(t), regions),
            "region_id": np.tile(self.dims.regions["region_id"].to_numpy(), n_days),
            "new_activations": new.ravel(), "churned": churned.ravel(),
            "revenue": revenue.ravel(), "active_subs": active.ravel(),
        })

    def _channels(self, t: int, totals: MonthTotals) -> pd.DataFrame:
        pop, cal = self.pop, self.cal
        n_days, channels = cal.n_days(t), len(self.kind)
        weekday = cal.weekdays(t)
        joined = pop.join == t
        new = np.bincount(pop.join_day[joined].astype(np.int64) * channels + pop.channel[joined],
                          minlength=n_days * channels).reshape(n_days, channels)
        shape = 1.0 + 0.3 * (WEEKDAY_ACTIVATIONS[self.kind][:, weekday].T - 1.0)
        if self.lift is not None:
            shape = shape * self.lift.channel_days(t)
        revenue = self._split(totals.channel_revenue, shape)
        stock = self._stock(t, new, weekday)
        return pd.DataFrame({
            "day": np.repeat(cal.days(t), channels),
            "channel_id": np.tile(np.arange(1, channels + 1), n_days),
            "new_activations": new.ravel(), "revenue": revenue.ravel(),
            "stock_level": stock.ravel(),
        })

    def _stock(self, t: int, new: np.ndarray, weekday: np.ndarray) -> np.ndarray:
        """End-of-day stock: weekly restocks (some missed), drawn down by sales."""
        rng, cal = self.rng, self.cal
        progress = (t - cal.first) / max(1, len(cal) - 1)
        missed = MISSED_RESTOCK[0] + (MISSED_RESTOCK[1] - MISSED_RESTOCK[0]) * progress
        first_drop, last_drop = self.truths.drop_days
        days = cal.days(t)
        levels = np.empty(new.shape, dtype=np.int64)
        for i in range(len(days)):
            restock = (self.restock_day == weekday[i]) & (rng.random(len(self.stock)) >= missed)
            refill = np.round(self.target * rng.uniform(0.9, 1.1, len(self.stock))).astype(np.int64)
            self.stock = np.where(restock, np.maximum(self.stock, refill), self.stock)
            sales = new[i] + rng.poisson(self.other)
            self.stock = np.maximum(self.stock - sales, 0)
            if first_drop <= days[i] <= last_drop:  # the planted channel has run out of stock
                drop = self.dims.drop_channel
                low, high = self.stock_range
                # a few units stay on the shelf (variant b: 3-6, the ones nobody asks for)
                self.stock[drop] = min(max(self.stock[drop], low), int(rng.integers(low, high + 1)))
            levels[i] = self.stock
        return levels


"""Did the action work? Every resolved work order's KPI before and after its action day,
against comparable units with no order in the same weeks (效果跟踪).

Usage: ``python -m jobs.action_effects [--seed-demo] [--by tactic|order_kind|kpi] [--csv PATH]``

``--seed-demo`` first writes one closed demo order per planted action of the mart into a
demo store (``data_access.store.demo.seed_effect_orders``), so the demo has orders to measure.

An order is measured when it is resolved, verified or closed, names a micro-region or a
channel, and was raised for a KPI with a daily series (``analytics.ops.action_effect``).
Its action day is the day (UTC+8) of the first tactic picked for it that was not cancelled,
else the day it was resolved. Units with any other order whose weeks overlap are never
controls. Estimates are computed once per mart version, scope and state of the orders
(:func:`evaluate_orders` keeps the last few books), not on each click.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import OrderedDict
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from analytics.formatting import LOCAL_TZ
from analytics.ops.action_effect import (ActionCase, ActionEffect, EffectSettings, daily_kpi,
                                         effects_frame, estimate_action_effect, indexed_series,
                                         rank_effects)
from analytics.ops.workorders import DONE_STATES
from data_access.db import ConcertoError, create_mart_engine, mart_version
from data_access.mart.actions import LEVELS, load_effect_panel, load_effect_units
from data_access.store.arsenal_picks import list_picks
from data_access.store.demo import demo_enabled, seed_demo, seed_effect_orders
from data_access.store.scope import acting, as_system, scope_key
from data_access.store.workflow import create_workflow_engine
from data_access.store.workorders import list_orders

#: Most orders read (the store's board reads at most as many).
MAX_ORDERS = 20_000
#: Books kept in memory (one per mart version, scope and state of the orders).
MAX_BOOKS = 8


@dataclass
class EffectBook:
    """Every measured order of one mart version and scope, with what its chart needs."""

    settings: EffectSettings
    effects: dict[int, ActionEffect] = field(default_factory=dict)
    cases: dict[int, ActionCase] = field(default_factory=dict)
    excluded: dict[int, frozenset[int]] = field(default_factory=dict)
    panels: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)

    def frame(self, order_ids: set[int] | None = None) -> pd.DataFrame:
        """The effects as rows (only ``order_ids`` when given), newest action first."""
        chosen = [e for k, e in self.effects.items() if order_ids is None or k in order_ids]
        return effects_frame(chosen).sort_values(["action_day", "order_id"], ascending=False,
                                                 ignore_index=True)

    def series(self, order_id: int) -> pd.DataFrame:
        """The order's unit and its controls' average as indexes (before = 100) by day."""
        case = self.cases.get(order_id)
        if case is None:
            return pd.DataFrame(columns=["day", "treated", "controls"])
        panel = self.panels[(case.unit_level, case.kpi)][["unit_id", "day", "value"]]
        return indexed_series(panel, case, self.excluded[order_id], self.settings)


_BOOKS: OrderedDict[tuple, EffectBook] = OrderedDict()


def _local_day(value: object) -> dt.date | None:
    stamp = pd.Timestamp(value) if value is not None else pd.NaT
    if stamp is pd.NaT or pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(LOCAL_TZ).date()


def action_days(orders: pd.DataFrame, picks: pd.DataFrame) -> pd.DataFrame:
    """Each order's action day and tactic: its first live pick's, else the day it was resolved.

    Returns ``orders`` with ``action_day`` (None while unresolved and without a pick) and
    ``tactic`` (the first live pick's tactic code, "" when none).
    """
    live = picks[picks["status"].eq("picked")].sort_values(["picked_at", "pick_id"])
    first = live.groupby("order_id").first()
    out = orders.copy()
    picked = out["order_id"].map(first["picked_at"]) if len(first) else pd.Series(
        pd.NaT, index=out.index)
    out["tactic"] = (out["order_id"].map(first["code"]) if len(first) else pd.Series(
        "", index=out.index)).fillna("").astype(str)
    out["action_day"] = [_local_day(p) if pd.notna(p) else _local_day(r)
                         for p, r in zip(picked, out["resolved_at"], strict=True)]
    return out


def _units_touched(order: pd.Series, units: pd.DataFrame) -> dict[str, set[int]]:
    """The micro-regions and channels an order's unit covers (a channel lies in its region,
    a region holds its channels)."""
    mine = units[(units["unit_level"] == order["unit_level"])
                 & (units["unit_key"] == str(order["unit_key"]))]
    if mine.empty:
        return {"micro_region": set(), "channel": set()}
    region = int(mine["region_id"].iloc[0])
    channels = units[(units["unit_level"] == "channel") & (units["region_id"] == region)]
    return {"micro_region": {region},
            "channel": ({int(mine["unit_id"].iloc[0])} if order["unit_level"] == "channel"
                        else set(channels["unit_id"].astype(int)))}


def _spans(orders: pd.DataFrame, settings: EffectSettings, today: dt.date) -> pd.DataFrame:
    """When each order touches its unit: from its creation to the end of its after-window
    (open orders: until today)."""
    start = [_local_day(c) for c in orders["created_at"]]
    end = [a + dt.timedelta(days=settings.post_days - 1) if a is not None else today
           for a in orders["action_day"]]
    return orders.assign(span_start=start, span_end=end)


def measure_orders(mart: sa.Engine, orders: pd.DataFrame, picks: pd.DataFrame,
                   settings: EffectSettings = EffectSettings(),
                   today: dt.date | None = None) -> EffectBook:
    """Measure every resolved order of ``orders`` (all orders are used to keep overlapping
    units out of the controls); reads the mart inside the acting scope."""
    today = today or dt.datetime.now(dt.UTC).date()
    book = EffectBook(settings)
    units = load_effect_units(mart)
    placed = _spans(action_days(orders, picks), settings, today)
    placed = placed[placed["unit_level"].isin(list(LEVELS))]
    touched = {int(r["order_id"]): _units_touched(r, units) for _, r in placed.iterrows()}
    done = placed[placed["state"].isin(list(DONE_STATES))]
    for _, order in done.iterrows():
        order_id = int(order["order_id"])
        kpi = daily_kpi(order["metric"])
        mine = units[(units["unit_level"] == order["unit_level"])
                     & (units["unit_key"] == str(order["unit_key"]))]
        case = ActionCase(order_id, str(order["unit_level"]),
                          int(mine["unit_id"].iloc[0]) if len(mine) else -1,
                          str(order["unit_label"]), kpi or str(order["metric"] or ""),
                          order["action_day"], str(order["tactic"]), str(order["kind"]))
        if kpi is None or kpi not in LEVELS[case.unit_level][2]:
            book.effects[order_id] = _unmeasured(case, f"The order was raised for "
                                                 f"{order['metric'] or 'no KPI'}, which has no "
                                                 f"daily series per {case.unit_level}.")
            continue
        if mine.empty:
            book.effects[order_id] = _unmeasured(case, f"{case.unit_label} is not in the mart "
                                                 "or lies outside your scope.")
            continue
        window = (case.action_day - dt.timedelta(days=settings.pre_days),
                  case.action_day + dt.timedelta(days=settings.post_days - 1))
        others = placed[(placed["order_id"] != order_id) & (placed["span_start"] <= window[1])
                        & (placed["span_end"] >= window[0])]
        excluded = frozenset().union(*[touched[int(i)][case.unit_level]
                                       for i in others["order_id"]])
        book.cases[order_id], book.excluded[order_id] = case, excluded
    for level, kpi in {(c.unit_level, c.kpi) for c in book.cases.values()}:
        days = [c.action_day for c in book.cases.values() if (c.unit_level, c.kpi) == (level, kpi)]
        book.panels[(level, kpi)] = load_effect_panel(
            mart, level, kpi, min(days) - dt.timedelta(days=settings.pre_days),
            max(days) + dt.timedelta(days=settings.post_days - 1))
    for order_id, case in book.cases.items():
        panel = book.panels[(case.unit_level, case.kpi)][["unit_id", "day", "value"]]
        book.effects[order_id] = estimate_action_effect(panel, case, book.excluded[order_id],
                                                        settings)
    return book


def _unmeasured(case: ActionCase, message: str) -> ActionEffect:
    return ActionEffect(case.order_id, case.unit_level, case.unit_label, case.kpi,
                        case.action_day, case.tactic, case.order_kind, "not_enough_data", message)


def evaluate_orders(mart: sa.Engine, workflow: sa.Engine,
                    settings: EffectSettings = EffectSettings()) -> EffectBook:
    """The effect book of the acting person's scope: computed once per mart version, scope
    and state of the orders and picks, then reused.

    The store is read on each call (orders and picks, cheap); the mart and the estimator only
    when something they depend on changed. The book holds every resolved order whose unit
    lies in scope; :func:`visible_effects` narrows it to the orders the person may see.
    """
    orders = list_orders(workflow, None, limit=MAX_ORDERS)
    picks = list_picks(workflow, limit=MAX_ORDERS)
    url = mart.url.render_as_string(hide_password=False)
    key = (url, mart_version(url), scope_key(), settings,
           tuple(zip(orders["order_id"], orders["version"], strict=True)),
           tuple(zip(picks["pick_id"], picks["status"], strict=True)))
    if key in _BOOKS:
        _BOOKS.move_to_end(key)
        return _BOOKS[key]
    book = measure_orders(mart, orders, picks, settings)
    _BOOKS[key] = book
    while len(_BOOKS) > MAX_BOOKS:
        _BOOKS.popitem(last=False)
    return book


def visible_effects(mart: sa.Engine, workflow: sa.Engine) -> pd.DataFrame:
    """The measured orders the acting person may see, one row each."""
    book = evaluate_orders(mart, workflow)
    seen = set(list_orders(workflow, acting(), limit=MAX_ORDERS)["order_id"].astype(int))
    return book.frame(seen)


def rank_measured(effects: pd.DataFrame, by: str = "tactic") -> pd.DataFrame:
    """Tactics (``by="tactic"``), order kinds (``"order_kind"``) or KPIs ranked by effect."""
    if by not in ("tactic", "order_kind", "kpi"):
        raise ConcertoError(f"by: rank by tactic, order_kind or kpi, not {by!r}.")
    return rank_effects(effects, by=by)


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    """Command line: measure every resolved order and print the ranking."""
    parser = argparse.ArgumentParser(prog="python -m jobs.action_effects",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--by", default="tactic", choices=("tactic", "order_kind", "kpi"),
                        help="rank by tactic (default), order kind or KPI")
    parser.add_argument("--csv", default=None, help="also write every order's estimate here")
    parser.add_argument("--seed-demo", action="store_true",
                        help="first add a closed demo order per planted action (demo stores only)")
    args = parser.parse_args(argv)
    try:
        mart, workflow = create_mart_engine(read_only=True), create_workflow_engine()
        if args.seed_demo:
            if not demo_enabled(workflow):
                raise ConcertoError("--seed-demo: this store takes no demo content (set "
                                    "CONCERTO_DEMO_USERS=1 to allow it).")
            seed_demo(workflow)  # users and the arsenal the demo orders refer to
            print(f"Seeded {seed_effect_orders(workflow, mart)} demo order(s).")
        effects = evaluate_orders(mart, workflow).frame()
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if effects.empty:
        print("No resolved work order on a micro-region or channel to measure.")
        return 0
    shown = effects[["order_id", "unit_label", "kpi", "action_day", "tactic", "verdict",
                     "estimate", "ci_low", "ci_high", "n_controls"]]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
        print()
        print(rank_measured(effects, args.by).to_string(index=False,
                                                        float_format=lambda v: f"{v:+.3f}"))
    if args.csv:
        effects.to_csv(args.csv, index=False)
        print(f"Wrote {len(effects)} order(s) to {args.csv}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

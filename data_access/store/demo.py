"""Demo content for the workflow store: users, dispatch rules, arsenal, budgets, and the
resolved work orders behind the mart's planted actions (效果跟踪).

Seeded into the embedded SQLite store, or into any store when ``CONCERTO_DEMO_USERS=1``; a
production store on PostgreSQL gets none of it (demo passwords are public) unless asked.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os

import sqlalchemy as sa

from data_access.db import ConcertoError, create_mart_engine, duckdb_path, mart_url
from data_access.mart.queries import load_planted_truths
from data_access.store.arsenal import tactic, tactic_pick
from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM, SYSTEM_ACTOR
from data_access.store.scope import acting_as, require
from data_access.store.workflow import write_transaction
from data_access.store.workorders import insert_order, work_order, work_order_event

ENV_DEMO_USERS = "CONCERTO_DEMO_USERS"
#: "module:function" seeders, each idempotent and taking the workflow engine.
SEEDERS = (
    "data_access.store.demo_users:seed_demo_users",
    "data_access.store.dispatch:seed_dispatch_rules",
    "data_access.store.arsenal:seed_arsenal",
    "data_access.store.budgets.seed:seed_demo_budgets",
    "data_access.store.intel_demo:seed_demo_intel",
    "data_access.store.comms_seed:seed_comms",
    "data_access.store.campaign_plans:seed_channel_rules",
)
#: Not among SEEDERS (a fresh demo store starts with no work order, which the page tests
#: rely on): ``python -m jobs.action_effects --seed-demo`` runs :func:`seed_effect_orders`.
#: Who handles the demo orders on a branch's micro-regions (channels: the channel manager).
_REGION_OWNER = {"Xiangzhou": "rm_xiangzhou", "Doumen": "rm_doumen", "Jinwan": "rm_jinwan"}
_UTC8 = dt.timezone(dt.timedelta(hours=8))


def demo_enabled(engine: sa.Engine) -> bool:
    """``CONCERTO_DEMO_USERS`` when set (1 or 0), else yes for SQLite and no for servers."""
    setting = os.environ.get(ENV_DEMO_USERS, "").strip()
    if setting:
        return setting not in {"0", "false", "no"}
    return engine.dialect.name == "sqlite"


def seed_demo(engine: sa.Engine) -> None:
    """Run every demo seeder (each is safe to run again), as the system principal."""

    with acting_as(SYSTEM):
        for spec in SEEDERS:
            module, function = spec.split(":")
            getattr(importlib.import_module(module), function)(engine)


def seed_effect_orders(engine: sa.Engine, mart: sa.Engine | None = None) -> int:
    """Demo seeder: one closed work order per planted action of the mart (``planted_truth``
    rows of kind ``action_effect``), with its unit, KPI, the tactic picked on the action day
    and its history; returns how many were new.

    Idempotent (an order with the same unit, KPI and creation time is not made twice); does
    nothing when there is no mart or it plants no actions. The mart's outcome of each action
    is not written anywhere in the order.
    """
    require("manage_dispatch_rules", "seed the demo work orders")
    try:
        if mart is None:
            path = duckdb_path(mart_url())
            if path is not None and not path.exists():
                return 0
            mart = create_mart_engine(read_only=True)
        truths = load_planted_truths(mart)
    except (ConcertoError, sa.exc.SQLAlchemyError):
        return 0  # no mart, or one without planted truths (a real extract)
    planted = truths[truths["kind"] == "action_effect"]
    made = 0
    with write_transaction(engine) as conn:
        codes = dict(conn.execute(sa.select(tactic.c.code, tactic.c.tactic_id)).all())
        for detail in planted["detail"].map(json.loads):
            made += _seed_effect_order(conn, detail, codes)
        if made:
            record_audit(conn, SYSTEM_ACTOR, "demo_seed", "work_order", "effect_demo", None,
                         {"orders": made})
    return made


def _seed_effect_order(conn: sa.Connection, detail: dict, codes: dict[str, int]) -> int:
    day = dt.date.fromisoformat(detail["action_day"])
    at = {name: dt.datetime.combine(day + dt.timedelta(days=offset), dt.time(hour, 0), _UTC8
                                    ).astimezone(dt.UTC)
          for name, offset, hour in (("created", -4, 9), ("dispatched", -4, 10),
                                     ("accepted", -3, 11), ("picked", 0, 10),
                                     ("resolved", 2, 17), ("verified", 5, 10),
                                     ("closed", 6, 9))}
    o = work_order.c
    level, key, metric = detail["unit_level"], str(detail["unit_key"]), detail["metric"]
    if conn.execute(sa.select(o.order_id).where(o.unit_level == level, o.unit_key == key,
                                                o.metric == metric,
                                                o.created_at == at["created"])).first():
        return 0
    channel = level == "channel"
    assignee = "channel_mgr" if channel else _REGION_OWNER.get(detail["branch"], "analyst")
    what = "Channel revenue" if channel else "Revenue"
    code = detail["tactic"]
    order_id = insert_order(conn, SYSTEM_ACTOR, dict(
        kind=detail["order_kind"], title=f"{what} below plan: {detail['unit_label']}"[:200],
        detail=f"{what} of {detail['unit_label']} has fallen behind the plan; act and report "
               "back. (demo order)", state="closed", priority="normal", unit_level=level,
        unit_key=key, unit_label=detail["unit_label"][:120], branch=detail["branch"],
        micro_region=detail["micro_region"], metric=metric, alert_id=None, parent_id=None,
        owner_role="channel_manager" if channel else "regional_manager", assignee=assignee,
        created_by=SYSTEM_ACTOR, created_at=at["created"], due_at=at["resolved"],
        dispatched_at=at["dispatched"], accepted_at=at["accepted"],
        resolved_at=at["resolved"], closed_at=at["closed"], checklist_json=None,
        resolution=f"Used {code} on {day:%Y-%m-%d}.", version=1))
    if code in codes:
        cost = conn.execute(sa.select(tactic.c.unit_cost).where(
            tactic.c.tactic_id == codes[code])).scalar_one()
        conn.execute(sa.insert(tactic_pick).values(
            tactic_id=codes[code], order_id=order_id, quantity=1, unit_cost=cost,
            total_cost=cost, target_key=None, picked_by=assignee, picked_at=at["picked"],
            status="picked", note="demo"))
    steps = (("dispatch", "new", "dispatched", "dispatched"), ("accept", "dispatched",
             "accepted", "accepted"), ("start", "accepted", "in_progress", "accepted"),
             ("resolve", "in_progress", "resolved", "resolved"),
             ("verify", "resolved", "verified", "verified"), ("close", "verified", "closed",
                                                             "closed"))
    for action, before, after, when in steps:
        conn.execute(sa.insert(work_order_event).values(
            order_id=order_id, at=at[when], actor=assignee if action in (
                "accept", "start", "resolve") else SYSTEM_ACTOR, action=action,
            from_state=before, to_state=after, assignee=assignee,
            note=f"Used {code} on {day:%Y-%m-%d}." if action == "resolve" else ""))
    return 1

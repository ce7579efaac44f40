"""Demo content for the workflow store: users, dispatch rules, arsenal and budgets.

Seeded into the embedded SQLite store, or into any store when ``CONCERTO_DEMO_USERS=1``; a
production store on PostgreSQL gets none of it (demo passwords are public) unless asked.
"""

from __future__ import annotations

import importlib
import os

import sqlalchemy as sa
from data_access.store.auth import SYSTEM
from data_access.store.scope import acting_as

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

"""The demo's sample users (the README lists their sign-ins)."""

from __future__ import annotations

import sqlalchemy as sa

from data_access.store.auth import SYSTEM_ACTOR, _UsernameTaken, create_user
from data_access.store.workflow import app_user

DEMO_PASSWORD = "Concerto-2026!"

DEMO_USERS = (
    ("exec", "executive", "Demo Executive", None, None),
    ("analyst", "analyst", "Demo Analyst", None, None),
    ("rm_xiangzhou", "regional_manager", "Demo Manager, Xiangzhou", "branch", "Xiangzhou"),
    ("rm_gongbei", "regional_manager", "Demo Manager, Gongbei", "micro_region", "Gongbei"),
    ("rm_doumen", "regional_manager", "Demo Manager, Doumen", "branch", "Doumen"),
    ("rm_jinwan", "regional_manager", "Demo Manager, Jinwan", "branch", "Jinwan"),
    ("channel_mgr", "channel_manager", "Demo Channel Manager", None, None),
    ("account_mgr", "account_manager", "Demo Account Manager", None, None),
    ("marketer", "marketer", "Demo Marketer", None, None),
    ("admin", "administrator", "Demo Administrator", None, None),
)


def seed_demo_users(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """Create the demo users that are missing; safe to run any number of times.

    The password of each is ``Concerto-2026!`` followed by its role code:

    ============  ================  ==================================
    username      role              password
    ============  ================  ==================================
    exec          executive         Concerto-2026!executive
    analyst       analyst           Concerto-2026!analyst
    rm_xiangzhou  regional_manager  Concerto-2026!regional_manager (branch Xiangzhou)
    rm_gongbei    regional_manager  Concerto-2026!regional_manager (micro_region Gongbei)
    rm_doumen     regional_manager  Concerto-2026!regional_manager (branch Doumen)
    rm_jinwan     regional_manager  Concerto-2026!regional_manager (branch Jinwan)
    channel_mgr   channel_manager   Concerto-2026!channel_manager
    account_mgr   account_manager   Concerto-2026!account_manager
    marketer      marketer          Concerto-2026!marketer
    admin         administrator     Concerto-2026!administrator
    ============  ================  ==================================

    Returns
    -------
    list of (username, role, password)
        Every demo user, created now or before (a password changed since is not tracked).
    """
    with engine.connect() as conn:
        existing = set(conn.execute(sa.select(app_user.c.username)).scalars())
    seeded = []
    for username, role, display_name, scope_level, scope_value in DEMO_USERS:
        password = f"{DEMO_PASSWORD}{role}"
        if username not in existing:
            try:
                create_user(engine, username, password, role, display_name=display_name,
                            scope_level=scope_level, scope_value=scope_value, actor=SYSTEM_ACTOR)
            except _UsernameTaken:  # another process seeded it meanwhile
                pass
        seeded.append((username, role, password))
    return seeded

"""Demo budgets for the current quarter: company → departments → teams → people, part used."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from analytics.ops.budget import quarter_of
from data_access.store.auth import SYSTEM
from data_access.store.budgets.allocation import allocate
from data_access.store.budgets.bookings import confirm, prebook
from data_access.store.budgets.ledger import budget_booking, budget_unit
from data_access.db import ConcertoError

#: (name, quota, owner, branch, micro_region, children) — people have no children.
DEMO_TREE = ("City company 市公司", 1_200_000, None, None, None, [
    ("Marketing 市场部", 400_000, None, None, None, [
        ("Campaigns team 活动组", 150_000, "marketer", None, None, [
            ("Demo Marketer", 60_000, "marketer", None, None, []),
            ("Guo Li 郭丽", 40_000, "guo.li", None, None, []),
        ]),
        ("Communications team 传播组", 100_000, None, None, None, [
            ("Chen Jing 陈静", 50_000, "chen.jing", None, None, []),
        ]),
    ]),
    ("Channels 渠道部", 450_000, None, None, None, [
        ("Xiangzhou channel team 香洲渠道组", 180_000, "rm_xiangzhou", "Xiangzhou", None, [
            ("Demo Channel Manager", 60_000, "channel_mgr", None, None, []),
            ("Demo Manager, Xiangzhou", 50_000, "rm_xiangzhou", None, None, []),
        ]),
        ("Gongbei retention team 拱北维系组", 120_000, None, "Xiangzhou", "Gongbei", [
            ("Demo Manager, Gongbei", 50_000, "rm_gongbei", None, None, []),
            ("Huang Wei 黄伟", 30_000, "huang.wei", None, None, []),
        ]),
        ("Doumen channel team 斗门渠道组", 100_000, None, "Doumen", None, [
            ("Li Na 李娜", 40_000, "li.na", None, None, []),
        ]),
    ]),
    ("Government & Enterprise 政企部", 300_000, None, None, None, [
        ("Key accounts team 大客户组", 150_000, None, None, None, [
            ("Demo Account Manager", 60_000, "account_mgr", None, None, []),
            ("Zhao Min 赵敏", 40_000, "zhao.min", None, None, []),
        ]),
    ]),
])

#: person name → [(amount, spent when confirmed or None to leave it open, note)]
DEMO_BOOKINGS = {
    "Huang Wei 黄伟": [(25_500, 25_500, "Gongbei retention gifts")],  # past 80%
    "Demo Channel Manager": [(12_000, 11_200, "Weekend promotion, Gongbei hall"),
                             (3_000, None, "Stock for the Jida franchise outlet")],
    "Guo Li 郭丽": [(18_000, 18_000, "Autumn data-pack campaign")],
    "Demo Account Manager": [(20_000, 20_000, "Hengqin resort group renewal"),
                             (5_000, None, "Leased-line retention visit")],
    "Li Na 李娜": [(9_500, 9_500, "Jing'an outlet footfall event")],
    "Demo Marketer": [(22_000, 22_000, "Outdoor posters, city centre")],
    "Demo Manager, Gongbei": [(8_000, 8_000, "Community roadshow")],
}

_LEVELS = ("company", "department", "team", "person")


def _find(conn: sa.Connection, period: str, parent_id: int | None, name: str) -> int | None:
    u = budget_unit.c
    return conn.execute(sa.select(u.unit_id).where(
        u.period == period, u.name == name,
        u.parent_id.is_(None) if parent_id is None else u.parent_id == parent_id)).scalar()


def _plant(engine: sa.Engine, period: str, node: tuple, parent_id: int | None, depth: int,
           people: dict[str, int]) -> None:
    name, quota, owner, branch, micro_region, children = node
    with engine.connect() as conn:
        unit_id = _find(conn, period, parent_id, name)
    if unit_id is None:
        try:
            unit_id = allocate(engine, SYSTEM, period, _LEVELS[depth], name, parent_id, quota,
                               owner=owner, branch=branch, micro_region=micro_region)
        except ConcertoError:  # another process planted it meanwhile
            with engine.connect() as conn:
                unit_id = _find(conn, period, parent_id, name)
            if unit_id is None:
                raise
    if not children:
        people[name] = unit_id
    for child in children:
        _plant(engine, period, child, unit_id, depth + 1, people)


def seed_demo_budgets(engine: sa.Engine, today: dt.date | None = None) -> int:
    """Plant the demo budget tree for the quarter of ``today`` and a few bookings.

    Safe to run again: units found by name are kept, and a person who has bookings gets
    none added. Everything is written through the audited functions as actor ``system``.

    Returns
    -------
    int
        The number of bookings added.
    """
    period = quarter_of(today or dt.datetime.now(dt.UTC).date())
    people: dict[str, int] = {}
    _plant(engine, period, DEMO_TREE, None, 0, people)
    added = 0
    for name, bookings in DEMO_BOOKINGS.items():
        with engine.connect() as conn:
            if conn.execute(sa.select(budget_booking.c.booking_id).where(
                    budget_booking.c.unit_id == people[name])).first() is not None:
                continue
        for amount, spent, note in bookings:
            booking_id = prebook(engine, SYSTEM, people[name], amount, note=note)
            if spent is not None:
                confirm(engine, SYSTEM, booking_id, spent)
            added += 1
    return added

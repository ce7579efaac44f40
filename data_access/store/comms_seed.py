"""Demo content for communications: the starter catalogue, budgets and a plan of requests."""

from __future__ import annotations

import csv
import datetime as dt

import sqlalchemy as sa

from data_access.store import comms
from data_access.store.auth import SYSTEM
from data_access.db import PROJECT_ROOT

ASSET = PROJECT_ROOT / "assets" / "comms_resources.csv"
#: Yearly budgets (yuan) per department.
_BUDGETS = {"individual": 900_000, "enterprise": 400_000, "product": 600_000,
            "channel": 300_000, "communications": 1_200_000}
#: Past placements of the generated mart's campaigns (by name): resource code, quantity.
_PAST = {
    "Spring Festival data gift 春节流量红包": ("individual", [("WX-MOMENTS", 6), ("SMS-BULK", 20),
                                                        ("MET-ST-PAN", 1)]),
    "5G upgrade trial 5G升级体验": ("product", [("DY-FEED", 8), ("APP-BANNER", 6), ("OUT-JD-BB", 2)]),
    "Leased-line retention 专线保有计划": ("enterprise", [("NEWS-ZHT", 3), ("RS-PARK", 4)]),
    "E-channel first top-up rebate 线上首充返利": ("channel", [("APP-BANNER", 4), ("WX-OA-PUSH", 6),
                                                         ("SMS-BULK", 10)]),
    "Summer campus brand week 动感地带暑期品牌周": ("communications", [
        ("DY-TOPVIEW", 2), ("WX-KOL", 3), ("RS-CAMPUS", 5), ("MET-LR-CAR", 1)]),
    "Group V-net bundle 集团V网融合": ("enterprise", [("NEWS-ONL", 4), ("RS-PARK", 3)]),
    "Broadband bundle trial 宽带融合体验": ("product", [("ELV-SCR", 2), ("RS-COMMUNITY", 12),
                                                   ("HALL-POS", 2)]),
    "Data booster add-on 流量加油包": ("individual", [("SMS-5G", 15), ("APP-BANNER", 8)]),
    "VIP handset upgrade 高端换机补贴": ("individual", [("OUT-GB-LED", 2), ("CIN-PRE", 3),
                                                  ("RS-MALL", 2)]),
    "VIP concert night 尊享音乐会": ("communications", [("RAD-PACK", 2), ("WX-MOMENTS", 3),
                                                  ("OUT-GB-LED", 1)]),
}


def load_catalogue_file(engine: sa.Engine) -> int:
    """Add the starter catalogue's resources whose code is new; returns how many."""
    with ASSET.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return comms.add_resources(engine, SYSTEM, rows)


def seed_comms(engine: sa.Engine, today: dt.date | None = None) -> int:
    """Demo seeder: catalogue, this year's budgets, past placements of the mart's campaigns
    and a few open requests (some overdue). Idempotent: the plan is seeded into an empty
    store only. Returns how many requests were added."""
    today = today or dt.date.today()
    load_catalogue_file(engine)
    with engine.connect() as conn:
        budgets = conn.execute(sa.select(sa.func.count()).select_from(comms.comms_budget)).scalar()
        requests = conn.execute(sa.select(sa.func.count()).select_from(comms.comms_request)
                                ).scalar()
    if not budgets:  # the seeded plan spans last year and this one
        for year in (today.year - 1, today.year):
            for department, amount in _BUDGETS.items():
                comms.set_budget(engine, SYSTEM, department, year, amount)
    if requests:
        return 0
    added = 0
    for i, (name, (department, items)) in enumerate(_PAST.items()):
        start = today - dt.timedelta(days=330 - 30 * i)
        for code, quantity in items:
            rid = comms.submit_request(engine, SYSTEM, department=department, title=name[:120],
                                       theme=name, resource_code=code, quantity=quantity,
                                       start_day=start, end_day=start + dt.timedelta(days=27),
                                       campaign_name=name)
            version = 1
            for state in ("approved", "booked", "done"):
                version = comms.move_request(engine, SYSTEM, rid, state, version=version)
            added += 1
    upcoming = [
        ("individual", "5G family plan launch 5G家庭套餐上市", "DY-FEED", 10, 2, 30, "requested"),
        ("individual", "5G family plan launch 5G家庭套餐上市", "OUT-JD-BB", 3, 5, 60, "approved"),
        ("communications", "Brand month 品牌月", "MET-LR-CAR", 12, -10, 30, "approved"),
        ("communications", "Brand month 品牌月", "OUT-GB-LED", 8, -40, -12, "booked"),
        ("enterprise", "Smart-park roadshow 智慧园区巡展", "RS-PARK", 4, 20, 25, "requested"),
    ]
    for department, title, code, quantity, begin, end, state in upcoming:
        rid = comms.submit_request(engine, SYSTEM, department=department, title=title,
                                   theme=title, resource_code=code, quantity=quantity,
                                   start_day=today + dt.timedelta(days=begin),
                                   end_day=today + dt.timedelta(days=end))
        version = 1
        for step in ("approved", "booked")[: ("requested", "approved", "booked").index(state)]:
            version = comms.move_request(engine, SYSTEM, rid, step, version=version)
        added += 1
    return added

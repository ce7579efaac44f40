"""Communications management: the media resource catalogue, departments' requests on one
plan, and yearly communication budgets per department (workflow store)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.store.audit import record_audit
from data_access.store.auth import Principal
from data_access.db import ConcertoError, check_text, read_frame
from data_access.mart.schema import DEPARTMENTS
from data_access.store.workflow import Money, WORKFLOW, update_versioned, write_transaction

#: Media in the catalogue (code → label).
MEDIA: dict[str, str] = {
    "outdoor": "outdoor 户外", "metro": "metro & rail 地铁轻轨", "wechat": "WeChat 微信",
    "douyin": "Douyin 抖音", "sms": "SMS 短信", "app": "app 掌厅", "radio": "radio 广播",
    "newspaper": "newspaper 报纸", "roadshow": "roadshow 路演", "cinema": "cinema 影院",
    "elevator": "elevator 电梯", "in_store": "in-store 厅店物料",
}
#: Request states, in order.
STATES: tuple[str, ...] = ("requested", "approved", "booked", "done", "rejected")
MAX_QUANTITY = 1000
#: Who may move a request from one state to the next.
NEXT_STATES: dict[str, tuple[str, ...]] = {
    "requested": ("approved", "rejected"), "approved": ("booked", "rejected"),
    "booked": ("done",), "done": (), "rejected": (),
}

comms_resource = sa.Table(
    "comms_resource", WORKFLOW,
    sa.Column("resource_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(20), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("medium", sa.String(20), nullable=False),
    sa.Column("unit_cost", Money, nullable=False),  # yuan per cost unit
    sa.Column("cost_unit", sa.String(30), nullable=False),  # week, month, 10k messages…
    sa.Column("period_days", sa.Integer, nullable=False),  # how long one unit runs
    sa.Column("theme", sa.String(40), nullable=False),  # what it suits: brand, youth…
    sa.Column("coverage", sa.String(40), nullable=False),  # city, a branch or a micro-region
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    comment="Communication resources the company can buy: medium, cost, period, theme.",
)

comms_request = sa.Table(
    "comms_request", WORKFLOW,
    sa.Column("request_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("title", sa.String(120), nullable=False),
    sa.Column("theme", sa.String(200), nullable=False),
    sa.Column("campaign_name", sa.String(120), nullable=True),  # the mart campaign it serves
    sa.Column("resource_id", sa.Integer, sa.ForeignKey("comms_resource.resource_id"),
              nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("cost", Money, nullable=False),  # unit cost × quantity when requested
    sa.Column("start_day", sa.Date, nullable=False),
    sa.Column("end_day", sa.Date, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("requested_by", sa.String(40), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_comms_request_plan", "start_day", "department"),
    comment="Departments' requests for communication resources, all on one plan.",
)

comms_budget = sa.Table(
    "comms_budget", WORKFLOW,
    sa.Column("department", sa.String(20), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("amount", Money, nullable=False),
    comment="Each department's yearly communication budget (yuan).",
)


def _money(field: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConcertoError(f"{field}: must be an amount in yuan, not {value!r}.") from None
    if not math.isfinite(number) or number < 0:
        raise ConcertoError(f"{field}: must be zero or more, not {value!r}.")
    return round(number, 2)


def _day(field: str, value: Any) -> dt.date:
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise ConcertoError(f"{field}: not a date: {value!r}.") from None


def check_resource(row: dict[str, Any]) -> dict[str, Any]:
    """One catalogue row checked and normalised; ``ConcertoError`` naming the field."""
    medium = str(row.get("medium") or "").strip()
    if medium not in MEDIA:
        raise ConcertoError(f"medium: choose one of {', '.join(MEDIA)}, not {medium!r}.")
    try:
        period = int(row.get("period_days"))
    except (TypeError, ValueError):
        raise ConcertoError(f"period_days: must be a whole number of days, not "
                            f"{row.get('period_days')!r}.") from None
    if not 1 <= period <= 366:
        raise ConcertoError(f"period_days: between 1 and 366, not {period}.")
    return {"code": check_text("code", row.get("code"), 20),
            "name": check_text("name", row.get("name"), 120), "medium": medium,
            "unit_cost": _money("unit_cost", row.get("unit_cost")),
            "cost_unit": check_text("cost_unit", row.get("cost_unit"), 30),
            "period_days": period, "theme": check_text("theme", row.get("theme"), 40),
            "coverage": check_text("coverage", row.get("coverage"), 40)}


def add_resources(engine: sa.Engine, principal: Principal, rows: list[dict[str, Any]]) -> int:
    """Add catalogue rows whose code is new (one transaction); returns how many were added."""
    principal.require("manage_campaigns", "edit the communication resources")
    checked = [check_resource(r) for r in rows]
    with write_transaction(engine) as conn:
        known = set(conn.execute(sa.select(comms_resource.c.code)).scalars())
        added = 0
        for row in checked:
            if row["code"] in known:
                continue
            rid = conn.execute(sa.insert(comms_resource).values(**row, active=True)
                               ).inserted_primary_key[0]
            record_audit(conn, principal.username, "comms_resource_add", "comms_resource", rid, None, row)
            known.add(row["code"])
            added += 1
    return added


def list_resources(engine: sa.Engine, *, include_inactive: bool = False) -> pd.DataFrame:
    """The catalogue by medium and name."""
    r = comms_resource
    query = sa.select(r).order_by(r.c.medium, r.c.name)
    if not include_inactive:
        query = query.where(r.c.active.is_(True))
    frame = read_frame(engine, query)
    frame["unit_cost"] = frame["unit_cost"].astype(float)
    return frame


def submit_request(engine: sa.Engine, principal: Principal, *, department: str, title: str,
                   theme: str, resource_code: str, quantity: int, start_day: Any, end_day: Any,
                   campaign_name: str | None = None) -> int:
    """A department asks for a resource over some days; its cost is fixed from the catalogue.

    Raises
    ------
    ConcertoError
        Naming the field: unknown department or resource, empty or long text, quantity not
        in 1-1000, end before start.
    Forbidden
        Unless the role may book budget (``book_budget``).
    """
    principal.require("book_budget", "request communication resources")
    if department not in DEPARTMENTS:
        raise ConcertoError(f"department: choose one of {', '.join(DEPARTMENTS)}, "
                            f"not {department!r}.")
    values: dict[str, Any] = {
        "department": department, "title": check_text("title", title, 120),
        "theme": check_text("theme", theme, 200),
        "campaign_name": check_text("campaign_name", campaign_name, 120, required=False) or None}
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        raise ConcertoError(f"quantity: must be a whole number, not {quantity!r}.") from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ConcertoError(f"quantity: between 1 and {MAX_QUANTITY}, not {quantity}.")
    start, end = _day("start_day", start_day), _day("end_day", end_day)
    if end < start:
        raise ConcertoError("end_day: must not be before the start day.")
    with write_transaction(engine) as conn:
        res = conn.execute(sa.select(comms_resource).where(
            comms_resource.c.code == str(resource_code), comms_resource.c.active.is_(True))
        ).mappings().first()
        if res is None:
            raise ConcertoError(f"resource: no active resource {resource_code!r} in the catalogue.")
        values |= {"resource_id": res["resource_id"], "quantity": quantity,
                   "cost": round(float(res["unit_cost"]) * quantity, 2), "start_day": start,
                   "end_day": end, "status": "requested", "requested_by": principal.username,
                   "requested_at": dt.datetime.now(dt.UTC), "version": 1}
        rid = conn.execute(sa.insert(comms_request).values(**values)).inserted_primary_key[0]
        record_audit(conn, principal.username, "comms_request_create", "comms_request", rid, None, values)
    return int(rid)


def move_request(engine: sa.Engine, principal: Principal, request_id: int, status: str, *,
                 version: int) -> int:
    """Approve, reject, book or close a request (``manage_campaigns``); the new version.

    ``StaleWrite`` when someone changed it since ``version``; ``ConcertoError`` naming
    ``status`` for a move the request's state does not allow.
    """
    principal.require("manage_campaigns", "decide communication requests")
    if status not in STATES:
        raise ConcertoError(f"status: choose one of {', '.join(STATES)}, not {status!r}.")
    r = comms_request.c
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(comms_request).where(r.request_id == int(request_id))
                           ).mappings().first()
        if row is None:
            raise ConcertoError(f"request_id: there is no request #{request_id}.")
        if status not in NEXT_STATES[row["status"]]:
            raise ConcertoError(f"status: a {row['status']} request cannot become {status}.")
        new = update_versioned(conn, comms_request, {"request_id": int(request_id)}, version,
                               {"status": status}, what=f"Request #{request_id}")
        record_audit(conn, principal.username, "comms_request_move", "comms_request", request_id,
                     {"status": row["status"], "version": row["version"]},
                     {"status": status, "version": new})
    return new


def set_budget(engine: sa.Engine, principal: Principal, department: str, year: int,
               amount: Any) -> None:
    """Set a department's communication budget for a year (``allocate_budgets``)."""
    principal.require("allocate_budgets", "set communication budgets")
    if department not in DEPARTMENTS:
        raise ConcertoError(f"department: choose one of {', '.join(DEPARTMENTS)}.")
    value, b = _money("amount", amount), comms_budget.c
    with write_transaction(engine) as conn:
        old = conn.execute(sa.select(b.amount).where(b.department == department,
                                                     b.year == int(year))).scalar()
        if old is None:
            conn.execute(sa.insert(comms_budget).values(department=department, year=int(year),
                                                        amount=value))
        else:
            conn.execute(sa.update(comms_budget).where(b.department == department,
                                                       b.year == int(year)).values(amount=value))
        record_audit(conn, principal.username, "comms_budget_set", "comms_budget",
                     f"{department}/{year}", None if old is None else {"amount": old},
                     {"amount": value})


def list_requests(engine: sa.Engine) -> pd.DataFrame:
    """Every request on the plan with its resource's name and medium, by start day."""
    q, r = comms_request, comms_resource
    statement = (sa.select(q, r.c.code.label("resource_code"), r.c.name.label("resource"),
                           r.c.medium)
                 .select_from(q.join(r, q.c.resource_id == r.c.resource_id))
                 .order_by(q.c.start_day, q.c.request_id))
    frame = read_frame(engine, statement)
    frame["cost"] = frame["cost"].astype(float)
    frame["year"] = pd.to_datetime(frame["start_day"]).dt.year.astype("int64")
    return frame


def list_budgets(engine: sa.Engine) -> pd.DataFrame:
    """department, year, amount."""
    frame = read_frame(engine, sa.select(comms_budget).order_by(comms_budget.c.year,
                                                                comms_budget.c.department))
    frame["amount"] = frame["amount"].astype(float)
    return frame

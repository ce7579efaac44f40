"""Budgets 预算: quotas per period down the hierarchy, pre-bookings against them, alerts.

Two invariants, each kept by ONE conditional ``UPDATE`` of one row, so that no interleaving
of concurrent writers can break them (SQLite runs writers one at a time; PostgreSQL re-checks
the ``WHERE`` of an ``UPDATE`` that waited for a row lock against the row just committed):

* a unit's ``booked + spent + allocated <= quota``, where ``allocated`` is the sum of its
  children's quotas (a ``CHECK`` constraint backs this up);
* a booking leaves status ``booked`` once — confirmed or released, never both, never twice.

When a transaction updates two units it takes the parent's row before the child's, so
concurrent allocations and bookings cannot deadlock. Who may see what is decided here,
never in a page: see :func:`unit_access`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.ops import budget as arith
from data_access.store.workorders import work_order
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError, check_text, read_frame
from data_access.store.workflow import Money, WORKFLOW
from data_access.store.scope import acting_principal

_MAX_YUAN = 1e10
_EPS = arith.EPSILON
#: The unit fields an audit row records before and after a change.
AUDITED = ("quota", "allocated", "booked", "spent", "thresholds", "version")

budget_unit = sa.Table(
    "budget_unit", WORKFLOW,
    sa.Column("unit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("period", sa.String(7), nullable=False),  # 2026-Q4 or 2026-11
    sa.Column("level", sa.String(12), nullable=False),  # company, department, team, person
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("budget_unit.unit_id"), nullable=True),
    sa.Column("owner", sa.String(40), nullable=True),  # username: the person, or a manager
    sa.Column("branch", sa.String(40), nullable=True),  # for regional scopes
    sa.Column("micro_region", sa.String(40), nullable=True),
    sa.Column("quota", Money, nullable=False),
    sa.Column("allocated", Money, nullable=False, server_default="0"),  # children's quotas
    sa.Column("booked", Money, nullable=False, server_default="0"),  # open pre-bookings
    sa.Column("spent", Money, nullable=False, server_default="0"),  # confirmed
    sa.Column("thresholds", sa.String(40), nullable=False, server_default="0.8,1.0"),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("period", "parent_id", "name", name="uq_budget_unit_place"),
    # NULL parents never collide in a unique constraint: a partial index keeps one company.
    sa.Index("uq_budget_one_company", "period", unique=True,
             sqlite_where=sa.text("parent_id IS NULL"),
             postgresql_where=sa.text("parent_id IS NULL")),
    sa.Index("ix_budget_unit_owner", "owner", "period"),
    sa.CheckConstraint(f"booked + spent + allocated <= quota + {_EPS}",
                       name="ck_budget_within_quota"),
    sa.CheckConstraint("booked >= -0.005 AND spent >= -0.005 AND allocated >= -0.005",
                       name="ck_budget_not_negative"),
    comment="Budget quotas per period, company → department → team → person.",
)

budget_booking = sa.Table(
    "budget_booking", WORKFLOW,
    sa.Column("booking_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("budget_unit.unit_id"), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # booked, confirmed, released
    sa.Column("spent_amount", Money, nullable=True),  # set on confirm; <= amount
    sa.Column("work_order_id", sa.Integer, sa.ForeignKey(work_order.c.order_id),
              nullable=True),
    sa.Column("tactic_pick_id", sa.Integer, nullable=True),  # the arsenal's pick, if any
    sa.Column("note", sa.String(400), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settled_by", sa.String(40), nullable=True),
    sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_budget_booking_unit", "unit_id", "status"),
    sa.CheckConstraint("amount > 0", name="ck_booking_positive"),
    comment="Pre-bookings (预占) against a unit's quota, then confirmed or released.",
)


class BudgetExceeded(ConcertoError):
    """A booking or allocation asked for more than is left; the message says how much is."""


def now_utc() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


yuan = arith.yuan_exact  # ¥3,000.00 in messages


def rounded(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``expr`` rounded to the fen in SQL (CAST to NUMERIC: PostgreSQL has no round(double, n))."""
    return sa.func.round(sa.cast(expr, sa.Numeric), 2)


def money(field: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as yuan rounded to the fen, or ``ConcertoError`` naming ``field``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConcertoError(f"{field}: {value!r} is not an amount in yuan.") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ConcertoError(f"{field}: must be a positive amount in yuan"
                            f"{' or 0' if allow_zero else ''} (got {value!r}).")
    if number > _MAX_YUAN:
        raise ConcertoError(f"{field}: {yuan(number)} is more than {yuan(_MAX_YUAN)}.")
    return round(number, 2)


text_field = check_text  # the name the budget modules use


def check_period(period: str) -> str:
    """``period`` stripped, or ``ConcertoError`` unless it reads like 2026-Q4 or 2026-11."""
    try:
        arith.parse_period(period)
    except ValueError as exc:
        raise ConcertoError(f"period: {exc}.") from None
    return str(period).strip()


def check_thresholds(text: str) -> str:
    """Thresholds in their stored form (``"0.8,1.0"``), or ``ConcertoError``."""
    try:
        return arith.format_thresholds(arith.parse_thresholds(text))
    except ValueError as exc:
        raise ConcertoError(f"thresholds: {exc}.") from None


def whose(unit: Mapping[str, Any]) -> str:
    """``Guo Li's 2026-Q4 budget``."""
    return f"{unit['name']}'s {unit['period']} budget"


def left_of(unit: Mapping[str, Any]) -> float:
    """What a unit can still book or hand down."""
    return max(round(unit["quota"] - unit["booked"] - unit["spent"] - unit["allocated"], 2), 0.0)


def read_unit(conn: sa.Connection, unit_id: int) -> dict[str, Any]:
    """One unit's row as a dict, or ``ConcertoError`` when there is none."""
    row = conn.execute(sa.select(budget_unit).where(budget_unit.c.unit_id == int(unit_id))
                       ).mappings().first()
    if row is None:
        raise ConcertoError(f"unit_id: there is no budget unit #{unit_id}.")
    return dict(row)


def period_units(conn: sa.Connection, period: str) -> list[dict[str, Any]]:
    """Every unit of one period, as dicts."""
    rows = conn.execute(sa.select(budget_unit).where(budget_unit.c.period == period)
                        .order_by(budget_unit.c.unit_id)).mappings().all()
    return [dict(r) for r in rows]


# --- who sees what ----------------------------------------------------------------------

def _in_region(who: Principal, unit: Mapping[str, Any]) -> bool:
    return who.scope_level is not None and unit[who.scope_level] == who.scope_value


def unit_access(units: list[Mapping[str, Any]], who: Principal | None) -> dict[int, str]:
    """Which of one period's units ``who`` may see, as ``{unit_id: "full" | "chain"}``.

    Roles with ``view_all_budgets`` (and the system principal) see every unit in full; ``who``
    None means whoever is acting, and with nobody acting it is refused (``NoPrincipal``). A
    regional manager sees in full the units in their branch or micro-region; everyone sees
    in full the units they own and everything below them, and read-only ("chain") the units
    above the ones they own, so a person sees where their quota comes from.
    """
    ids = {int(u["unit_id"]) for u in units}
    if who is None:

        who = acting_principal("read budgets")  # scope fails closed
    if who.can("view_all_budgets"):
        return dict.fromkeys(ids, "full")
    parent = {int(u["unit_id"]): u["parent_id"] for u in units}
    children: dict[int, list[int]] = {}
    for unit, up in parent.items():
        if up is not None:
            children.setdefault(int(up), []).append(unit)
    owned = [int(u["unit_id"]) for u in units if u["owner"] == who.username]
    todo = owned + [int(u["unit_id"]) for u in units if _in_region(who, u)]
    access: dict[int, str] = {}
    while todo:
        unit = todo.pop()
        if access.get(unit) != "full":
            access[unit] = "full"
            todo.extend(children.get(unit, []))
    for unit in owned:
        up = parent[unit]
        while up is not None and int(up) in ids:
            access.setdefault(int(up), "chain")
            up = parent[int(up)]
    return access


def may_book(who: Principal, unit: Mapping[str, Any]) -> bool:
    """Whether ``who`` may book on ``unit``: its owner, or an allocator, holding book_budget."""
    return who.can("book_budget") and (unit["owner"] == who.username
                                       or who.can("allocate_budgets"))


def may_settle(who: Principal, created_by: str, owner: str | None) -> bool:
    """Whether ``who`` may confirm or release a booking: an allocator, or with book_budget
    its author or the unit's owner."""
    return who.can("allocate_budgets") or (
        who.can("book_budget") and who.username in (created_by, owner))


def refuse_booking(conn: sa.Connection, who: Principal, unit: Mapping[str, Any]) -> None:
    """Raise ``Forbidden`` unless ``who`` may book on ``unit``."""
    who.require("book_budget", "book budget")
    if may_book(who, unit):
        return
    seen = unit_access(period_units(conn, unit["period"]), who).get(int(unit["unit_id"]))
    if seen is None:
        raise Forbidden(f"Budget unit #{unit['unit_id']} lies outside what {who.display_name} "
                        "may see.")
    raise Forbidden(f"Only its owner ({unit['owner'] or 'none set'}) or a budget allocator may "
                    f"book on {whose(unit)}; {who.display_name} may not.")


# --- reads ------------------------------------------------------------------------------

def list_periods(engine: sa.Engine, principal: Principal | None) -> list[str]:
    """The periods in which ``principal`` sees at least one unit, newest first."""
    u = budget_unit.c
    query = sa.select(u.period).distinct()
    if principal is not None and not principal.can("view_all_budgets"):
        mine = [u.owner == principal.username]
        if principal.scope_level is not None:
            mine.append(u[principal.scope_level] == principal.scope_value)
        query = query.where(sa.or_(*mine))
    with engine.connect() as conn:
        periods = list(conn.execute(query).scalars())
    return sorted(periods, key=lambda p: (arith.parse_period(p)[0], len(p)), reverse=True)


def load_budget_tree(engine: sa.Engine, principal: Principal | None,
                     period: str) -> pd.DataFrame:
    """The units of ``period`` that ``principal`` may see, in tree order.

    Columns: the unit's own ``quota``, ``allocated``, ``booked``, ``spent``, … plus
    ``depth``, ``rolled_booked`` and ``rolled_spent`` (own and every descendant's, summed
    over the whole tree before it is narrowed, so a visible parent shows its true total),
    ``access`` ("full" or "chain" for read-only units above one's own) and ``can_book``.
    Use, accuracy and pace come from :func:`analytics.ops.budget.budget_table`.
    """
    period = check_period(period)
    with engine.connect() as conn:
        units = period_units(conn, period)
    columns = [c.name for c in budget_unit.c]
    if not units:
        return pd.DataFrame(columns=[*columns, "depth", "rolled_booked", "rolled_spent",
                                     "path", "access", "can_book"])
    access = unit_access(units, principal)
    tree = arith.roll_up(pd.DataFrame(units, columns=columns))
    tree = tree[tree["unit_id"].isin(access)].reset_index(drop=True)
    tree["access"] = tree["unit_id"].map(access)
    tree["can_book"] = [principal is None or (a == "full" and may_book(principal, row))
                        for a, row in zip(tree["access"], tree.to_dict("records"))]
    return tree


def load_bookings(engine: sa.Engine, principal: Principal | None, period: str,
                  unit_id: int | None = None, *, status: str | None = None) -> pd.DataFrame:
    """Bookings on the units of ``period`` that ``principal`` sees in full, newest first.

    ``can_settle`` says whether ``principal`` may confirm or release an open booking.

    Raises
    ------
    Forbidden
        When ``unit_id`` names a unit outside what ``principal`` sees in full.
    """
    period = check_period(period)
    with engine.connect() as conn:
        units = period_units(conn, period)
    full = [u for u, a in unit_access(units, principal).items() if a == "full"]
    if unit_id is not None:
        if int(unit_id) not in full:
            raise Forbidden(f"Budget unit #{unit_id} lies outside what "
                            f"{principal.display_name if principal else 'you'} may see.")
        full = [int(unit_id)]
    if status is not None and status not in ("booked", "confirmed", "released"):
        raise ConcertoError(f"status: {status!r} is not booked, confirmed or released.")
    b, u = budget_booking.c, budget_unit.c
    query = (sa.select(b.booking_id, b.unit_id, u.name.label("unit"), u.owner, b.amount,
                       b.status, b.spent_amount, b.work_order_id, b.tactic_pick_id, b.note,
                       b.created_by, b.created_at, b.settled_by, b.settled_at, b.version)
             .join_from(budget_booking, budget_unit, b.unit_id == u.unit_id)
             .where(b.unit_id.in_(full or [-1]))
             .order_by(b.booking_id.desc()))
    if status is not None:
        query = query.where(b.status == status)
    frame = read_frame(engine, query)
    for column in ("created_at", "settled_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["can_settle"] = [s == "booked" and (principal is None or may_settle(principal, c, o))
                           for s, c, o in zip(frame["status"], frame["created_by"],
                                              frame["owner"])]
    return frame

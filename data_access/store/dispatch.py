"""Dispatch rules: an alert on a located unit becomes an order for its owner, with a deadline.

The unit (branch, micro-region, channel, group, subscriber…) is placed on the map from the
mart; the first matching rule names the owning role, the order kind, priority and deadline;
the owner is the rule's named person, or else the active user of that role whose scope
covers the unit most closely (a micro-region's manager before the branch's, before an
unscoped one), the least loaded first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.ops.workorders import order_title
from data_access.mart import schema as s
from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM, SYSTEM_ACTOR, Forbidden, Principal
from data_access.db import ConcertoError, read_frame
from data_access.store.workflow import alert, app_user, write_transaction
from data_access.store.workorders import check_new_order, insert_order, work_order
from data_access.store.workorders import dispatch_rule as rule_table
from data_access.store.scope import require

#: The rules a new store starts with: (unit level, metric or None, role, kind, priority, hours).
DEFAULT_RULES: tuple[tuple[str, str | None, str, str, str, int], ...] = (
    ("channel", "new_activations_7d", "channel_manager", "task", "high", 48),
    ("channel", None, "channel_manager", "task", "normal", 72),
    ("channel_id", "new_subs", "channel_manager", "task", "high", 48),
    ("channel_id", None, "channel_manager", "task", "normal", 72),
    ("micro_region", None, "regional_manager", "alert", "high", 48),
    ("rival_region", None, "regional_manager", "alert", "normal", 120),
    ("branch", None, "regional_manager", "alert", "normal", 72),
    ("group", None, "account_manager", "task", "high", 48),
    ("group_id", None, "account_manager", "task", "high", 48),
    ("subscriber", None, "account_manager", "job", "normal", 24),
    ("budget", None, "administrator", "alert", "normal", 72),
    ("city", None, "analyst", "alert", "normal", 72),
    ("channel_type", None, "channel_manager", "alert", "normal", 120),
    ("plan_name", None, "marketer", "alert", "normal", 120),
    ("segment", None, "marketer", "alert", "normal", 120),
)
#: Unit levels named by a dimension's id, and that dimension.
_BY_ID = {"channel": (s.dim_channel, "channel_id"), "channel_id": (s.dim_channel, "channel_id"),
          "group": (s.dim_group, "group_id"), "group_id": (s.dim_group, "group_id"),
          "subscriber": (s.dim_subscriber, "subscriber_id")}
_OPEN = ("new", "dispatched", "accepted", "in_progress", "rejected")


def seed_dispatch_rules(engine: sa.Engine) -> int:
    """Write the default rules into an empty rule table; returns how many were written."""

    require("manage_dispatch_rules", "write dispatch rules")
    with write_transaction(engine) as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(rule_table)).scalar_one():
            return 0
        for level, metric, role, kind, priority, hours in DEFAULT_RULES:
            conn.execute(sa.insert(rule_table).values(
                unit_level=level, metric=metric, owner_role=role, assignee=None, kind=kind,
                priority=priority, deadline_hours=hours, active=True))
        record_audit(conn, SYSTEM_ACTOR, "rule_seed", "dispatch_rule", "defaults", None,
                     {"rules": len(DEFAULT_RULES)})
    return len(DEFAULT_RULES)


def list_rules(engine: sa.Engine) -> pd.DataFrame:
    return read_frame(engine, sa.select(rule_table).order_by(rule_table.c.rule_id))


def match_rule(rules: pd.DataFrame, unit_level: str, metric: str) -> dict[str, Any] | None:
    """The active rule for a unit level and metric: one naming the metric before a catch-all,
    then the lowest id."""
    found = rules[rules["active"].astype(bool) & (rules["unit_level"] == unit_level)
                  & (rules["metric"].isna() | (rules["metric"] == metric))]
    if found.empty:
        return None
    found = found.assign(general=found["metric"].isna()).sort_values(["general", "rule_id"])
    return found.iloc[0].to_dict()


def locate_unit(mart: sa.Engine, unit_level: str, unit_key: str) -> tuple[str | None, str | None]:
    """(branch, micro-region) of one unit, from the mart; (None, None) for city-wide units."""
    placed = place_units(mart, {(unit_level, unit_key)})[(unit_level, unit_key)]
    if placed is not None:
        return placed
    if unit_level in _BY_ID and not unit_key.isdigit():
        raise ConcertoError(f"unit_key: a {unit_level} is named by its number, not {unit_key!r}.")
    raise ConcertoError(f"unit_key: the mart has no {unit_level} {unit_key!r}.")


def place_units(mart: sa.Engine, units: set[tuple[str, str]]
                ) -> dict[tuple[str, str], tuple[str | None, str | None] | None]:
    """(branch, micro-region) of many units at once: one query per kind of unit, not per unit.

    City-wide units map to (None, None); units the mart does not know, or keys that cannot
    name one, map to None.
    """
    region, by_id = s.dim_region, _BY_ID
    placed: dict[tuple[str, str], tuple[str | None, str | None] | None] = {}
    wanted: dict[tuple[sa.FromClause, sa.ColumnElement], dict[object, list]] = {}
    for level, key in units:
        if level == "branch":
            placed[(level, key)] = (key, None)
            continue
        if level in ("micro_region", "rival_region"):
            source: sa.FromClause = region
            column = region.c.region_id if key.isdigit() else region.c.micro_region
        elif level in by_id:
            table, name = by_id[level]
            if not key.isdigit():
                placed[(level, key)] = None
                continue
            source, column = table.join(region, table.c.region_id == region.c.region_id), \
                table.c[name]
        else:
            placed[(level, key)] = (None, None)
            continue
        value = int(key) if key.isdigit() else key
        wanted.setdefault((source, column), {}).setdefault(value, []).append((level, key))
    with mart.connect() as conn:
        for (source, column), keys in wanted.items():
            rows = conn.execute(sa.select(column, region.c.branch, region.c.micro_region)
                                .select_from(source).where(column.in_(list(keys)))).all()
            found = {row[0]: (row[1], row[2]) for row in rows}
            for value, asked in keys.items():
                for unit in asked:
                    placed[unit] = found.get(value)
    return placed


def unit_hierarchy(mart: sa.Engine, units: set[tuple[str, str]]
                   ) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """Name each unit one way and say what it lies in, for grouping alerts into incidents.

    Returns ``names`` ((level, key) → ``"level:key"``, a micro-region by its name whether the
    alert keyed it by id or name) and ``parents`` (name → the name of the unit it lies in: a
    channel or group in its micro-region, a micro-region in its branch).
    """
    placed = place_units(mart, units)
    names: dict[tuple[str, str], str] = {}
    parents: dict[str, str] = {}
    for (level, key), where in placed.items():
        branch, micro = where if where else (None, None)
        if level in ("micro_region", "rival_region") and micro:
            name = f"micro_region:{micro}"
            if branch:
                parents[name] = f"branch:{branch}"
        elif level == "branch":
            name = f"branch:{key}"
        else:
            name = f"{level}:{key}"
            if micro:
                parents[name] = f"micro_region:{micro}"
                if branch:
                    parents[f"micro_region:{micro}"] = f"branch:{branch}"
        names[(level, key)] = name
    return names, parents


def choose_owner(conn: sa.Connection, role: str, branch: str | None,
                 micro_region: str | None) -> str | None:
    """The active user of ``role`` whose scope covers the unit most closely, least loaded."""
    u, o = app_user.c, work_order.c
    people = conn.execute(sa.select(u.username, u.scope_level, u.scope_value).where(
        u.role == role, u.active)).all()
    ranked = []
    for username, level, value in people:
        if level == "micro_region" and value == micro_region and micro_region is not None:
            closeness = 0
        elif level == "branch" and value == branch and branch is not None:
            closeness = 1
        elif level is None:
            closeness = 2
        else:
            continue  # scoped elsewhere
        ranked.append((closeness, username))
    if not ranked:
        return None
    load = dict(conn.execute(sa.select(o.assignee, sa.func.count()).where(
        o.assignee.in_([name for _, name in ranked]), o.state.in_(_OPEN)).group_by(o.assignee)
    ).all())
    return min(ranked, key=lambda r: (r[0], load.get(r[1], 0), r[1]))[1]


def dispatch_alert(workflow: sa.Engine, mart: sa.Engine, alert_id: int, *,
                   actor: Principal = SYSTEM) -> int | None:
    """Turn one alert into an order by the rules; returns the order id (an existing one if the
    alert was dispatched before), or None when no rule matches its unit level."""
    with workflow.connect() as conn:
        row = conn.execute(sa.select(alert).where(alert.c.alert_id == alert_id)).mappings().first()
        existing = conn.execute(sa.select(work_order.c.order_id).where(
            work_order.c.alert_id == alert_id)).scalar()
    if row is None:
        raise ConcertoError(f"alert: there is no alert #{alert_id}.")
    if existing is not None:
        return int(existing)
    rule = match_rule(list_rules(workflow), row["unit_level"], row["metric"])
    if rule is None:
        return None
    branch, micro_region = locate_unit(mart, row["unit_level"], row["unit_key"])
    now = dt.datetime.now(dt.UTC)
    try:
        return _dispatch(workflow, actor, row, rule, branch, micro_region, now)
    except sa.exc.IntegrityError:  # a concurrent dispatcher inserted this alert's order first
        with workflow.connect() as conn:
            return int(conn.execute(sa.select(work_order.c.order_id).where(
                work_order.c.alert_id == alert_id)).scalar_one())


def _dispatch(workflow: sa.Engine, actor: Principal, row: Any, rule: dict[str, Any],
              branch: str | None, micro_region: str | None, now: dt.datetime) -> int:
    alert_id = row["alert_id"]
    with write_transaction(workflow) as conn:
        if conn.execute(sa.select(work_order.c.order_id).where(
                work_order.c.alert_id == alert_id)).first():  # another dispatcher was first
            return int(conn.execute(sa.select(work_order.c.order_id).where(
                work_order.c.alert_id == alert_id)).scalar_one())
        owner = rule["assignee"] if isinstance(rule["assignee"], str) else choose_owner(
            conn, rule["owner_role"], branch, micro_region)
        values = check_new_order(
            actor, kind=rule["kind"],
            title=order_title(row["metric"], row["unit_label"], row["actual"], row["expected"]),
            detail=row["message"], unit_level=row["unit_level"], unit_key=row["unit_key"],
            unit_label=row["unit_label"], branch=branch, micro_region=micro_region,
            metric=row["metric"], owner_role=rule["owner_role"], assignee=owner,
            priority=rule["priority"], alert_id=alert_id,
            rising=row["actual"] is not None and row["expected"] is not None
            and row["actual"] > row["expected"],
            due_at=now + dt.timedelta(hours=int(rule["deadline_hours"])))
        order_id = insert_order(conn, actor.username, values)
        conn.execute(sa.update(alert).where(alert.c.alert_id == alert_id)
                     .values(status="dispatched"))
        record_audit(conn, actor.username, "alert_dispatch", "alert", alert_id,
                     {"status": "open"}, {"status": "dispatched", "order_id": order_id})
    return order_id


def dispatch_open_alerts(workflow: sa.Engine, mart: sa.Engine, *,
                         actor: Principal = SYSTEM) -> list[int]:
    """Dispatch every open alert that has no order yet; returns the new orders' ids."""
    with workflow.connect() as conn:
        ids = conn.execute(sa.select(alert.c.alert_id).where(
            alert.c.status == "open", ~sa.exists().where(work_order.c.alert_id == alert.c.alert_id)
        ).order_by(alert.c.alert_id)).scalars().all()
    made = []
    for alert_id in ids:
        try:
            order_id = dispatch_alert(workflow, mart, alert_id, actor=actor)
        except Forbidden:  # outside the actor's scope: left for someone who covers it
            continue
        if order_id is not None:
            made.append(order_id)
    return made

"""Allocating budgets: units down the hierarchy, their quotas and alert thresholds.

A parent hands part of its quota down to each child; ``allocated`` on the parent's row is the
sum of its children's quotas, and the check that the parent can afford a new or larger child
is one conditional ``UPDATE`` of the parent's row (see :mod:`data_access.store.budgets.ledger`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from analytics.ops import budget as arith
from data_access.store.audit import record_audit
from data_access.store.auth import Principal
from data_access.store.budgets.alerts import raise_alerts
from data_access.store.budgets.ledger import (AUDITED, BudgetExceeded, budget_unit, check_period,
                                 check_thresholds, left_of, money, now_utc, read_unit, rounded,
                                 text_field, whose, yuan)
from data_access.db import ConcertoError
from data_access.mart.geography import load_regions
from data_access.store.workflow import StaleWrite, update_versioned, write_transaction



def _place(level: str, parent: Mapping[str, Any] | None, branch: str | None,
           micro_region: str | None) -> tuple[str | None, str | None]:
    """Check the level against the parent's and the region; a child inherits its parent's."""
    if level not in arith.LEVELS:
        raise ConcertoError(f"level: {level!r} is not one of {', '.join(arith.LEVELS)}.")
    if parent is None and level != arith.LEVELS[0]:
        raise ConcertoError(f"parent_id: a {level} unit needs a parent one level up.")
    if parent is not None:
        try:
            expected = arith.child_level(parent["level"])
        except ValueError as exc:
            raise ConcertoError(f"parent_id: {exc}.") from None
        if level != expected:
            raise ConcertoError(f"level: under a {parent['level']} unit comes a {expected} "
                                f"unit, not a {level}.")
    regions = load_regions()
    branch = branch or None
    micro_region = micro_region or None
    if micro_region is not None:
        match = regions.loc[regions["micro_region"] == micro_region, "branch"]
        if match.empty:
            raise ConcertoError(f"micro_region: {micro_region!r} is not a micro-region.")
        if branch is not None and branch != match.iloc[0]:
            raise ConcertoError(f"micro_region: {micro_region} lies in {match.iloc[0]}, "
                                f"not {branch}.")
        branch = str(match.iloc[0])
    if branch is not None and branch not in set(regions["branch"]):
        raise ConcertoError(f"branch: {branch!r} is not one of "
                            f"{', '.join(sorted(set(regions['branch'])))}.")
    if parent is not None:
        for field, mine in (("branch", branch), ("micro_region", micro_region)):
            if parent[field] is not None and mine is not None and mine != parent[field]:
                named = "micro_region" if micro_region is not None else field
                raise ConcertoError(f"{named}: the parent unit lies in {parent[field]}, so its "
                                    f"children cannot lie in {mine}.")
        branch = branch or parent["branch"]
        micro_region = micro_region or parent["micro_region"]
    return branch, micro_region


def _hand_down(conn: sa.Connection, actor: str, parent_id: int, delta: float, asking: str,
               child: str) -> None:
    """Add ``delta`` to a parent's ``allocated`` if it has that much left (one UPDATE)."""
    u = budget_unit.c
    row = conn.execute(sa.update(budget_unit).where(
        u.unit_id == parent_id, u.booked + u.spent + u.allocated + delta <= u.quota)
        .values(allocated=rounded(u.allocated + delta), version=u.version + 1)
        .returning(u.allocated, u.version)).first()
    if row is None:
        parent = read_unit(conn, parent_id)
        raise BudgetExceeded(f"quota: {asking} needs {yuan(delta)} from {whose(parent)}, but "
                             f"only {yuan(left_of(parent))} of {yuan(parent['quota'])} is left "
                             "there.")
    record_audit(conn, actor, "budget_hand_down", "budget_unit", parent_id,
                 {"allocated": round(row.allocated - delta, 2), "version": row.version - 1},
                 {"allocated": row.allocated, "version": row.version, "child": child})


def allocate(engine: sa.Engine, principal: Principal, period: str, level: str, name: str,
             parent_id: int | None, quota: float, owner: str | None = None,
             branch: str | None = None, micro_region: str | None = None,
             thresholds: str = "0.8,1.0") -> int:
    """Create a budget unit under ``parent_id`` with ``quota`` yuan; returns its id.

    The parent's unallocated remainder must cover the quota: the check and the hand-down are
    one conditional update of the parent's row, so concurrent allocations cannot exceed it.
    A child inherits its parent's branch and micro-region when none is given.

    Raises
    ------
    Forbidden
        Without the ``allocate_budgets`` permission.
    ConcertoError
        Naming the field at fault (period, level, name, parent_id, quota, owner, branch,
        micro_region, thresholds); ``BudgetExceeded`` when the parent has too little left.
    """
    principal.require("allocate_budgets", "allocate budgets")
    period = check_period(period)
    name = text_field("name", name, 80)
    quota = money("quota", quota, allow_zero=True)
    owner = text_field("owner", owner, 40, required=False) or None
    if level == "person" and owner is None:
        raise ConcertoError("owner: a person's budget needs the owner's username.")
    values: dict[str, Any] = dict(
        period=period, level=level, name=name, owner=owner, quota=quota, allocated=0.0,
        booked=0.0, spent=0.0, thresholds=check_thresholds(thresholds), version=1,
        created_by=principal.username, created_at=now_utc())
    try:
        with write_transaction(engine) as conn:
            parent = None if parent_id is None else read_unit(conn, parent_id)
            if parent is not None and parent["period"] != period:
                raise ConcertoError(f"period: the parent unit belongs to {parent['period']}, "
                                    f"not {period}.")
            values["branch"], values["micro_region"] = _place(level, parent, branch,
                                                              micro_region)
            values["parent_id"] = None if parent is None else int(parent["unit_id"])
            if parent is not None:
                _hand_down(conn, principal.username, parent["unit_id"], quota,
                           f"a {yuan(quota)} budget for {name}", name)
            u = budget_unit.c
            if conn.execute(sa.select(u.unit_id).where(
                    u.period == period, u.name == name,
                    u.parent_id.is_(None) if parent is None else u.parent_id == parent_id)
                    ).first() is not None:
                raise ConcertoError(f"name: there is already a unit {name!r} there in {period}.")
            unit_id = int(conn.execute(sa.insert(budget_unit).values(**values))
                          .inserted_primary_key[0])
            record_audit(conn, principal.username, "budget_allocate", "budget_unit", unit_id,
                         None, values)
    except sa.exc.IntegrityError as exc:  # a concurrent allocation of the same place won
        raise ConcertoError(f"name: there is already a {level} unit {name!r} there in "
                            f"{period} (a {arith.LEVELS[0]} per period at most).") from exc
    return unit_id


def set_quota(engine: sa.Engine, principal: Principal, unit_id: int, quota: float, *,
              version: int | None = None) -> dict[str, Any]:
    """Change a unit's quota; the parent must cover a rise, and the unit what it has used.

    Returns the unit after the change. ``version``, when given, must match the unit's
    (``StaleWrite`` otherwise).
    """
    principal.require("allocate_budgets", "allocate budgets")
    quota = money("quota", quota, allow_zero=True)
    with write_transaction(engine) as conn:
        before = read_unit(conn, unit_id)
        if version is not None and before["version"] != version:
            raise StaleWrite(f"{whose(before)} was changed by someone else since you opened "
                             "it; reload and try again.")
        delta = round(quota - before["quota"], 2)
        if before["parent_id"] is not None and delta != 0:
            _hand_down(conn, principal.username, before["parent_id"], delta,
                       f"raising {whose(before)} to {yuan(quota)}", before["name"])
        u = budget_unit.c
        moved = conn.execute(sa.update(budget_unit).where(
            u.unit_id == before["unit_id"], u.quota == before["quota"],
            u.booked + u.spent + u.allocated <= quota)
            .values(quota=quota, version=u.version + 1)).rowcount
        if moved != 1:
            now = read_unit(conn, unit_id)
            if now["quota"] != before["quota"]:
                raise StaleWrite(f"{whose(now)} was changed by someone else meanwhile; "
                                 "reload and try again.")
            used = round(now["booked"] + now["spent"] + now["allocated"], 2)
            raise BudgetExceeded(f"quota: {yuan(quota)} is less than the {yuan(used)} already "
                                 f"booked, spent or handed down from {whose(now)}.")
        after = read_unit(conn, unit_id)
        record_audit(conn, principal.username, "budget_set_quota", "budget_unit", unit_id,
                     {k: before[k] for k in AUDITED}, {k: after[k] for k in AUDITED})
        raise_alerts(conn, after)
    return after


def set_thresholds(engine: sa.Engine, principal: Principal, unit_id: int, thresholds: str, *,
                   version: int | None = None) -> dict[str, Any]:
    """Set the use thresholds at which a unit raises alerts (``"0.8,1.0"`` or ``"80%,100%"``)."""
    principal.require("allocate_budgets", "set budget thresholds")
    text = check_thresholds(thresholds)
    with write_transaction(engine) as conn:
        before = read_unit(conn, unit_id)
        update_versioned(conn, budget_unit, {"unit_id": before["unit_id"]},
                         before["version"] if version is None else version,
                         {"thresholds": text}, what=whose(before))
        after = read_unit(conn, unit_id)
        record_audit(conn, principal.username, "budget_set_thresholds", "budget_unit",
                     unit_id, {k: before[k] for k in AUDITED}, {k: after[k] for k in AUDITED})
        raise_alerts(conn, after)
    return after

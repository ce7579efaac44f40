"""Planned campaigns 营销计划 and channel loading rules, with the conflict check on save.

Plans live in the workflow store. Saving a plan (status ``saved``) runs the conflict check of
:mod:`analytics.campaigns.conflicts` in the same call, against the mart's campaigns and the other saved
plans: any conflict refuses the save with :class:`PlanConflict`, unless someone holding
``override_conflicts`` gives a reason, which is stored with the plan and in the audit log.
Drafts are not checked and do not count in anyone else's check. Loading rules (which channel
types each benefit kind may use, and how many campaigns a channel type may carry per month)
are edited by administrators.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.campaigns import conflicts as cf
from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM_ACTOR, Forbidden, Principal
from data_access.mart.calendar import count_duplicates, load_mart_campaigns
from data_access.db import ConcertoError, check_text, read_frame
from data_access.mart.schema import CHANNEL_TYPES, DEPARTMENTS, SEGMENTS
from data_access.store.workflow import Money, WORKFLOW, StaleWrite, update_versioned, write_transaction
from data_access.store.scope import require

STATUSES = ("draft", "saved")

campaign_plan = sa.Table(
    "campaign_plan", WORKFLOW,
    sa.Column("plan_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("benefit_kind", sa.String(20), nullable=False),
    sa.Column("segments", sa.String(120), nullable=False),  # comma-separated codes
    sa.Column("channel_types", sa.String(120), nullable=False),
    sa.Column("micro_regions", sa.String(400), nullable=False, server_default=""),  # "" = all
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("budget", Money, nullable=False),
    sa.Column("expected_participants", sa.Integer, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("override_reason", sa.String(400), nullable=True),
    sa.Column("override_by", sa.String(40), nullable=True),
    sa.Column("conflicts_json", sa.Text, nullable=True),  # what was overridden
    comment="Campaigns the departments plan; saved ones are checked for conflicts first.",
)

channel_rule = sa.Table(
    "channel_rule", WORKFLOW,
    sa.Column("benefit_kind", sa.String(20), primary_key=True),
    sa.Column("allowed_channel_types", sa.String(120), nullable=False),  # "" = any
    sa.Column("max_per_month", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Channel loading rules: channel types a benefit kind may use, campaigns per month.",
)

#: Starter rules (benefit kind → allowed channel types, max campaigns per channel per month).
DEFAULT_RULES: dict[str, tuple[str, int]] = {
    "handset_subsidy": ("own_hall,franchise,social_outlet", 3),
    "gift": ("own_hall,franchise", 3),
    "commission": ("franchise,social_outlet", 2),
    "discount": ("own_hall,e_channel", 3),
    "voucher": ("own_hall,social_outlet,e_channel", 3),
    "data_pack": ("", 4),
    "bill_credit": ("", 4),
    "event_ticket": ("", 3),
}
BENEFIT_KINDS = tuple(DEFAULT_RULES)


class PlanConflict(ConcertoError):
    """Saving was refused: the plan conflicts with the calendar (see ``conflicts``)."""

    def __init__(self, conflicts: pd.DataFrame):
        self.conflicts = conflicts
        lines = "; ".join(f"[{r.label}] {r.message}" for r in conflicts.itertuples())
        super().__init__(f"The plan has {len(conflicts)} conflict(s): {lines} Change the plan, "
                         "or ask someone allowed to override conflicts to save it with a reason.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _codes(field: str, value: Any, allowed: Mapping[str, str], *, required: bool) -> str:
    codes = cf.split_codes(value)
    unknown = [c for c in codes if c not in allowed]
    if unknown:
        raise ConcertoError(f"{field}: unknown {', '.join(unknown)}; choose among "
                            f"{', '.join(allowed)}.")
    if required and not codes:
        raise ConcertoError(f"{field}: choose at least one.")
    return ",".join(dict.fromkeys(codes))


def check_plan_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's fields, validated and normalised; ``ConcertoError`` names the field at fault."""
    if values.get("department") not in DEPARTMENTS:
        raise ConcertoError(f"department: choose one of {', '.join(DEPARTMENTS)}.")
    if values.get("benefit_kind") not in BENEFIT_KINDS:
        raise ConcertoError(f"benefit_kind: choose one of {', '.join(BENEFIT_KINDS)}.")
    out = {"department": values["department"], "benefit_kind": values["benefit_kind"],
           "name": check_text("name", values.get("name"), 120),
           "segments": _codes("segments", values.get("segments"), SEGMENTS, required=True),
           "channel_types": _codes("channel_types", values.get("channel_types"), CHANNEL_TYPES,
                                   required=True),
           "micro_regions": ",".join(cf.split_codes(values.get("micro_regions")))[:400]}
    for field in ("start_date", "end_date"):
        try:
            out[field] = pd.Timestamp(values.get(field)).date()
        except (TypeError, ValueError):
            raise ConcertoError(f"{field}: not a date.") from None
    if out["end_date"] < out["start_date"]:
        raise ConcertoError("end_date: must not be before start_date.")
    for field, kind in (("budget", float), ("expected_participants", int)):
        try:
            number = kind(values.get(field) or 0)
        except (TypeError, ValueError):
            raise ConcertoError(f"{field}: not a number.") from None
        if number < 0:
            raise ConcertoError(f"{field}: must not be negative.")
        out[field] = round(number, 2) if kind is float else number
    return out


def load_rules(workflow: sa.Engine) -> pd.DataFrame:
    """The channel loading rules, by benefit kind."""
    return read_frame(workflow, sa.select(channel_rule).order_by(channel_rule.c.benefit_kind))


def save_rule(workflow: sa.Engine, who: Principal, benefit_kind: str, allowed_channel_types: Any,
              max_per_month: int) -> None:
    """Create or replace the loading rule of one benefit kind (administrators only)."""
    if who.role != "administrator":
        raise Forbidden(f"{who.display_name} may not edit channel loading rules: "
                        "administrators only.")
    kind = check_text("benefit_kind", benefit_kind, 20)
    allowed = _codes("allowed_channel_types", allowed_channel_types, CHANNEL_TYPES,
                     required=False)
    if not isinstance(max_per_month, int) or not 1 <= max_per_month <= 50:
        raise ConcertoError("max_per_month: a whole number from 1 to 50.")
    after = {"benefit_kind": kind, "allowed_channel_types": allowed, "max_per_month": max_per_month}
    with write_transaction(workflow) as conn:
        before = conn.execute(sa.select(channel_rule).where(
            channel_rule.c.benefit_kind == kind)).mappings().first()
        stamp = {"updated_by": who.username, "updated_at": _now()}
        if before is None:
            conn.execute(sa.insert(channel_rule).values(**after, **stamp))
        else:
            conn.execute(sa.update(channel_rule).where(channel_rule.c.benefit_kind == kind)
                         .values(**after, **stamp))
        record_audit(conn, who.username, "rule_save", "channel_rule", kind,
                     dict(before) if before else None, after)


def seed_channel_rules(workflow: sa.Engine) -> int:
    """Demo seeder: the starter loading rules for kinds without one (idempotent)."""

    require("manage_dispatch_rules", "write channel loading rules")  # administrators, as save_rule
    try:
        with write_transaction(workflow) as conn:
            present = set(conn.execute(sa.select(channel_rule.c.benefit_kind)).scalars())
            rows = [{"benefit_kind": k, "allowed_channel_types": a, "max_per_month": m,
                     "updated_by": SYSTEM_ACTOR, "updated_at": _now()}
                    for k, (a, m) in DEFAULT_RULES.items() if k not in present]
            if rows:
                conn.execute(sa.insert(channel_rule), rows)
                record_audit(conn, SYSTEM_ACTOR, "rule_seed", "channel_rule", "defaults", None,
                             {"kinds": [r["benefit_kind"] for r in rows]})
    except sa.exc.IntegrityError:  # another process seeded them meanwhile
        return 0
    return len(rows)


def load_plans(workflow: sa.Engine, status: str | None = None) -> pd.DataFrame:
    """Planned campaigns, newest first (optionally of one status)."""
    statement = sa.select(campaign_plan).order_by(campaign_plan.c.plan_id.desc())
    if status is not None:
        statement = statement.where(campaign_plan.c.status == status)
    return read_frame(workflow, statement)


def plans_as_calendar(plans: pd.DataFrame) -> pd.DataFrame:
    """Saved plans in the calendar format of :mod:`analytics.campaigns.conflicts` (ids ``P<plan_id>``)."""
    return pd.DataFrame({
        "campaign_id": "P" + plans["plan_id"].astype(str), "campaign_name": plans["name"],
        "department": plans["department"], "benefit_kind": plans["benefit_kind"],
        "segments": plans["segments"], "channel_types": plans["channel_types"],
        "start": pd.to_datetime(plans["start_date"]).dt.date,
        "end": pd.to_datetime(plans["end_date"]).dt.date,
        "budget": plans["budget"], "source": "plan", "status": plans["status"]})


def _plan_for_check(values: Mapping[str, Any], plan_id: int | None) -> dict[str, Any]:
    return {"campaign_id": f"P{plan_id}" if plan_id else None,
            "benefit_kind": values["benefit_kind"], "segments": values["segments"],
            "channel_types": values["channel_types"], "micro_regions": values["micro_regions"],
            "start": values["start_date"], "end": values["end_date"]}


def _rows(conn: sa.Connection, statement: sa.Select, table: sa.Table) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(statement).mappings().all(),
                        columns=[c.name for c in table.columns])


def _mart_side(mart: sa.Engine, plan: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The mart's campaigns, and per overlapping one the plan's customers it already paid."""
    campaigns = load_mart_campaigns(mart)
    live = cf.overlapping(plan, campaigns)
    ids = [int(str(c)[1:]) for c in live["campaign_id"]]
    return campaigns, {f"C{k}": v for k, v in count_duplicates(mart, plan, ids).items()}


def _check(conn: sa.Connection, plan: Mapping[str, Any], mart_campaigns: pd.DataFrame,
           duplicates: dict[str, int]) -> pd.DataFrame:
    """The conflict check, reading the saved plans and rules on ``conn``."""
    saved = _rows(conn, sa.select(campaign_plan).where(campaign_plan.c.status == "saved"),
                  campaign_plan)
    rules = _rows(conn, sa.select(channel_rule), channel_rule)
    calendar = pd.concat([mart_campaigns, plans_as_calendar(saved)], ignore_index=True)
    return cf.check_plan(plan, calendar, rules, duplicates)


def check_campaign_plan(mart: sa.Engine, workflow: sa.Engine, values: Mapping[str, Any],
                        plan_id: int | None = None) -> pd.DataFrame:
    """The conflicts a plan would have if saved now (``analytics.campaigns.conflicts.COLUMNS``)."""
    plan = _plan_for_check(check_plan_values(values), plan_id)
    campaigns, duplicates = _mart_side(mart, plan)
    with workflow.connect() as conn:
        return _check(conn, plan, campaigns, duplicates)


def save_plan(workflow: sa.Engine, mart: sa.Engine, who: Principal, values: Mapping[str, Any], *,
              plan_id: int | None = None, version: int | None = None, status: str = "saved",
              override_reason: str | None = None) -> int:
    """Create or update a plan; saving (not drafting) checks it for conflicts first.

    Raises
    ------
    Forbidden
        Without ``manage_campaigns``, or overriding without ``override_conflicts``.
    PlanConflict
        When a saved plan has conflicts and no override reason is given; nothing is written.
    StaleWrite
        When someone changed the plan since ``version`` was read.
    ConcertoError
        Naming the field at fault.
    """
    who.require("manage_campaigns", "plan campaigns")
    if status not in STATUSES:
        raise ConcertoError(f"status: choose one of {', '.join(STATUSES)}.")
    clean = check_plan_values(values)
    reason = check_text("override_reason", override_reason, 400, required=False) or None
    plan = _plan_for_check(clean, plan_id)
    campaigns, duplicates = _mart_side(mart, plan) if status == "saved" else (None, {})
    with write_transaction(workflow) as conn:
        if conn.dialect.name == "postgresql":  # one plan saver at a time, as SQLite's lock does
            conn.execute(sa.text("LOCK TABLE campaign_plan IN SHARE ROW EXCLUSIVE MODE"))
        # Checked inside the transaction: a plan saved meanwhile is part of the calendar.
        found = (_check(conn, plan, campaigns, duplicates) if status == "saved"
                 else pd.DataFrame(columns=cf.COLUMNS))
        overridden = None
        if not found.empty:
            if reason is None:
                raise PlanConflict(found)
            who.require("override_conflicts", "override campaign conflicts")
            records = found.drop(columns="label").astype(object).where(found.notna(), None)
            overridden = json.dumps(records.to_dict("records"), default=str, ensure_ascii=False)
        now = _now()
        row = clean | {"status": status, "updated_by": who.username, "updated_at": now,
                       "override_reason": reason if overridden else None,
                       "override_by": who.username if overridden else None,
                       "conflicts_json": overridden}
        if plan_id is None:
            plan_id = conn.execute(sa.insert(campaign_plan).values(
                **row, version=1, created_by=who.username, created_at=now)
                .returning(campaign_plan.c.plan_id)).scalar_one()
            before = None
        else:
            before = conn.execute(sa.select(campaign_plan).where(
                campaign_plan.c.plan_id == plan_id)).mappings().first()
            if before is None:
                raise ConcertoError(f"plan_id: there is no plan {plan_id}.")
            update_versioned(conn, campaign_plan, {"plan_id": plan_id}, version, row,
                             what=f"Plan {plan_id}")
            before = dict(before)
        action = "plan_override" if overridden else f"plan_{status}"
        record_audit(conn, who.username, action, "campaign_plan", plan_id, before,
                     {k: v for k, v in row.items() if k != "updated_at"})
    return int(plan_id)

"""Reads behind the customer view 客户视图: one subscriber's profile, ledger, campaigns, the
work orders and intelligence that mention them, their churn risk, and the search box.

Every mart read is narrowed to the acting scope: a subscriber outside it reads exactly like
one that does not exist (no rows), so a page cannot tell the two apart. Numbers are masked
in SQL unless the acting role may see them; a full number only leaves this module for a
role that may.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.customer import LEDGER_MONTHS, last_months, mask_numbers_in_text, parse_search
from data_access.db import ConcertoError, read_frame
from data_access.mart import schema as s
from data_access.mart.queries import (Slice, available_months, load_subscriber_ledger, masked,
                                      region_conditions)
from data_access.store import churn as churn_store
from data_access.store import churn_scores
from data_access.store import intel as intel_store
from data_access.store import workorders as orders_store
from data_access.store.scope import acting_principal, reveal_numbers

#: Most rows a search returns (the page says when there were more).
SEARCH_LIMIT = 20
#: Most work orders or reports listed for one subscriber.
MENTION_LIMIT = 50


def _placed() -> sa.FromClause:
    sub, region = s.dim_subscriber, s.dim_region
    return sub.join(region, sub.c.region_id == region.c.region_id)


def _number() -> sa.ColumnElement[str]:
    column = s.dim_subscriber.c.msisdn
    return (column if reveal_numbers() else masked(column)).label("number")


def load_profile(engine: sa.Engine, subscriber_id: int) -> pd.DataFrame:
    """One subscriber's identity (number masked by role), plan, places, channel and group.

    One row, or none when the subscriber does not exist or lies outside the acting scope.
    """
    sub, region, plan, channel, group = (s.dim_subscriber, s.dim_region, s.dim_plan,
                                         s.dim_channel, s.dim_group)
    statement = (
        sa.select(sub.c.subscriber_id, _number(), sub.c.segment, sub.c.age, sub.c.join_month,
                  sub.c.churn_month, region.c.branch, region.c.branch_zh, region.c.micro_region,
                  region.c.micro_region_zh, plan.c.plan_id, plan.c.plan_name, plan.c.plan_family,
                  plan.c.monthly_fee, plan.c.data_quota_mb, channel.c.channel_id,
                  channel.c.channel_name, channel.c.channel_type, group.c.group_id,
                  group.c.group_name, group.c.industry, group.c.account_manager)
        .select_from(_placed().join(plan, sub.c.plan_id == plan.c.plan_id)
                     .join(channel, sub.c.channel_id == channel.c.channel_id)
                     .outerjoin(group, sub.c.group_id == group.c.group_id))
        .where(sub.c.subscriber_id == int(subscriber_id), *region_conditions(Slice())))
    frame = read_frame(engine, statement)
    for column in ("join_month", "churn_month"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def load_ledger(engine: sa.Engine, subscriber_id: int, *,
                months: int = LEDGER_MONTHS) -> pd.DataFrame:
    """The subscriber's bills of the mart's latest ``months`` months, oldest first (none
    outside the acting scope), with ``gross`` added; the number masked by role."""
    ledger = load_subscriber_ledger(engine, int(subscriber_id))
    known = available_months(engine)
    if ledger.empty or not known:
        return ledger.assign(gross=pd.Series(dtype=float))
    return last_months(ledger, known[-1], months)


def load_campaigns(engine: sa.Engine, subscriber_id: int) -> pd.DataFrame:
    """The campaigns the subscriber was a member of (treated or held out), newest first,
    with the department that ran each and the benefit's cost (none outside the scope)."""
    camp, member, sub = s.campaign, s.campaign_member, s.dim_subscriber
    statement = (
        sa.select(camp.c.campaign_id, camp.c.campaign_name, camp.c.department, camp.c.offer,
                  camp.c.benefit_kind, camp.c.start_month, camp.c.end_month,
                  camp.c.has_control, member.c.subscriber_id, member.c.arm, member.c.cost)
        .select_from(member.join(camp, member.c.campaign_id == camp.c.campaign_id)
                     .join(_placed(), member.c.subscriber_id == sub.c.subscriber_id))
        .where(member.c.subscriber_id == int(subscriber_id), *region_conditions(Slice()))
        .order_by(camp.c.start_month.desc(), camp.c.campaign_id))
    frame = read_frame(engine, statement)
    for column in ("start_month", "end_month"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def search_subscribers(engine: sa.Engine, text: str, *,
                       limit: int = SEARCH_LIMIT) -> pd.DataFrame:
    """Subscribers in the acting scope matching a search box, at most ``limit`` (+1, so the
    caller can tell there were more), by id.

    ``text`` is a subscriber id, a masked number as pages show it (``1351234****``), or —
    for roles that see full numbers — a full number or a pattern giving hidden digits
    (``135****5678``). It only ever reaches the database as a bound parameter.

    Raises
    ------
    ConcertoError
        When ``text`` is none of those, or would confirm hidden digits for a masked role.
    """
    try:
        term = parse_search(text)
    except ValueError as exc:
        raise ConcertoError(str(exc)) from None
    if term.reveals_hidden_digits and not reveal_numbers():
        raise ConcertoError("search: your role sees masked numbers, so search by subscriber "
                            "id or by the masked number as shown (e.g. 1351234****).")
    sub, region, plan = s.dim_subscriber, s.dim_region, s.dim_plan
    match = (sub.c.subscriber_id == int(term.value) if term.kind == "id"
             else sub.c.msisdn.like(term.like()))
    statement = (
        sa.select(sub.c.subscriber_id, _number(), region.c.branch, region.c.micro_region,
                  sub.c.segment, plan.c.plan_name, sub.c.join_month, sub.c.churn_month)
        .select_from(_placed().join(plan, sub.c.plan_id == plan.c.plan_id))
        .where(match, *region_conditions(Slice()))
        .order_by(sub.c.subscriber_id).limit(int(limit) + 1))
    return read_frame(engine, statement)


def _full_number(mart: sa.Engine, subscriber_id: int) -> str | None:
    """The subscriber's number for matching text in the store (never returned to a page);
    None outside the acting scope."""
    sub = s.dim_subscriber
    frame = read_frame(mart, sa.select(sub.c.msisdn).select_from(_placed()).where(
        sub.c.subscriber_id == int(subscriber_id), *region_conditions(Slice())))
    return None if frame.empty else str(frame.iloc[0, 0])


def load_work_orders(workflow: sa.Engine, mart: sa.Engine, subscriber_id: int, *,
                     limit: int = MENTION_LIMIT) -> pd.DataFrame:
    """Work orders about the subscriber (raised on them, or naming their number in the title
    or detail) that the acting person may see, newest first; numbers in the text masked by
    role. None for a subscriber outside the acting scope."""
    who = acting_principal("read work orders")
    number = _full_number(mart, subscriber_id)
    o = orders_store.work_order.c
    columns = [o.order_id, o.kind, o.title, o.detail, o.state, o.priority, o.unit_level,
               o.unit_label, o.owner_role, o.assignee, o.created_at, o.due_at, o.closed_at]
    if number is None:
        return pd.DataFrame(columns=[c.name for c in columns])
    about = sa.or_(sa.and_(o.unit_level == "subscriber", o.unit_key == str(int(subscriber_id))),
                   o.title.contains(number, autoescape=True),
                   o.detail.contains(number, autoescape=True))
    frame = read_frame(workflow, sa.select(*columns)
                       .where(about, *orders_store._visible(who))
                       .order_by(o.created_at.desc(), o.order_id.desc()).limit(int(limit)))
    reveal = reveal_numbers()
    for column in ("title", "detail", "unit_label"):
        frame[column] = [mask_numbers_in_text(v, reveal) for v in frame[column]]
    for column in ("created_at", "due_at", "closed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def load_intel_reports(workflow: sa.Engine, mart: sa.Engine, subscriber_id: int,
                       order_ids: list[int] | tuple[int, ...] = (), *,
                       limit: int = MENTION_LIMIT) -> pd.DataFrame:
    """Intelligence reports naming the subscriber's number, or linked to one of
    ``order_ids`` (their work orders), that the acting person may see, newest first;
    numbers in the text masked by role. None for a subscriber outside the acting scope."""
    who = acting_principal("read intelligence reports")
    number = _full_number(mart, subscriber_id)
    r = intel_store.intel_report.c
    columns = [r.report_id, r.operator, r.category, r.branch, r.micro_region, r.text,
               r.order_id, r.submitted_by, r.submitted_at]
    if number is None:
        return pd.DataFrame(columns=[c.name for c in columns])
    about = [r.text.contains(number, autoescape=True)]
    if order_ids:
        about.append(r.order_id.in_([int(i) for i in order_ids]))
    frame = read_frame(workflow, sa.select(*columns)
                       .where(sa.or_(*about), *intel_store._visible(who))
                       .order_by(r.submitted_at.desc(), r.report_id.desc()).limit(int(limit)))
    reveal = reveal_numbers()
    frame["text"] = [mask_numbers_in_text(v, reveal) for v in frame["text"]]
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
    return frame


@dataclass(frozen=True)
class ChurnRisk:
    """A subscriber's latest churn score: the model, the month, the risk and its reasons."""

    version: str
    month: str
    churn_prob: float
    net_value: float | None
    expected_loss: float | None
    rank: int | None
    reasons: tuple[str, ...]
    reason_tags: tuple[str, ...]
    action: str  # the tactic suggested when scored ("" when none was)
    profile: dict[str, Any] = field(default_factory=dict)  # segment, arpu, tenure, plan family


def churn_risk(workflow: sa.Engine, subscriber_id: int, *,
               model_dir: Path | str | None = None) -> ChurnRisk | None:
    """The subscriber's churn risk from the live model's newest scoring run, or None when
    they were not scored (no model, no run, not in it, or outside the acting scope).

    One row read by key from the scores table (``data_access.store.churn_scores``).
    """
    try:
        manifest = churn_store.load_manifest(model_dir=model_dir)
    except ConcertoError:
        return None
    run = churn_scores.latest_run(workflow, manifest["version"])
    if run is None:
        return None
    row = churn_scores.load_subscriber_score(workflow, run.run_id, int(subscriber_id))
    if row is None:
        return None
    months = [run.month]

    def number(name: str) -> float | None:
        value = row.get(name)
        return None if value is None or pd.isna(value) else float(value)

    def words(name: str, sep: str) -> tuple[str, ...]:
        value = row.get(name)
        text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        return tuple(part.strip() for part in text.split(sep) if part.strip())

    rank = number("rank")
    return ChurnRisk(
        version=str(manifest["version"]), month=str(months[0]),
        churn_prob=float(row["churn_prob"]), net_value=number("net_value"),
        expected_loss=number("expected_loss"), rank=None if rank is None else int(rank),
        reasons=words("reasons", ";"), reason_tags=words("reason_tags", ","),
        action="" if pd.isna(row.get("action", "")) else str(row.get("action", "")).strip(),
        profile={k: row.get(k) for k in ("segment", "arpu", "tenure_months", "plan_family")})


"""Mart reads behind revenue assurance: the line-months that may leak, narrowed with SQL.

Each reader returns a small superset of the findings (the rule is applied once more, with
its policy, by ``analytics.assurance``); nothing here decides. Lines lie inside the acting
scope; months are bound parameters, so the statements run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from analytics.assurance import USAGE_COMPONENTS, AssurancePolicy
from analytics.periods import add_months
from data_access.db import has_table, read_frame
from data_access.mart import schema as s
from data_access.mart.queries import Slice, masked, region_conditions, subscribers_in_scope
from data_access.store.scope import reveal_numbers

_PARTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas")
#: Revenue below half a fen is nothing billed.
_ZERO = 0.005


def _window(latest: dt.date, months: int) -> dt.date:
    return add_months(latest, -(months - 1))


def _gross(fact: sa.Table) -> sa.ColumnElement[float]:
    return sum((fact.c[p] for p in _PARTS[1:]), fact.c[_PARTS[0]])


def has_discount_terms(engine: sa.Engine) -> bool:
    """Whether the mart holds any agreed discount (the discount checks need them); a mart
    built before the table existed has none."""
    if not has_table(engine, s.discount_term.name):
        return False
    count = read_frame(engine, sa.select(sa.func.count().label("n"))
                       .select_from(s.discount_term))["n"].iloc[0]
    return bool(count)


def load_unbilled_candidates(engine: sa.Engine, latest: dt.date, *, months: int,
                             history: int, policy: AssurancePolicy) -> pd.DataFrame:
    """Line-months of the window whose voice or data was billed below the policy's share of
    the line's own rate over the ``history`` months before the window.

    Columns: ``subscriber_id``, ``month``, ``plan_id``, ``component``, ``billed``,
    ``usage``, ``hist_revenue``, ``hist_usage``, ``hist_months``.
    """
    fact, sub = s.fact_subscriber_month, s.dim_subscriber
    start = _window(latest, months)
    frames = []
    for revenue, usage in USAGE_COMPONENTS.items():
        past = (sa.select(fact.c.subscriber_id,
                          sa.func.sum(fact.c[revenue]).label("hist_revenue"),
                          sa.func.sum(fact.c[usage]).label("hist_usage"),
                          sa.func.count().label("hist_months"))
                .where(fact.c.month >= add_months(start, -history), fact.c.month < start,
                       fact.c[usage] > 0, subscribers_in_scope(fact.c.subscriber_id))
                .group_by(fact.c.subscriber_id).subquery("past"))
        rate = past.c.hist_revenue / past.c.hist_usage
        statement = (
            sa.select(fact.c.subscriber_id, fact.c.month, sub.c.plan_id,
                      sa.literal(revenue).label("component"),
                      fact.c[revenue].label("billed"), fact.c[usage].label("usage"),
                      past.c.hist_revenue, past.c.hist_usage, past.c.hist_months)
            .select_from(fact.join(past, past.c.subscriber_id == fact.c.subscriber_id)
                         .join(sub, sub.c.subscriber_id == fact.c.subscriber_id))
            .where(fact.c.month >= start, fact.c.month <= latest, fact.c[usage] > 0,
                   past.c.hist_usage > 0, past.c.hist_revenue > 0,
                   fact.c[revenue] < policy.underbilled_share * fact.c[usage] * rate)
            .order_by(fact.c.subscriber_id, fact.c.month))
        frames.append(read_frame(engine, statement))
    frame = pd.concat(frames, ignore_index=True)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def load_typical_usage(engine: sa.Engine, latest: dt.date, *, months: int) -> pd.DataFrame:
    """The median use of voice and of data per plan and month over the window (lines with
    some use, inside the acting scope).

    Columns: ``plan_id``, ``month``, ``component``, ``median_usage``.
    """
    fact, sub = s.fact_subscriber_month, s.dim_subscriber
    start = _window(latest, months)
    frames = []
    for revenue, usage in USAGE_COMPONENTS.items():
        statement = (
            sa.select(sub.c.plan_id, fact.c.month, sa.literal(revenue).label("component"),
                      sa.func.percentile_cont(0.5).within_group(fact.c[usage])
                      .label("median_usage"))
            .select_from(fact.join(sub, sub.c.subscriber_id == fact.c.subscriber_id))
            .where(fact.c.month >= start, fact.c.month <= latest, fact.c[usage] > 0,
                   subscribers_in_scope(fact.c.subscriber_id))
            .group_by(sub.c.plan_id, fact.c.month))
        frames.append(read_frame(engine, statement))
    frame = pd.concat(frames, ignore_index=True)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def load_zero_revenue(engine: sa.Engine, latest: dt.date, *, months: int) -> pd.DataFrame:
    """Line-months of the window billed nothing while the line used voice, data or SMS.

    Columns: ``subscriber_id``, ``month``, ``plan_id``.
    """
    fact, sub = s.fact_subscriber_month, s.dim_subscriber
    statement = (
        sa.select(fact.c.subscriber_id, fact.c.month, sub.c.plan_id)
        .select_from(fact.join(sub, sub.c.subscriber_id == fact.c.subscriber_id))
        .where(fact.c.month >= _window(latest, months), fact.c.month <= latest,
               sa.func.abs(fact.c.revenue) < _ZERO,
               sa.or_(fact.c.mou > 0, fact.c.data_mb > 0, fact.c.sms_cnt > 0),
               subscribers_in_scope(fact.c.subscriber_id))
        .order_by(fact.c.subscriber_id, fact.c.month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def load_plan_revenue(engine: sa.Engine, latest: dt.date, *, months: int) -> pd.DataFrame:
    """What each plan's billed lines paid per month over the window (median of those billed
    something, inside the acting scope). Columns: ``plan_id``, ``month``, ``median_revenue``."""
    fact, sub = s.fact_subscriber_month, s.dim_subscriber
    statement = (
        sa.select(sub.c.plan_id, fact.c.month,
                  sa.func.percentile_cont(0.5).within_group(fact.c.revenue)
                  .label("median_revenue"))
        .select_from(fact.join(sub, sub.c.subscriber_id == fact.c.subscriber_id))
        .where(fact.c.month >= _window(latest, months), fact.c.month <= latest,
               fact.c.revenue >= _ZERO, subscribers_in_scope(fact.c.subscriber_id))
        .group_by(sub.c.plan_id, fact.c.month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def load_discount_candidates(engine: sa.Engine, latest: dt.date, *, months: int,
                             policy: AssurancePolicy) -> pd.DataFrame:
    """Discounted line-months of the window with no agreed term, past its end, or above its
    rate by more than the policy's tolerance.

    Columns: ``subscriber_id``, ``month``, ``gross``, ``discount``, ``term_rate``,
    ``term_end`` (both missing without a term).
    """
    fact, term = s.fact_subscriber_month, s.discount_term
    gross = _gross(fact)
    statement = (
        sa.select(fact.c.subscriber_id, fact.c.month, gross.label("gross"), fact.c.discount,
                  term.c.rate.label("term_rate"), term.c.end_month.label("term_end"))
        .select_from(fact.outerjoin(term, term.c.subscriber_id == fact.c.subscriber_id))
        .where(fact.c.month >= _window(latest, months), fact.c.month <= latest,
               fact.c.discount > 0, subscribers_in_scope(fact.c.subscriber_id),
               sa.or_(term.c.subscriber_id.is_(None), fact.c.month >= term.c.end_month,
                      fact.c.discount > (term.c.rate + policy.rate_tolerance) * gross))
        .order_by(fact.c.subscriber_id, fact.c.month))
    frame = read_frame(engine, statement)
    for column in ("month", "term_end"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def load_billed_revenue(engine: sa.Engine, latest: dt.date, *, months: int) -> float:
    """Revenue billed over the window inside the acting scope (yuan)."""
    fact = s.fact_subscriber_month
    total = read_frame(engine, sa.select(sa.func.sum(fact.c.revenue).label("total"))
                       .where(fact.c.month >= _window(latest, months), fact.c.month <= latest,
                              subscribers_in_scope(fact.c.subscriber_id)))["total"].iloc[0]
    return float(total) if pd.notna(total) else 0.0


def load_line_places(engine: sa.Engine, subscriber_ids: Sequence[int]) -> pd.DataFrame:
    """Where the flagged lines live: ``subscriber_id``, ``number`` (masked unless the acting
    role may see numbers), ``branch``, ``micro_region``, ``plan_name``; lines outside the
    acting scope are left out."""
    sub, region, plan = s.dim_subscriber, s.dim_region, s.dim_plan
    number = sub.c.msisdn if reveal_numbers() else masked(sub.c.msisdn)
    ids = [int(i) for i in subscriber_ids]
    frames = [read_frame(engine, sa.select(sub.c.subscriber_id, number.label("number"),
                                           region.c.branch, region.c.micro_region,
                                           plan.c.plan_name)
                         .select_from(sub.join(region, sub.c.region_id == region.c.region_id)
                                      .join(plan, plan.c.plan_id == sub.c.plan_id))
                         .where(sub.c.subscriber_id.in_(ids[i:i + 5_000]),
                                *region_conditions(Slice())))
              for i in range(0, len(ids), 5_000)]  # IN lists within every driver's limits
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("subscriber_id", "int64"), ("number", object), ("branch", object),
            ("micro_region", object), ("plan_name", object))})
    return pd.concat(frames, ignore_index=True)

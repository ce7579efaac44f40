"""Mart reads behind enterprise-group management 集团客户管理: groups, their members by month,
their lines and the lines' monthly traffic and revenue.

Every read lies inside the acting scope (a regional manager reads the groups of their branch
or micro-region only); the line tables are optional in an extract (:func:`has_group_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from data_access.db import ConcertoError, has_table, read_frame
from data_access.mart import schema as s
from data_access.mart.queries import groups_in_scope

#: sum_group_month columns read per group and month.
_MEASURES = ("active_subs", "new_subs", "churned_subs", "revenue", "discount", "service_cost",
             "data_mb", "mou")


def has_group_lines(engine: sa.Engine) -> bool:
    """Whether the mart holds any group line (optional in an extract; a mart built before the
    tables existed has none)."""
    if not has_table(engine, s.group_line.name) or not has_table(
            engine, s.fact_group_line_month.name):
        return False
    return not read_frame(engine, sa.select(s.group_line.c.line_id).limit(1)).empty


def _ids(name: str, values: Sequence[int] | None) -> list[int] | None:
    if values is None:
        return None
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise ConcertoError(f"{name}: give whole numbers, not {values!r}.") from None


def load_account_managers(engine: sa.Engine) -> list[str]:
    """The account managers of the groups in scope, by name."""
    grp = s.dim_group
    statement = (sa.select(grp.c.account_manager).distinct()
                 .where(groups_in_scope(grp.c.group_id))
                 .order_by(grp.c.account_manager))
    return read_frame(engine, statement)["account_manager"].tolist()


def load_groups(engine: sa.Engine, account_manager: str | None = None) -> pd.DataFrame:
    """Groups in scope (of one account manager when named): ``group_id``, ``group_name``,
    ``industry``, ``account_manager``, ``has_leased_line``, ``branch``, ``micro_region``."""
    grp, region = s.dim_group, s.dim_region
    statement = (sa.select(grp.c.group_id, grp.c.group_name, grp.c.industry,
                           grp.c.account_manager, grp.c.has_leased_line, region.c.branch,
                           region.c.micro_region)
                 .select_from(grp.join(region, grp.c.region_id == region.c.region_id))
                 .where(groups_in_scope(grp.c.group_id, account_manager))
                 .order_by(grp.c.group_id))
    return read_frame(engine, statement)


def load_group_months(engine: sa.Engine, group_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Members' monthly figures per group in scope (``sum_group_month``): ``month``,
    ``group_id`` and the columns of ``_MEASURES``."""
    g = s.sum_group_month
    statement = (sa.select(g.c.month, g.c.group_id, *[g.c[m] for m in _MEASURES])
                 .where(groups_in_scope(g.c.group_id))
                 .order_by(g.c.group_id, g.c.month))
    if (ids := _ids("group_ids", group_ids)) is not None:
        statement = statement.where(g.c.group_id.in_(ids))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    counts = ["active_subs", "new_subs", "churned_subs"]
    frame[counts] = frame[counts].astype("int64")  # PostgreSQL sums come back as numeric
    floats = [m for m in _MEASURES if m not in counts]
    frame[floats] = frame[floats].astype(float)
    return frame


def load_lines(engine: sa.Engine, group_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The lines of the groups in scope: every column of ``group_line``."""
    line = s.group_line
    statement = (sa.select(line).where(groups_in_scope(line.c.group_id))
                 .order_by(line.c.group_id, line.c.line_id))
    if (ids := _ids("group_ids", group_ids)) is not None:
        statement = statement.where(line.c.group_id.in_(ids))
    frame = read_frame(engine, statement)
    for column in ("start_month", "contract_end", "cancel_month"):
        frame[column] = pd.to_datetime(frame[column])
    frame["monthly_fee"] = frame["monthly_fee"].astype(float)
    return frame


def load_line_months(engine: sa.Engine, group_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Monthly traffic and revenue of the lines of the groups in scope: ``month``,
    ``line_id``, ``group_id``, ``traffic``, ``revenue``."""
    fact, line = s.fact_group_line_month, s.group_line
    statement = (sa.select(fact.c.month, fact.c.line_id, line.c.group_id, fact.c.traffic,
                           fact.c.revenue)
                 .select_from(fact.join(line, fact.c.line_id == line.c.line_id))
                 .where(groups_in_scope(line.c.group_id))
                 .order_by(fact.c.line_id, fact.c.month))
    if (ids := _ids("group_ids", group_ids)) is not None:
        statement = statement.where(line.c.group_id.in_(ids))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    frame[["traffic", "revenue"]] = frame[["traffic", "revenue"]].astype(float)
    return frame

"""Read queries behind the operations sandbox and the drill path (summary tables first)."""

from __future__ import annotations

import hashlib

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema as s
from data_access.mart.members import Members, month_before, read_member_months
from data_access.db import ConcertoError, read_frame, read_traits
from data_access.store.scope import require, reveal_numbers, scoped

#: Drill levels, in drill order (company → … → subscriber numbers).
LEVELS: dict[str, str] = {
    "branch": "branch 分公司",
    "micro_region": "micro-region 微区域",
    "channel_type": "channel type 渠道类型",
    "channel": "channel 渠道",
    "group": "enterprise group 集团",
    "plan": "plan 套餐",
    "segment": "segment 客户群",
}
#: The Slice field each drill level fixes (others are named alike).
FILTER_OF_LEVEL = {"channel": "channel_id", "group": "group_id", "plan": "plan_name"}
#: Slice fields each summary table can filter on together (cube, region × channel, group).
SUMMARY_FILTERS: tuple[frozenset[str], ...] = (
    frozenset({"branch", "micro_region", "channel_type", "plan_name", "segment"}),
    frozenset({"branch", "micro_region", "channel_type", "channel_id"}),
    frozenset({"branch", "micro_region", "group_id"}),
)
#: Subscriber-row orderings a page may ask for (whitelist → fact column).
SUBSCRIBER_ORDER = {"revenue": "revenue", "mou": "mou", "data_mb": "data_mb"}


@dataclass(frozen=True)
class Slice:
    """A filter on the mart; None means "all". Values are compared with bound parameters."""

    branch: str | None = None
    micro_region: str | None = None
    channel_type: str | None = None
    channel_id: int | None = None
    group_id: int | None = None
    plan_name: str | None = None
    segment: str | None = None

    def narrowed(self, level: str, value: object) -> Slice:
        """This slice with one more drill level fixed to ``value``."""
        key = FILTER_OF_LEVEL.get(level, level)
        if key not in {f.name for f in fields(self)}:
            raise ConcertoError(f"Unknown drill level {level!r}; choose one of {', '.join(LEVELS)}")
        return Slice(**{**self.__dict__, key: value})

    def active(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def region_conditions(slice_: Slice) -> list[sa.ColumnElement[bool]]:
    slice_ = scoped(slice_)  # the acting person's scope, whatever the caller asked
    region = s.dim_region
    conditions = []
    if slice_.branch is not None:
        conditions.append(region.c.branch == slice_.branch)
    if slice_.micro_region is not None:
        conditions.append(region.c.micro_region == slice_.micro_region)
    return conditions


def subscribers_in_scope(column: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """``column`` (a subscriber id) names a subscriber inside the acting scope: every
    subscriber for someone who sees the whole city (the mart's keys guarantee the subscriber
    and the region exist; the lookup scans every subscriber: in PostgreSQL at 1M it took 1.5
    s of the churn snapshot's campaign benefits)."""
    conditions = region_conditions(Slice())
    if not conditions:
        return sa.true()
    sub, region = s.dim_subscriber, s.dim_region
    return column.in_(sa.select(sub.c.subscriber_id)
                      .select_from(sub.join(region, sub.c.region_id == region.c.region_id))
                      .where(*conditions))


def groups_in_scope(column: sa.ColumnElement,
                    account_manager: str | None = None) -> sa.ColumnElement[bool]:
    """``column`` (an enterprise group's id) names a group homed inside the acting scope (and
    kept by ``account_manager`` when given): every group for someone who sees the whole city,
    with no lookup (a group's region is required by the mart). Under load in PostgreSQL at
    1M the lookup was in the groups' monthly figures (478 ms) and their lines' (427 ms)."""
    conditions = region_conditions(Slice())
    if not conditions and account_manager is None:
        return sa.true()
    grp, region = s.dim_group, s.dim_region
    ids = (sa.select(grp.c.group_id)
           .select_from(grp.join(region, grp.c.region_id == region.c.region_id))
           .where(*conditions))
    if account_manager is not None:
        ids = ids.where(grp.c.account_manager == account_manager)
    return column.in_(ids)


@dataclass(frozen=True)
class _Source:
    table: sa.Table  # the summary table
    joined: sa.FromClause  # it, joined to the dimensions the filters need
    conditions: list[sa.ColumnElement[bool]]
    columns: dict[str, list[sa.ColumnElement]]  # identifying columns per drill level
    # it, joined only to the dimensions ``conditions`` name (None: ``joined``)
    filtered: sa.FromClause | None = None

    def sums(self, measures: tuple[str, ...] | None = None) -> list[sa.Label]:
        wanted = measures or s.SUMMARY_MEASURES
        unknown = sorted(set(wanted) - set(s.SUMMARY_MEASURES))
        if unknown:
            raise ConcertoError(f"Unknown measure(s) {unknown}; choose among "
                                f"{', '.join(s.SUMMARY_MEASURES)}")
        # As doubles on every engine: DuckDB hands its HUGEINT sums of counts over as float64
        # anyway, while PostgreSQL sums bigints as numeric (slower, and Decimal objects the
        # client converts one by one); counts stay exact far beyond any base (2**53).
        return [sa.cast(sa.func.sum(self.table.c[m]), sa.Double).label(m) for m in wanted]


def _source(slice_: Slice, level: str | None = None) -> _Source:
    """The smallest summary table that can answer ``slice_`` grouped by ``level``."""
    slice_ = scoped(slice_)
    region, channel, plan = s.dim_region, s.dim_channel, s.dim_plan
    wants_channel = level == "channel" or slice_.channel_id is not None
    wants_group = level == "group" or slice_.group_id is not None
    if wants_group:
        if slice_.plan_name or slice_.segment or slice_.channel_type or slice_.channel_id:
            raise ConcertoError("Enterprise groups can be combined with region filters only.")
        table = s.sum_group_month
        group = s.dim_group
        joined = table.join(group, table.c.group_id == group.c.group_id).join(
            region, group.c.region_id == region.c.region_id)
        conditions = region_conditions(slice_)
        filtered = joined if conditions else table  # regions are the groups' regions
        if slice_.group_id is not None:
            conditions.append(table.c.group_id == slice_.group_id)
        return _Source(table, joined, conditions,
                       {"group": [group.c.group_id, group.c.group_name, group.c.industry]},
                       filtered)
    if wants_channel:
        if slice_.plan_name or slice_.segment:
            raise ConcertoError("Channels can be combined with region and channel-type filters only.")
        # Without a region, the per-channel summary (a third the size) holds the same sums.
        regional = slice_.branch is not None or slice_.micro_region is not None
        table = s.sum_region_channel_month if regional else s.sum_channel_month
        joined = table.join(channel, table.c.channel_id == channel.c.channel_id)
        columns = {"channel_type": [channel.c.channel_type],
                   "channel": [channel.c.channel_id, channel.c.channel_name, channel.c.channel_type]}
        conditions = []
        filtered: sa.FromClause = table
        if regional:
            joined = joined.join(region, table.c.region_id == region.c.region_id)
            filtered = filtered.join(region, table.c.region_id == region.c.region_id)
            conditions = region_conditions(slice_)
            columns |= {"branch": [region.c.branch], "micro_region": [region.c.micro_region]}
        if slice_.channel_type is not None:
            conditions.append(channel.c.channel_type == slice_.channel_type)
            filtered = filtered.join(channel, table.c.channel_id == channel.c.channel_id)
        if slice_.channel_id is not None:
            conditions.append(table.c.channel_id == slice_.channel_id)
        return _Source(table, joined, conditions, columns, filtered)
    table = s.sum_cube_month
    joined = table.join(region, table.c.region_id == region.c.region_id).join(
        plan, table.c.plan_id == plan.c.plan_id)
    conditions = region_conditions(slice_)
    if slice_.channel_type is not None:
        conditions.append(table.c.channel_type == slice_.channel_type)
    if slice_.plan_name is not None:
        conditions.append(plan.c.plan_name == slice_.plan_name)
    if slice_.segment is not None:
        conditions.append(table.c.segment == slice_.segment)
    columns = {"branch": [region.c.branch], "micro_region": [region.c.micro_region],
               "channel_type": [table.c.channel_type], "plan": [plan.c.plan_name],
               "segment": [table.c.segment]}
    return _Source(table, joined, conditions, columns)


def available_months(engine: sa.Engine) -> list[dt.date]:
    """Months present in the mart, oldest first."""
    frame = read_frame(engine, sa.select(s.sum_cube_month.c.month).distinct()
                       .order_by(s.sum_cube_month.c.month))
    return [pd.Timestamp(m).date() for m in frame["month"]]


def load_region_table(engine: sa.Engine) -> pd.DataFrame:
    """Branches and micro-regions with coordinates (those inside the acting scope)."""
    return read_frame(engine, sa.select(s.dim_region).where(*region_conditions(Slice()))
                      .order_by(s.dim_region.c.region_id))


def load_plan_names(engine: sa.Engine) -> list[str]:
    """Tariff plan names, for filter pickers."""
    frame = read_frame(engine, sa.select(s.dim_plan.c.plan_name).order_by(s.dim_plan.c.plan_id))
    return list(frame["plan_name"])


def load_mart_info(engine: sa.Engine) -> dict[str, str]:
    """Build facts recorded in ``mart_meta`` (source, seed, sizes, build time)."""
    frame = read_frame(engine, sa.select(s.mart_meta))
    return dict(zip(frame["key"], frame["value"], strict=True))


#: Tables whose row counts enter the fingerprint of a mart built before ``build_id`` existed.
_FINGERPRINT_TABLES = ("dim_subscriber", "fact_subscriber_month", "campaign", "campaign_member",
                       "dim_channel", "fact_competitor_month")


def load_mart_fingerprint(engine: sa.Engine) -> str:
    """The mart's identity: ``build:<id>`` from ``mart_meta`` (every build and load writes a
    new one), or for an older mart a hash of its ``mart_meta`` and some tables' row counts.

    Precomputed results are stored under this key, so a rebuilt or reloaded mart is never
    served another mart's results.
    """
    info = load_mart_info(engine)
    if info.get("build_id"):
        return f"build:{info['build_id']}"
    parts = [f"{k}={v}" for k, v in sorted(info.items())]
    with engine.connect() as conn:
        present = sa.inspect(conn)
        for name in _FINGERPRINT_TABLES:
            if not present.has_table(name):
                continue
            table = s.MART.tables[name]
            parts.append(f"{name}:{conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()}")
    return "hash:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def load_table_counts(engine: sa.Engine) -> pd.DataFrame:
    """Rows per mart table, in dependency order; not for regional scopes."""
    require("view_mart_admin", "read the mart's table counts")
    rows = []
    with engine.connect() as conn:
        present = sa.inspect(conn)
        for table in s.MART.sorted_tables:
            if not present.has_table(table.name):  # a mart built before the table existed
                rows.append({"table": table.name, "rows": 0,
                             "about": "absent: built by a newer version; rebuild the mart"})
                continue
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            rows.append({"table": table.name, "rows": int(count), "about": table.comment or ""})
    return pd.DataFrame(rows)


def load_planted_truths(engine: sa.Engine) -> pd.DataFrame:
    """What the generator planted (empty for real extracts); not for regional scopes."""
    require("view_mart_admin", "read the planted truths")
    return read_frame(engine, sa.select(s.planted_truth).order_by(s.planted_truth.c.truth_id))


def load_monthly_totals(engine: sa.Engine, slice_: Slice = Slice()) -> pd.DataFrame:
    """Summed measures per month for a slice, plus own and market subscribers where defined.

    Returns a frame indexed by month (DatetimeIndex) with ``schema.SUMMARY_MEASURES`` and,
    for region-only slices, ``own_subs`` and ``market_subs`` from the competitor figures.
    """
    source = _source(slice_)
    month = source.table.c.month
    statement = (sa.select(month, *source.sums()).select_from(source.joined)
                 .where(*source.conditions).group_by(month).order_by(month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    frame = frame.set_index("month").astype(float)
    region_only = set(slice_.active()) <= {"branch", "micro_region"}
    if region_only and not frame.empty:
        frame = frame.join(_market_subscribers(engine, slice_))
    return frame


def load_market_breakdown(engine: sa.Engine, level: str, months: list[dt.date],
                          slice_: Slice = Slice()) -> pd.DataFrame:
    """Own and all-operator subscribers per branch or micro-region and month (market share)."""
    comp, region = s.fact_competitor_month, s.dim_region
    if level not in ("branch", "micro_region"):
        raise ConcertoError("Market share is known per branch and micro-region only.")
    key = region.c[level]
    own = sa.func.sum(sa.case((comp.c.operator == "us", comp.c.subscribers), else_=0))
    statement = (
        sa.select(key, comp.c.month, own.label("own_subs"),
                  sa.func.sum(comp.c.subscribers).label("market_subs"))
        .select_from(comp.join(region, comp.c.region_id == region.c.region_id))
        .where(*region_conditions(slice_), comp.c.month.in_(months))
        .group_by(key, comp.c.month).order_by(key, comp.c.month)
    )
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def _market_subscribers(engine: sa.Engine, slice_: Slice) -> pd.DataFrame:
    comp, region = s.fact_competitor_month, s.dim_region
    own = sa.func.sum(sa.case((comp.c.operator == "us", comp.c.subscribers), else_=0))
    statement = (
        sa.select(comp.c.month, own.label("own_subs"), sa.func.sum(comp.c.subscribers)
                  .label("market_subs"))
        .select_from(comp.join(region, comp.c.region_id == region.c.region_id))
        .where(*region_conditions(slice_)).group_by(comp.c.month)
    )
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame.set_index("month").astype(float)


def _one_row_per_member(source: _Source, level: str, slice_: Slice) -> bool:
    """Whether ``source`` already holds one row per member of ``level`` and month (no GROUP BY
    needed): channels city-wide or in one micro-region, and enterprise groups."""
    slice_ = scoped(slice_)
    if level == "group":
        return source.table is s.sum_group_month
    if level != "channel":
        return False
    return source.table is s.sum_channel_month or (
        source.table is s.sum_region_channel_month and slice_.micro_region is not None)


def _member_select(level: str, months: list[dt.date], slice_: Slice,
                   measures: tuple[str, ...] | None, members: Sequence[object] | None
                   ) -> tuple[sa.Select, _Source, list[sa.ColumnElement]]:
    if level not in LEVELS:
        raise ConcertoError(f"Unknown drill level {level!r}; choose one of {', '.join(LEVELS)}")
    source = _source(slice_, level)
    if level not in source.columns:
        raise ConcertoError(f"The level {LEVELS[level]!r} cannot be combined with this filter.")
    keys = source.columns[level]
    month = source.table.c.month
    conditions = [*source.conditions, month.in_(months)]
    if members is not None:  # the level's identifying column (id or name) among these
        conditions.append(keys[0].in_(list(members)))
    if _one_row_per_member(source, level, slice_):
        wanted = measures or s.SUMMARY_MEASURES
        source.sums(wanted)  # refuses unknown measures with the usual message
        statement = sa.select(*keys, month, *[sa.cast(source.table.c[m], sa.Double).label(m)
                                              for m in wanted])  # doubles, as sums() gives
    else:
        statement = sa.select(*keys, month, *source.sums(measures)).group_by(*keys, month)
    return statement.select_from(source.joined).where(*conditions), source, keys


def load_breakdown(engine: sa.Engine, level: str, months: list[dt.date],
                   slice_: Slice = Slice(), measures: tuple[str, ...] | None = None,
                   *, members: Sequence[object] | None = None) -> pd.DataFrame:
    """Measures per member of ``level`` (one row per member and month) for the given months.

    The level's identifying columns come first (e.g. ``channel_id, channel_name, channel_type``),
    then ``month`` and the summed measures (all of them, or just ``measures``). ``members``
    keeps only those members (values of the first identifying column: ids for channels and
    groups, names otherwise).
    """
    statement, _, keys = _member_select(level, months, slice_, measures, members)
    frame = read_frame(engine, statement.order_by(*keys, statement.selected_columns.month))
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def load_drill_members(engine: sa.Engine, level: str, months: list[dt.date],
                       history: list[dt.date], slice_: Slice = Slice(),
                       measures: tuple[str, ...] | None = None) -> pd.DataFrame:
    """What ranking a drill level needs: every member seen in ``history``, with its rows for
    ``months`` only (a few months, not the whole history).

    Rows and order are :func:`load_breakdown`'s for ``months``, except that a member with no
    row in ``months`` (seen only earlier in ``history``) has one row with ``month`` NaT and
    measures NaN, in its place in the key order; so the members are exactly those of
    ``load_breakdown(level, history, …)``. ``first_month`` (on every row) is the earliest
    month any member has in ``history``: the start of the window
    :func:`analytics.kpis.drill.member_expected` would have seen over all of them.
    """
    if level not in LEVELS:
        raise ConcertoError(f"Unknown drill level {level!r}; choose one of {', '.join(LEVELS)}")
    source = _source(slice_, level)
    if level not in source.columns:
        raise ConcertoError(f"The level {LEVELS[level]!r} cannot be combined with this filter.")
    wanted = tuple(measures or s.SUMMARY_MEASURES)
    source.sums(wanted)  # refuses unknown measures with the usual message
    one_row = _one_row_per_member(source, level, slice_)
    traits = read_traits(engine)
    members = Members(source, source.columns[level], one_row, starts=traits.indexed)
    try:
        frame = read_member_months(engine, members, history, months, wanted, traits)
    except sa.exc.DBAPIError:  # a mart built before the starts tables existed
        if not members.reads_starts(history):
            raise
        frame = read_member_months(engine, Members(source, source.columns[level], one_row,
                                                   starts=False),
                                   history, months, wanted, traits)
    # Each member came with its first month in ``history``; every row gets the earliest.
    if not frame.empty:
        frame["first_month"] = frame["first_month"].min()
    return frame


def load_cube_leaves(engine: sa.Engine, months: list[dt.date], slice_: Slice = Slice()
                     ) -> pd.DataFrame:
    """Summary-cube rows (branch × micro-region × channel type × plan × segment) for months:
    the leaves a root-cause search runs over."""
    source = _source(slice_)
    if source.table is not s.sum_cube_month:
        raise ConcertoError("Leaves exist per region, channel type, plan and segment only.")
    region, plan, cube = s.dim_region, s.dim_plan, s.sum_cube_month
    statement = (sa.select(region.c.branch, region.c.micro_region, cube.c.channel_type,
                           plan.c.plan_name, cube.c.segment, cube.c.month,
                           *[cube.c[m] for m in s.SUMMARY_MEASURES])
                 .select_from(source.joined).where(*source.conditions, cube.c.month.in_(months)))
    return read_frame(engine, statement)


def masked(column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """1351234**** — masked inside the database, so a full number never reaches the page."""
    return sa.func.substr(column, 1, 7).concat("****")


#: What the subscriber step can narrow to (``only``), and the label each row carries.
SUBSCRIBER_MOVEMENTS = {"new": "new 新入网", "churned": "churned 离网"}


def _summary_answers(slice_: Slice, only: str | None, limit: int, month: dt.date,
                     previous: dt.date) -> bool:
    """Whether the top-fallers summaries hold the answer: a slice of regions (city, branch,
    micro-region) and channel type, no new/churned filter, at most ``TOP_FALLERS`` rows,
    against the month before."""
    return (only is None and set(slice_.active()) <= {"branch", "micro_region", "channel_type"}
            and 0 < limit <= s.TOP_FALLERS
            and pd.Timestamp(previous).date() == month_before(pd.Timestamp(month).date()))


def month_pair_columns(month: dt.date, previous: dt.date
                       ) -> tuple[list[sa.Label], dict[str, sa.ColumnElement]]:
    """Aggregates over a subscriber's fact rows of ``month`` and ``previous``: both months'
    revenue, MOU and data (``revenue_now``, ``revenue_before``, …; 0 when not billed) and,
    per ordering in ``schema.FALLER_ORDERS``, the change (now − before).

    The subscriber step ranks on these when it reads the fact; ``sum_top_fallers_month`` is
    built to hold the same numbers (see :func:`_top_fallers_insert`).
    """
    fact = s.fact_subscriber_month

    def in_month(name: str, which: dt.date) -> sa.ColumnElement:
        return sa.func.coalesce(sa.func.sum(sa.case((fact.c.month == which, fact.c[name]))),
                                0.0)

    measures = [in_month(m, when).label(f"{m}_{'now' if when == month else 'before'}")
                for m in s.FALLER_ORDERS for when in (month, previous)]
    changes = {m: in_month(m, month) - in_month(m, previous) for m in s.FALLER_ORDERS}
    return measures, changes


def _ranked_from_summary(engine: sa.Engine, month: dt.date, slice_: Slice, order_by: str,
                         limit: int) -> sa.Subquery | None:
    """The first ``limit`` subscribers by change as a merge of the micro-regions' top rows
    in ``sum_top_fallers_month``, or with a channel type of its micro-region × channel type
    cells' in ``sum_top_fallers_type_month`` (None when the mart has no rows there for
    ``month``: built before the table existed, or a month it does not cover)."""
    typed = slice_.channel_type is not None
    top = s.sum_top_fallers_type_month if typed else s.sum_top_fallers_month
    region = s.dim_region
    try:
        covered = read_frame(engine, sa.select(top.c.month).where(top.c.month == month)
                             .limit(1))
    except sa.exc.DBAPIError:  # a mart built before the table existed
        return None
    if covered.empty:
        return None
    conditions = [top.c.month == month, top.c.order_key == SUBSCRIBER_ORDER[order_by]]
    if typed:
        conditions.append(top.c.channel_type == slice_.channel_type)
    regional = region_conditions(slice_)
    if regional:
        conditions.append(top.c.region_id.in_(sa.select(region.c.region_id).where(*regional)))
    names = [f"{m}_{when}" for m in s.FALLER_ORDERS for when in ("now", "before")]
    return (sa.select(top.c.subscriber_id, *[top.c[n] for n in names], top.c.change)
            .where(*conditions).order_by(top.c.change, top.c.subscriber_id).limit(limit)
            .subquery("ranked"))


def load_subscriber_rows(engine: sa.Engine, month: dt.date, previous: dt.date,
                         slice_: Slice = Slice(), *, order_by: str = "revenue",
                         only: str | None = None, limit: int = 500) -> pd.DataFrame:
    """The subscribers behind a figure: both months' revenue and usage, biggest fall first.

    ``only`` narrows to the numbers behind a subscriber KPI, counted as the summaries count
    them: ``"new"`` (billed as new in ``month``: the new activations), ``"churned"`` (gone in
    ``month``: the churned), or ``"both"`` (the churned, then the new, up to ``limit`` each).
    Those rows carry a ``movement`` column (``SUBSCRIBER_MOVEMENTS``'s labels).
    Rows lie inside the acting scope; numbers are masked unless the acting role may see them.
    """
    slice_ = scoped(slice_)
    if order_by not in SUBSCRIBER_ORDER:
        raise ConcertoError(f"Cannot order subscribers by {order_by!r}; choose one of "
                            f"{', '.join(SUBSCRIBER_ORDER)}")
    if only == "both":
        parts = [load_subscriber_rows(engine, month, previous, slice_, order_by=order_by,
                                      only=kind, limit=limit) for kind in ("churned", "new")]
        return pd.concat(parts, ignore_index=True)
    if only not in (None, *SUBSCRIBER_MOVEMENTS):
        raise ConcertoError(f"Unknown subscriber filter {only!r}; use 'new', 'churned' or "
                            "'both'.")
    fact, sub, region = s.fact_subscriber_month, s.dim_subscriber, s.dim_region
    channel, plan = s.dim_channel, s.dim_plan
    dims = (sub.join(region, sub.c.region_id == region.c.region_id)
            .join(channel, sub.c.channel_id == channel.c.channel_id)
            .join(plan, sub.c.plan_id == plan.c.plan_id))
    conditions = [*region_conditions(slice_)]
    for value, column in [(slice_.channel_type, channel.c.channel_type),
                          (slice_.channel_id, sub.c.channel_id),
                          (slice_.group_id, sub.c.group_id),
                          (slice_.plan_name, plan.c.plan_name),
                          (slice_.segment, sub.c.segment)]:
        if value is not None:
            conditions.append(column == value)
    if only == "new":  # as the summaries count new_subs: the fact's first bill
        conditions.append(sub.c.subscriber_id.in_(
            sa.select(fact.c.subscriber_id).where(fact.c.month == month, fact.c.is_new)))
    elif only == "churned":  # as the summaries count churned_subs: the churn month
        conditions.append(sub.c.churn_month == month)

    # Rank on one key first (the fact grouped by subscriber), then describe the few winners.
    ranked = (_ranked_from_summary(engine, month, slice_, order_by, limit)
              if _summary_answers(slice_, only, limit, month, previous) else None)
    if ranked is None:
        measures, changes = month_pair_columns(month, previous)
        change = changes[SUBSCRIBER_ORDER[order_by]]
        # For a slice's subscribers, the range adds nothing to the IN, but PostgreSQL uses it
        # to read each one's two months from the (subscriber_id, month) index; with the IN
        # alone it fetched all 24 and filtered (a micro-region × channel type at 1M
        # subscribers: 2.7 s of server CPU). Not for the whole city: taken as independent of
        # the IN, it makes the planner expect a twelfth of the rows and plan a hash table too
        # small.
        low, high = sorted(pd.Timestamp(m).date() for m in (month, previous))
        two_months = fact.c.month.in_([month, previous])
        both_months = sa.and_(two_months, fact.c.month.between(low, high))
        if only is None:
            ranked = sa.select(fact.c.subscriber_id, *measures, change.label("change")).where(
                both_months if conditions else two_months)
            if conditions:
                ranked = ranked.where(fact.c.subscriber_id.in_(
                    sa.select(sub.c.subscriber_id).select_from(dims).where(*conditions)))
            key = fact.c.subscriber_id
        else:
            # Every new or churned number, billed in the two months or not (a churner may have
            # no bill last month on a real extract): its months' figures or zero.
            members = sa.select(sub.c.subscriber_id).select_from(dims).where(*conditions) \
                .subquery("members")
            ranked = sa.select(members.c.subscriber_id, *measures, change.label("change")) \
                .select_from(members.outerjoin(fact, sa.and_(
                    fact.c.subscriber_id == members.c.subscriber_id, both_months)))
            key = members.c.subscriber_id
        ranked = (ranked.group_by(key).order_by(sa.literal_column("change"), key).limit(limit)
                  .subquery("ranked"))
    number = sub.c.msisdn if reveal_numbers() else masked(sub.c.msisdn)
    movement = ([sa.literal(SUBSCRIBER_MOVEMENTS[only], sa.String).label("movement")]
                if only else [])
    statement = (
        sa.select(sub.c.subscriber_id, number.label("number"), *movement, region.c.micro_region,
                  channel.c.channel_name, channel.c.channel_type, plan.c.plan_name,
                  sub.c.segment, sub.c.join_month, sub.c.churn_month,
                  *[c for c in ranked.c if c.name != "subscriber_id"])
        .select_from(ranked.join(dims, ranked.c.subscriber_id == sub.c.subscriber_id))
        .order_by(ranked.c.change, sub.c.subscriber_id)
    )
    return read_frame(engine, statement)


def load_subscriber_ledger(engine: sa.Engine, subscriber_id: int) -> pd.DataFrame:
    """Every monthly row of one subscriber (none outside the acting scope), with the number
    masked unless the acting role may see it."""
    fact, sub, region = s.fact_subscriber_month, s.dim_subscriber, s.dim_region
    number = sub.c.msisdn if reveal_numbers() else masked(sub.c.msisdn)
    statement = (sa.select(number.label("number"), *[c for c in fact.columns
                                                     if c.name != "subscriber_id"])
                 .select_from(fact.join(sub, fact.c.subscriber_id == sub.c.subscriber_id)
                              .join(region, sub.c.region_id == region.c.region_id))
                 .where(fact.c.subscriber_id == subscriber_id, *region_conditions(Slice()))
                 .order_by(fact.c.month))
    frame = read_frame(engine, statement)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame

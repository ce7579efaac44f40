"""Summary tables built with the mart, so pages never scan the monthly fact on a click."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from data_access.mart import schema as s
from data_access.mart import value
from data_access.mart.members import month_before

_MEASURES = ("rev_voice", "rev_data", "rev_sms", "rev_vas", "discount", "revenue",
             "mou", "data_mb", "sms_cnt", "service_cost")


def _summary_insert(target: sa.Table, keys: dict[str, sa.ColumnElement],
                    where: sa.ColumnElement | None = None) -> sa.Insert:
    """INSERT … SELECT that sums the fact over ``keys`` and adds churners by churn month.

    Billed subscribers come from the fact; churners come from ``dim_subscriber.churn_month``
    (they have no fact row in the month they are gone), so that within every cell
    active(t) = active(t-1) + new(t) - churned(t).
    """
    fact, sub, chan = s.fact_subscriber_month, s.dim_subscriber, s.dim_channel
    joined = fact.join(sub, fact.c.subscriber_id == sub.c.subscriber_id).join(
        chan, sub.c.channel_id == chan.c.channel_id)
    billed = sa.select(
        fact.c.month.label("month"),
        *[expr.label(name) for name, expr in keys.items()],
        sa.func.count().label("active_subs"),
        sa.func.sum(sa.case((fact.c.is_new, 1), else_=0)).label("new_subs"),
        sa.literal(0, sa.BigInteger).label("churned_subs"),
        *[sa.func.sum(fact.c[m]).label(m) for m in _MEASURES],
    ).select_from(joined).group_by(fact.c.month, *keys.values())
    churn_join = sub.join(chan, sub.c.channel_id == chan.c.channel_id)
    churned = sa.select(
        sub.c.churn_month.label("month"),
        *[expr.label(name) for name, expr in keys.items()],
        sa.literal(0, sa.BigInteger).label("active_subs"),
        sa.literal(0, sa.BigInteger).label("new_subs"),
        sa.func.count().label("churned_subs"),
        *[sa.literal(0.0, sa.Double).label(m) for m in _MEASURES],
    ).select_from(churn_join).where(
        sub.c.churn_month.is_not(None),
        sub.c.churn_month <= sa.select(sa.func.max(fact.c.month)).scalar_subquery(),
    ).group_by(sub.c.churn_month, *keys.values())
    if where is not None:
        billed = billed.where(where)
        churned = churned.where(where)
    both = sa.union_all(billed, churned).subquery("both_parts")
    key_names = ["month", *keys]
    totals = sa.select(
        *[both.c[k] for k in key_names],
        *[sa.cast(sa.func.sum(both.c[m]), target.c[m].type).label(m) for m in s.SUMMARY_MEASURES],
    ).group_by(*[both.c[k] for k in key_names])
    return sa.insert(target).from_select([*key_names, *s.SUMMARY_MEASURES], totals)


def plan_spells() -> sa.Subquery:
    """Each plan change's spell: from its month to the next change (``ends`` NULL: still on
    it), plus the spell before a subscriber's first change (``starts`` NULL) on its from-plan.
    Subscribers who never changed plan have no spell: they held the current plan throughout."""
    change = s.fact_plan_change
    following = sa.func.lead(change.c.month).over(partition_by=change.c.subscriber_id,
                                                  order_by=change.c.month)
    first = sa.func.min(change.c.month)
    after = sa.select(change.c.subscriber_id, change.c.month.label("starts"),
                      following.label("ends"), change.c.to_plan_id.label("plan_id"))
    firsts = sa.select(change.c.subscriber_id, first.label("month")).group_by(
        change.c.subscriber_id).subquery("first_change")
    before = sa.select(
        change.c.subscriber_id, sa.cast(sa.null(), sa.Date).label("starts"),
        change.c.month.label("ends"), change.c.from_plan_id.label("plan_id"),
    ).select_from(change.join(firsts, sa.and_(firsts.c.subscriber_id == change.c.subscriber_id,
                                               firsts.c.month == change.c.month)))
    return sa.union_all(after, before).subquery("plan_spell")


def _plan_summary_insert() -> sa.Insert:
    """INSERT … SELECT of ``sum_plan_month``: billed rows by the plan held in the month (the
    spell the month falls in, else the current plan), churners on their last plan."""
    fact, sub, chan, target = s.fact_subscriber_month, s.dim_subscriber, s.dim_channel, \
        s.sum_plan_month
    spell = plan_spells()
    in_spell = sa.and_(spell.c.subscriber_id == fact.c.subscriber_id,
                       sa.or_(spell.c.starts.is_(None), fact.c.month >= spell.c.starts),
                       sa.or_(spell.c.ends.is_(None), fact.c.month < spell.c.ends))
    held = sa.func.coalesce(spell.c.plan_id, sub.c.plan_id)
    joined = fact.join(sub, fact.c.subscriber_id == sub.c.subscriber_id).join(
        chan, sub.c.channel_id == chan.c.channel_id).outerjoin(spell, in_spell)
    billed = sa.select(
        fact.c.month.label("month"), held.label("plan_id"), sub.c.region_id.label("region_id"),
        chan.c.channel_type.label("channel_type"),
        sa.func.count().label("active_subs"),
        sa.func.sum(sa.case((fact.c.is_new, 1), else_=0)).label("new_subs"),
        sa.literal(0, sa.BigInteger).label("churned_subs"),
        *[sa.func.sum(fact.c[m]).label(m) for m in _MEASURES],
    ).select_from(joined).group_by(fact.c.month, held, sub.c.region_id, chan.c.channel_type)
    churned = sa.select(
        sub.c.churn_month.label("month"), sub.c.plan_id.label("plan_id"),
        sub.c.region_id.label("region_id"), chan.c.channel_type.label("channel_type"),
        sa.literal(0, sa.BigInteger).label("active_subs"),
        sa.literal(0, sa.BigInteger).label("new_subs"),
        sa.func.count().label("churned_subs"),
        *[sa.literal(0.0, sa.Double).label(m) for m in _MEASURES],
    ).select_from(sub.join(chan, sub.c.channel_id == chan.c.channel_id)).where(
        sub.c.churn_month.is_not(None),
        sub.c.churn_month <= sa.select(sa.func.max(fact.c.month)).scalar_subquery(),
    ).group_by(sub.c.churn_month, sub.c.plan_id, sub.c.region_id, chan.c.channel_type)
    both = sa.union_all(billed, churned).subquery("both_parts")
    keys = ["month", "plan_id", "region_id", "channel_type"]
    totals = sa.select(
        *[both.c[k] for k in keys],
        *[sa.cast(sa.func.sum(both.c[m]), target.c[m].type).label(m) for m in s.SUMMARY_MEASURES],
    ).group_by(*[both.c[k] for k in keys])
    return sa.insert(target).from_select([*keys, *s.SUMMARY_MEASURES], totals)


def _top_fallers_insert(month: dt.date, keep: int) -> sa.Insert:
    """INSERT … SELECT of one month's rows of ``sum_top_fallers_type_month``: every subscriber
    billed in the month or the one before, ranked within its micro-region and activation
    channel type by each ordering's change (then subscriber_id), the first ``keep`` of each
    ranking kept.

    The two months' rows are paired by a full join rather than grouped (2-3x faster, and a
    merge of two index ranges on PostgreSQL); with one fact row per subscriber and month,
    ``coalesce(x, 0.0)`` is the same number as ``queries.month_pair_columns``'
    ``coalesce(sum(…), 0.0)``, and the change the same difference.
    """
    fact, sub, chan = s.fact_subscriber_month, s.dim_subscriber, s.dim_channel
    target = s.sum_top_fallers_type_month
    previous = month_before(month)
    sides = {when: sa.select(fact.c.subscriber_id, *[fact.c[m] for m in s.FALLER_ORDERS])
             .where(fact.c.month == which).subquery(when)
             for when, which in (("now", month), ("before", previous))}
    now, before = sides["now"], sides["before"]
    figures = {f"{m}_{when}": sa.func.coalesce(side.c[m], 0.0)
               for m in s.FALLER_ORDERS for when, side in sides.items()}
    per_sub = (sa.select(sa.func.coalesce(now.c.subscriber_id, before.c.subscriber_id)
                         .label("subscriber_id"),
                         *[value.label(name) for name, value in figures.items()],
                         *[(figures[f"{k}_now"] - figures[f"{k}_before"]).label(f"change_{k}")
                           for k in s.FALLER_ORDERS])
               .select_from(now.outerjoin(before, now.c.subscriber_id == before.c.subscriber_id,
                                          full=True))
               .subquery("per_sub"))
    located = (sa.select(per_sub, sub.c.region_id, chan.c.channel_type)
               .select_from(per_sub.join(sub, sub.c.subscriber_id == per_sub.c.subscriber_id)
                            .join(chan, chan.c.channel_id == sub.c.channel_id))
               .cte("located"))
    names = list(figures)
    parts = []
    # One window per select, its bound written out: DuckDB then keeps a top-N per cell
    # instead of sorting every subscriber (4x faster at 1M subscribers).
    for key in s.FALLER_ORDERS:
        rank = sa.func.row_number().over(
            partition_by=(located.c.region_id, located.c.channel_type),
            order_by=(located.c[f"change_{key}"], located.c.subscriber_id))
        ranked = sa.select(located, rank.label("rank")).subquery(f"ranked_{key}")
        parts.append(sa.select(sa.literal(month, sa.Date).label("month"), ranked.c.region_id,
                               ranked.c.channel_type,
                               sa.literal(key, sa.String(10)).label("order_key"),
                               ranked.c.subscriber_id, *[ranked.c[n] for n in names],
                               ranked.c[f"change_{key}"].label("change"))
                     .where(ranked.c.rank <= sa.literal_column(str(int(keep)))))
    return sa.insert(target).from_select(
        ["month", "region_id", "channel_type", "order_key", "subscriber_id", *names, "change"],
        sa.union_all(*parts))


def _top_fallers_region_insert(month: dt.date, keep: int) -> sa.Insert:
    """INSERT … SELECT of one month's rows of ``sum_top_fallers_month`` from that month's
    ``sum_top_fallers_type_month``: a micro-region's first ``keep`` by change are among the
    first ``keep`` of its channel types (each subscriber has one), so ranking those gives the
    same rows as ranking all its subscribers."""
    cells, target = s.sum_top_fallers_type_month, s.sum_top_fallers_month
    rank = sa.func.row_number().over(partition_by=(cells.c.region_id, cells.c.order_key),
                                     order_by=(cells.c.change, cells.c.subscriber_id))
    names = [c.name for c in target.columns]
    ranked = (sa.select(*[cells.c[n] for n in names], rank.label("rank"))
              .where(cells.c.month == month).subquery("ranked"))
    return sa.insert(target).from_select(
        names, sa.select(*[ranked.c[n] for n in names])
        .where(ranked.c.rank <= sa.literal_column(str(int(keep)))))


def rebuild_top_fallers(conn: sa.Connection, keep: int = s.TOP_FALLERS) -> None:
    """Replace ``sum_top_fallers_type_month`` and ``sum_top_fallers_month``: per month of the
    fact (each against the calendar month before, so no month groups more than two months of
    the fact) the micro-region × channel type rankings, then the micro-regions' from them."""
    fact = s.fact_subscriber_month
    conn.execute(sa.delete(s.sum_top_fallers_month))
    conn.execute(sa.delete(s.sum_top_fallers_type_month))
    months = conn.execute(sa.select(fact.c.month).distinct().order_by(fact.c.month)).scalars()
    for month in list(months):
        conn.execute(_top_fallers_insert(month, keep))
        conn.execute(_top_fallers_region_insert(month, keep))


def _starts_insert(summary: sa.Table, starts: sa.Table) -> sa.Insert:
    """INSERT … SELECT of ``starts``: the rows of ``summary`` whose member has no row in the
    table's month before (months as the table holds them, so no calendar arithmetic), with
    the member's previous month."""
    keys = [c.name for c in starts.primary_key.columns if c.name != "month"]
    months = sa.select(summary.c.month).distinct().subquery("months")
    calendar = sa.select(months.c.month, sa.func.lag(months.c.month).over(
        order_by=months.c.month).label("before")).subquery("calendar")
    rows = sa.select(summary.c.month, *[summary.c[k] for k in keys], sa.func.lag(
        summary.c.month).over(partition_by=[summary.c[k] for k in keys],
                              order_by=summary.c.month).label("prev_month")).subquery("runs")
    started = (sa.select(rows.c.month, *[rows.c[k] for k in keys], rows.c.prev_month)
               .select_from(rows.join(calendar, calendar.c.month == rows.c.month))
               .where(sa.or_(rows.c.prev_month.is_(None), rows.c.prev_month != calendar.c.before)))
    return sa.insert(starts).from_select(["month", *keys, "prev_month"], started)


def rebuild_member_starts(conn: sa.Connection) -> None:
    """Replace ``schema.MEMBER_STARTS``' tables from their summaries."""
    for name, starts in s.MEMBER_STARTS.items():
        conn.execute(sa.delete(starts))
        conn.execute(_starts_insert(s.MART.tables[name], starts))


def value_windows(conn: sa.Connection) -> list[tuple[dt.date, dt.date]]:
    """The value page's windows (``schema.VALUE_WINDOWS`` latest months) as the mart holds
    them, as ``value.load_value_window`` finds them; a mart with fewer months gives some
    windows once."""
    windows = [tuple(conn.execute(value.window_statement(n)).one()) for n in s.VALUE_WINDOWS]
    return list(dict.fromkeys(w for w in windows if w[1] is not None))


#: One value window's customers, computed once and summarised four ways (a scratch table
#: on the build's connection, never part of the mart).
_VALUE_SCRATCH = sa.Table(
    "scratch_value_customer", sa.MetaData(),
    sa.Column("subscriber_id", sa.BigInteger), sa.Column("region_id", sa.Integer),
    sa.Column("segment", sa.String(20)), sa.Column("channel_id", sa.Integer),
    sa.Column("group_id", sa.Integer), sa.Column("band", sa.String(20)),
    *[sa.Column(m, sa.Double) for m in value.MONEY],
    sa.Column("departments", sa.Integer), sa.Column("campaigns", sa.Integer),
    prefixes=["TEMPORARY"])


def _value_summary_inserts(window: tuple[dt.date, dt.date]) -> list[sa.Insert]:
    """INSERT … SELECTs of one window's rows of the three value summaries from the scratch
    table of its customers."""
    c = _VALUE_SCRATCH
    keys = [sa.literal(window[0], sa.Date).label("first_month"),
            sa.literal(window[1], sa.Date).label("last_month")]
    negative = c.c.net_value < 0
    sums = [sa.func.count().label("customers"),
            sa.func.sum(sa.case((negative, 1), else_=0)).label("negative_customers")]
    money = [sa.func.sum(c.c[m]).label(m) for m in value.MONEY]
    cell = sa.select(*keys, c.c.region_id, c.c.segment, c.c.band, *sums, sa.func.sum(
        sa.case((sa.and_(negative, c.c.departments >= 2), 1), else_=0)).label(
        "negative_duplicates"), *money).group_by(c.c.region_id, c.c.segment, c.c.band)
    inserts = [sa.insert(s.sum_value_cell).from_select([e.name for e in cell.selected_columns],
                                                       cell)]
    for level, unit in (("channel", c.c.channel_id), ("group", c.c.group_id)):
        units = (sa.select(*keys, sa.literal(level, sa.String(10)).label("level"),
                           unit.label("unit_id"), c.c.region_id, *sums, *money)
                 .where(unit.is_not(None)).group_by(unit, c.c.region_id))
        inserts.append(sa.insert(s.sum_value_unit).from_select(
            [e.name for e in units.selected_columns], units))
    listed = sa.select(*keys, c.c.subscriber_id, c.c.region_id, c.c.segment, c.c.channel_id,
                       c.c.group_id, *[c.c[m] for m in value.MONEY], c.c.departments,
                       c.c.campaigns).where(value.listed(c))
    inserts.append(sa.insert(s.sum_value_customer).from_select(
        [e.name for e in listed.selected_columns], listed))
    return inserts


def rebuild_value_summaries(conn: sa.Connection) -> None:
    """Replace ``sum_value_cell``, ``sum_value_unit`` and ``sum_value_customer``: each value
    window's customers are computed once (the fact summed over the window, the campaign
    costs, the ROI band) into a scratch table, then summed per cell and unit."""
    for table in (s.sum_value_cell, s.sum_value_unit, s.sum_value_customer):
        conn.execute(sa.delete(table))
    _VALUE_SCRATCH.create(conn, checkfirst=False)  # a failed build rolls it back too
    for window in value_windows(conn):
        c = value.customers(window, scoped=False)
        chosen = sa.select(c.c.subscriber_id, c.c.region_id, c.c.segment, c.c.channel_id,
                           c.c.group_id, value.roi_band(c).label("band"),
                           *[c.c[m] for m in value.MONEY], c.c.departments, c.c.campaigns)
        conn.execute(sa.insert(_VALUE_SCRATCH).from_select(
            [e.name for e in chosen.selected_columns], chosen))
        for insert in _value_summary_inserts(window):
            conn.execute(insert)
        conn.execute(sa.delete(_VALUE_SCRATCH))
    _VALUE_SCRATCH.drop(conn, checkfirst=False)


def rebuild_summaries(conn: sa.Connection) -> None:
    """Replace every summary table's rows from the fact and dimensions (inside the caller's transaction)."""
    sub, chan = s.dim_subscriber, s.dim_channel
    plans = [
        (s.sum_cube_month, {"region_id": sub.c.region_id, "channel_type": chan.c.channel_type,
                            "plan_id": sub.c.plan_id, "segment": sub.c.segment}, None),
        (s.sum_channel_month, {"channel_id": sub.c.channel_id}, None),
        (s.sum_region_channel_month, {"region_id": sub.c.region_id,
                                      "channel_id": sub.c.channel_id}, None),
        (s.sum_group_month, {"group_id": sub.c.group_id}, sub.c.group_id.is_not(None)),
    ]
    for target, keys, where in plans:
        conn.execute(sa.delete(target))
        conn.execute(_summary_insert(target, keys, where))
    rebuild_member_starts(conn)
    conn.execute(sa.delete(s.sum_plan_month))  # by the plan held each month (product view)
    conn.execute(_plan_summary_insert())
    rebuild_top_fallers(conn)
    rebuild_value_summaries(conn)

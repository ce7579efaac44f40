"""How the drill reads a level's members from a summary: each member seen in the history, with
its rows for the ranking months (``data_access.mart.queries.load_drill_members``)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access.db import ReadTraits, read_frame
from data_access.mart import schema as s


def month_before(month: dt.date) -> dt.date:
    """The first day of the calendar month before ``month``'s."""
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def read_member_months(engine: sa.Engine, members: Members, history: list[dt.date],
                       months: list[dt.date], wanted: tuple[str, ...], traits: ReadTraits
                       ) -> pd.DataFrame:
    """The members' rows for ``months`` (one empty row for a member with none), keys first,
    then ``month``, the ``wanted`` measures and each member's first month in ``history``; as
    the engine serves such a read best (``traits``)."""
    read = _member_months_long if traits.columnar_results else _member_months_wide
    return read(engine, members, history, months, wanted)


def _swapped(table: sa.Table, other: sa.Table, clause: sa.ClauseElement) -> sa.ClauseElement:
    """``clause`` with ``table`` and its columns replaced by ``other``'s of the same names."""
    def replace(element):
        if element is table:
            return other
        if isinstance(element, sa.Column) and element.table is table:
            return other.c[element.name]
        return None

    return sa.sql.visitors.replacement_traverse(clause, {}, replace)


def _calendar_run(months: Sequence[dt.date]) -> tuple[dt.date, dt.date] | None:
    """(first, last) when ``months`` are every calendar month from first to last (as month
    starts, in any order, repeats allowed), else None."""
    days = sorted({pd.Timestamp(m).date() for m in months})
    if not days or any(d.day != 1 for d in days):
        return None
    for earlier, later in zip(days, days[1:]):
        if month_before(later) != earlier:
            return None
    return days[0], days[-1]


class Members:
    """How the drill reads a level's members from a summary.

    A channel or group is grouped by the summary's own id column, over the summary joined
    only to what the filters need; its names join once per member at the end (on
    PostgreSQL the joins before grouping took a third of the query). Other levels have one
    identifying column, read through the dimensions it comes from.
    """

    def __init__(self, source, keys: list[sa.ColumnElement], one_row: bool, *,
                 starts: bool = True) -> None:
        # source: queries._Source, the summary that answers the slice and how it is joined
        self.source, self.keys, self.one_row = source, keys, one_row
        self.month = source.table.c.month
        ident = self.keys[0]
        self.by_id = ident.table is not source.table and ident.name in source.table.c
        self.member = source.table.c[ident.name] if self.by_id else ident
        self.base = (source.filtered if self.by_id and source.filtered is not None
                     else source.joined)
        self.starts = s.MEMBER_STARTS.get(source.table.name) if self.by_id and starts else None

    def reads_starts(self, history: list[dt.date]) -> bool:
        """Whether :meth:`seen` reads a starts table for ``history``."""
        return self.starts is not None and _calendar_run(history) is not None

    def rows(self, *columns: sa.ColumnElement, months: list[dt.date]) -> sa.Select:
        """``columns`` of the rows in ``months`` inside the slice, the member first."""
        return (sa.select(self.member.label("member"), *columns).select_from(self.base)
                .where(*self.source.conditions, self.month.in_(months)))

    def seen(self, history: list[dt.date]) -> sa.Subquery:
        """Every member with a row in ``history``, with its first month there.

        For a run of calendar months lo…hi (the drill's 25) and a summary with its starts
        table (``schema.MEMBER_STARTS``), on an engine with indexes, from the rows of the
        first month the table holds there and the starts after it whose previous month is
        before lo: a member's first row in the run is one or the other (a city's 6,666
        channels in one month rather than 25 months of them at 1M subscribers). Else
        (``starts=False``: DuckDB scans the 25 months faster than it joins the starts;
        another history; other levels; a mart built before the starts tables) from every
        row in ``history``, grouped.
        """
        if not self.reads_starts(history):
            return (self.rows(sa.func.min(self.month).label("first_month"), months=history)
                    .group_by(self.member).subquery("seen"))
        table, started, low = self.source.table, self.starts, _calendar_run(history)[0]
        first = (sa.select(sa.func.min(table.c.month)).where(table.c.month.in_(history))
                 .scalar_subquery())
        at_first = self.rows(self.month.label("first_month"), months=history).where(
            self.month == first)
        # the same slice of the starts table: its rows carry the summary's keys
        swap = functools.partial(_swapped, table, started)
        after_gap = (sa.select(swap(self.member).label("member"),
                               started.c.month.label("first_month"))
                     .select_from(swap(self.base))
                     .where(*[swap(c) for c in self.source.conditions],
                            started.c.month.in_(history),
                            started.c.month > first,  # the first month's rows are at_first's
                            sa.or_(started.c.prev_month.is_(None), started.c.prev_month < low)))
        both = sa.union_all(at_first, after_gap).subquery("firsts")
        return (sa.select(both.c.member, sa.func.min(both.c.first_month).label("first_month"))
                .group_by(both.c.member).subquery("seen"))

    def described(self, seen: sa.Subquery, needed: sa.Subquery
                  ) -> tuple[list[sa.ColumnElement], sa.FromClause]:
        """The level's identifying columns and ``seen`` left-joined to ``needed`` (and to the
        members' dimension, for ids)."""
        joined = seen.outerjoin(needed, seen.c.member == needed.c.member)
        if not self.by_id:
            return [seen.c.member.label(self.keys[0].name)], joined
        ident = self.keys[0]
        return self.keys, joined.join(ident.table, ident == seen.c.member)


def _member_months_long(engine: sa.Engine, members: Members, history: list[dt.date],
                        months: list[dt.date], wanted: tuple[str, ...]) -> pd.DataFrame:
    """The members as rows per member and month, for engines that hand results over as
    columns (``ReadTraits.columnar_results``)."""
    table, month = members.source.table, members.month
    if members.one_row:  # no GROUP BY: the summary has one row per member and month
        needed = members.rows(month, *[sa.cast(table.c[m], sa.Double).label(m)
                                       for m in wanted], months=months)
    else:
        needed = members.rows(month, *members.source.sums(wanted), months=months).group_by(
            members.member, month)
    seen, needed = members.seen(history), needed.subquery("needed")
    keys, joined = members.described(seen, needed)
    statement = (sa.select(*keys, needed.c.month, *[needed.c[m] for m in wanted],
                           seen.c.first_month)
                 .select_from(joined).order_by(seen.c.member, needed.c.month))
    frame = read_frame(engine, statement)
    for column in ("month", "first_month"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


def _member_months_wide(engine: sa.Engine, members: Members, history: list[dt.date],
                        months: list[dt.date], wanted: tuple[str, ...]) -> pd.DataFrame:
    """The members read as one row per member with its months side by side, then laid out
    one row per month, for engines whose client builds every row and value: a
    city's 6,666 channels instead of 33,000 channel-months at 1M subscribers on PostgreSQL,
    where building the rows cost the client more than the server spent on the query."""
    table, month = members.source.table, members.month
    months = sorted({pd.Timestamp(m).date() for m in months})
    # A member's measure in one month: its row's value, or the sum over its rows (e.g. a
    # branch's micro-regions); NULL when it has none (summaries' measures are never NULL).
    combine = sa.func.max if members.one_row else sa.func.sum
    cells = [sa.cast(combine(table.c[m]).filter(in_month), sa.Double).label(f"m{i}_{m}")
             for i, in_month in enumerate(month == when for when in months) for m in wanted]
    seen = members.seen(history)
    needed = members.rows(*cells, months=months).group_by(members.member).subquery("needed")
    keys, joined = members.described(seen, needed)
    statement = (sa.select(*keys, seen.c.first_month, *[needed.c[c.name] for c in cells])
                 .select_from(joined).order_by(seen.c.member))
    wide = read_frame(engine, statement)
    names = [k.name for k in keys]
    # member × month × measure; a member with no month has one row of NaT and NaN
    values = wide[[c.name for c in cells]].to_numpy(dtype=float).reshape(
        len(wide), len(months), len(wanted))
    if not months:
        values = np.full((len(wide), 1, len(wanted)), np.nan)
    present = ~np.isnan(values[:, :, 0])
    keep = present.copy()
    keep[~present.any(axis=1), 0] = True
    member, position = np.nonzero(keep)  # row-major: members in order, then their months
    stamps = np.array([np.datetime64(m, "us") for m in months] or [np.datetime64("NaT")],
                      dtype="datetime64[us]")[position]
    stamps[~present[member, position]] = np.datetime64("NaT")
    columns = {name: wide[name].to_numpy()[member] for name in names}
    columns["month"] = stamps
    columns |= {m: values[member, position, j] for j, m in enumerate(wanted)}
    columns["first_month"] = pd.to_datetime(wide["first_month"]).astype(
        "datetime64[us]").to_numpy()[member]
    return pd.DataFrame(columns).astype({name: wide[name].dtype for name in names})

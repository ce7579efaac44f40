"""The click path: a KPI → ranked members level by level → subscriber rows → one ledger."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from analytics.formatting import MISSING, column_label, format_change, format_share, format_value
from analytics.kpis.drill import (history_months, measures_for, member_expected,
                                  months_needed, rank_members)
from analytics.kpis.registry import REGISTRY
from data_access.mart.queries import FILTER_OF_LEVEL, LEVELS, SUMMARY_FILTERS, Slice
from data_access.store import scope
from data_access.store.auth import Forbidden
from pages.common import cache
from pages.common import fragments, urlstate
from pages.common.cards import STATUS_BADGE
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text
from pages.sections.numbers import render_ledger, render_subscribers

SUBSCRIBERS = "subscribers"
#: Which column identifies a member of a level, and which names it.
_KEYS = {"branch": (["branch"], "branch"), "micro_region": (["micro_region"], "micro_region"),
         "channel_type": (["channel_type"], "channel_type"), "plan": (["plan_name"], "plan_name"),
         "segment": (["segment"], "segment"),
         "channel": (["channel_id", "channel_name", "channel_type"], "channel_name"),
         "group": (["group_id", "group_name", "industry"], "group_name")}
_ID = {"channel": "channel_id", "group": "group_id"}
_STATUS_ICON = {"green": "🟢", "amber": "🟠", "red": "🔴", "grey": "⚪"}
CITY = "Zhuhai city 全市"


@dataclass(frozen=True)
class Step:
    level: str
    value: str | int
    label: str


def _encode(path: list[Step]) -> str:
    return "/".join(f"{s.level}:{s.value}" for s in path)


def decode_path(text: str) -> tuple[list[Step], str | None]:
    """Parse the URL's ``drill`` parameter; returns the steps and a message when it is bad."""
    steps: list[Step] = []
    for part in filter(None, text.split("/")):
        level, _, value = part.partition(":")
        if level not in LEVELS or not value:
            return [], (f"URL parameter drill={text!r}: {part!r} is not level:value with a level "
                        f"among {', '.join(LEVELS)}; starting from the top.")
        if level in _ID:
            if not value.isdigit():
                return [], f"URL parameter drill={text!r}: {level} needs a numeric id, not {value!r}."
            steps.append(Step(level, int(value), value))
        else:
            steps.append(Step(level, value, value))
    return steps, None


def path_slice(base: Slice, path: list[Step]) -> Slice:
    for step in path:
        base = base.narrowed(step.level, step.value)
    return base


def next_levels(slice_: Slice, kpi: str) -> list[str]:
    """Levels that can break ``slice_`` down further, geography first; subscribers last.

    A level is offered when one summary table holds it together with every filter already
    fixed (see ``queries.SUMMARY_FILTERS``); market share exists per region only.
    """
    fixed = set(slice_.active())
    order = ["branch", "micro_region", "channel", "channel_type", "group", "plan", "segment"]
    if "micro_region" in fixed:
        fixed.add("branch")  # a micro-region lies in one branch
    if kpi == "market_share":
        return [lvl for lvl in ("branch", "micro_region") if lvl not in fixed]
    levels = []
    for level in order:
        column = FILTER_OF_LEVEL.get(level, level)
        if column not in fixed and any(fixed | {column} <= held for held in SUMMARY_FILTERS):
            levels.append(level)
    return levels + [SUBSCRIBERS]


#: Rows a member table shows at most. A city's 6,666 channels (a micro-region's ~1,200) are
#: more than anyone reads or the page renders quickly; the first 200 by |contribution| carry
#: most of the change, and their history and expected values cost time by the 200, not by
#: the level's size. Contributions are still computed over every member.
MEMBER_CAP = 200
#: Levels whose members run into thousands (ranked on a few months, history for those shown);
#: the others have at most a few dozen members and read their whole history at once.
_MANY = frozenset({"channel", "group"})
#: What a reader may pick first to see fewer members of a long level.
_NARROWERS = {"branch": "a branch", "micro_region": "a micro-region",
              "channel_type": "a channel type"}


def _members(level: str, slice_: Slice, kpi: str, month: dt.date) -> tuple[pd.DataFrame, int]:
    """The shown members' KPI, change, contribution and expected value, and how many members
    the level has (cached per mart version: every widget click reruns the page)."""
    return _member_table(cache.view_key(), level, slice_, kpi, month)


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=128, show_spinner=False)
def _member_table(view: tuple[object, ...], level: str, slice_: Slice, kpi: str,
                  month: dt.date) -> tuple[pd.DataFrame, int]:
    # ``view`` (URL, file version, viewer) is in the key: never stale, never another's rows.
    with scope.acting_as(view[-1]):  # the body may run outside the script's context
        return member_rows(level, slice_, kpi, month)


def member_rows(level: str, slice_: Slice, kpi: str, month: dt.date, *,
                drill_members=cache.drill_members, breakdown=cache.breakdown,
                market_breakdown=cache.market_breakdown) -> tuple[pd.DataFrame, int]:
    """Every member ranked, in ranking order, and how many there are. Expected values are
    given to the first ``MEMBER_CAP`` (the rows the drill shows; those further down have
    NaN, and the CSV export lists them all). The loaders are the cached ones unless given
    (the bench passes the queries themselves)."""
    when = pd.Timestamp(month)
    history = [m.date() for m in history_months(when)]
    keys, _ = _KEYS[level]
    if kpi == "market_share" or level not in _MANY:
        frame = (market_breakdown(level, history, slice_) if kpi == "market_share"
                 else breakdown(level, history, slice_, measures_for(kpi)))
        table = rank_members(frame, keys, kpi, when)
        if table.empty:
            return table, 0
        return table.merge(member_expected(frame, keys, kpi, when), on=keys, how="left"), \
            len(table)
    # Rank every member on the months ranking reads, then read history for those shown.
    needed = [m.date() for m in months_needed(when)]
    frame = drill_members(level, needed, history, slice_, measures_for(kpi))
    table = rank_members(frame.drop(columns="first_month"), keys, kpi, when)
    if table.empty:
        return table, 0
    shown = table.head(MEMBER_CAP)
    ident = keys[0]
    past = breakdown(level, history, slice_, measures_for(kpi),
                     members=tuple(shown[ident].tolist()))
    expected = member_expected(past, keys, kpi, when, start=frame["first_month"].min())
    return table.merge(expected, on=keys, how="left"), len(table)


def _heading(name: str) -> str:
    return name[:1].upper() + name[1:]


def _display(table: pd.DataFrame, level: str, kpi: str) -> pd.DataFrame:
    """The ranked table as a reader sees it: bilingual headers, ¥/万 and %, "—" for gaps."""
    unit = REGISTRY[kpi].unit
    keys, name = _KEYS[level]
    if unit == "pct" or kpi == "net_adds":  # rates and counts that can be ≤ 0: the gap itself
        vs_expected = [format_change(v - e, unit) for v, e in
                       zip(table["value"], table["expected"], strict=True)]
    else:
        ratio = table["value"] / table["expected"].where(table["expected"] > 0) - 1
        vs_expected = [MISSING if pd.isna(v) else f"{v:+.1%}" for v in ratio]
    shown = pd.DataFrame({
        column_label("status"): [f"{_STATUS_ICON[s]} {STATUS_BADGE[s][0]}"
                                 for s in table["status"]],
        _heading(LEVELS[level]): table[name].astype(str),
        column_label("current"): [format_value(v, unit) for v in table["value"]],
        column_label("previous"): [format_value(v, unit) for v in table["previous"]],
        column_label("expected"): [format_value(v, unit) for v in table["expected"]],
        column_label("vs_expected"): vs_expected,
        column_label("change"): [format_change(v, unit) for v in table["change"]],
        column_label("contribution"): [format_change(v, unit) for v in table["contribution"]],
        column_label("share_of_parent_change"): [
            format_share(v, c, p) for v, c, p in
            zip(table["share_of_change"], table["parent_change"], table["parent_level"],
                strict=True)],
    })
    if level == "channel":
        shown.insert(2, column_label("channel_type"), table["channel_type"].astype(str).values)
    return shown


def _row_steps(table: pd.DataFrame, level: str) -> list[Step]:
    """The step each row of a ranked table drills into, in the table's order."""
    keys, name = _KEYS[level]
    values = (table[_ID[level]].astype(int).tolist() if level in _ID
              else table[keys[0]].astype(str).tolist())
    return [Step(level, v, str(n)) for v, n in zip(values, table[name], strict=True)]


def render_level(level: str, slice_: Slice, kpi: str, month: dt.date, path: list[Step],
                 prefix: str = "sandbox", on_pick: Callable[[list[Step]], None] | None = None,
                 ) -> Step | None:
    """One ranked table; returns the member the user clicked.

    With ``on_pick`` a click moves the path in the table's selection callback, before any
    script runs (see :func:`render_drill`): ``on_pick`` gets the path one step deeper.
    """
    depth = len(path)
    everyone, total = _members(level, slice_, kpi, month)
    table = everyone.head(MEMBER_CAP)
    if table.empty:
        st.info("Nothing to break down here for this month. Pick another level or go back up.")
        return None
    meta = REGISTRY[kpi]
    if table["parent_status"].iloc[0] in ("red", "amber"):
        worse = "fall" if meta.direction == "higher" else "rise"
        order = (f"{meta.label} is off target here, so the members whose {worse} pulled it "
                 f"down come first, biggest first; then the rest")
    else:
        order = f"ranked by how much each moved {meta.label}"
    st.caption(f"{total:,} members, {order} (contributions add up to the total change). "
               "Click a row to drill into it.")
    if total > len(table):  # only levels of thousands of members (see MEMBER_CAP)
        narrow = " or ".join(_NARROWERS[lvl] for lvl in next_levels(slice_, kpi)
                             if lvl in _NARROWERS) or "a smaller area"
        st.caption(f"Showing the {len(table)} that moved it most; {total - len(table):,} more "
                   f"are not listed (their contributions are in the total). Pick {narrow} "
                   "first to see them.")
    key = f"{prefix}_table_{depth}_{level}"
    steps = _row_steps(table, level)
    event = st.dataframe(
        _display(table, level, kpi), hide_index=True,
        on_select=(functools.partial(_picked, key, path, steps, on_pick) if on_pick
                   else "rerun"),
        selection_mode="single-row", key=key,
        column_config={_heading(LEVELS[level]): st.column_config.TextColumn(width="medium")},
    )
    st.download_button(f"Download all {total:,} members (CSV)" if total > len(table) else
                       "Download this table (CSV)",
                       csv_file(everyone),
                       f"{kpi}_by_{level}.csv", "text/csv", key=f"{prefix}_csv_{depth}_{level}")
    rows = event.selection.rows if event else []
    return steps[rows[0]] if rows and rows[0] < len(steps) else None


def _picked(key: str, path: list[Step], steps: list[Step],
            on_pick: Callable[[list[Step]], None]) -> None:
    """A ranked table's selection callback: drill into the row picked."""
    event = st.session_state.get(key)
    rows = event.selection.rows if event is not None else []
    if rows and rows[0] < len(steps):
        on_pick([*path, steps[rows[0]]])


def start_path_from_url(prefix: str) -> None:
    """Take the drill path a link brought in the URL's ``drill`` parameter (see urlstate)."""
    text = urlstate.incoming("drill")
    if text is None:
        return
    steps, problem = decode_path(text)
    if problem:
        st.warning(plain(problem))
    try:  # a link into another region is refused here, with a message, not by an exception
        scope.scoped(path_slice(Slice(), steps))
    except Forbidden as exc:
        st.warning(plain(f"URL parameter drill={text!r} is outside what you may see: {exc} "
                         "Starting from the top."))
        steps = []
    st.session_state[f"{prefix}_path"] = steps
    st.session_state[f"{prefix}_path_from_link"] = True


def set_path(prefix: str, steps: list[Step]) -> None:
    st.session_state[f"{prefix}_path"] = list(steps)


def unit_label(base: Slice, fallback: str = CITY) -> str:
    """The name of the unit a view of ``base`` covers, in the acting viewer's scope: their
    own micro-region or branch (with its Chinese name) when they are scoped, else
    ``fallback`` for the whole city."""
    try:
        base = scope.scoped(base)
    except Forbidden:
        return fallback
    for column, value in (("micro_region", base.micro_region), ("branch", base.branch)):
        if value is not None:
            regions = cache.region_table()
            names = regions.loc[regions[column] == value, f"{column}_zh"]
            return f"{value} {names.iloc[0]}" if not names.empty else str(value)
    return fallback


def _geography(path: list[Step]) -> list[Step]:
    return [s for s in path if s.level in ("branch", "micro_region")]


def move_path(prefix: str, steps: list[Step], section: str | None = None,
              follow: Sequence[str] = (), follow_geography: Sequence[str] = ()) -> None:
    """Move the drill path (a widget callback: it runs before the next script run starts).

    The path goes to session state and to the URL's ``drill`` parameter here, so whatever
    runs next (the drill's own fragment, or the whole page: ``start_path_from_url`` finds
    the URL is this session's own write) reads the moved path. When the drill is the
    fragment ``section``, the fragments named in ``follow`` rerun with it, and those in
    ``follow_geography`` too when the branch or micro-region reached changed (the map's
    outline). Otherwise the interaction's default rerun happens (the drill's fragment, or
    the whole page outside one): a keyed rerun from a callback costs Streamlit a second,
    empty script run (and its garbage collection, ~0.1 s here) before the real one.
    """
    before = st.session_state.get(f"{prefix}_path", [])
    set_path(prefix, steps)
    urlstate.write("drill", _encode(steps))
    moved_area = _geography(before) != _geography(steps)
    others = [*follow, *(follow_geography if moved_area else ())]
    if section is not None and others:
        fragments.rerun([section, *others])


def render_drill(base: Slice, scope_label: str, kpi: str, month: dt.date, previous: dt.date,
                 prefix: str, levels_filter=None, *, section: str | None = None,
                 follow: Sequence[str] = (), follow_geography: Sequence[str] = ()) -> Slice:
    """Breadcrumbs, a level picker, the ranked table (click to go deeper), subscriber rows
    and the ledger. The path lives in session state and in the URL. Returns the slice shown.

    The drill starts at the viewer's own level: a branch manager's first table lists their
    branch's micro-regions, and the first breadcrumb names their region, whatever
    ``scope_label`` the page passed for an unfiltered view.

    A click that moves the path (a row, a breadcrumb) moves it in its callback
    (:func:`move_path`, with ``section``, ``follow`` and ``follow_geography``), before
    anything reruns.
    """
    try:
        base = scope.scoped(base)
    except Forbidden as exc:
        st.warning(plain(exc))
        return base
    if base.branch is not None or base.micro_region is not None:
        scope_label = unit_label(base, scope_label)
    state = f"{prefix}_path"
    path: list[Step] = st.session_state.setdefault(state, [])

    def go(steps: list[Step]) -> None:
        move_path(prefix, steps, section, follow, follow_geography)

    crumbs = st.container(horizontal=True)
    # A breadcrumb to where one already is does nothing (no callback, no rerun of others).
    crumbs.button(f"⌂ {scope_label}", key=f"{prefix}_crumb_top",
                  on_click=go if path else None, args=([],) if path else None)
    for i, step in enumerate(path):
        deeper = i + 1 < len(path)
        crumbs.button(f"› {step.label}", key=f"{prefix}_crumb_{i}",
                      on_click=go if deeper else None, args=(path[: i + 1],) if deeper else None)
    urlstate.write("kpi", kpi)
    urlstate.write("drill", _encode(path))
    current = path_slice(base, path)
    levels = next_levels(current, kpi)
    if levels_filter is not None:
        levels = [lvl for lvl in levels if levels_filter(lvl)] or [SUBSCRIBERS]
    if not levels:
        st.info(f"{REGISTRY[kpi].label} cannot be broken down further here (it is known per "
                "branch and micro-region only). Go back up with the breadcrumbs.")
        return current
    level = st.segmented_control(
        "Break down by 拆分维度", levels, default=levels[0], key=f"{prefix}_level_{len(path)}",
        format_func=lambda lvl: "subscribers 用户号码" if lvl == SUBSCRIBERS else LEVELS[lvl],
    ) or levels[0]
    if level == SUBSCRIBERS:
        picked = render_subscribers(current, kpi, month, previous, prefix)
        if picked is not None:
            render_ledger(picked, prefix)
    else:
        render_level(level, current, kpi, month, path, prefix, on_pick=go)
    return current


_SECTIONS: dict[str, Callable[..., Slice]] = {}


def section_key(prefix: str) -> str:
    """The key of a page's drill fragment (``st.rerun(scope=[...])`` names it)."""
    return f"{prefix}_drill_section"


def drill_section(base: Slice, scope_label: str, kpi: str, month: dt.date, previous: dt.date,
                  prefix: str, *, follow: Sequence[str] = (),
                  follow_geography: Sequence[str] = ()) -> None:
    """:func:`render_drill` as a fragment of its own: a click inside the drill (a row, a
    breadcrumb, another breakdown, a subscriber, the ledger) reruns the drill, not the page.

    When the path moves, the fragments in ``follow`` rerun with it (what the page draws
    from the path: the micro-region page's localiser), and those in ``follow_geography``
    when the branch or micro-region reached changed (the map's outline). Everything else
    on the page (cards, KPI tree) does not depend on the path and stays as drawn.
    """
    if prefix not in _SECTIONS:
        _SECTIONS[prefix] = fragments.section(key=section_key(prefix))(render_drill)
    _SECTIONS[prefix](base, scope_label, kpi, month, previous, prefix,
                      section=section_key(prefix), follow=follow,
                      follow_geography=follow_geography)


def reset_on_scope_change(prefix: str, scope_key: tuple) -> None:
    """Start the drill from the top when the scope or KPI changes (not when a link set both)."""
    previous = st.session_state.get(f"{prefix}_scope_key", scope_key)
    st.session_state[f"{prefix}_scope_key"] = scope_key
    if st.session_state.pop(f"{prefix}_path_from_link", False):
        return
    if previous != scope_key:
        set_path(prefix, [])

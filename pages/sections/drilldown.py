"""The click path: a KPI → ranked members level by level → subscriber rows → one ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import altair as alt
import pandas as pd
import streamlit as st

from analytics.kpis.drill import history_months, measures_for, member_expected, member_kpis
from analytics.formatting import format_value
from analytics.kpis.registry import REGISTRY
from pages.common import cache
from data_access.store import scope
from data_access.store.auth import Forbidden
from data_access.db import ConcertoError
from data_access.mart.queries import FILTER_OF_LEVEL, LEVELS, SUMMARY_FILTERS, Slice
from pages.common import urlstate
from pages.common.cards import STATUS_BADGE
from pages.common.csvexport import safe_frame  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

SUBSCRIBERS = "subscribers"
#: Which column identifies a member of a level, and which names it.
_KEYS = {"branch": (["branch"], "branch"), "micro_region": (["micro_region"], "micro_region"),
         "channel_type": (["channel_type"], "channel_type"), "plan": (["plan_name"], "plan_name"),
         "segment": (["segment"], "segment"),
         "channel": (["channel_id", "channel_name", "channel_type"], "channel_name"),
         "group": (["group_id", "group_name", "industry"], "group_name")}
_ID = {"channel": "channel_id", "group": "group_id"}
_STATUS_ICON = {"green": "🟢", "amber": "🟠", "red": "🔴", "grey": "⚪"}
#: Subscriber rows that explain each KPI: (order by, only new / churned numbers).
_SUBSCRIBER_VIEW = {"mou": ("mou", None), "dou": ("data_mb", None), "new_subs": ("revenue", "new"),
                    "churn_rate": ("revenue", "churned")}


_SUBSCRIBER_COLUMNS = ("number", "revenue_now", "revenue_before", "change", "mou_now",
                       "mou_before", "data_mb_now", "data_mb_before", "plan_name", "segment",
                       "channel_name", "channel_type", "micro_region", "join_month", "churn_month")
_SUBSCRIBER_CONFIG = {
    "number": st.column_config.TextColumn("number 号码", pinned=True),
    "revenue_now": st.column_config.NumberColumn("revenue ¥ this month", format="%.2f"),
    "revenue_before": st.column_config.NumberColumn("revenue ¥ last month", format="%.2f"),
    "change": st.column_config.NumberColumn("change", format="%+.2f"),
    "mou_now": st.column_config.NumberColumn("MOU now", format="%.0f"),
    "mou_before": st.column_config.NumberColumn("MOU before", format="%.0f"),
    "data_mb_now": st.column_config.NumberColumn("data MB now", format="%.0f"),
    "data_mb_before": st.column_config.NumberColumn("data MB before", format="%.0f"),
    "join_month": st.column_config.DateColumn("joined", format="YYYY-MM"),
    "churn_month": st.column_config.DateColumn("gone", format="YYYY-MM"),
}


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


def _members(level: str, slice_: Slice, kpi: str, month: dt.date) -> pd.DataFrame:
    """Members' KPI, change, contribution and expected value (cached per mart version: the
    city-wide channel table costs ~160 ms of analytics at 1M subscribers, and every widget
    click reruns the page)."""
    return _member_table(cache.view_key(), level, slice_, kpi, month)


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=128, show_spinner=False)
def _member_table(view: tuple[object, ...], level: str, slice_: Slice, kpi: str,
                  month: dt.date) -> pd.DataFrame:
    # ``view`` (URL, file version, viewer) is in the key: never stale, never another's rows.
    with scope.acting_as(view[-1]):  # the body may run outside the script's context
        return _member_rows(level, slice_, kpi, month)


def _member_rows(level: str, slice_: Slice, kpi: str, month: dt.date) -> pd.DataFrame:
    months = [m.date() for m in history_months(pd.Timestamp(month))]
    keys, _ = _KEYS[level]
    if kpi == "market_share":
        frame = cache.market_breakdown(level, months, slice_)
    else:
        frame = cache.breakdown(level, months, slice_, measures_for(kpi))
    table = member_kpis(frame, keys, kpi, pd.Timestamp(month))
    if table.empty:
        return table
    expected = member_expected(frame, keys, kpi, pd.Timestamp(month))
    return table.merge(expected, on=keys, how="left")


def _display(table: pd.DataFrame, level: str, kpi: str) -> pd.DataFrame:
    unit = REGISTRY[kpi].unit
    change_unit = "yuan" if unit == "yuan" else unit
    keys, name = _KEYS[level]
    shown = pd.DataFrame({
        "status": [f"{_STATUS_ICON[s]} {STATUS_BADGE[s][0]}" for s in table["status"]],
        LEVELS[level]: table[name].astype(str),
        "value": [format_value(v, unit) for v in table["value"]],
        "last month": [format_value(v, unit) for v in table["previous"]],
        "expected 预期": [format_value(v, unit) for v in table["expected"]],
        "vs expected": (table["value"] / table["expected"].where(table["expected"] != 0) - 1),
        "change": [format_value(v, change_unit) if v >= 0 else "−" + format_value(-v, change_unit)
                   for v in table["change"].fillna(0)],
        "contribution to change": table["contribution"].round(4),
        "share of change": table["share_of_change"],
    })
    if level == "channel":
        shown.insert(2, "type", table["channel_type"].values)
    return shown


def render_level(level: str, slice_: Slice, kpi: str, month: dt.date, depth: int,
                 prefix: str = "sandbox") -> Step | None:
    """One ranked table; returns the member the user clicked."""
    table = _members(level, slice_, kpi, month)
    if table.empty:
        st.info("Nothing to break down here for this month. Pick another level or go back up.")
        return None
    st.caption(f"{len(table)} members, ranked by how much each moved {REGISTRY[kpi].label} "
               "(contributions add up to the total change). Click a row to drill into it.")
    event = st.dataframe(
        _display(table, level, kpi), hide_index=True, on_select="rerun",
        selection_mode="single-row", key=f"{prefix}_table_{depth}_{level}",
        column_config={"share of change": st.column_config.ProgressColumn(
            "share of change", format="percent", min_value=-1.0, max_value=1.0),
            "vs expected": st.column_config.NumberColumn(format="percent")},
    )
    st.download_button("Download this table (CSV)", table.pipe(safe_frame).to_csv(index=False).encode("utf-8"),
                       f"{kpi}_by_{level}.csv", "text/csv", key=f"{prefix}_csv_{depth}_{level}")
    rows = event.selection.rows if event else []
    if not rows:
        return None
    chosen = table.iloc[rows[0]]
    keys, name = _KEYS[level]
    value = int(chosen[_ID[level]]) if level in _ID else str(chosen[keys[0]])
    return Step(level, value, str(chosen[name]))


def render_subscribers(slice_: Slice, kpi: str, month: dt.date, previous: dt.date,
                       prefix: str = "sandbox") -> int | None:
    """The numbers behind the figure; returns the subscriber the user clicked."""
    order_by, only = _SUBSCRIBER_VIEW.get(kpi, ("revenue", None))
    try:
        rows = cache.subscriber_rows(month, previous, slice_, order_by=order_by, only=only)
    except ConcertoError as exc:
        st.error(plain(exc))
        return None
    if rows.empty:
        st.info("No subscriber rows behind this figure for this month.")
        return None
    what = {"new": "new activations of", "churned": "numbers gone in"}.get(only or "", "subscribers in")
    st.caption(f"{len(rows)} {what} {month:%Y-%m}, biggest fall in {order_by} first "
               "(numbers masked 号码脱敏). Click a row for the subscriber's ledger.")
    event = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=f"{prefix}_subscribers", column_order=_SUBSCRIBER_COLUMNS,
                         column_config=_SUBSCRIBER_CONFIG)
    st.download_button("Download subscriber rows (CSV)", rows.drop(columns=["subscriber_id"])
                       .pipe(safe_frame).to_csv(index=False).encode("utf-8"), "subscriber_rows.csv", "text/csv",
                       key=f"{prefix}_csv_subscribers")
    picked = event.selection.rows if event else []
    return int(rows.iloc[picked[0]]["subscriber_id"]) if picked else None


def render_ledger(subscriber_id: int, prefix: str = "sandbox") -> None:
    """One subscriber's months: revenue by component and usage (the ledger 明细账)."""
    ledger = cache.subscriber_ledger(subscriber_id)
    if ledger.empty:
        st.info("This subscriber has no billed months.")
        return
    st.markdown(f"**Ledger 明细账 · {ledger['number'].iloc[0]}**")
    parts = ledger.melt(id_vars="month", value_vars=["rev_voice", "rev_data", "rev_sms", "rev_vas"],
                        var_name="component", value_name="yuan")
    chart = alt.Chart(parts).mark_bar().encode(
        x=alt.X("yearmonth(month):T", title=None), y=alt.Y("sum(yuan):Q", title="gross revenue (yuan)"),
        color=alt.Color("component:N", title="component"), tooltip=["month:T", "component", "yuan"],
    ).properties(height=220)
    st.altair_chart(chart, width="stretch")
    st.dataframe(ledger, hide_index=True)
    st.download_button("Download ledger (CSV)", ledger.pipe(safe_frame).to_csv(index=False).encode("utf-8"),
                       "subscriber_ledger.csv", "text/csv", key=f"{prefix}_csv_ledger")


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


def render_drill(base: Slice, scope_label: str, kpi: str, month: dt.date, previous: dt.date,
                 prefix: str, levels_filter=None) -> Slice:
    """Breadcrumbs, a level picker, the ranked table (click to go deeper), subscriber rows
    and the ledger. The path lives in session state and in the URL. Returns the slice shown."""
    state = f"{prefix}_path"
    path: list[Step] = st.session_state.setdefault(state, [])
    crumbs = st.container(horizontal=True)
    if crumbs.button(f"⌂ {scope_label}", key=f"{prefix}_crumb_top"):
        path = []
    for i, step in enumerate(path):
        if crumbs.button(f"› {step.label}", key=f"{prefix}_crumb_{i}"):
            path = path[: i + 1]
    st.session_state[state] = path
    urlstate.write("kpi", kpi)
    urlstate.write("drill", _encode(path))
    current = path_slice(base, path)
    levels = next_levels(current, kpi)
    if levels_filter is not None:
        levels = [lvl for lvl in levels if levels_filter(lvl)] or [SUBSCRIBERS]
    level = st.segmented_control(
        "Break down by 拆分维度", levels, default=levels[0], key=f"{prefix}_level_{len(path)}",
        format_func=lambda lvl: "subscribers 用户号码" if lvl == SUBSCRIBERS else LEVELS[lvl],
    ) or levels[0]
    if level == SUBSCRIBERS:
        picked = render_subscribers(current, kpi, month, previous, prefix)
        if picked is not None:
            render_ledger(picked, prefix)
    else:
        chosen = render_level(level, current, kpi, month, len(path), prefix)
        if chosen is not None:
            st.session_state[state] = [*path, chosen]
            st.rerun()
    return current


def reset_on_scope_change(prefix: str, scope_key: tuple) -> None:
    """Start the drill from the top when the scope or KPI changes (not when a link set both)."""
    previous = st.session_state.get(f"{prefix}_scope_key", scope_key)
    st.session_state[f"{prefix}_scope_key"] = scope_key
    if st.session_state.pop(f"{prefix}_path_from_link", False):
        return
    if previous != scope_key:
        set_path(prefix, [])

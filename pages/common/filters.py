"""Global filters (period, branch, micro-region): session state mirrored in the URL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pages.common import cache
from data_access.store import scope
from data_access.mart.queries import Slice
from pages.common import urlstate
from pages.common.plaintext import plain  # the URL's text shown as text

ALL = "All 全部"
CITY = "Zhuhai city 全市"
_MONTH, _BRANCH, _REGION = "global_month", "global_branch", "global_micro_region"
_FIXED_HELP = "Your scope 你的范围: you see this region only."


@dataclass(frozen=True)
class GlobalFilters:
    """What the sidebar selected; pages read it through :func:`current`."""

    month: dt.date
    months: tuple[dt.date, ...]
    branch: str | None
    micro_region: str | None
    #: The selection's name in both languages ("Gongbei 拱北"), set by :func:`render_sidebar`.
    place: str | None = None

    @property
    def previous_month(self) -> dt.date | None:
        index = self.months.index(self.month)
        return self.months[index - 1] if index > 0 else None

    @property
    def region_slice(self) -> Slice:
        return Slice(branch=self.branch, micro_region=self.micro_region)

    @property
    def scope_label(self) -> str:
        """What the page shows, for captions and breadcrumbs: the micro-region or branch
        selected (a scoped user's own, at least), the city only when nothing narrows it."""
        return self.place or self.micro_region or self.branch or CITY


def _month_label(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _apply_url(months: list[dt.date], regions: pd.DataFrame) -> list[str]:
    """Apply filters a link brought in (see urlstate); return messages for bad ones."""
    problems: list[str] = []
    by_label = {_month_label(m): m for m in months}
    if (month := urlstate.incoming("month")) is not None:
        if month in by_label:
            st.session_state[_MONTH] = by_label[month]
        else:
            problems.append(f"URL parameter month={month!r} is not a month in the mart "
                            f"({_month_label(months[0])} to {_month_label(months[-1])}); "
                            "showing the latest month.")
    branches = set(regions["branch"])
    branch, region = urlstate.incoming("branch"), urlstate.incoming("region")
    if branch is not None:
        if branch in branches:
            st.session_state[_BRANCH] = branch
            if region is None:
                st.session_state[_REGION] = ALL
        elif (who := scope.acting()) is not None and who.scope_level is not None:
            problems.append(f"URL parameter branch={branch!r} is outside what you may see "
                            f"({who.scope_value} only); showing {who.scope_value}.")
        else:
            problems.append(f"URL parameter branch={branch!r} is not a branch "
                            f"({', '.join(sorted(branches))}); showing all branches.")
    if region is not None:
        match = regions[regions["micro_region"] == region]
        if match.empty and (who := scope.acting()) is not None and who.scope_level is not None:
            problems.append(f"URL parameter region={region!r} is outside what you may see "
                            f"({who.scope_value} only); showing {who.scope_value}.")
        elif match.empty:
            problems.append(f"URL parameter region={region!r} is not a micro-region; "
                            "showing the whole branch.")
        else:
            st.session_state[_BRANCH] = match["branch"].iloc[0]
            st.session_state[_REGION] = region
    return problems


def render_sidebar() -> GlobalFilters | None:
    """Draw the global filters in the sidebar; None when there is no mart yet.

    A user with a scope has their own branch as the only, fixed, branch; a branch-scoped
    user picks among its micro-regions (or all of it), a micro-region-scoped user's
    micro-region is fixed too. Nobody scoped sees "All" for what they cannot widen.
    """
    if not cache.mart_available():
        return None
    months = cache.available_months()
    regions = cache.region_table()  # only the regions inside the acting scope
    if not months:
        return None
    for problem in _apply_url(months, regions):
        st.sidebar.warning(plain(problem))  # the message quotes what the URL held
    if st.session_state.get(_MONTH) not in months:
        st.session_state[_MONTH] = months[-1]
    st.sidebar.selectbox("Period 账期", months[::-1], key=_MONTH, format_func=_month_label)
    who = scope.acting()
    level = who.scope_level if who is not None else None
    if level is not None and regions.empty:
        st.sidebar.warning(plain(f"Your scope {who.scope_value} is not in the mart; ask an "
                                 "administrator to check it."))
        return GlobalFilters(month=st.session_state[_MONTH], months=tuple(months),
                             branch=who.scope_value if level == "branch" else None,
                             micro_region=who.scope_value if level == "micro_region" else None,
                             place=who.scope_value)
    branches = list(dict.fromkeys(regions["branch"]))
    if level is None:
        branches = [ALL, *branches]
    if st.session_state.get(_BRANCH) not in branches:
        st.session_state[_BRANCH] = branches[0]
    branch = st.sidebar.selectbox("Branch 分公司", branches, key=_BRANCH,
                                  format_func=lambda b: _zh(regions, "branch", b),
                                  disabled=level is not None,
                                  help=_FIXED_HELP if level is not None else None)
    inside = regions if branch == ALL else regions[regions["branch"] == branch]
    micro = list(inside["micro_region"])
    if level != "micro_region":
        micro = [ALL, *micro]
    if st.session_state.get(_REGION) not in micro:
        st.session_state[_REGION] = micro[0]
    whole = ALL if branch == ALL else f"All of {_zh(regions, 'branch', branch)} 全部"
    region = st.sidebar.selectbox(
        "Micro-region 微区域", micro, key=_REGION, disabled=level == "micro_region",
        format_func=lambda r: whole if r == ALL else _zh(regions, "micro_region", r),
        help=_FIXED_HELP if level == "micro_region" else None)
    filters = GlobalFilters(
        month=st.session_state[_MONTH], months=tuple(months),
        branch=None if branch == ALL else branch, micro_region=None if region == ALL else region,
        place=(_zh(regions, "micro_region", region) if region != ALL
               else _zh(regions, "branch", branch) if branch != ALL else CITY),
    )
    _write_url(filters)
    return filters


def region_name(level: str, value: str) -> str:
    """A branch's or micro-region's name in both languages ("Gongbei 拱北"), or ``value``
    when there is no mart to name it from."""
    if not cache.mart_available():
        return value
    return _zh(cache.region_table(), level, value)


def _zh(regions: pd.DataFrame, column: str, value: str) -> str:
    if value == ALL:
        return value
    match = regions.loc[regions[column] == value, f"{column}_zh"]
    return f"{value} {match.iloc[0]}" if not match.empty else value


def _write_url(filters: GlobalFilters) -> None:
    urlstate.write("month", _month_label(filters.month))
    urlstate.write("branch", filters.branch)
    urlstate.write("region", filters.micro_region)


def current() -> GlobalFilters | None:
    """The filters app.py drew for this run (None without a mart)."""
    return st.session_state.get("global_filters")

"""Global filters (period, branch, micro-region): session state mirrored in the URL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from data_access import cache
from data_access.queries import Slice

ALL = "All 全部"
_MONTH, _BRANCH, _REGION = "global_month", "global_branch", "global_micro_region"


@dataclass(frozen=True)
class GlobalFilters:
    """What the sidebar selected; pages read it through :func:`current`."""

    month: dt.date
    months: tuple[dt.date, ...]
    branch: str | None
    micro_region: str | None

    @property
    def previous_month(self) -> dt.date | None:
        index = self.months.index(self.month)
        return self.months[index - 1] if index > 0 else None

    @property
    def region_slice(self) -> Slice:
        return Slice(branch=self.branch, micro_region=self.micro_region)

    @property
    def scope_label(self) -> str:
        return self.micro_region or self.branch or "Zhuhai city 全市"


def _month_label(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _apply_url(months: list[dt.date], regions: pd.DataFrame) -> list[str]:
    """Seed session state from URL parameters once; return messages for bad ones."""
    problems: list[str] = []
    params = st.query_params
    by_label = {_month_label(m): m for m in months}
    if "month" in params:
        if params["month"] in by_label:
            st.session_state[_MONTH] = by_label[params["month"]]
        else:
            problems.append(f"URL parameter month={params['month']!r} is not a month in the mart "
                            f"({_month_label(months[0])} to {_month_label(months[-1])}); "
                            "showing the latest month.")
    branches = set(regions["branch"])
    if "branch" in params:
        if params["branch"] in branches:
            st.session_state[_BRANCH] = params["branch"]
        else:
            problems.append(f"URL parameter branch={params['branch']!r} is not a branch "
                            f"({', '.join(sorted(branches))}); showing all branches.")
    if "region" in params:
        match = regions[regions["micro_region"] == params["region"]]
        if match.empty:
            problems.append(f"URL parameter region={params['region']!r} is not a micro-region; "
                            "showing the whole branch.")
        else:
            st.session_state[_BRANCH] = match["branch"].iloc[0]
            st.session_state[_REGION] = params["region"]
    return problems


def render_sidebar() -> GlobalFilters | None:
    """Draw the global filters in the sidebar; None when there is no mart yet."""
    if not cache.mart_available():
        return None
    months = cache.available_months()
    regions = cache.region_table()
    if not months:
        return None
    if "global_url_applied" not in st.session_state:
        st.session_state["global_url_applied"] = True
        st.session_state["global_url_problems"] = _apply_url(months, regions)
    for problem in st.session_state.get("global_url_problems", []):
        st.sidebar.warning(problem)
    if st.session_state.get(_MONTH) not in months:
        st.session_state[_MONTH] = months[-1]
    st.sidebar.selectbox("Period 账期", months[::-1], key=_MONTH, format_func=_month_label)
    branches = [ALL, *dict.fromkeys(regions["branch"])]
    if st.session_state.get(_BRANCH) not in branches:
        st.session_state[_BRANCH] = ALL
    branch = st.sidebar.selectbox("Branch 分公司", branches, key=_BRANCH,
                                  format_func=lambda b: _zh(regions, "branch", b))
    inside = regions if branch == ALL else regions[regions["branch"] == branch]
    micro = [ALL, *inside["micro_region"]]
    if st.session_state.get(_REGION) not in micro:
        st.session_state[_REGION] = ALL
    region = st.sidebar.selectbox("Micro-region 微区域", micro, key=_REGION,
                                  format_func=lambda r: _zh(regions, "micro_region", r))
    filters = GlobalFilters(
        month=st.session_state[_MONTH], months=tuple(months),
        branch=None if branch == ALL else branch, micro_region=None if region == ALL else region,
    )
    _write_url(filters)
    return filters


def _zh(regions: pd.DataFrame, column: str, value: str) -> str:
    if value == ALL:
        return value
    match = regions.loc[regions[column] == value, f"{column}_zh"]
    return f"{value} {match.iloc[0]}" if not match.empty else value


def _write_url(filters: GlobalFilters) -> None:
    wanted = {"month": _month_label(filters.month), "branch": filters.branch,
              "region": filters.micro_region}
    for key, value in wanted.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def current() -> GlobalFilters | None:
    """The filters app.py drew for this run (None without a mart)."""
    return st.session_state.get("global_filters")

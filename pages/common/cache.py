"""Streamlit-cached access to the mart and the workflow store (the caches live with the pages).

The engine is cached per URL and mart file version, so a rebuilt mart swapped in by the
generator or the loader is picked up on the next rerun; frames are cached with a TTL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import streamlit as st

from analytics.kpis.drill import kpi_expected

from data_access import db
from data_access.db import Engine
from data_access.store.demo import demo_enabled, seed_demo
from data_access.store.diagnosis import seed_starter_templates
from data_access.store.workflow import create_workflow_engine
from data_access.mart import queries
from data_access.store import dispatch as _dispatch
from data_access.store import scope
from data_access.mart import calendar as _calendar
from data_access.mart import campaigns as _campaigns
from jobs import assurance as _assurance
from jobs import campaigns as campaign_jobs
from data_access.mart import channels as _channels
from data_access.mart import comms as _comms_mart
from data_access.mart import competitors as _competitors
from data_access.mart import value as _value
from data_access.mart import network as _network
from data_access.mart import product as _product
from data_access.mart import groups as _groups
from jobs import groups as _group_jobs
from data_access.store.auth import Principal
from data_access.store.principal import ROLES, SYSTEM_ACTOR
from data_access.store import precomputed as _precomputed
from jobs import precompute as _precompute

R = TypeVar("R")
TTL_SECONDS = 600


def _dispose(engine: Engine) -> None:
    engine.dispose()


# One engine at a time: when a new mart file is swapped in, the old engine is released and
# its pooled connections closed, so DuckDB's in-process instance cache cannot hand the old
# file's database to the new engine.
@st.cache_resource(max_entries=1, show_spinner=False, on_release=_dispose)
def _engine(url: str, version: float) -> Engine:
    return db.create_mart_engine(url, read_only=True, memory_limit=db.APP_MEMORY_LIMIT)


@st.cache_resource(max_entries=2, show_spinner=False, on_release=_dispose)
def _workflow(url: str) -> Engine:
    engine = create_workflow_engine(url)
    seed_starter_templates(engine)
    if demo_enabled(engine):
        seed_demo(engine)
    return engine


def workflow_engine() -> Engine:
    """The workflow store (templates, runs, alerts); reads from it are never cached."""
    return _workflow(db.workflow_url())


def mart_key() -> tuple[str, float]:
    """The current mart's URL and file version (the cache key of everything read from it)."""
    url = db.mart_url()
    return url, db.mart_version(url)


def viewer() -> Principal | None:
    """Who is acting: as declared to ``data_access.store.scope``, else the session's signed-in
    person (a page may run without app.py, which declares it)."""
    who = scope.acting()
    if who is None:
        who = st.session_state.get("principal")
        scope.act_as(who)
    return who


def view_key() -> tuple[object, ...]:
    """The mart version and the acting person: the key of anything a page caches itself
    (run the cached body inside ``scope.acting_as(view_key()[-1])``)."""
    return (*mart_key(), viewer())


def mart_engine() -> Engine:
    """The read-only engine on the current mart."""
    return _engine(*mart_key())


def mart_available() -> bool:
    """False when the embedded mart file has not been built yet."""
    url = db.mart_url()
    path = db.duckdb_path(url)
    return path is None or path.exists()


def rebuildable() -> bool:
    """True when the mart is the embedded demo file (absent, or built by the generator).

    A loaded extract or a server mart is never overwritten from the app.
    """
    url = db.mart_url()
    path = db.duckdb_path(url)
    if path is None:
        return False
    return not path.exists() or mart_info().get("source") == "generator"


def shared_viewer(who: Principal | None) -> Principal | None:
    """What a mart read depends on about ``who``: their role (permissions and masking) and
    their scope, not who they are. Two people of one role and scope share cached rows; a
    regional manager's rows are never served to another scope or role.

    >>> from data_access.store.auth import Principal
    >>> a = Principal("ann", "Ann", "regional_manager", "branch", "Gongbei", 3)
    >>> b = Principal("bob", "Bob", "regional_manager", "branch", "Gongbei", 1)
    >>> shared_viewer(a) == shared_viewer(b), shared_viewer(a).display_name
    (True, 'Regional manager of Gongbei')
    """
    if who is None or who.username == SYSTEM_ACTOR:
        return who
    where = f" of {who.scope_value}" if who.scope_level else ""
    return Principal(f"{who.role}@{who.scope_level or 'city'}:{who.scope_value or ''}",
                     f"{ROLES[who.role]}{where}", who.role, who.scope_level, who.scope_value)


def _cached(func: Callable[..., R]) -> Callable[..., R]:
    """Wrap ``func(engine, *args)`` as a cached ``f(*args)`` keyed by the mart version.

    The reader's role and scope are part of the key too (:func:`shared_viewer`): people of
    one role and scope share an entry; a regional manager's cached rows are never served to
    anyone else, nor an administrator's to them.
    """

    def run(url: str, version: float, viewer: Principal | None, *args: object,
            **kwargs: object) -> R:
        # The viewer is part of the key, and it is declared again here: Streamlit may compute
        # a cached value outside the script's context, where the acting person is unknown.
        with scope.acting_as(viewer):
            return func(_engine(url, version), *args, **kwargs)

    # Streamlit keys a cache by the function's qualified name and source: make it unique.
    run.__qualname__ = run.__name__ = f"cached_{func.__name__}"
    cached = st.cache_data(ttl=TTL_SECONDS, max_entries=256, show_spinner=False)(run)

    def call(*args: object, **kwargs: object) -> R:
        return cached(*mart_key(), shared_viewer(viewer()), *args, **kwargs)

    call.__doc__ = func.__doc__
    call.__name__ = func.__name__
    return call


available_months = _cached(queries.available_months)
region_table = _cached(queries.load_region_table)
plan_names = _cached(queries.load_plan_names)
mart_info = _cached(queries.load_mart_info)
#: Names and parents of alert units (for incidents); pass a frozenset of (level, key).
unit_hierarchy = _cached(_dispatch.unit_hierarchy)
planted_truths = _cached(queries.load_planted_truths)
table_counts = _cached(queries.load_table_counts)
monthly_totals = _cached(queries.load_monthly_totals)


def _expected_kpis(engine: Engine, slice_: queries.Slice, month: pd.Timestamp) -> dict[str, float]:
    """Every KPI's expected value for ``month`` in ``slice_`` (``kpi_expected``: ten
    forecasts, ~0.1 s, a third of the sandbox's run when everything else is cached)."""
    return kpi_expected(queries.load_monthly_totals(engine, slice_).loc[:month], month)


expected_kpis = _cached(_expected_kpis)
breakdown = _cached(queries.load_breakdown)
drill_members = _cached(queries.load_drill_members)
market_breakdown = _cached(queries.load_market_breakdown)
cube_leaves = _cached(queries.load_cube_leaves)
subscriber_rows = _cached(queries.load_subscriber_rows)
subscriber_ledger = _cached(queries.load_subscriber_ledger)

# Competitor monitor (issue 8)
competitor_months = _cached(_competitors.load_competitor_months)
competitor_events = _cached(_competitors.load_competitor_events)

# Value-based operations and the campaign calendar (issue 7)
value_window = _cached(_value.load_value_window)
customer_bands = _cached(_value.load_customer_bands)
unit_values = _cached(_value.load_unit_values)
value_customers = _cached(_value.load_value_customers)
high_end_summary = _cached(_value.load_high_end_summary)
mart_campaigns = _cached(_calendar.load_mart_campaigns)

# Campaign effect (issue 7)
campaign_list = _cached(_campaigns.load_campaign_list)
campaign_summary = _cached(campaign_jobs.summarize_campaign)  # the panel is never cached
campaign_window = _cached(_campaigns.load_campaign_window)
campaign_spend = _cached(_campaigns.load_campaign_spend)
campaign_participants = _cached(_campaigns.load_participants)

# Channel management (issue 8)
channel_window = _cached(_channels.window_months)
channel_metrics = _cached(_channels.load_channel_metrics)
channel_stock = _cached(_channels.load_stock_summary)
low_use_cutoffs = _cached(_channels.load_low_use_cutoffs)
channel_history = _cached(_channels.load_channel_history)
channel_days = _cached(_channels.load_channel_days)
channel_low_use = _cached(_channels.load_low_use_numbers)

# Communications (issue 8)
past_campaigns = _cached(_comms_mart.load_past_campaigns)
campaign_arpu_change = _cached(_comms_mart.load_campaign_arpu_change)

# Revenue assurance: the checks over the latest months, per mart version and viewer
assurance_checks = _cached(_assurance.run_checks)

# Network beside the market: monthly KPIs and churn per micro-region, one area's days
has_network_data = _cached(_network.has_network_data)
network_months = _cached(_network.load_network_months)
network_days = _cached(_network.load_network_days)
region_months = _cached(_network.load_region_months)

# Product view 产品视图: figures by the plan held, plan changes, the catalogue
has_plan_summary = _cached(_product.has_plan_summary)
has_plan_changes = _cached(_product.has_plan_changes)
plan_catalogue = _cached(_product.load_plan_catalogue)
plan_months = _cached(_product.load_plan_months)
plan_changes = _cached(_product.load_plan_changes)

# Enterprise groups 集团客户管理: portfolio reads and the early warning as of a month
has_group_lines = _cached(_groups.has_group_lines)
account_managers = _cached(_groups.load_account_managers)
group_list = _cached(_groups.load_groups)
group_months = _cached(_groups.load_group_months)
group_lines = _cached(_groups.load_lines)
group_line_months = _cached(_groups.load_line_months)
group_warnings = _cached(_group_jobs.judge_groups)

# Results computed once per mart version (jobs.precompute), read from the workflow store
mart_fingerprint = _cached(queries.load_mart_fingerprint)
_WHAT = {"campaign_effect": "campaign effects", "rival_score": "rival series scores",
         "channel_value": "channel values"}
_WHY = {"stale": "are for another build of the mart", "absent": "are not computed for this mart yet",
        "scope": "are not computed for your area yet"}
#: The table whose rows say whether a kind was computed for a scope unit (None: city-wide).
_SCOPED = {"campaign_effect": _precomputed.pre_campaign_effect, "rival_score": None,
           "channel_value": _precomputed.pre_channel_value}


def stored_run(kind: str) -> tuple[int | None, str]:
    """The run of ``kind`` stored for the current mart and usable in the viewer's scope, and
    ""; or None and the one line a page shows before computing on the click."""
    viewer()
    workflow = workflow_engine()
    stored = _precomputed.stored_run(workflow, kind, mart_fingerprint())
    usable = stored.state == "current" and (
        _SCOPED[kind] is None or _precomputed.scope_computed(workflow, stored.run_id, _SCOPED[kind]))
    if usable:
        return stored.run_id, ""
    why = _WHY["scope" if stored.state == "current" else stored.state]
    return None, (f"Stored {_WHAT[kind]} {why} (`python -m jobs.precompute` stores them); "
                  "computing them now.")


def stored_campaign_effects(run_id: int) -> dict:
    """Each campaign's stored effect in the viewer's scope (None: it has none)."""
    viewer()
    return _precompute.effects_from_rows(
        _precomputed.load_campaign_effects(workflow_engine(), run_id))


def campaign_details(campaign_id: int) -> campaign_jobs.CampaignSummary:
    """What the campaign page shows of one campaign in the viewer's scope: what
    ``jobs.precompute`` stored for this mart, else worked out now (then kept in the cache).

    Raises
    ------
    ConcertoError
        The campaign has no effect (not started, or nobody of it in this person's scope).
    """
    run_id, _ = stored_run("campaign_effect")
    if run_id is not None:
        workflow = workflow_engine()
        summary = _precompute.summary_from_rows(
            campaign_window(int(campaign_id)),
            _precomputed.load_campaign_effects(workflow, run_id, int(campaign_id)),
            _precomputed.load_campaign_breakdowns(workflow, run_id, int(campaign_id)))
        if summary is not None:
            if summary.spend is None:  # stored by an older job: the spend read now
                summary = dataclasses.replace(summary, spend=campaign_spend(summary.window))
            return summary
    return campaign_summary(int(campaign_id))


def campaign_effects(campaign_ids: list[int]) -> tuple[dict, str]:
    """Each campaign's effect in the viewer's scope (None: it has none, or it has not started):
    the ones ``jobs.precompute`` stored for this mart, else each worked out now (then kept in
    the cache); and the line a page shows when they were worked out ("" when stored)."""
    run_id, note = stored_run("campaign_effect")
    if run_id is not None:
        stored = stored_campaign_effects(run_id)
        return {int(c): stored.get(int(c)) for c in campaign_ids}, ""
    effects = {}
    for campaign_id in campaign_ids:
        try:
            effects[int(campaign_id)] = campaign_summary(int(campaign_id)).effect
        except db.ConcertoError:  # not started, or nobody of it in this person's scope
            effects[int(campaign_id)] = None
    return effects, note


def stored_rival_scores(run_id: int, level: str):
    """The stored rival series scores at ``level``, as the viewer may see them."""
    viewer()
    return _precomputed.load_rival_scores(workflow_engine(), run_id, level)


def low_use_lines(run_id: int | None, months: list) -> dict[str, float]:
    """The low-use lines of the new numbers activated in ``months`` (the latest months of
    the mart, as the channel page's window or every month), in the viewer's scope: those
    stored with the channel values' run ``run_id`` (:func:`stored_run`), else worked out now
    (then kept in the cache)."""
    every = available_months()
    months = list(months)
    if run_id is not None and months and months == every[-len(months):]:
        span = _precomputed.EVERY_MONTH if len(months) == len(every) else len(months)
        viewer()
        stored = _precomputed.load_channel_cutoffs(workflow_engine(), run_id, span)
        if stored is not None:
            return stored
    return low_use_cutoffs(months)


def stored_channel_values(run_id: int, span: int):
    """The stored ranked channels and their alerts for a ``span``-month window, viewer's scope."""
    viewer()
    return _precomputed.load_channel_values(workflow_engine(), run_id, span)

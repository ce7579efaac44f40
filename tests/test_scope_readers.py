"""One scope test per mart-reading function of data_access.

Every public function of a data_access module that reads the mart is listed in ``CASES``
with how it is called and checked, then called as the Gongbei manager (micro-region scope)
and the Doumen manager (branch scope):

* ``rows``: every branch, micro-region, region, channel, subscriber and enterprise group in
  the result lies inside the manager's region (and the result names at least one of them);
* ``outsider``: asked for another region's channel or subscriber it returns nothing or is
  refused;
* ``smaller``: an aggregate is strictly smaller than the city's (so it is not the city's);
* ``refused``: the manager may not call it at all (``Forbidden``);
* a string: why the function returns no region's rows (a catalogue, a list of months…).

A new reader fails ``test_every_mart_reader_has_a_case`` until it is given a case.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.assurance import DEFAULT_POLICY
from data_access.mart import assurance
from data_access.mart import actions
from data_access.mart import calendar as campaign_calendar
from data_access.mart import campaigns
from jobs import campaigns as campaign_jobs
from data_access.mart import channels
from data_access.mart import churn
from data_access.mart import comms as comms_mart
from data_access.mart import competitors
from data_access.mart import network
from data_access.mart import product
from data_access.mart import groups
from data_access.mart import customer
from data_access.mart import queries
from data_access.store import churn_scores
from data_access.store import scope
from data_access.mart import series
from data_access.mart import storage
from data_access.mart import value
from data_access.store.auth import SYSTEM, Forbidden, Principal
from data_access.db import create_mart_engine
from data_access.store.workflow import create_workflow_engine

ROOT = Path(__file__).resolve().parent.parent
RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")
RM_DOUMEN = Principal("rm_doumen", "Doumen manager", "regional_manager", "branch", "Doumen")
#: Modules of data_access that only write marts, or describe them, and read no rows back.
_NOT_READERS = {"schema", "build", "bulk", "summaries", "generate", "load", "validation",
                "group_lines", "dictionary", "load_guards", "versions"}
#: Cases are named ``module.function``; modules whose file name is shared or was renamed go
#: by these names.
_CASE_NAME = {"mart/comms.py": "comms_mart", "mart/calendar.py": "campaign_calendar",
              "store/churn.py": "churn_store"}


@dataclasses.dataclass
class Ctx:
    mart: sa.Engine
    months: list[dt.date]
    campaign_id: int
    window: Any
    value_window: tuple[dt.date, dt.date]
    outside_channel: dict[str, int]  # manager username → a channel outside their region
    outside_subscriber: dict[str, int]
    campaign_ids: list[int]
    segments: str
    channel_types: str
    who: Principal | None = None

    def outsider(self, kind: str) -> int:
        return (self.outside_channel if kind == "channel" else
                self.outside_subscriber)[self.who.username]


def _rename(frame: pd.DataFrame, **names: str) -> pd.DataFrame:
    return frame.rename(columns=names)


Call = Callable[[Ctx], Any]
#: name → (kind, call) or a reason string.
CASES: dict[str, tuple[str, Call] | str] = {
    # queries
    "queries.available_months": "no rows: the list of months",
    "queries.load_region_table": ("rows", lambda c: queries.load_region_table(c.mart)),
    "queries.load_plan_names": "no rows: the plan catalogue",
    "queries.load_mart_info": "no rows: build metadata",
    "queries.load_table_counts": ("refused", lambda c: queries.load_table_counts(c.mart)),
    "queries.load_planted_truths": ("refused", lambda c: queries.load_planted_truths(c.mart)),
    "storage.load_table_sizes": ("refused", lambda c: storage.load_table_sizes(c.mart)),
    "queries.load_monthly_totals": ("smaller", lambda c: queries.load_monthly_totals(
        c.mart)["revenue"].sum()),
    "queries.load_market_breakdown": ("rows", lambda c: queries.load_market_breakdown(
        c.mart, "micro_region", c.months[-2:])),
    "queries.load_drill_members": ("rows", lambda c: pd.concat([queries.load_drill_members(
        c.mart, level, c.months[-2:], c.months) for level in ("branch", "micro_region",
                                                              "channel", "group")],
        ignore_index=True)),
    "queries.load_mart_fingerprint": "no rows: the mart's identity (its build id)",
    "members.read_member_months": "reads the slice queries.load_drill_members scoped and "
                                  "hands it (that reader's case)",
    "queries.load_breakdown": ("rows", lambda c: pd.concat([queries.load_breakdown(
        c.mart, level, c.months[-2:]) for level in ("branch", "micro_region", "channel",
                                                     "group")], ignore_index=True)),
    "queries.load_cube_leaves": ("rows", lambda c: queries.load_cube_leaves(c.mart,
                                                                           c.months[-2:])),
    "queries.load_subscriber_rows": ("rows", lambda c: queries.load_subscriber_rows(
        c.mart, c.months[-1], c.months[-2], limit=3000)),
    "queries.load_subscriber_ledger": ("outsider", lambda c: queries.load_subscriber_ledger(
        c.mart, c.outsider("subscriber"))),
    # series
    "series.load_series_panel": ("rows", lambda c: pd.concat(
        [_rename(series.load_series_panel(c.mart, name),
                 unit="channel_id" if name.startswith("channel") else "region_id")
         for name in series.SERIES], ignore_index=True)),
    # actions (效果跟踪)
    "actions.load_effect_units": ("rows", lambda c: actions.load_effect_units(c.mart)),
    "actions.load_effect_panel": ("rows", lambda c: pd.concat(
        [actions.load_effect_panel(c.mart, level, "revenue", c.months[-3], c.months[-1])
         for level in actions.LEVELS], ignore_index=True)),
    # churn
    "churn.load_churn_snapshot": ("rows", lambda c: churn.load_churn_snapshot(c.mart,
                                                                              c.months[-1])),
    "churn.load_benefits": ("rows", lambda c: churn.load_benefits(c.mart, c.months[-1])),
    "churn.load_rival_events": ("rows", lambda c: churn.load_rival_events(c.mart, c.months[-1],
                                                                          months=14)),
    "churn.load_rival_figures": ("rows", lambda c: churn.load_rival_figures(c.mart,
                                                                            c.months[-1])),
    "churn.load_group_sizes": ("rows", lambda c: churn.load_group_sizes(c.mart, c.months[-1])),
    "churn.load_churn_labels": ("rows", lambda c: churn.load_churn_labels(c.mart, c.months[-4],
                                                                          3)),
    "churn.load_true_churn_prob": ("refused", lambda c: churn.load_true_churn_prob(
        c.mart, c.months[-4])),
    "churn.load_groups": ("rows", lambda c: churn.load_groups(c.mart)),
    "churn.load_numbers": ("outsider", lambda c: churn.load_numbers(
        c.mart, [c.outsider("subscriber")])),
    # channels
    "channels.window_months": "no rows: the list of months",
    "channels.load_channel_metrics": ("rows", lambda c: channels.load_channel_metrics(
        c.mart, channels.window_months(c.mart))),
    "channels.load_stock_summary": ("rows", lambda c: channels.load_stock_summary(c.mart)),
    "channels.load_channel_history": ("outsider", lambda c: channels.load_channel_history(
        c.mart, c.outsider("channel"))),
    "channels.load_channel_days": ("outsider", lambda c: channels.load_channel_days(
        c.mart, c.outsider("channel"))),
    "channels.load_low_use_numbers": ("outsider", lambda c: channels.load_low_use_numbers(
        c.mart, c.outsider("channel"), channels.window_months(c.mart))),
    # campaigns
    "campaigns.load_campaign_list": ("smaller", lambda c: campaigns.load_campaign_list(
        c.mart)["participants"].sum()),
    "campaigns.load_campaign_window": "no rows: one campaign's dates and budget",
    "campaigns.load_campaign_panel": ("rows", lambda c: campaigns.load_campaign_panel(
        c.mart, c.window)),
    "campaigns.load_matching_pool": ("rows", lambda c: campaigns.load_matching_pool(
        c.mart, c.window, 2000)),
    "campaigns.load_campaign_spend": ("smaller", lambda c: campaigns.load_campaign_spend(
        c.mart, c.window)["spend"].sum()),
    "campaigns.load_participants": ("rows", lambda c: campaigns.load_participants(
        c.mart, c.campaign_id)),
    # the campaign-effect job reads through the readers above; checked as a whole too
    "jobs.campaigns.evaluate_campaign": ("smaller", lambda c: campaign_jobs.evaluate_campaign(
        c.mart, c.campaign_id).panel["subscriber_id"].nunique()),
    "jobs.campaigns.summarize_campaign": ("smaller", lambda c: campaign_jobs.summarize_campaign(
        c.mart, c.campaign_id).participants["branch"]["subscribers"].sum()),
    "campaign_calendar.load_mart_campaigns": "no rows: the campaign catalogue",
    "campaign_calendar.count_duplicates": ("smaller", lambda c: sum(
        campaign_calendar.count_duplicates(c.mart, {
            "start": c.months[-1], "segments": c.segments, "channel_types": c.channel_types,
            "micro_regions": ""}, c.campaign_ids).values())),
    # communications, competitors, value
    "comms_mart.load_past_campaigns": "no rows: the campaign catalogue",
    "comms_mart.load_campaign_arpu_change": ("smaller", lambda c: comms_mart
                                             .load_campaign_arpu_change(c.mart)[
                                                 "participants"].sum()),
    "competitors.load_competitor_months": ("rows", lambda c: _rename(
        competitors.load_competitor_months(c.mart, "micro_region"), unit="micro_region")),
    "competitors.load_competitor_events": ("rows", lambda c: competitors.load_competitor_events(
        c.mart)),
    "value.load_value_window": "no rows: the months of the window",
    "value.load_customer_bands": ("smaller", lambda c: value.load_customer_bands(
        c.mart, c.value_window)["units"].sum()),
    "value.load_unit_values": ("rows", lambda c: value.load_unit_values(
        c.mart, c.value_window, "micro_region")),
    "value.load_value_customers": ("rows", lambda c: pd.concat([value.load_value_customers(
        c.mart, c.value_window, kind) for kind in value.CUSTOMER_LISTS], ignore_index=True)),
    "value.load_high_end_summary": ("smaller", lambda c: value.load_high_end_summary(
        c.mart, c.value_window)["high_end"]),
    # dispatch places units for routing: no rows, and only the dispatcher calls it
    "dispatch.locate_unit": "no rows: one unit's branch and micro-region, for routing",
    "dispatch.place_units": "no rows: units' branch and micro-region, for routing",
    "dispatch.unit_hierarchy": "no rows: units' names and what they lie in, for incidents",
    # scoped like every channel read, but three usage figures, not a region's rows
    "channels.load_low_use_cutoffs": "no rows: three usage lines from the new numbers in scope",
    "dispatch.seed_dispatch_rules": "the workflow store's rules, not the mart",
    # network beside the market
    "network.has_network_data": "no rows: whether the mart holds network KPIs",
    "network.load_network_months": ("rows", lambda c: _rename(network.load_network_months(
        c.mart), region="micro_region")),
    # Jida lies outside both managers' regions (Gongbei; Doumen branch)
    "network.load_network_days": ("outsider", lambda c: network.load_network_days(
        c.mart, "Jida", c.months[0])),
    "network.load_region_months": ("rows", lambda c: _rename(network.load_region_months(
        c.mart), region="micro_region")),
    # the product view: figures by plan held and plan changes, summed over the scope
    "product.has_plan_summary": "no rows: whether the mart has the plan summary",
    "product.has_plan_changes": "no rows: whether the mart holds any plan change",
    "product.load_plan_catalogue": "no rows: the plan catalogue",
    "product.load_plan_months": ("smaller", lambda c: product.load_plan_months(
        c.mart, queries.Slice(), None, c.months[0], c.months[-1])["active_subs"].sum()),
    "product.load_plan_changes": ("smaller", lambda c: product.load_plan_changes(
        c.mart, queries.Slice(), None, c.months[0], c.months[-1])["changes"].sum()),
    # revenue assurance
    "assurance.has_discount_terms": "no rows: whether the mart holds any discount term",
    "assurance.load_unbilled_candidates": ("rows", lambda c: assurance.load_unbilled_candidates(
        c.mart, c.months[-1], months=3, history=6,
        policy=dataclasses.replace(DEFAULT_POLICY, underbilled_share=0.99))),
    "assurance.load_typical_usage": "no rows: median use per plan and month, of the lines in scope",
    "assurance.load_zero_revenue": ("rows", lambda c: assurance.load_zero_revenue(
        c.mart, c.months[-1], months=6)),
    "assurance.load_plan_revenue": "no rows: a median bill per plan and month, of the lines in scope",
    "assurance.load_discount_candidates": ("rows", lambda c: assurance.load_discount_candidates(
        c.mart, c.months[-1], months=6, policy=DEFAULT_POLICY)),
    "assurance.load_billed_revenue": ("smaller", lambda c: assurance.load_billed_revenue(
        c.mart, c.months[-1], months=3)),
    "assurance.load_line_places": ("outsider", lambda c: assurance.load_line_places(
        c.mart, [c.outsider("subscriber")])),
    # enterprise groups: the groups, their members by month, their lines and line months
    "groups.has_group_lines": "no rows: whether the mart holds any group line",
    "groups.load_account_managers": "no rows: the names of the managers of the groups in scope",
    "groups.load_groups": ("rows", lambda c: groups.load_groups(c.mart)),
    "groups.load_group_months": ("rows", lambda c: groups.load_group_months(c.mart)),
    "groups.load_lines": ("rows", lambda c: groups.load_lines(c.mart)),
    "groups.load_line_months": ("rows", lambda c: groups.load_line_months(c.mart)),
    # the customer view: one subscriber's reads, and the search box
    "customer.load_profile": ("outsider", lambda c: customer.load_profile(
        c.mart, c.outsider("subscriber"))),
    "customer.load_ledger": ("outsider", lambda c: customer.load_ledger(
        c.mart, c.outsider("subscriber"))),
    "customer.load_campaigns": ("outsider", lambda c: customer.load_campaigns(
        c.mart, c.outsider("subscriber"))),
    "customer.search_subscribers": ("outsider", lambda c: customer.search_subscribers(
        c.mart, str(c.outsider("subscriber")))),
}
#: Columns that are attributes of a row rather than where it belongs: a subscriber homed in
#: the region may have activated at a channel, or belong to a group, elsewhere; a breakdown
#: of the region's subscribers by channel or group lists those channels and groups.
ROW_KEYS = {
    "queries.load_breakdown": ("branch", "micro_region"),
    "queries.load_drill_members": ("branch", "micro_region"),
    "value.load_value_customers": ("subscriber_id", "branch", "micro_region"),
}


def _mart_readers() -> set[str]:
    """Public functions of data_access modules that select from the mart: they take an
    engine named engine or mart first (the workflow store's readers take ``workflow`` or
    read store tables only)."""
    found = set()
    paths = [*(ROOT / "data_access" / "mart").rglob("*.py"),
             *(ROOT / "data_access" / "store").rglob("*.py")]  # the generator writes only
    for path in sorted(paths):
        source = path.read_text(encoding="utf-8")
        stem = _CASE_NAME.get(path.relative_to(ROOT / "data_access").as_posix(), path.stem)
        if stem in _NOT_READERS:
            continue
        if "import schema" not in source and "schema as s" not in source:
            continue
        for node in ast.parse(source).body:
            if (isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
                    and node.args.args and node.args.args[0].arg in ("engine", "mart")):
                body = ast.get_source_segment(source, node) or ""
                if "s." in body or "schema." in body or "queries." in body \
                        or any(f"{r.split('.')[1]}(" in body for r in CASES):
                    found.add(f"{stem}.{node.name}")
    return found


def test_every_mart_reader_has_a_case():
    readers = _mart_readers()
    assert readers - set(CASES) == set(), "give each new mart reader a scope case"
    jobs = {name for name in CASES if name.startswith("jobs.")}
    assert set(CASES) - readers - jobs == set(), "a case for a function that is gone"


@pytest.fixture(scope="module")
def ctx(duck_mart: str) -> Ctx:
    mart = create_mart_engine(duck_mart, read_only=True)
    with scope.acting_as(SYSTEM):
        months = queries.available_months(mart)
        listed = campaigns.load_campaign_list(mart)
        campaign_id = int(listed.sort_values("participants").iloc[-1]["campaign_id"])
        window = campaigns.load_campaign_window(mart, campaign_id)
        value_window = value.load_value_window(mart)
    with mart.connect() as conn:
        def first(sql: str) -> int:
            return int(conn.execute(sa.text(sql)).scalar_one())

        base = ("select {id} from {table} t join dim_region r on t.region_id = r.region_id "
                "where {where} order by 1 limit 1")
        outside_channel = {
            "rm_gongbei": first(base.format(id="channel_id", table="dim_channel",
                                            where="r.micro_region <> 'Gongbei'")),
            "rm_doumen": first(base.format(id="channel_id", table="dim_channel",
                                           where="r.branch <> 'Doumen'"))}
        outside_subscriber = {
            "rm_gongbei": first(base.format(id="subscriber_id", table="dim_subscriber",
                                            where="r.micro_region <> 'Gongbei'")),
            "rm_doumen": first(base.format(id="subscriber_id", table="dim_subscriber",
                                           where="r.branch <> 'Doumen'"))}
        segments = ",".join(conn.execute(sa.text(
            "select distinct segment from dim_subscriber")).scalars())
        channel_types = ",".join(conn.execute(sa.text(
            "select distinct channel_type from dim_channel")).scalars())
    yield Ctx(mart, months, campaign_id, window, value_window, outside_channel,
              outside_subscriber, [int(i) for i in listed["campaign_id"]], segments,
              channel_types)
    mart.dispose()


@pytest.fixture(scope="module")
def allowed(ctx: Ctx) -> dict[str, dict[str, set]]:
    """For each manager: the branches, micro-regions, regions, channels, subscribers and
    groups inside their region."""
    with ctx.mart.connect() as conn:
        regions = pd.DataFrame(conn.execute(sa.text(
            "select region_id, branch, micro_region from dim_region")).all(),
            columns=["region_id", "branch", "micro_region"])
        owned = {table: pd.DataFrame(conn.execute(sa.text(
            f"select {key}, region_id from {table}")).all(), columns=[key, "region_id"])
            for table, key in (("dim_channel", "channel_id"), ("dim_subscriber", "subscriber_id"),
                               ("dim_group", "group_id"))}
    out = {}
    for who in (RM_GONGBEI, RM_DOUMEN):
        mine = regions[regions[who.scope_level] == who.scope_value]
        ids = set(mine["region_id"])
        out[who.username] = {
            "region_id": ids, "branch": set(mine["branch"]),
            "micro_region": set(mine["micro_region"]),
            "channel_id": set(owned["dim_channel"].query("region_id in @ids")["channel_id"]),
            "subscriber_id": set(owned["dim_subscriber"].query(
                "region_id in @ids")["subscriber_id"]),
            "group_id": set(owned["dim_group"].query("region_id in @ids")["group_id"]),
        }
    return out


def _checked(kind_and_call: tuple[str, Call] | str) -> bool:
    return not isinstance(kind_and_call, str)


@pytest.mark.parametrize("who", [RM_GONGBEI, RM_DOUMEN], ids=lambda w: w.username)
@pytest.mark.parametrize("name", [n for n, c in CASES.items() if _checked(c)])
def test_a_regional_manager_gets_no_other_regions_rows(name, who, ctx, allowed):
    kind, call = CASES[name]
    ctx.who = who
    if kind == "refused":
        with scope.acting_as(who), pytest.raises(Forbidden):
            call(ctx)
        return
    if kind == "outsider":
        with scope.acting_as(who):
            try:
                result = call(ctx)
            except Forbidden:
                return
        assert len(result) == 0, f"{name} gave {who.username} another region's rows"
        return
    if kind == "smaller":
        with scope.acting_as(SYSTEM):
            city = call(ctx)
        with scope.acting_as(who):
            mine = call(ctx)
        assert city > 0 and mine < city, f"{name}: {mine} for {who.username}, city {city}"
        return
    with scope.acting_as(who):
        frame = call(ctx)
    keys = [k for k in ROW_KEYS.get(name, allowed[who.username]) if k in frame.columns]
    if "subscriber_id" in keys:  # a subscriber's row: where the subscriber lives
        keys = [k for k in keys if k not in ("channel_id", "group_id")]
    assert keys, f"{name} names no branch, region, channel, subscriber or group to check"
    for key in keys:
        values = set(frame[key].dropna())  # NULL: city-wide rows (rival events)
        if key in ("region_id", "channel_id", "subscriber_id", "group_id"):
            values = {int(v) for v in values}
        outside = values - allowed[who.username][key]
        assert not outside, f"{name} gave {who.username} rows of {key} {sorted(outside)[:5]}"
    with scope.acting_as(SYSTEM):  # the reader does return rows, the city's are wider
        city = call(ctx)
    assert len(city) > len(frame) or city[keys[0]].nunique() > frame[keys[0]].nunique(), name


# --- the churn scores table (workflow store): one case per reader of subscriber rows ------
#: name → how the reader is called on a run holding every subscriber of the test mart.
SCORE_CASES: dict[str, Callable[[Any, int, Ctx], pd.DataFrame] | str] = {
    "load_retention": lambda w, run, c: churn_scores.load_retention(w, run, limit=10**6),
    "iter_retention": lambda w, run, c: pd.concat(churn_scores.iter_retention(
        w, run, limit=10**6, chunk_rows=700)),
    "count_retention": lambda w, run, c: pd.DataFrame(
        {"n": [churn_scores.count_retention(w, run)]}),
    "load_risk_summary": lambda w, run, c: churn_scores.load_risk_summary(w, run),
    "load_actions": "no rows: the names of the tactics suggested in scope",
    "load_subscriber_score": lambda w, run, c: pd.DataFrame([
        r for r in [churn_scores.load_subscriber_score(w, run, c.outsider("subscriber"))]
        if r is not None]),
    "load_group_warnings": lambda w, run, c: churn_scores.load_group_warnings(w, run),
    "latest_run": "no rows: which runs exist",
    "list_runs": "no rows: which runs exist",
}


def test_every_churn_scores_reader_has_a_case():
    # save_score_run writes through open_score_run, add_scores and finish_score_run (each
    # checks view_mart_admin, tests/test_permissions.py): a writer, not a reader.
    readers = set()
    for module in sorted((ROOT / "data_access" / "store" / "churn_scores").glob("*.py")):
        source = module.read_text(encoding="utf-8")
        readers |= {node.name for node in ast.parse(source).body
                    if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
                    and node.args.args and node.args.args[0].arg == "workflow"
                    and "write_transaction" not in (ast.get_source_segment(source, node) or "")
                    and "open_score_run(" not in (ast.get_source_segment(source, node) or "")}
    assert readers == set(SCORE_CASES)


@pytest.fixture(scope="module")
def score_run(ctx: Ctx, tmp_path_factory) -> tuple[Any, int]:
    """Every subscriber of the test mart's latest month as one scoring run, and a warning
    for every group."""
    with ctx.mart.connect() as conn:
        subs = pd.DataFrame(conn.execute(sa.text(
            "select s.subscriber_id, r.branch, r.micro_region from dim_subscriber s "
            "join dim_region r on s.region_id = r.region_id order by s.subscriber_id")).all(),
            columns=["subscriber_id", "branch", "micro_region"])
        groups = pd.DataFrame(conn.execute(sa.text(
            "select g.group_id, r.branch, r.micro_region from dim_group g "
            "join dim_region r on g.region_id = r.region_id")).all(),
            columns=["group_id", "branch", "micro_region"])
    n = len(subs)
    subs = subs.assign(rank=range(1, n + 1), churn_prob=0.05, risk_band="average",
                       net_value=100.0, expected_loss=5.0, segment="youth",
                       action=["Data pack [DATA]" if i % 3 else "" for i in range(n)])
    warnings = groups.assign(group_name="g", has_leased_line=True, members=5, at_risk=1,
                             mean_prob=0.1, base_rate=0.05, usage_change=-0.2,
                             spend_change=-0.1, expected_loss=10.0, score=0.5,
                             reason_tags="usage_fading", message="call")
    workflow = create_workflow_engine(f"sqlite:///{tmp_path_factory.mktemp('scope') / 'w.sqlite'}")
    run = churn_scores.save_score_run(workflow, "churn-20261201-000000", "2026-10", subs,
                                      warnings)
    yield workflow, run.run_id
    workflow.dispose()


@pytest.mark.parametrize("who", [RM_GONGBEI, RM_DOUMEN], ids=lambda w: w.username)
@pytest.mark.parametrize("name", [n for n, c in SCORE_CASES.items() if not isinstance(c, str)])
def test_a_regional_manager_reads_no_other_regions_scores(name, who, ctx, allowed, score_run):
    workflow, run_id = score_run
    ctx.who = who
    call = SCORE_CASES[name]
    with scope.acting_as(who):
        mine = call(workflow, run_id, ctx)
    with scope.acting_as(SYSTEM):
        city = call(workflow, run_id, ctx)
    if name == "load_subscriber_score":  # asked by key for a subscriber outside: nothing
        assert len(mine) == 0 and len(city) == 1
        return
    if name == "count_retention":
        assert 0 < mine["n"].iloc[0] < city["n"].iloc[0]
        assert mine["n"].iloc[0] == len(allowed[who.username]["subscriber_id"])
        return
    keys = [k for k in ("subscriber_id", "branch", "micro_region", "group_id")
            if k in mine.columns]
    assert keys and len(mine) > 0, name
    for key in keys:
        values = {int(v) if key.endswith("_id") else v for v in mine[key].dropna()}
        outside = values - allowed[who.username][key]
        assert not outside, f"{name} gave {who.username} rows of {key} {sorted(outside)[:5]}"
    assert len(city) > len(mine), name

"""Precomputed results (issue 16): stored once per mart version, equal to the click's, scoped on
read, all or nothing, and read by the pages."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics import channels as channel_eval
from analytics import competitors as ac
from analytics.campaigns.effect import BREAKDOWNS
from analytics.formatting import MISSING
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import campaigns as mart_campaigns
from data_access.mart import channels as mart_channels
from data_access.mart import competitors as mart_competitors
from data_access.mart import queries
from data_access.mart.queries import load_mart_fingerprint
from data_access.store import auth
from data_access.store import precomputed as store
from data_access.store.principal import SYSTEM
from data_access.store.scope import acting_as
from data_access.store.workflow import create_workflow_engine
from jobs import campaigns as campaign_jobs
from jobs import precompute as job
from pages.common import cache as page_cache

GONGBEI = dataclasses.replace(SYSTEM, username="rm", role="regional_manager",
                              scope_level="micro_region", scope_value="Gongbei")
XIANGZHOU = dataclasses.replace(GONGBEI, scope_level="branch", scope_value="Xiangzhou")
SCOPES = [("city", ""), ("branch", "Xiangzhou"), ("micro_region", "Gongbei")]
SPANS = (3, 6, 12)
quiet = dict(progress=lambda line: None)
USER_SCOPES = job.user_scopes  # the module's fixture replaces it while it lives


def _workflow(path: Path) -> sa.Engine:
    return create_workflow_engine(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def stored(duck_mart: str, tmp_path_factory: pytest.TempPathFactory):
    """The shared test mart precomputed into a fresh store, for the city and two scopes."""
    mp = pytest.MonkeyPatch()
    mp.setattr(job, "user_scopes", lambda workflow: SCOPES)
    mp.setattr(job, "CHANNEL_SPANS", SPANS)
    mart = create_mart_engine(duck_mart, read_only=True)
    workflow = _workflow(tmp_path_factory.mktemp("pre") / "store.sqlite")
    with acting_as(SYSTEM):
        runs = job.precompute(mart, workflow, **quiet)
    yield mart, workflow, runs
    mp.undo()
    workflow.dispose()
    mart.dispose()


def _nan_safe(effect) -> tuple:
    return (effect.participants, effect.months, round(effect.cost, 6), effect.method,
            None if effect.roi is None else round(effect.roi, 9),
            round(effect.incremental_revenue, 6), round(effect.net_effect, 6))


@pytest.mark.parametrize("who", [SYSTEM, XIANGZHOU, GONGBEI], ids=["city", "branch", "micro"])
def test_stored_campaign_effects_equal_the_clicks(stored, who) -> None:
    mart, workflow, runs = stored
    with acting_as(who):
        effects = job.effects_from_rows(store.load_campaign_effects(workflow,
                                                                    runs["campaign_effect"]))
        listing = mart_campaigns.load_campaign_list(mart)
        started = [int(c) for c, s in zip(listing["campaign_id"], listing["status"], strict=True)
                   if s != "planned"]
        assert sorted(effects) == sorted(started) and any(e is not None for e in effects.values())
        for campaign_id in started:
            try:
                clicked = campaign_jobs.evaluate_campaign(mart, campaign_id).effect
            except ConcertoError:
                assert effects[campaign_id] is None
                continue
            assert _nan_safe(effects[campaign_id]) == _nan_safe(clicked)
            pd.testing.assert_frame_equal(effects[campaign_id].table(), clicked.table(),
                                          check_dtype=False, rtol=1e-12)


@pytest.mark.parametrize("who", [SYSTEM, GONGBEI], ids=["city", "micro"])
def test_stored_campaign_breakdowns_equal_the_clicks(stored, who) -> None:
    """The campaign page's summary read back from the store (uplift and participants per
    segment, branch and channel type) equals the one a click works out."""
    mart, workflow, runs = stored
    run_id = runs["campaign_effect"]
    with acting_as(who):
        effects = store.load_campaign_effects(workflow, run_id)
        shown = 0
        for campaign_id in sorted(set(effects["campaign_id"])):
            window = mart_campaigns.load_campaign_window(mart, int(campaign_id))
            rows = store.load_campaign_breakdowns(workflow, run_id, int(campaign_id))
            mine = store.load_campaign_effects(workflow, run_id, int(campaign_id))
            pd.testing.assert_frame_equal(  # one campaign's rows, as the page reads them
                mine, effects[effects["campaign_id"] == campaign_id].reset_index(drop=True))
            try:
                clicked = campaign_jobs.summarize_campaign(mart, int(campaign_id))
            except ConcertoError as exc:
                with pytest.raises(ConcertoError, match=re.escape(str(exc)[:60])):
                    job.summary_from_rows(window, mine, rows)
                continue
            back = job.summary_from_rows(window, mine, rows)
            assert back is not None and back.window == clicked.window
            assert _nan_safe(back.effect) == _nan_safe(clicked.effect)
            for part in ("uplift", "participants"):
                mine_, theirs = getattr(back, part), getattr(clicked, part)
                assert set(mine_) == set(theirs) == set(BREAKDOWNS)
                for column in BREAKDOWNS:
                    pd.testing.assert_frame_equal(mine_[column], theirs[column],
                                                  check_dtype=False, rtol=1e-12)
            assert len(back.spend) and back.spend["spend"].gt(0).any()  # the budget burn's input
            pd.testing.assert_frame_equal(back.spend, clicked.spend, check_dtype=False,
                                          rtol=1e-12)
            shown += sum(len(t) for t in back.uplift.values())
        assert shown > 0  # some campaign has an uplift split to compare
    # an older store (effects without breakdowns) is not read as "too few to split"
    with acting_as(SYSTEM):
        started = effects[effects["error"] == ""]
        first = started[started["campaign_id"] == started["campaign_id"].iloc[0]]
        assert job.summary_from_rows(window, first, rows.iloc[:0]) is None
        # nor is a store whose breakdowns hold no spend read as "nothing spent"
        older = job.summary_from_rows(window, mine, rows[rows["part"] != job.SPEND])
        assert older is not None and older.spend is None


@pytest.mark.parametrize("who", [SYSTEM, XIANGZHOU, GONGBEI], ids=["city", "branch", "micro"])
@pytest.mark.parametrize("span", SPANS)
def test_stored_channel_values_equal_the_clicks(stored, who, span) -> None:
    mart, workflow, runs = stored
    with acting_as(who):
        ranked, alerts = store.load_channel_values(workflow, runs["channel_value"], span)
        metrics = mart_channels.load_channel_metrics(mart, mart_channels.window_months(mart, span))
        clicked, by_kind = channel_eval.judge_channels(metrics,
                                                       mart_channels.load_stock_summary(mart))
    every = pd.concat(by_kind.values(), ignore_index=True)
    assert len(ranked) == len(metrics) > 0
    columns = [c for c in store.CHANNEL_COLUMNS if c != "opened_on"]
    pd.testing.assert_frame_equal(ranked[columns], clicked[columns], check_dtype=False)
    assert (pd.to_datetime(ranked["opened_on"]) == pd.to_datetime(clicked["opened_on"])).all()
    pd.testing.assert_frame_equal(alerts, every[list(store.ALERT_COLUMNS)], check_dtype=False)


@pytest.mark.parametrize("who", [SYSTEM, XIANGZHOU, GONGBEI], ids=["city", "branch", "micro"])
def test_stored_low_use_lines_equal_the_clicks(stored, who) -> None:
    """Each window's low-use lines and those of every month of the mart, per scope unit, as
    the channel page would work them out."""
    mart, workflow, runs = stored
    with acting_as(who):
        every = queries.available_months(mart)
        expected = {store.EVERY_MONTH: mart_channels.load_low_use_cutoffs(mart, every)}
        for span in SPANS:
            expected[span] = mart_channels.load_low_use_cutoffs(
                mart, mart_channels.window_months(mart, span))
        got = {span: store.load_channel_cutoffs(workflow, runs["channel_value"], span)
               for span in expected}
        assert store.load_channel_cutoffs(workflow, runs["channel_value"], 13) is None
    assert {s: pytest.approx(lines) for s, lines in expected.items()} == got
    assert got[store.EVERY_MONTH] != got[SPANS[0]]  # a window's lines are its own


def _rivals_clicked(mart: sa.Engine, level: str) -> pd.DataFrame:
    return ac.flag_series(mart_competitors.load_competitor_months(mart, level))


@pytest.mark.parametrize("who", [SYSTEM, XIANGZHOU, GONGBEI], ids=["city", "branch", "micro"])
def test_stored_rival_scores_equal_the_clicks_on_both_variants(variant_mart: str, tmp_path,
                                                               who) -> None:
    mart = create_mart_engine(variant_mart, read_only=True)
    workflow = _workflow(tmp_path / "store.sqlite")
    runs = job.precompute(mart, workflow, kinds=["rival_score"], **quiet)
    for level in mart_competitors.UNIT_LEVELS:
        with acting_as(who):
            read = store.load_rival_scores(workflow, runs["rival_score"], level)
            clicked = _rivals_clicked(mart, level)
        assert len(read) == len(clicked) > 0, level
        pd.testing.assert_frame_equal(read, clicked, check_dtype=False, obj=level)
        assert ac.unusual_points(read, recent=3).equals(ac.unusual_points(clicked, recent=3))
    mart.dispose()


def test_a_regional_manager_reads_their_own_areas_rows_only(stored) -> None:
    mart, workflow, runs = stored
    with acting_as(GONGBEI):
        mine = store.load_channel_values(workflow, runs["channel_value"], 6)[0]
        effects = job.effects_from_rows(store.load_campaign_effects(workflow,
                                                                    runs["campaign_effect"]))
        rivals = store.load_rival_scores(workflow, runs["rival_score"], "micro_region")
    with acting_as(SYSTEM):
        city = job.effects_from_rows(store.load_campaign_effects(workflow,
                                                                 runs["campaign_effect"]))
    assert set(mine["micro_region"]) == {"Gongbei"}
    assert set(rivals["unit"]) == {"Gongbei"}
    assert any(e is not None and city[c] is not None and e.participants < city[c].participants
               for c, e in effects.items())
    # a scope nobody held when the job ran is not stored: the page computes instead
    with acting_as(dataclasses.replace(GONGBEI, scope_value="Doumen", scope_level="branch")):
        assert not store.scope_computed(workflow, runs["channel_value"], store.pre_channel_value)
        assert store.load_campaign_effects(workflow, runs["campaign_effect"]).empty


def test_user_scopes_are_the_city_and_every_active_users_scope(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    workflow = _workflow(tmp_path / "store.sqlite")
    auth.create_user(workflow, "rm_g", "Test-password-1", "regional_manager",
                     display_name="G", scope_level="micro_region", scope_value="Gongbei", actor="tests")
    auth.create_user(workflow, "rm_j", "Test-password-1", "regional_manager",
                     display_name="J", scope_level="branch", scope_value="Jinwan", actor="tests")
    auth.set_active(workflow, "rm_j", False, actor="tests")
    assert USER_SCOPES(workflow) == [("city", ""), ("micro_region", "Gongbei")]


def test_a_rebuilt_mart_is_not_served_the_old_results(stored, duck_mart_b: str,
                                                      tmp_path) -> None:
    from data_access.synth.generate import generate_mart

    mart, workflow, runs = stored
    other = create_mart_engine(duck_mart_b, read_only=True)
    assert load_mart_fingerprint(other) != load_mart_fingerprint(mart)
    for kind in store.KINDS:
        assert store.stored_run(workflow, kind, load_mart_fingerprint(mart)).state == "current"
        assert store.stored_run(workflow, kind, load_mart_fingerprint(other)).state == "stale"
    other.dispose()
    # the same file rebuilt, even from the same seed, is another mart
    url = f"duckdb:///{tmp_path / 'small.duckdb'}"
    prints = []
    for seed in (3, 3, 4):
        generate_mart(url, subscribers=500, months=13, seed=seed)
        engine = create_mart_engine(url, read_only=True)
        prints.append(load_mart_fingerprint(engine))
        engine.dispose()
    assert len(set(prints)) == 3


def test_a_mart_without_a_build_id_is_known_by_its_meta_and_counts(duck_mart, duck_mart_b,
                                                                   monkeypatch) -> None:
    from data_access.mart import queries

    real = queries.load_mart_info
    monkeypatch.setattr(queries, "load_mart_info", lambda engine: {
        k: v for k, v in real(engine).items() if k != "build_id"})
    prints = set()
    for url in (duck_mart, duck_mart_b):
        engine = create_mart_engine(url, read_only=True)
        prints.add(load_mart_fingerprint(engine))
        assert load_mart_fingerprint(engine).startswith("hash:")
        engine.dispose()
    assert len(prints) == 2


def _counts(workflow: sa.Engine) -> dict[str, int]:
    with workflow.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (store.precompute_run, store.pre_campaign_effect,
                          store.pre_rival_score, store.pre_channel_value,
                          store.pre_channel_alert, store.pre_channel_cutoff)}


def test_a_failure_half_way_writes_nothing(duck_mart: str, tmp_path, monkeypatch) -> None:
    mart = create_mart_engine(duck_mart, read_only=True)
    workflow = _workflow(tmp_path / "store.sqlite")
    monkeypatch.setattr(job, "user_scopes", lambda workflow: SCOPES[:1])
    monkeypatch.setattr(job, "CHANNEL_SPANS", (6,))

    def broken(*args, **kwargs):
        raise RuntimeError("channel evaluation failed")

    # the computation of the last kind fails after the first two were computed
    with monkeypatch.context() as m:
        m.setattr(job, "compute_channel_values", broken)
        with pytest.raises(RuntimeError):
            job.precompute(mart, workflow, **quiet)
    assert set(_counts(workflow).values()) == {0}
    # the write fails after the first kind's rows went in: none of them stay
    job.precompute(mart, workflow, kinds=["rival_score"], **quiet)
    before = _counts(workflow)
    real, calls = store._rows, []

    def fail_second(frame, columns):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("the store went away")
        return real(frame, columns)

    monkeypatch.setattr(store, "_rows", fail_second)
    with pytest.raises(RuntimeError):
        job.precompute(mart, workflow, **quiet)
    assert _counts(workflow) == before  # the earlier run of rival scores is intact too
    mart.dispose()


def test_old_mart_versions_are_pruned(tmp_path) -> None:
    workflow = _workflow(tmp_path / "store.sqlite")
    rows = pd.DataFrame({"level": "city", "position": [0], "unit": "Zhuhai", "branch": None,
                         "micro_region": None, "operator": "rival_a", "metric": "share",
                         "month": pd.Timestamp("2026-01-01"), "value": 0.2, "expected": None,
                         "score": 0.0, "unusual": False})
    for version in ("v1", "v2", "v3"):
        store.save_precomputed(workflow, version, {"rival_score": {"pre_rival_score": rows}})
    assert [store.stored_run(workflow, "rival_score", v).state for v in ("v1", "v2", "v3")] \
        == ["stale", "current", "current"]
    assert _counts(workflow)["pre_rival_score"] == store.KEEP_VERSIONS


# --- the pages read the stored rows ----------------------------------------------------------

def _precompute_for_app(app_as, duck_mart: str) -> None:
    mart = create_mart_engine(duck_mart, read_only=True)
    workflow = create_workflow_engine(app_as.workflow_url)
    with acting_as(SYSTEM):
        job.precompute(mart, workflow, **quiet)
    workflow.dispose()
    mart.dispose()


def _refuse(*args, **kwargs):
    raise RuntimeError("computed on the click although the results are stored")


def _no_estimate(*args, **kwargs):
    raise ConcertoError("estimated on the click although the effects are stored")


def test_pages_read_the_stored_rows_and_compute_nothing(app_as, duck_mart: str,
                                                        monkeypatch) -> None:
    at = app_as("rm_gongbei")  # seeds the demo users, whose scopes the job computes
    monkeypatch.setattr(job, "CHANNEL_SPANS", (6,))
    _precompute_for_app(app_as, duck_mart)
    monkeypatch.setattr(ac, "flag_series", _refuse)
    monkeypatch.setattr(channel_eval, "judge_channels", _refuse)
    monkeypatch.setattr(page_cache, "low_use_cutoffs", _refuse)
    monkeypatch.setattr("jobs.campaigns.estimate_effect", _no_estimate)
    monkeypatch.setattr(page_cache, "channel_stock", _refuse)  # the stock summary: stored too
    monkeypatch.setattr(page_cache, "campaign_spend", _refuse)  # the budget burn's spend
    at.run()
    at.switch_page("pages/competitors.py").run()
    assert not at.exception, at.exception
    at.switch_page("pages/channels.py").run()
    assert not at.exception, at.exception
    assert not any("computing them now" in c.value for c in at.caption)
    at.session_state["channels_tab"] = "Channel view 渠道全息"
    at.run()
    assert not at.exception, at.exception
    assert "Stock now 库存" in [m.label for m in at.metric]
    at = app_as("marketer")
    at.run()
    at.switch_page("pages/campaigns.py").run()
    # the list, its forest and the picked campaign's effect and breakdowns come from the store
    assert not at.exception, at.exception
    charts = [*at.get("vega_lite_chart"), *at.get("arrow_vega_lite_chart")]
    assert charts, "the forest of every campaign's effect is drawn from the stored rows"
    assert not [i.value for i in at.info if "No effect to show yet" in i.value]
    breakdown = next(d.value for d in at.dataframe if "Subscribers" in d.value.columns)
    assert "Branch 分公司" in breakdown.columns and len(breakdown)
    at.segmented_control(key="campaigns_breakdown").set_value("segment").run()
    assert not at.exception, at.exception
    breakdown = next(d.value for d in at.dataframe if "Subscribers" in d.value.columns)
    assert "Segment 客群" in breakdown.columns and len(breakdown)
    # a customer's campaigns show the stored effects too
    mart = create_mart_engine(duck_mart, read_only=True)
    with mart.connect() as conn:
        member = int(conn.exec_driver_sql(
            "select m.subscriber_id from campaign_member m join campaign c using (campaign_id) "
            "where c.start_month <= (select max(month) from fact_subscriber_month) "
            "and m.arm = 'treated' order by 1 limit 1").scalar_one())
    mart.dispose()
    at.query_params["sub"] = str(member)
    at.switch_page("pages/customer.py").run()
    assert not at.exception, at.exception
    joined = next(d.value for d in at.dataframe if "arpu_effect" in d.value.columns)
    assert (joined["arpu_effect"] != MISSING).any(), "the customer's campaigns show no effect"


def test_a_store_without_the_spend_still_draws_the_budget_burn(app_as, duck_mart: str,
                                                                monkeypatch) -> None:
    """Runs stored before the spend was (no ``spend`` rows): the page reads the spend from
    the mart and estimates nothing."""
    at = app_as("marketer")
    monkeypatch.setattr(job, "CHANNEL_SPANS", (6,))
    _precompute_for_app(app_as, duck_mart)
    workflow = create_workflow_engine(app_as.workflow_url)
    with workflow.begin() as conn:
        gone = conn.execute(sa.delete(store.pre_campaign_breakdown).where(
            store.pre_campaign_breakdown.c.part == job.SPEND)).rowcount
    workflow.dispose()
    assert gone > 0
    monkeypatch.setattr("jobs.campaigns.estimate_effect", _no_estimate)
    at.run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception, at.exception
    charts = [*at.get("vega_lite_chart"), *at.get("arrow_vega_lite_chart")]
    assert any("yuan (to date)" in c.proto.spec for c in charts)  # the budget burn
    assert "Download budget burn (CSV)" in [d.proto.label for d in at.get("download_button")]


def test_pages_say_so_and_compute_when_nothing_is_stored(app_as) -> None:
    at = app_as("channel_mgr")
    at.run()
    at.switch_page("pages/channels.py").run()
    assert not at.exception, at.exception
    assert any("not computed for this mart yet" in c.value for c in at.caption)
    at.switch_page("pages/competitors.py").run()
    assert not at.exception, at.exception
    assert any("computing them now" in c.value for c in at.caption)

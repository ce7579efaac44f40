"""Communications management: budget and overdue alerts, the media-mix recommendation
(TF-IDF over mixed Chinese and English), the request plan in the workflow store, the
campaigns' ARPU change from the mart (scoped), and the page."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.exceptions import NotFittedError

from analytics.campaigns import comms as ac
from data_access.store import comms
from data_access.mart import comms as comms_mart
from data_access.store import scope
from data_access.mart import schema as s
from data_access.store.auth import Forbidden, Principal
from data_access.store.comms_seed import seed_comms
from data_access.db import ConcertoError, create_mart_engine, read_frame
from data_access.store.workflow import StaleWrite, audit_log
from tests.test_readable_pages import unreadable

PAGE = "pages/comms.py"
MARKETER = Principal("marketer", "Marketer", "marketer")
EXEC = Principal("exec", "Executive", "executive")
ANALYST = Principal("analyst", "Analyst", "analyst")
RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")
TODAY = dt.date(2026, 6, 15)
RESOURCE = {"code": "SMS-T", "name": "Test SMS", "medium": "sms", "unit_cost": "300.5",
            "cost_unit": "10k messages", "period_days": "1", "theme": "service", "coverage": "city"}
REQUEST = {"department": "product", "title": "5G launch", "theme": "5G 升级",
           "resource_code": "SMS-T",
           "quantity": 3, "start_day": "2026-07-01", "end_day": "2026-07-10"}


def _requests(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["request_id", "title", "department", "year", "status",
                                       "cost", "start_day", "end_day"])


def test_budget_alerts_warn_from_80_percent_and_flag_overruns_and_missing_budgets():
    requests = _requests([
        (1, "a", "product", 2026, "approved", 85.0, TODAY, TODAY),
        (2, "b", "channel", 2026, "booked", 120.0, TODAY, TODAY),
        (3, "c", "channel", 2026, "rejected", 900.0, TODAY, TODAY),
        (4, "d", "individual", 2026, "requested", 10.0, TODAY, TODAY),
        (5, "e", "enterprise", 2026, "done", 10.0, TODAY, TODAY)])
    budgets = pd.DataFrame({"department": ["product", "channel", "enterprise"],
                            "year": 2026, "amount": [100.0, 100.0, 100.0]})
    level = ac.budget_status(requests, budgets).set_index("department")["level"].to_dict()
    assert level == {"product": "warn", "channel": "over", "individual": "no budget",
                     "enterprise": "ok"}


def test_overdue_requests_name_the_reason():
    d = dt.timedelta
    requests = _requests([
        (1, "soon", "x", 2026, "requested", 1.0, TODAY + d(2), TODAY + d(9)),
        (2, "later", "x", 2026, "requested", 1.0, TODAY + d(10), TODAY + d(20)),
        (3, "running", "x", 2026, "approved", 1.0, TODAY - d(1), TODAY + d(5)),
        (4, "ended", "x", 2026, "booked", 1.0, TODAY - d(9), TODAY - d(1)),
        (5, "closed", "x", 2026, "done", 1.0, TODAY - d(9), TODAY - d(1))])
    late = ac.overdue_requests(requests, TODAY).set_index("title")["reason"]
    assert list(late.index) == ["soon", "running", "ended"]
    assert late["soon"].startswith("awaiting a decision") and "not booked" in late["running"]


PAST = pd.DataFrame({
    "campaign_id": [1, 2, 3, 4],
    "campaign_name": ["Summer campus brand week 动感地带暑期品牌周", "Group V-net bundle 集团V网融合",
                      "Data booster add-on 流量加油包", "Spring Festival data gift 春节流量红包"],
    "offer": ["concert tickets and 20 GB of summer data 暑期演唱会门票+20GB",
              "free calls inside the group 集团V网", "6-yuan 3 GB monthly add-on 流量加油包",
              "10 GB of holiday data 春节10GB流量包"],
    "department": ["communications", "enterprise", "individual", "individual"]})


def test_the_matcher_reads_chinese_and_english_themes():
    texts = (PAST["campaign_name"] + " " + PAST["offer"]).set_axis(PAST["campaign_id"])
    matcher = ac.ThemeMatcher(top=2)
    with pytest.raises(NotFittedError):
        matcher.similar("x")
    matcher.fit(texts)
    assert matcher.similar("校园暑期音乐节")["campaign_id"].iloc[0] == 1  # Chinese only
    assert matcher.similar("enterprise group calls")["campaign_id"].iloc[0] == 2  # English only
    found = matcher.similar("流量包 data add-on")
    assert found["campaign_id"].iloc[0] == 3 and len(found) == 2
    assert found["similarity"].between(0, 1).all() and found["similarity"].is_monotonic_decreasing
    assert matcher.similar("zzzz qqqq").empty


def test_the_recommendation_blends_the_similar_campaigns_media_with_their_effect():
    placements = pd.DataFrame({
        "campaign_name": [PAST["campaign_name"][0]] * 2 + [PAST["campaign_name"][2]],
        "medium": ["douyin", "roadshow", "sms"], "cost": [60_000.0, 40_000.0, 4_500.0]})
    effects = pd.DataFrame({"campaign_id": [1, 3], "effect": [0.25, 5.98],
                            "method": ["vs hold-out (DiD)"] * 2})
    rec = ac.recommend_mix("暑期校园 summer campus concert", PAST, placements, effects, top=1)
    assert rec.campaigns["campaign_id"].tolist() == [1]
    assert rec.campaigns["effect"].tolist() == [0.25]
    assert rec.mix.set_index("medium")["weight"].round(2).to_dict() == {"douyin": 0.6,
                                                                       "roadshow": 0.4}
    none = ac.recommend_mix("group calls enterprise", PAST, placements, effects, top=1)
    assert none.mix.empty and "sales channels" in none.note
    with pytest.raises(ValueError, match="theme"):
        ac.recommend_mix("  ", PAST, placements, effects)


@pytest.fixture
def plan(workflow):
    comms.add_resources(workflow, MARKETER, [RESOURCE])
    return workflow


def test_a_request_costs_units_times_the_catalogue_price_and_is_audited(plan):
    rid = comms.submit_request(plan, MARKETER, **REQUEST)
    row = comms.list_requests(plan).set_index("request_id").loc[rid]
    assert (row["cost"], row["status"], row["medium"], row["year"]) == (
        901.5, "requested", "sms", 2026)
    with plan.connect() as conn:
        actions = conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.audit_id)
                               ).scalars().all()
    assert actions == ["comms_resource_add", "comms_request_create"]


@pytest.mark.parametrize("change, message", [
    ({"department": "sales"}, "department:"),
    ({"title": ""}, "title: must not be empty"),
    ({"theme": "x" * 201}, "theme: must be at most 200"),
    ({"resource_code": "NOPE"}, "resource: no active resource 'NOPE'"),
    ({"quantity": 0}, "quantity: between 1"),
    ({"quantity": "many"}, "quantity: must be a whole number"),
    ({"end_day": "2026-06-01"}, "end_day: must not be before"),
    ({"start_day": "someday"}, "start_day: not a date"),
])
def test_bad_requests_are_refused_naming_the_field(plan, change, message):
    with pytest.raises(ConcertoError, match=message):
        comms.submit_request(plan, MARKETER, **{**REQUEST, **change})
    assert comms.list_requests(plan).empty


def test_bad_resources_are_refused_and_roles_are_checked(plan):
    with pytest.raises(ConcertoError, match="medium: choose one of"):
        comms.add_resources(plan, MARKETER, [{**RESOURCE, "code": "X1", "medium": "telepathy"}])
    with pytest.raises(ConcertoError, match="unit_cost: must be zero or more"):
        comms.add_resources(plan, MARKETER, [{**RESOURCE, "code": "X2", "unit_cost": -1}])
    assert comms.add_resources(plan, MARKETER, [RESOURCE]) == 0  # same code: not added twice
    with pytest.raises(Forbidden):
        comms.add_resources(plan, ANALYST, [{**RESOURCE, "code": "X3"}])
    with pytest.raises(Forbidden):
        comms.submit_request(plan, EXEC, **REQUEST)
    with pytest.raises(Forbidden):
        comms.set_budget(plan, MARKETER, "product", 2026, 1)


def test_requests_move_through_their_states_once(plan):
    rid = comms.submit_request(plan, MARKETER, **REQUEST)
    assert comms.move_request(plan, MARKETER, rid, "approved", version=1) == 2
    with pytest.raises(StaleWrite):
        comms.move_request(plan, MARKETER, rid, "booked", version=1)
    with pytest.raises(ConcertoError, match="status: a approved request cannot become done"):
        comms.move_request(plan, MARKETER, rid, "done", version=2)
    comms.move_request(plan, MARKETER, rid, "booked", version=2)
    assert comms.list_requests(plan)["status"].tolist() == ["booked"]


def test_budgets_are_set_and_updated_with_audit(plan):
    comms.set_budget(plan, EXEC, "product", 2026, 1000)
    comms.set_budget(plan, EXEC, "product", 2026, "2500.456")
    budgets = comms.list_budgets(plan)[["department", "amount"]].values.tolist()
    assert budgets == [["product", 2500.46]]
    with plan.connect() as conn:
        audit = conn.execute(sa.select(audit_log.c.before_json, audit_log.c.after_json)
                             .where(audit_log.c.action == "comms_budget_set")
                             .order_by(audit_log.c.audit_id)).all()
    assert [json.loads(a) for _, a in audit] == [{"amount": 1000.0}, {"amount": 2500.46}]
    assert json.loads(audit[1][0]) == {"amount": 1000.0}
    with pytest.raises(ConcertoError, match="amount:"):
        comms.set_budget(plan, EXEC, "product", 2026, "lots")


def test_the_demo_plan_is_seeded_once_with_alerts_to_show(workflow):
    added = seed_comms(workflow, TODAY)
    assert added > 20 and seed_comms(workflow, TODAY) == 0
    assert len(comms.list_resources(workflow)) == 26
    requests = comms.list_requests(workflow)
    assert requests["campaign_name"].notna().sum() >= 20  # past campaigns' placements
    assert not ac.overdue_requests(requests, TODAY).empty


@pytest.fixture
def mart(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=True)
    yield engine
    engine.dispose()


def test_the_planted_campaign_uplift_has_the_largest_arpu_effect(mart):
    truth = read_frame(mart, sa.select(s.planted_truth).where(
        s.planted_truth.c.kind == "campaign_uplift")).iloc[0]
    planted = json.loads(truth["where_json"])["campaign_id"]
    change = comms_mart.load_campaign_arpu_change(mart).set_index("campaign_id")
    # Small hold-outs are noisy on the small test mart: compare campaigns with 50 or more.
    assert change.loc[change["control_members"] >= 50, "effect"].idxmax() == planted
    assert change.loc[planted, "effect"] == pytest.approx(truth["size"], rel=0.35)
    assert change.loc[planted, "method"] == "vs hold-out (DiD)"


def test_a_regional_manager_gets_the_arpu_change_of_their_members_only(mart):
    everyone = comms_mart.load_campaign_arpu_change(mart).set_index("campaign_id")
    with scope.acting_as(RM_GONGBEI):
        mine = comms_mart.load_campaign_arpu_change(mart).set_index("campaign_id")
    cm, sub, region = s.campaign_member, s.dim_subscriber, s.dim_region
    counted = read_frame(mart, sa.select(cm.c.campaign_id, sa.func.count().label("n"))
                         .select_from(cm.join(sub, cm.c.subscriber_id == sub.c.subscriber_id)
                                      .join(region, sub.c.region_id == region.c.region_id))
                         .where(cm.c.arm == "treated", region.c.micro_region == "Gongbei")
                         .group_by(cm.c.campaign_id)).set_index("campaign_id")["n"]
    assert (mine["participants"] <= everyone.loc[mine.index, "participants"]).all()
    assert mine["participants"].sum() < everyone["participants"].sum()
    assert mine["participants"].to_dict() == {k: int(v) for k, v in counted.items()
                                              if k in mine.index}


def test_the_page_recommends_a_media_mix_for_a_new_theme(app_as):
    at = app_as("marketer")
    at.switch_page(PAGE).run()
    assert not at.exception
    at.text_input(key="comms_theme").input("暑期校园演唱会 summer campus").run()
    assert not at.exception
    similar = [d.value for d in at.dataframe if "Similarity 相似度" in d.value.columns]
    assert similar and similar[0]["Campaign 活动"].iloc[0].startswith("Summer campus")
    assert unreadable(at) == []


def test_the_page_adds_a_request_and_refuses_a_bad_one(app_as):
    at = app_as("marketer")
    at.switch_page(PAGE).run()
    at.button(key="FormSubmitter:comms_request_form-Add request 提交申请").click().run()
    assert any("title: must not be empty" in e.value for e in at.error)
    at.text_input(key="comms_req_title").input("Campus 5G week")
    at.text_input(key="comms_req_theme").input("campus 5G")
    at.button(key="FormSubmitter:comms_request_form-Add request 提交申请").click().run()
    assert not at.exception and any("added to the plan" in m.value for m in at.success)


@pytest.mark.parametrize("user", ["exec", "rm_gongbei"])
def test_the_page_renders_for_readers(app_as, user):
    at = app_as(user)
    at.switch_page(PAGE).run()
    assert not at.exception


def test_a_campaign_manager_moves_a_request_on_the_page(app_as):
    from data_access.store.workflow import create_workflow_engine

    at = app_as("marketer")
    at.switch_page(PAGE).run()
    chosen = at.selectbox(key="comms_decide_id").value
    target = at.selectbox(key="comms_decide_status").value
    at.button(key="comms_decide_apply").click().run()
    assert not at.exception and any(f"is now {target}" in m.value for m in at.success)
    engine = create_workflow_engine(app_as.workflow_url)
    moved = comms.list_requests(engine).set_index("request_id").loc[chosen]
    engine.dispose()
    assert moved["status"] == target and moved["version"] >= 2


def _budget_notes(at) -> tuple[list[str], list[str], list[str]]:
    errors = [e.value for e in at.error]
    warnings = [w.value for w in at.warning if "budget" in w.value.lower()]
    captions = [c.value for c in at.caption if "budget" in c.value.lower()]
    return errors, warnings, captions


def test_the_budget_banner_is_one_warning_for_budget_managers_only(app_as):
    manager = app_as("marketer")
    manager.switch_page(PAGE).run()
    errors, warnings, _ = _budget_notes(manager)
    # the seeded plan has budgets in trouble: one compact warning, never an error box per row
    assert errors == [] and len(warnings) == 1 and warnings[0].startswith("**Budgets")
    reader = app_as("rm_gongbei")
    reader.switch_page(PAGE).run()
    errors, warnings, captions = _budget_notes(reader)
    assert errors == [] and warnings == [] and len(captions) <= 1

"""Every kind of campaign conflict is found on constructed calendars and none on a clean one;
plans are saved, refused or overridden in the workflow store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from analytics.campaigns import conflicts as cf
from data_access.store import campaign_plans as cp
from data_access.store import scope
from data_access.store.audit import load_audit
from data_access.store.auth import Forbidden, Principal
from data_access.mart.calendar import count_duplicates, load_mart_campaigns
from data_access.db import ConcertoError, create_mart_engine
from data_access.store.workflow import StaleWrite

D = dt.date


def _calendar() -> pd.DataFrame:
    return pd.DataFrame([
        {"campaign_id": 1, "campaign_name": "VIP handset", "department": "individual",
         "benefit_kind": "handset_subsidy", "segments": "high_end",
         "channel_types": "own_hall,franchise", "start": D(2026, 3, 1), "end": D(2026, 5, 31)},
        {"campaign_id": 2, "campaign_name": "Family gift", "department": "product",
         "benefit_kind": "gift", "segments": "high_end,mass", "channel_types": "own_hall",
         "start": D(2026, 4, 1), "end": D(2026, 4, 30)},
        {"campaign_id": 3, "campaign_name": "Youth voucher", "department": "channel",
         "benefit_kind": "voucher", "segments": "youth", "channel_types": "e_channel",
         "start": D(2026, 1, 1), "end": D(2026, 12, 31)},
    ])


RULES = pd.DataFrame([
    {"benefit_kind": "gift", "allowed_channel_types": "own_hall,franchise", "max_per_month": 2},
    {"benefit_kind": "data_pack", "allowed_channel_types": "", "max_per_month": 5},
])


def _plan(**changes) -> dict:
    return {"benefit_kind": "gift", "segments": ["high_end"], "channel_types": ["own_hall"],
            "start": D(2026, 4, 10), "end": D(2026, 6, 15)} | changes


def test_clean_plan_reports_nothing():
    clean = _plan(segments=["mass"], channel_types=["franchise"], start=D(2026, 7, 1),
                  end=D(2026, 8, 31))
    assert cf.check_plan(clean, _calendar(), RULES, duplicates={1: 40}).empty


def test_overlap_needs_time_segment_and_channel_together():
    found = cf.check_plan(_plan(), _calendar(), RULES)
    overlaps = found[found["kind"] == "overlap"]
    assert sorted(overlaps["campaign_id"]) == [1, 2]
    # same segment and channel but another time, or same time without a shared channel: none
    later = cf.check_plan(_plan(start=D(2026, 6, 1), end=D(2026, 6, 30)), _calendar(), RULES)
    assert "overlap" not in set(later["kind"])
    other_channel = cf.check_plan(_plan(channel_types=["social_outlet"], benefit_kind="x"),
                                  _calendar(), RULES)
    assert other_channel.empty


def test_duplicate_benefits_only_from_campaigns_in_the_window():
    found = cf.check_plan(_plan(start=D(2026, 6, 1), end=D(2026, 6, 30),
                                channel_types=["franchise"]),
                          _calendar(), RULES, duplicates={1: 0, 2: 12, 3: 7})
    # 2 ended in April: its members are no duplicate in June; 1 had none
    dup = found[found["kind"] == "duplicate_benefit"]
    assert dup["campaign_id"].tolist() == [3] and dup["customers"].tolist() == [7]


def test_channel_overload_names_month_and_channel():
    found = cf.check_plan(_plan(), _calendar(), RULES)
    over = found[found["kind"] == "channel_overload"]
    # April: campaigns 1 and 2 on own_hall plus the plan = 3 > 2; May: 1 + plan = 2 is fine
    assert over[["month", "channel_type"]].values.tolist() == [[D(2026, 4, 1), "own_hall"]]
    assert "3 campaigns" in over["message"].item()


def test_channel_not_allowed_by_loading_rule_and_unknown_kind_allows_all():
    found = cf.check_plan(_plan(channel_types=["own_hall", "social_outlet"],
                                start=D(2026, 9, 1), end=D(2026, 9, 30)), _calendar(), RULES)
    assert found["kind"].tolist() == ["channel_not_allowed"]
    assert found["channel_type"].item() == "social_outlet"
    anything = cf.check_plan(_plan(benefit_kind="data_pack", channel_types=["social_outlet"],
                                   start=D(2026, 9, 1), end=D(2026, 9, 30)), _calendar(), RULES)
    assert anything.empty


def test_every_kind_found_on_one_crowded_calendar():
    found = cf.check_plan(_plan(channel_types=["own_hall", "social_outlet"]), _calendar(),
                          RULES, duplicates={1: 5})
    assert set(found["kind"]) == set(cf.KINDS)


def test_a_saved_plan_is_not_its_own_conflict():
    calendar = _calendar()
    plan = calendar.iloc[1].to_dict()
    assert "overlap" in set(cf.check_plan(plan | {"campaign_id": None}, calendar, RULES)["kind"])
    found = cf.check_plan(plan, calendar, RULES)
    assert 2 not in set(found["campaign_id"].dropna())


def test_monthly_load_and_calendar_views():
    load = cf.monthly_load(_calendar())
    assert load[(D(2026, 4, 1), "own_hall")] == 2 and load[(D(2026, 3, 1), "own_hall")] == 1
    assert cf.calendar_window("quarter", 2026, 2) == (D(2026, 4, 1), D(2026, 6, 30))
    assert cf.calendar_window("month", 2024, 2) == (D(2024, 2, 1), D(2024, 2, 29))
    bars = cf.calendar_bars(_calendar(), cf.calendar_window("month", 2026, 5))
    assert bars["campaign_id"].tolist() == [3, 1]
    assert bars.set_index("campaign_id").loc[3, "bar_start"] == D(2026, 5, 1)
    with pytest.raises(ValueError):
        cf.calendar_window("week", 2026)


# --- planned campaigns in the workflow store (SQLite and PostgreSQL) ------------------------


MARKETER = Principal("marketer", "Marketer", "marketer")
ADMIN = Principal("admin", "Admin", "administrator")
ANALYST = Principal("analyst", "Analyst", "analyst")
RM_GONGBEI = Principal("rm_gongbei", "x", "regional_manager", "micro_region", "Gongbei")


@pytest.fixture
def mart(duck_mart: str):
    engine = create_mart_engine(duck_mart, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture
def any_mart_engine(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=True)
    yield engine
    engine.dispose()


def _last_campaign_window(mart) -> tuple[dt.date, dt.date]:
    """The crowded months: when the planted VIP concert night runs."""
    cal = load_mart_campaigns(mart)
    row = cal[cal["campaign_name"].str.startswith("VIP concert")].iloc[0]
    return row["start"], row["end"]


def _colliding(mart) -> dict:
    start, end = _last_campaign_window(mart)
    return {"department": "product", "name": "Another VIP gift 再送高端礼品", "benefit_kind": "gift",
            "segments": "high_end", "channel_types": "own_hall,e_channel", "start_date": start,
            "end_date": end, "budget": 50_000, "expected_participants": 300}


def _clean(mart) -> dict:
    start, _ = _last_campaign_window(mart)
    later = (pd.Timestamp(start) + pd.DateOffset(months=6)).date()
    return {"department": "channel", "name": "Franchise youth day", "benefit_kind": "gift",
            "segments": "youth", "channel_types": "franchise", "start_date": later,
            "end_date": cf.month_end(later), "budget": 1_000, "expected_participants": 50}


def test_planted_crowd_blocks_a_colliding_plan_with_every_kind(workflow, mart):
    cp.seed_channel_rules(workflow)
    with pytest.raises(cp.PlanConflict) as caught:
        cp.save_plan(workflow, mart, MARKETER, _colliding(mart))
    kinds = set(caught.value.conflicts["kind"])
    assert kinds == set(cf.KINDS)
    assert "VIP concert night" in str(caught.value)
    assert cp.load_plans(workflow).empty  # nothing half-written


def test_clean_plan_saves_without_conflicts(workflow, mart):
    cp.seed_channel_rules(workflow)
    assert cp.check_campaign_plan(mart, workflow, _clean(mart)).empty
    plan_id = cp.save_plan(workflow, mart, MARKETER, _clean(mart))
    saved = cp.load_plans(workflow).set_index("plan_id").loc[plan_id]
    assert saved["status"] == "saved" and saved["override_reason"] is None
    assert load_audit(workflow, entity_id=str(plan_id))["action"].tolist() == ["plan_saved"]


def test_override_needs_the_right_and_a_reason_and_is_audited(workflow, mart):
    cp.seed_channel_rules(workflow)
    plan_id = cp.save_plan(workflow, mart, MARKETER, _colliding(mart),
                           override_reason="Board approved the extra gift")
    saved = cp.load_plans(workflow).set_index("plan_id").loc[plan_id]
    assert saved["override_reason"] == "Board approved the extra gift"
    assert saved["override_by"] == "marketer"
    assert {c["kind"] for c in json.loads(saved["conflicts_json"])} == set(cf.KINDS)
    audit = load_audit(workflow, entity_id=str(plan_id))
    assert audit["action"].tolist() == ["plan_override"]
    assert "Board approved" in audit.loc[0, "after_json"]
    # the saved plan now counts: the same clean plan in its months meets it
    assert not cp.check_campaign_plan(mart, workflow, _colliding(mart) | {"name": "x"}).empty


def test_roles_without_the_right_cannot_plan_or_override(workflow, mart, monkeypatch):
    with pytest.raises(Forbidden):
        cp.save_plan(workflow, mart, ANALYST, _clean(mart))
    # a role that may plan but not override (none by default: take the right away)
    from data_access.store import auth
    monkeypatch.setitem(auth.PERMISSIONS, "override_conflicts", frozenset({"administrator"}))
    with pytest.raises(Forbidden):
        cp.save_plan(workflow, mart, MARKETER, _colliding(mart), override_reason="because")
    assert cp.load_plans(workflow).empty


def test_drafts_are_not_checked_and_versions_guard_updates(workflow, mart):
    plan_id = cp.save_plan(workflow, mart, MARKETER, _colliding(mart), status="draft")
    assert cp.check_campaign_plan(mart, workflow, _clean(mart)).empty  # drafts do not count
    cp.save_plan(workflow, mart, MARKETER, _clean(mart), plan_id=plan_id, version=1)
    with pytest.raises(StaleWrite):
        cp.save_plan(workflow, mart, MARKETER, _clean(mart), plan_id=plan_id, version=1)
    row = cp.load_plans(workflow).iloc[0]
    assert row["version"] == 2 and row["status"] == "saved" and row["name"] == "Franchise youth day"


@pytest.mark.parametrize("field, change", [
    ("department", {"department": "sales"}), ("segments", {"segments": "vip,mass"}),
    ("channel_types", {"channel_types": ""}), ("end_date", {"end_date": dt.date(2000, 1, 1)}),
    ("budget", {"budget": -5}), ("name", {"name": " "}), ("benefit_kind", {"benefit_kind": "x"}),
])
def test_bad_plans_name_the_field(field, change):
    values = {"department": "product", "name": "n", "benefit_kind": "gift", "segments": "mass",
              "channel_types": "own_hall", "start_date": dt.date(2026, 1, 1),
              "end_date": dt.date(2026, 1, 31), "budget": 1, "expected_participants": 1}
    with pytest.raises(ConcertoError, match=field):
        cp.check_plan_values(values | change)


def test_rules_are_for_administrators_and_audited(workflow):
    assert cp.seed_channel_rules(workflow) == len(cp.DEFAULT_RULES)
    assert cp.seed_channel_rules(workflow) == 0
    with pytest.raises(Forbidden):
        cp.save_rule(workflow, MARKETER, "gift", "own_hall", 2)
    with pytest.raises(ConcertoError, match="allowed_channel_types"):
        cp.save_rule(workflow, ADMIN, "gift", "moon_base", 2)
    cp.save_rule(workflow, ADMIN, "gift", "own_hall,social_outlet", 1)
    rule = cp.load_rules(workflow).set_index("benefit_kind").loc["gift"]
    assert rule["allowed_channel_types"] == "own_hall,social_outlet" and rule["max_per_month"] == 1
    audit = load_audit(workflow, entity="channel_rule")
    assert audit.loc[0, "action"] == "rule_save" and audit.loc[0, "username"] == "admin"


def test_duplicate_counts_follow_segment_channel_and_scope(any_mart_engine):
    mart = any_mart_engine
    start, end = _last_campaign_window(mart)
    cal = load_mart_campaigns(mart)
    live = [int(c[1:]) for c in cf.overlapping({"start": start, "end": end}, cal)["campaign_id"]]
    high = count_duplicates(mart, {"segments": "high_end", "channel_types": "own_hall",
                                   "start": start}, live)
    assert high and all(v > 0 for v in high.values())
    youth = count_duplicates(mart, {"segments": "youth", "channel_types": "own_hall",
                                    "start": start}, live)
    assert sum(youth.values()) < sum(high.values())
    with scope.acting_as(RM_GONGBEI):
        gongbei = count_duplicates(mart, {"segments": "high_end", "channel_types": "own_hall",
                                          "start": start}, live)
    named = count_duplicates(mart, {"segments": "high_end", "channel_types": "own_hall",
                                    "start": start, "micro_regions": "Gongbei"}, live)
    assert gongbei == named and sum(gongbei.values()) < sum(high.values())

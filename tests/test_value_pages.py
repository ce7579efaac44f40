"""The customer-value and campaign-calendar pages under AppTest: bands, lists and map for an
executive and a regional manager; the calendar, a new user's colliding plan stopped by the
conflict check, the override with a reason, and the rules editor for administrators."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from data_access.store import campaign_plans as plans
from data_access.store.audit import load_audit
from data_access.store.workflow import create_workflow_engine
from tests.test_readable_pages import unreadable

VALUE = "pages/value.py"
NET = "Net value 净价值"  # the customer lists' net value column, as the reader sees it
CALENDAR = "pages/calendar.py"


def _texts(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.success] + [e.value for e in at.error]
    parts += [e.value for e in at.warning]
    return "\n".join(str(p) for p in parts)


def _charts(at) -> int:
    return len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart"))


def _table_with(at, column: str) -> pd.DataFrame:
    """The last table shown that has ``column`` (plain tables carry no key under AppTest)."""
    return [d.value for d in at.dataframe if column in d.value.columns][-1]


def _open(app_as, username: str, page: str):
    at = app_as(username)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_value_page_shows_bands_lists_and_map(app_as):
    at = _open(app_as, "exec", VALUE)
    assert "Customer value 价值经营" in [t.value for t in at.title]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Losing money 负价值"].endswith("%")
    maps = [c for c in at.get("vega_lite_chart") if '"geoshape"' in c.proto.spec]
    assert _charts(at) >= 2 and len(maps) == 1
    rows = _table_with(at, NET)
    assert len(rows) > 0 and (rows[NET] < 0).all() and set(rows["Segment 客群"]) == {"high_end"}
    assert unreadable(at) == []
    at.radio(key="value_list").set_value("duplicate_benefit").run()
    assert not at.exception, at.exception
    assert (_table_with(at, NET)["Departments 部门数"] >= 2).all()
    labels = [d.proto.label for d in at.get("download_button")]
    assert {"Download the band distribution (CSV)", "Download the customers (CSV)"} <= set(labels)
    roi = "ROI 投入产出比 (×)"  # the channels' and groups' lists: sent only once opened
    assert not any(roi in d.value.columns for d in at.dataframe)
    at.session_state["value_groups_open"] = True
    at.run()
    assert not at.exception, at.exception
    groups = _table_with(at, roi)
    assert "Group 集团" in groups.columns
    assert len(groups) > 0 and groups[roi].dropna().is_monotonic_increasing  # worst ROI first
    assert sum(roi in d.value.columns for d in at.dataframe) == 1  # the channels stay closed


def test_value_page_for_a_regional_manager_shows_only_gongbei(app_as):
    at = _open(app_as, "rm_gongbei", VALUE)
    rows = _table_with(at, NET)
    assert set(rows["Micro-region 微区域"]) == {"Gongbei"}
    assert rows["Number 号码"].str.endswith("****").all()


def _fill_colliding_plan(at) -> None:
    """A new user's plan: another high-end gift in the crowded latest months."""
    at.text_input(key="plan_name").input("Autumn VIP gift 秋季高端礼品")
    at.selectbox(key="plan_department").select("product")
    at.selectbox(key="plan_benefit").select("gift")
    at.multiselect(key="plan_segments").select("high_end")
    at.multiselect(key="plan_channels").select("own_hall")


def test_calendar_stops_a_plan_that_collides_with_the_planted_crowd(app_as):
    at = _open(app_as, "marketer", CALENDAR)
    assert "Campaign calendar 营销日历" in [t.value for t in at.title]
    assert _charts(at) == 2  # the Gantt and the channel load
    for view in ("year", "month"):
        at.segmented_control(key="calendar_view").set_value(view).run()
        assert not at.exception, at.exception
    _fill_colliding_plan(at)
    at.button(key="FormSubmitter:calendar_plan_form-Save 保存").click().run()
    assert not at.exception, at.exception
    assert "Not saved" in _texts(at)
    conflicts = _table_with(at, "Conflict 冲突")
    assert "overlapping campaign 活动重叠" in set(conflicts["Conflict 冲突"])
    assert unreadable(at) == []
    workflow = create_workflow_engine(app_as.workflow_url)
    assert plans.load_plans(workflow).empty
    # the marketer may override, with a reason, and the override is recorded
    _fill_colliding_plan(at)
    at.text_area(key="plan_reason").input("Approved by the VIP committee")
    at.button(key="FormSubmitter:calendar_plan_form-Save 保存").click().run()
    assert not at.exception, at.exception
    saved = plans.load_plans(workflow)
    assert saved["override_reason"].tolist() == ["Approved by the VIP committee"]
    audit = load_audit(workflow, entity="campaign_plan")
    assert audit["action"].tolist() == ["plan_override"]
    # the saved plan now shows in the calendar and the plans table
    at.run()
    assert not at.exception, at.exception
    assert "Autumn VIP gift 秋季高端礼品" in set(
        _table_with(at, "Override reason 越过原因")["Plan 计划"])
    assert unreadable(at) == []


def test_calendar_for_an_analyst_has_no_plan_form_and_admin_edits_rules(app_as):
    at = _open(app_as, "analyst", CALENDAR)
    assert not [f for f in at.get("form")]
    assert "Marketers and administrators plan campaigns here." in _texts(at)
    at = _open(app_as, "admin", CALENDAR)
    at.selectbox(key="rule_kind").select("gift")
    at.multiselect(key="rule_allowed").select("own_hall")
    at.number_input(key="rule_max").set_value(1)
    at.button(key="FormSubmitter:calendar_rule_form-Save rule 保存规则").click().run()
    assert not at.exception, at.exception
    rules = plans.load_rules(create_workflow_engine(app_as.workflow_url)).set_index("benefit_kind")
    assert rules.loc["gift", "allowed_channel_types"] == "own_hall"
    assert rules.loc["gift", "max_per_month"] == 1


def test_check_button_reports_a_clean_plan(app_as):
    at = _open(app_as, "marketer", CALENDAR)
    at.text_input(key="plan_name").input("Youth day")
    at.selectbox(key="plan_benefit").select("gift")
    at.multiselect(key="plan_segments").select("youth")
    at.multiselect(key="plan_channels").select("franchise")
    later = (pd.Timestamp(dt.date.today()) + pd.DateOffset(years=2)).date().replace(day=1)
    at.date_input(key="plan_start").set_value(later)
    at.date_input(key="plan_end").set_value(later + dt.timedelta(days=20))
    at.button(key="FormSubmitter:calendar_plan_form-Check conflicts 检查冲突").click().run()
    assert not at.exception, at.exception
    assert "No conflict: the plan can be saved." in _texts(at)


def test_a_colliding_draft_is_kept_then_checked_when_saved(app_as):
    at = _open(app_as, "marketer", CALENDAR)
    _fill_colliding_plan(at)
    at.radio(key="plan_status").set_value("draft")
    at.button(key="FormSubmitter:calendar_plan_form-Save 保存").click().run()
    assert not at.exception, at.exception
    assert "saved as draft." in _texts(at)  # drafts are not checked
    at.button(key="draft_save").click().run()
    assert not at.exception, at.exception
    assert "Not saved: " in _texts(at)
    workflow = create_workflow_engine(app_as.workflow_url)
    assert plans.load_plans(workflow)["status"].tolist() == ["draft"]
    at.text_input(key="draft_reason").input("Replaces the family bonus")
    at.button(key="draft_save").click().run()
    assert not at.exception, at.exception
    row = plans.load_plans(workflow).iloc[0]
    assert row["status"] == "saved" and row["version"] == 2
    assert row["override_reason"] == "Replaces the family bonus"
    assert "conflicts overridden" in _texts(at)

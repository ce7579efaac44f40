"""Front-line intelligence reports: validation naming the field, stored exactly once per
submission token (double submit, concurrent sessions), scoped search, links, audit."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from data_access.store import diagnosis
from data_access.store import intel
from data_access.store import intel_demo
from data_access.store import workorders
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError
from data_access.store.workflow import StaleWrite, audit_log, create_workflow_engine

RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")
CHANNEL = Principal("channel_mgr", "Channel manager", "channel_manager")
EXEC = Principal("exec", "Executive", "executive")

GOOD = {"token": "form-0001-abcd", "operator": "rival_a", "category": "tariff",
        "micro_region": "Jida", "text": "Rival A sells a 99-yuan 5G plan door to door",
        "tags": "#Jida, 5G", "figures": {"monthly fee": "99"}}


def _count(engine: sa.Engine, table: sa.Table = intel.intel_report) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_valid_report_is_stored_once_with_its_audit_row(workflow):
    done = intel.submit_report(workflow, CHANNEL, **GOOD)
    assert done.created
    found = intel.search_reports(workflow, CHANNEL)
    row = found.iloc[0]
    assert (row["branch"], row["micro_region"], row["operator"]) == ("Xiangzhou", "Jida", "rival_a")
    assert row["tags"] == ["jida", "5g"] and row["figures"] == {"monthly fee": 99.0}
    with workflow.connect() as conn:
        audit = conn.execute(sa.select(audit_log.c.action, audit_log.c.entity_id)
                             .where(audit_log.c.entity == "intel_report")).all()
    assert audit == [("intel_submit", str(done.report_id))]


@pytest.mark.parametrize("change, field", [
    ({"text": "   "}, "text: must not be empty"),
    ({"text": "x" * 2001}, "text: must be at most 2000"),
    ({"operator": "us"}, "operator:"),
    ({"operator": ""}, "operator:"),
    ({"category": None}, "category:"),
    ({"micro_region": None}, "branch: choose"),
    ({"micro_region": "Atlantis"}, "micro_region: unknown"),
    ({"tags": "ok, " + "t" * 31}, "tags:"),
    ({"tags": ",".join(f"t{i}" for i in range(9))}, "tags: at most 8"),
    ({"figures": {"fee": "ninety"}}, "figures: 'fee' must be a number"),
    ({"figures": {"": 3}}, "figures: a figure's name: must not be empty"),
    ({"token": "short"}, "submission token:"),
    ({"token": ""}, "submission token: must not be empty"),
    ({"alert_id": 999}, "alert_id: there is no alert #999"),
    ({"order_id": "abc"}, "order_id: must be a number"),
])
def test_bad_reports_are_refused_naming_the_field_and_nothing_is_stored(workflow, change, field):
    with pytest.raises(ConcertoError, match=field.replace("(", r"\(")):
        intel.submit_report(workflow, CHANNEL, **{**GOOD, **change})
    assert _count(workflow) == 0
    with workflow.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one() == 0


def test_a_double_submit_of_the_same_form_stores_one_report(workflow):
    first = intel.submit_report(workflow, CHANNEL, **GOOD)
    again = intel.submit_report(workflow, CHANNEL, **GOOD)
    assert again == intel.Submitted(first.report_id, False)
    other = intel.submit_report(workflow, CHANNEL, **{**GOOD, "token": "form-0002-abcd"})
    assert other.created and _count(workflow) == 2


def test_two_sessions_submitting_the_same_form_at_once_store_it_once(workflow):
    url = workflow.url.render_as_string(hide_password=False)
    engines = [create_workflow_engine(url) for _ in range(4)]
    start, results, errors = threading.Barrier(4), [], []

    def submit(engine: sa.Engine) -> None:
        start.wait()
        try:
            results.append(intel.submit_report(engine, CHANNEL, **GOOD))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert not errors
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.report_id for r in results}) == 1 and _count(workflow) == 1


def test_a_regional_manager_reports_and_reads_inside_their_scope_only(workflow):
    intel.submit_report(workflow, CHANNEL, **GOOD)
    with pytest.raises(Forbidden, match="Gongbei only"):
        intel.submit_report(workflow, RM_GONGBEI, **{**GOOD, "token": "form-gb-0001"})
    mine = intel.submit_report(workflow, RM_GONGBEI, **{**GOOD, "token": "form-gb-0002",
                                                        "micro_region": "Gongbei"})
    seen = intel.search_reports(workflow, RM_GONGBEI)
    assert seen["report_id"].tolist() == [mine.report_id]
    assert set(intel.search_reports(workflow, CHANNEL)["micro_region"]) == {"Jida", "Gongbei"}
    with pytest.raises(Forbidden, match="may not submit"):
        intel.submit_report(workflow, EXEC, **{**GOOD, "token": "form-ex-0001"})


def test_the_feed_is_searchable_by_words_tags_operator_and_place(workflow):
    intel.submit_report(workflow, CHANNEL, **GOOD)
    intel.submit_report(workflow, CHANNEL, **{**GOOD, "token": "form-0003-abcd",
                                              "operator": "rival_b", "micro_region": "Gongbei",
                                              "text": "Rival B campus card 50% off",
                                              "tags": "campus"})

    def texts(**kw):
        return intel.search_reports(workflow, CHANNEL, **kw)["text"].tolist()

    assert texts(text="DOOR TO door") == [GOOD["text"]]
    assert texts(text="50%") == ["Rival B campus card 50% off"]
    assert texts(text="%") == ["Rival B campus card 50% off"]  # a literal %, not a wildcard
    assert texts(tags=["#5G", "jida"]) == [GOOD["text"]]
    assert texts(tags=["5"]) == []  # whole tags only
    assert texts(operator="rival_b", micro_region="Gongbei") == ["Rival B campus card 50% off"]


def test_a_report_links_to_an_alert_and_a_work_order(workflow):
    diagnosis.raise_alerts(workflow, [{
        "source": "competitor", "metric": "rival_a_share", "unit_level": "rival_region",
        "unit_key": "Jida", "unit_label": "Jida", "observed_at": "2026-10", "score": 1.0,
        "actual": 0.28, "expected": 0.22, "message": "share jump"}])
    with workflow.connect() as conn:
        alert_id = conn.execute(sa.text("select max(alert_id) from alert")).scalar_one()
    order_id = workorders.create_order(
        workflow, Principal("analyst", "Analyst", "analyst"), kind="task", title="Answer Rival A",
        unit_level="micro_region", unit_key="Jida", unit_label="Jida", owner_role="marketer",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    done = intel.submit_report(workflow, CHANNEL, **GOOD, alert_id=alert_id)
    assert intel.search_reports(workflow, CHANNEL, alert_id=alert_id)["report_id"].tolist() == [
        done.report_id]
    assert intel.link_report(workflow, CHANNEL, done.report_id, version=1, order_id=order_id) == 2
    row = intel.search_reports(workflow, CHANNEL).iloc[0]
    assert (row["alert_id"], row["order_id"], row["version"]) == (alert_id, order_id, 2)
    with pytest.raises(StaleWrite):
        intel.link_report(workflow, CHANNEL, done.report_id, version=1, order_id=order_id)
    with pytest.raises(ConcertoError, match="order_id: there is no work order #424242"):
        intel.link_report(workflow, CHANNEL, done.report_id, version=2, order_id=424242)
    with pytest.raises(ConcertoError, match="report_id"):
        intel.link_report(workflow, RM_GONGBEI, done.report_id, version=2, order_id=order_id)


def test_the_demo_seeder_adds_the_jida_reports_once(workflow):
    assert intel_demo.seed_demo_intel(workflow) == 2
    assert intel_demo.seed_demo_intel(workflow) == 0
    found = intel.search_reports(workflow, CHANNEL, micro_region="Jida", tags=["jida"])
    assert len(found) == 2 and set(found["operator"]) == {"rival_a"}


def test_tags_are_normalised():
    assert intel.parse_tags(["#A", " a ", "B"]) == ["a", "b"]
    assert intel.parse_tags(None) == []


def test_a_form_token_is_the_same_for_the_same_person_content_and_day_only():
    day = dt.date(2026, 10, 5)
    base = intel.form_token("ann", day, {"text": "x", "figures": {"fee": 99}})
    assert base == intel.form_token("ann", day, {"figures": {"fee": 99}, "text": "x"})
    assert len({base, intel.form_token("bob", day, {"text": "x", "figures": {"fee": 99}}),
                intel.form_token("ann", day + dt.timedelta(days=1),
                                 {"text": "x", "figures": {"fee": 99}}),
                intel.form_token("ann", day, {"text": "y", "figures": {"fee": 99}})}) == 4

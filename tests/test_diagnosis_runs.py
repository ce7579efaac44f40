"""Stored diagnosis runs: comparing any two (even the same month, even one run with itself)
never crashes, and a regional manager sees only their region's nodes of a stored run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from analytics.diagnosis.runs import NodeResult, RunResult, compare_runs
from analytics.diagnosis.templates import parse_template
from data_access.store import diagnosis as store
from data_access.store import scope
from data_access.store.auth import Forbidden, Principal

RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")
RM_DOUMEN = Principal("rm_doumen", "Doumen manager", "regional_manager", "branch", "Doumen")
ANALYST = Principal("analyst", "Analyst", "analyst")


def _node(node_id, filters, value, parent=None, members=()):
    return NodeResult(node_id, parent, 0 if parent is None else 1, "revenue", node_id, "CNY",
                      filters, value, value * 0.9, value * 0.1, 0.11, "green", 1.0, False, "",
                      members=list(members))


def _run(period="2026-09", scale=1.0) -> RunResult:
    return RunResult("Check", 1, period, "2026-08", [
        _node("city", {}, 100.0 * scale, members=[{"micro_region": "Jida", "value": 60.0}]),
        _node("gongbei", {"micro_region": "Gongbei"}, 20.0 * scale, "city"),
        _node("doumen", {"branch": "Doumen"}, 30.0 * scale, "city"),
        _node("doumen_gb", {"branch": "Doumen", "micro_region": "Jing'an"}, 5.0 * scale,
              "doumen"),
    ])


@pytest.mark.parametrize("first,second", [
    (_run("2026-09"), _run("2026-09", 2.0)),  # two runs of the same month
    (_run("2026-09"), _run("2026-09")),  # one run with itself
    (_run("2026-08"), _run("2026-09", 2.0)),
])
def test_compare_runs_never_collides_column_names(first, second):
    table = compare_runs(first, second)
    assert table.columns.is_unique
    difference = table.set_index("node_id")["difference"].to_dict()
    assert difference == {a.node_id: b.value - a.value for a, b in zip(first.nodes, second.nodes)}


def test_compare_runs_keeps_nodes_only_one_run_has():
    shorter = dataclasses.replace(_run(), nodes=_run().nodes[:2])
    table = compare_runs(shorter, _run())
    assert set(table["node_id"]) == {"city", "gongbei", "doumen", "doumen_gb"}
    assert table.set_index("node_id").loc["doumen", "label"] == "doumen"


def _stored(workflow, result: RunResult) -> int:
    template = parse_template({"name": "Check", "root": {"id": "root", "metric": "revenue"}})
    stored = store.save_template(workflow, template, "analyst")
    return store.record_run(workflow, stored.template_id, result, trigger="manual", slot="s1",
                            seconds=0.0, alerts=[])


def test_a_stored_run_is_narrowed_to_the_managers_region(workflow):
    run_id = _stored(workflow, _run())
    with scope.acting_as(ANALYST):
        assert len(store.load_run(workflow, run_id).nodes) == 4
    with scope.acting_as(RM_GONGBEI):
        mine = store.load_run(workflow, run_id)
    assert [n.node_id for n in mine.nodes] == ["gongbei"]
    assert mine.nodes[0].parent_id is None  # its city-wide parent is not shown
    with scope.acting_as(RM_DOUMEN):
        assert [n.node_id for n in store.load_run(workflow, run_id).nodes] == ["doumen",
                                                                                 "doumen_gb"]
    text = json.dumps(dataclasses.asdict(mine))
    assert "Jida" not in text and "100.0" not in text


def test_a_city_wide_run_is_refused_to_a_manager_with_a_message(workflow):
    run_id = _stored(workflow, RunResult("Check", 1, "2026-09", "2026-08",
                                         [_node("city", {}, 100.0)]))
    with scope.acting_as(RM_GONGBEI):
        with pytest.raises(Forbidden, match="computed for the whole city"):
            store.load_run(workflow, run_id)


def test_the_diagnosis_page_with_one_run_and_two_runs_of_a_month_opens(app_as):
    """The history tab used to crash the page for everyone once a template had one run."""
    from data_access.store.workflow import create_workflow_engine

    at = app_as("analyst")
    at.switch_page("pages/diagnosis.py").run()
    assert not at.exception, at.exception
    engine = create_workflow_engine(app_as.workflow_url)
    name = at.selectbox(key="diagnosis_template").value
    stored = next(s for s in store.list_templates(engine) if s.template.name == name)
    result = dataclasses.replace(_run(), template=name)
    store.record_run(engine, stored.template_id, result, trigger="manual", slot="one",
                     seconds=0.0, alerts=[])
    at.session_state["diagnosis_tab"] = "Runs & versions 历史"
    at.run()
    assert not at.exception, at.exception
    assert any("One stored run" in i.value for i in at.info)
    store.record_run(engine, stored.template_id, result, trigger="manual", slot="two",
                     seconds=0.0, alerts=[])
    at.run()
    assert not at.exception, at.exception
    assert {"diagnosis_a", "diagnosis_b"} <= {s.key for s in at.selectbox}  # two to compare
    engine.dispose()


def test_a_regional_manager_cannot_save_a_template_from_the_page(app_as):
    from data_access.store.workflow import create_workflow_engine, diagnosis_template

    at = app_as("rm_gongbei")
    at.switch_page("pages/diagnosis.py").run()
    assert not at.exception, at.exception
    engine = create_workflow_engine(app_as.workflow_url)
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(diagnosis_template)).scalar()
    at.session_state["diagnosis_tab"] = "Edit 编辑"
    at.run()
    at.button[[b.label for b in at.button].index("Save as a new version 保存")].click().run()
    assert not at.exception, at.exception
    assert any("may not save diagnosis templates" in e.value for e in at.error)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(diagnosis_template)
                            ).scalar() == before
    engine.dispose()

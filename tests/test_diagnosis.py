"""Diagnosis templates: parsing and rejection, editing, storage, runs, alerts and the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.diagnosis.runs import breach_alerts, compare_runs, run_template
from data_access.store.scope import as_system
from analytics.diagnosis.templates import (TemplateError, add_node, edit_node, move_node, parse_template,
                                 remove_node, template_to_dict)
from data_access.store import diagnosis as store
from data_access.db import create_mart_engine
from data_access.store.workflow import alert, create_workflow_engine, diagnosis_run

ROOT = Path(__file__).resolve().parent.parent
STARTERS = sorted((ROOT / "assets" / "templates").glob("*.json"))


def _tree(**root) -> dict:
    return {"name": "Test", "root": {"id": "root", "metric": "revenue", **root}}


@pytest.mark.parametrize("path", STARTERS, ids=lambda p: p.stem)
def test_starter_templates_parse_and_round_trip(path):
    template = parse_template(path.read_text(encoding="utf-8"))
    assert parse_template(template_to_dict(template)) == template
    assert len(template.nodes()) >= 4


@pytest.mark.parametrize("tree, message", [
    (_tree(metric="profit"), "root.metric: 'profit' is not a KPI"),
    (_tree(breakdown="district"), "root.breakdown: 'district' is not a dimension"),
    (_tree(filters={"msisdn": "1"}), "root.filters: 'msisdn' cannot be filtered on"),
    (_tree(filters={"channel_id": "7; drop table"}), "root.filters.channel_id"),
    (_tree(children=[{"id": "root", "metric": "arpu"}]), "root.children[0].id: 'root' is used twice"),
    (_tree(children=[{"id": "a", "metric": "arpu", "sql": "select 1"}]),
     "root.children[0]: unknown field(s) sql"),
    (_tree(alert_change=5.0e3), "root.alert_change"),
    ({"name": "", "root": {"id": "r", "metric": "revenue"}}, "name:"),
    ({"name": "x", "schedule": "hourly", "root": {"id": "r", "metric": "revenue"}}, "schedule:"),
    ({"name": "x"}, "root: missing"),
])
def test_malformed_templates_are_refused_naming_the_field(tree, message):
    with pytest.raises(TemplateError) as error:
        parse_template(tree)
    assert message in str(error.value)


def test_bad_json_and_deep_trees_are_refused():
    with pytest.raises(TemplateError, match="not valid JSON"):
        parse_template("{ not json")
    node = {"id": "n6", "metric": "revenue"}
    for i in range(5, -1, -1):
        node = {"id": f"n{i}", "metric": "revenue", "children": [node]}
    with pytest.raises(TemplateError, match="at most 6 levels"):
        parse_template({"name": "deep", "root": node})


def test_editing_adds_removes_reorders_and_rechecks():
    template = parse_template(_tree(breakdown="branch"))
    template = add_node(template, "root", "arpu", breakdown="segment")
    template = add_node(template, "root", "new_subs", filters={"branch": "Doumen"})
    assert [c.metric for c in template.root.children] == ["arpu", "new_subs"]
    template = move_node(template, template.root.children[1].id, -1)
    assert [c.metric for c in template.root.children] == ["new_subs", "arpu"]
    template = edit_node(template, "arpu_1", breakdown="plan")
    assert template.root.children[1].breakdown == "plan"
    template = remove_node(template, "new_subs_1")
    assert [c.id for c in template.root.children] == ["arpu_1"]
    with pytest.raises(TemplateError, match="root node cannot be removed"):
        remove_node(template, "root")
    with pytest.raises(TemplateError, match="not a KPI"):
        add_node(template, "root", "happiness")



def test_templates_round_trip_through_the_store_with_versions(workflow):
    template = parse_template(STARTERS[0].read_text(encoding="utf-8"))
    first = store.save_template(workflow, template, "analyst1")
    second = store.save_template(workflow, add_node(template, template.root.id, "mou"), "analyst2")
    assert (first.template.version, second.template.version) == (1, 2)
    current = [s for s in store.list_templates(workflow) if s.template.name == template.name]
    assert [s.template_id for s in current] == [second.template_id]
    assert store.load_template(workflow, first.template_id).template.root == template.root
    assert list(store.template_versions(workflow, template.name)["version"]) == [2, 1]


@pytest.fixture
def mart(duck_mart):
    engine = create_mart_engine(duck_mart, read_only=True)
    yield engine
    engine.dispose()


def _planted(mart, kind: str) -> list[dict]:
    with mart.connect() as conn:
        rows = conn.execute(sa.text("SELECT where_json FROM planted_truth WHERE kind = :k"),
                            {"k": kind}).scalars().all()
    return [json.loads(r) for r in rows]


@pytest.fixture
def planted_mart(variant_mart):
    engine = create_mart_engine(variant_mart, read_only=True)
    yield engine
    engine.dispose()


def test_a_run_reports_values_that_match_the_mart_and_locates_the_planted_drops(planted_mart):
    """Variant a: two one-month steps; b: a three-month ramp in one cell and a step in
    another (other cells, other sizes)."""
    mart = planted_mart
    template = parse_template(STARTERS[[p.stem for p in STARTERS].index("revenue_anomaly")]
                              .read_text(encoding="utf-8"))
    data = store.MartDiagnosisData(mart)
    totals = data.monthly_totals({})
    period = totals.index[-1]
    result = run_template(template, data, period)
    root = result.nodes[0]
    assert root.value == pytest.approx(totals["revenue"].iloc[-1])
    assert root.compare_value == pytest.approx(totals["revenue"].iloc[-2])
    assert result.compare_period == f"{totals.index[-2]:%Y-%m}"
    members = pd.DataFrame(root.members)
    assert members["contribution"].sum() == pytest.approx(root.change, rel=1e-6)
    found = [f["attributes"] for f in root.findings]
    for truth in _planted(mart, "revenue_drop"):
        assert truth in found
    social = next(n for n in result.nodes if n.node_id == "social_outlets")
    assert social.filters == {"channel_type": "social_outlet"}


def test_comparing_with_last_year_and_between_runs(mart):
    template = parse_template(STARTERS[[p.stem for p in STARTERS].index("churn_rise")]
                              .read_text(encoding="utf-8"))
    data = store.MartDiagnosisData(mart)
    months = data.monthly_totals({}).index
    late = run_template(template, data, months[-1])
    assert late.compare_period == f"{months[-13]:%Y-%m}"
    early = run_template(template, data, months[-2], compare=months[-3])
    table = compare_runs(early, late)
    assert set(table["node_id"]) == {n.node_id for n in late.nodes}
    assert table["difference"].notna().any()


def test_breached_nodes_become_alerts_once(workflow, mart):
    template = parse_template(_tree(alert_change=-0.0001, breakdown="branch"))
    stored = store.save_template(workflow, template, "analyst")
    data = store.MartDiagnosisData(mart)
    months = data.monthly_totals({}).index
    result = run_template(template, data, months[-1], compare=months[-2])
    rows = breach_alerts(result)
    assert result.nodes[0].breached == (result.nodes[0].change_pct <= -0.0001)
    assert len(rows) == len(result.breaches)
    run1 = store.record_run(workflow, stored.template_id, result, trigger="manual", slot="a",
                            seconds=0.1, alerts=rows)
    run2 = store.record_run(workflow, stored.template_id, result, trigger="manual", slot="b",
                            seconds=0.1, alerts=rows)
    assert run1 and run2
    with workflow.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(alert)).scalar()
    assert count == len(rows)  # the same metric, unit and month alerts once
    assert store.record_run(workflow, stored.template_id, result, trigger="manual", slot="a",
                            seconds=0.1, alerts=rows) is None
    assert store.load_run(workflow, run1).nodes[0].value == result.nodes[0].value


def test_the_scheduler_runs_each_due_slot_exactly_once_even_when_two_start_together(
        workflow, duck_mart, monkeypatch):
    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    assert store.seed_starter_templates(workflow) == len(STARTERS)
    assert store.seed_starter_templates(workflow) == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    claims: list = []

    def claim():  # each scheduler is a job: it acts as the system principal
        claims.extend(as_system(store.claim_due)(workflow, later))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s.template.name for s, _ in claims) == sorted(
        parse_template(p.read_text(encoding="utf-8")).name for p in STARTERS)
    assert store.claim_due(workflow, later) == []  # the slots moved on


def test_scheduler_cli_runs_due_templates_once(tmp_path, duck_mart):
    env = {"CONCERTO_MART_URL": duck_mart,
           "CONCERTO_WORKFLOW_URL": f"sqlite:///{tmp_path / 'wf.sqlite'}",
           "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jobs.scheduler", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)

    assert "added 3" in cli("seed").stdout
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=40)).isoformat()
    first = cli("run-due", "--now", later)
    assert first.returncode == 0, first.stderr
    assert "3 template(s) were due, 0 failed" in first.stdout
    second = cli("run-due", "--now", later)
    assert "0 template(s) were due" in second.stdout
    engine = create_workflow_engine(env["CONCERTO_WORKFLOW_URL"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(diagnosis_run)).scalar() == 3
    engine.dispose()
    bad = cli("run", "No such template")
    assert bad.returncode == 2 and "No template named" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_anomaly_scan_flags_a_channel_whose_sales_collapse_and_alerts_once(tmp_path):
    import numpy as np

    from analytics.anomaly.alerting import scan_panel

    rng = np.random.default_rng(5)
    days = pd.date_range("2026-01-01", periods=240, freq="D")
    weekly = np.where(days.day_of_week >= 5, 1.3, 0.9)
    rows = []
    for unit in range(30):
        values = rng.poisson(20 * weekly).astype(float)
        if unit == 7:  # collapses on the last day (a daily job sees it the day it happens)
            values[-1] = 2.0
        rows.append(pd.DataFrame({"unit": unit, "unit_label": f"Channel {unit}", "time": days,
                                  "value": values}))
    panel = pd.concat(rows, ignore_index=True)
    alerts = scan_panel(panel, "new_activations", "channel")
    assert [a["unit_key"] for a in alerts] == ["7"]
    assert alerts[0]["observed_at"] == "2026-08-28" and alerts[0]["actual"] == 2.0
    assert alerts[0]["expected"] > 10
    workflow = create_workflow_engine(f"sqlite:///{tmp_path / 'wf.sqlite'}")
    assert store.raise_alerts(workflow, alerts) == 1
    assert store.raise_alerts(workflow, alerts) == 0  # the same point does not alert twice
    assert len(store.list_alerts(workflow)) == 1
    workflow.dispose()
    with pytest.raises(ValueError, match="threshold must be in"):
        scan_panel(panel, "new_activations", "channel", threshold=1.5)


def test_scheduler_scan_cli(tmp_path, duck_mart):
    env = {"CONCERTO_MART_URL": duck_mart, "PATH": "/usr/bin:/bin",
           "CONCERTO_WORKFLOW_URL": f"sqlite:///{tmp_path / 'wf.sqlite'}"}
    done = subprocess.run([sys.executable, "-m", "jobs.scheduler", "scan", "--recent", "3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "channel_new_activations:" in done.stdout and "new alert(s)" in done.stdout
    assert "Revenue assurance over 3 month(s)" in done.stdout  # the nightly job checks leakage
    assert "new revenue-assurance alert(s)" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "jobs.scheduler", "scan", "--threshold", "7"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--threshold must be" in bad.stderr


def test_seven_day_totals_end_on_the_latest_day_and_drop_a_partial_first_week():
    from analytics.anomaly.alerting import seven_day_totals

    days = pd.date_range("2026-10-01", "2026-10-31", freq="D")  # 31 days: 4 weeks + 3 days
    panel = pd.DataFrame({"unit": 1, "unit_label": "c", "time": days, "value": 1.0})
    weekly = seven_day_totals(panel)
    assert list(weekly["time"].dt.day) == [10, 17, 24, 31]
    assert (weekly["value"] == 7.0).all()


def test_alerts_runs_and_claims_are_audited(workflow):
    from data_access.store.audit import load_audit
    from data_access.store.diagnosis import raise_alerts

    raise_alerts(workflow, [{"source": "anomaly", "metric": "revenue", "unit_level": "city",
                             "unit_key": "all", "unit_label": "city", "observed_at": "2026-10",
                             "score": 0.95, "actual": 1.0, "expected": 2.0,
                             "message": "down"}])
    audit = load_audit(workflow, entity="alert")
    assert list(audit["action"]) == ["alert_raise"] and audit["username"].iloc[0] == "system"


def _cube_leaves(months: list[str], seed: int = 0) -> pd.DataFrame:
    """Summary-cube-like leaves (region × channel type × plan × segment) for some months."""
    import numpy as np

    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [["Gongbei", "Jida", "Sanzao", "Hongqi"], ["own_hall", "franchise", "social_outlet"],
         ["plan_a", "plan_b", "plan_c"], ["mass", "youth", "high_end"]],
        names=["micro_region", "channel_type", "plan_name", "segment"]).to_frame(index=False)
    subs = rng.lognormal(np.log(300), 0.5, len(index))
    arpu = np.where(index["segment"] == "high_end", 180.0, 60.0) * rng.lognormal(0, 0.2, len(index))
    frames = []
    for month in months:
        noise = 1 + rng.normal(0, 0.01, len(index))
        frames.append(index.assign(month=pd.Timestamp(month), active_subs=subs * noise,
                                   revenue=subs * noise * arpu, churned_subs=0.02 * subs * noise))
    return pd.concat(frames, ignore_index=True)


def test_a_ratio_kpi_is_located_where_its_rate_moved_not_where_its_base_grew():
    from analytics.diagnosis.runs import locate

    leaves = _cube_leaves(["2026-05-01", "2026-06-01"], seed=1)
    june = leaves["month"] == pd.Timestamp("2026-06-01")
    youth, mass = june & (leaves["segment"] == "youth"), june & (leaves["segment"] == "mass")
    leaves.loc[youth, "revenue"] *= 0.8                      # youth ARPU −20%
    leaves.loc[mass, ["active_subs", "revenue"]] *= 1.5       # mass base +50%, same ARPU
    found = locate("arpu", leaves, "2026-06-01", "2026-05-01")
    assert [f["attributes"] for f in found] == [{"segment": "youth"}]
    assert found[0]["relative_change"] == pytest.approx(-0.2, abs=0.03)
    # The same leaves read as an additive KPI point at the base shift too.
    assert {"segment": "mass"} in [f["attributes"] for f in locate("revenue", leaves, "2026-06-01",
                                                                    "2026-05-01")]


def test_a_lagged_ratio_kpi_reads_its_base_from_the_month_before():
    from analytics.diagnosis.runs import leaf_months, locate

    months = leaf_months("churn_rate", pd.Timestamp("2026-06-01"), pd.Timestamp("2026-05-01"))
    assert months == [pd.Timestamp(m) for m in ("2026-04-01", "2026-05-01", "2026-06-01")]
    leaves = _cube_leaves(["2026-04-01", "2026-05-01", "2026-06-01"], seed=2)
    june = leaves["month"] == pd.Timestamp("2026-06-01")
    leaves.loc[june & (leaves["channel_type"] == "franchise"), "churned_subs"] *= 2.0
    # This month's base shrinks where churn rose; churn rate must be judged on last month's.
    leaves.loc[june & (leaves["micro_region"] == "Jida"), "active_subs"] *= 0.5
    found = locate("churn_rate", leaves, "2026-06-01", "2026-05-01")
    assert [f["attributes"] for f in found] == [{"channel_type": "franchise"}]
    # Without the months before, a lagged KPI is not located.
    assert locate("churn_rate", leaves[leaves["month"] >= pd.Timestamp("2026-05-01")],
                  "2026-06-01", "2026-05-01") == []

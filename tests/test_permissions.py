"""Every write in data_access checks the acting principal's permission: the store function
itself refuses (``Forbidden`` with a message) and writes nothing; the pages only show it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import sqlalchemy as sa

from analytics.diagnosis.runs import RunResult
from analytics.diagnosis.templates import parse_template
from data_access.store import auth
from data_access.store import scope
from data_access.store import diagnosis as store
from data_access.store.auth import Forbidden, Principal
from data_access.store.workflow import audit_log, diagnosis_run, diagnosis_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = parse_template({"name": "Shared check", "root": {"id": "root", "metric": "revenue",
                                                            "breakdown": "branch"}})
PEOPLE = {role: Principal(f"u_{role}", role.title(), role,
                          *(("micro_region", "Gongbei") if role == "regional_manager" else ()))
          for role in auth.ROLES}


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize("role", sorted(auth.ROLES))
def test_only_template_editors_may_save_a_template_version(workflow, role):
    store.save_template(workflow, TEMPLATE, "analyst")  # version 1, by the system
    before = (_count(workflow, diagnosis_template), _count(workflow, audit_log))
    with scope.acting_as(PEOPLE[role]):
        if role in auth.PERMISSIONS["edit_templates"]:
            saved = store.save_template(workflow, TEMPLATE, PEOPLE[role].username)
            assert saved.template.version == 2
            return
        with pytest.raises(Forbidden, match="may not save diagnosis templates"):
            store.save_template(workflow, TEMPLATE, PEOPLE[role].username)
    assert (_count(workflow, diagnosis_template), _count(workflow, audit_log)) == before
    assert store.list_templates(workflow)[0].template.version == 1


@pytest.mark.parametrize("role", sorted(set(auth.ROLES) - {"administrator"}))
def test_only_administrators_may_manage_users(workflow, role):
    auth.create_user(workflow, "ana.li", "correct-horse-42", "analyst", display_name="Ana",
                     actor="admin")
    before = _count(workflow, audit_log)
    with scope.acting_as(PEOPLE[role]):
        for write in (
            lambda: auth.create_user(workflow, "bo.wu", "correct-horse-42", "administrator",
                                     display_name="Bo", actor=PEOPLE[role].username),
            lambda: auth.change_role(workflow, "ana.li", "administrator",
                                     actor=PEOPLE[role].username),
            lambda: auth.set_password(workflow, "ana.li", "another-secret-77",
                                      actor=PEOPLE[role].username),
            lambda: auth.set_active(workflow, "ana.li", False, actor=PEOPLE[role].username),
        ):
            with pytest.raises(Forbidden):
                write()
    assert _count(workflow, audit_log) == before
    assert auth.load_principal(workflow, "ana.li").role == "analyst"


def test_runs_and_scheduled_claims_need_run_diagnosis(workflow):
    stored = store.save_template(workflow, TEMPLATE, "analyst")
    result = RunResult("Shared check", 1, "2026-09", "2026-08", [])
    with scope.acting_as(PEOPLE["marketer"]):
        with pytest.raises(Forbidden, match="may not store diagnosis runs"):
            store.record_run(workflow, stored.template_id, result, trigger="manual",
                             slot="m1", seconds=0.0, alerts=[])
        with pytest.raises(Forbidden, match="may not claim"):
            store.claim_due(workflow)
    assert _count(workflow, diagnosis_run) == 0
    with scope.acting_as(PEOPLE["analyst"]):
        assert store.record_run(workflow, stored.template_id, result, trigger="manual",
                                slot="m1", seconds=0.0, alerts=[]) is not None


@pytest.mark.parametrize("seed", ["data_access.store.dispatch:seed_dispatch_rules",
                                  "data_access.store.arsenal:seed_arsenal",
                                  "data_access.store.campaign_plans:seed_channel_rules",
                                  "data_access.store.demo_users:seed_demo_users",
                                  "data_access.store.demo:seed_effect_orders"])
def test_seeders_are_refused_to_anyone_but_administrators_and_jobs(workflow, seed):
    import importlib

    module, name = seed.split(":")
    function = getattr(importlib.import_module(module), name)
    for who in (PEOPLE["marketer"] if "arsenal" not in seed else PEOPLE["analyst"], None):
        with scope.acting_as(who):
            with pytest.raises(Forbidden):
                function(workflow)
    assert _count(workflow, audit_log) == 0


#: Every public function of data_access that writes to the workflow store, and where its
#: permission is checked. A new writer fails ``test_every_writer_is_classified`` until it
#: is listed here; "checks" entries are verified to hold a check in their own source.
WRITERS = {
    "arsenal.load_catalogue": "checks manage_arsenal",
    "arsenal.save_tactic": "checks manage_arsenal",
    "arsenal.set_active": "checks manage_arsenal",
    "arsenal_picks.pick_tactic": "checked in pick_in",
    "arsenal_picks.pick_in": "checks pick_tactics",
    "arsenal_picks.cancel_pick": "checks pick_tactics / ownership",
    "audit.record_audit": "inside the caller's checked transaction",
    "auth.create_user": "checks manage_users",
    "auth.authenticate": "sign-in itself: anyone may try",
    "budget_alerts.raise_alerts": "inside a checked booking or allocation transaction",
    "budget_allocation.allocate": "checks allocate_budgets",
    "budget_allocation.set_quota": "checks allocate_budgets",
    "budget_allocation.set_thresholds": "checks allocate_budgets",
    "budget_bookings.prebook": "checked in prebook_in",
    "budget_bookings.prebook_in": "checks book_budget",
    "campaign_plans.save_rule": "checks administrator",
    "campaign_plans.seed_channel_rules": "checks manage_dispatch_rules",
    "campaign_plans.save_plan": "checks manage_campaigns",
    "churn_store.raise_group_alerts": "checks view_dashboards (refused to nobody)",
    "churn_store.claim_training": "checks view_mart_admin",
    "churn_store.record_training_step": "checks view_mart_admin",
    "churn_store.finish_training": "checks view_mart_admin",
    "churn_scores.open_score_run": "checks view_mart_admin",
    "churn_scores.add_scores": "checks view_mart_admin",
    "churn_scores.finish_score_run": "checks view_mart_admin",
    "comms.add_resources": "checks",
    "comms.submit_request": "checks",
    "comms.move_request": "checks",
    "comms.set_budget": "checks",
    "diagnosis.save_template": "checks edit_templates",
    "diagnosis.claim_due": "checks run_diagnosis",
    "diagnosis.record_run": "checks run_diagnosis",
    "diagnosis.raise_alerts": "checks view_dashboards (refused to nobody)",
    "dispatch.seed_dispatch_rules": "checks manage_dispatch_rules",
    "demo.seed_effect_orders": "checks manage_dispatch_rules",
    "intel.submit_report": "checks",
    "intel.link_report": "checks",
    "order_actions.transition": "checks the move's permission",
    "order_actions.save_checklist": "checks the assignee",
    "order_actions.comment": "checked in _row (may see the order)",
    "order_spend.pick_and_book": "checked in pick_in and prebook_in",
    "workorders.insert_order": "inside a checked create or dispatch (check_new_order)",
    "workorders.create_order": "checks create_orders",
    "workflow.write_transaction": "the transaction helper",
    "workflow.update_versioned": "inside the caller's checked transaction",
    "migrate.upgrade_store": "the schema migration (no user data): every process on start",
    "rescue.record_rescues": "checks act_on_alerts (the nightly scan acts as the system)",
    "rescue.set_outcomes": "checks act_on_alerts (the nightly scan acts as the system)",
    "precomputed.save_precomputed": "checks view_mart_admin (the precompute job acts as the system)",
}
#: Writers are named ``module.function``; the budget modules and the churn store go by these
#: names (the mart's own writers, in data_access/mart and data_access/synth, are not here:
#: administrators and the command line build marts).
_WRITER_MODULE = {"budgets/ledger.py": "budgets", "budgets/alerts.py": "budget_alerts",
                  "budgets/allocation.py": "budget_allocation",
                  "budgets/bookings.py": "budget_bookings", "budgets/seed.py": "budget_seed",
                  "churn.py": "churn_store", "churn_scores/writing.py": "churn_scores",
                  "precomputed/__init__.py": "precomputed"}


def _writers() -> dict[str, str]:
    found = {}
    store = ROOT / "data_access" / "store"
    for path in sorted(store.rglob("*.py")):
        rel = path.relative_to(store).as_posix()
        if rel.startswith("migrations/"):
            continue
        name = _WRITER_MODULE.get(rel, path.stem)
        source = path.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                body = ast.get_source_segment(source, node) or ""
                if any(w in body for w in ("begin()", "write_transaction(", "sa.insert(",
                                           "sa.update(", "sa.delete(")):
                    found[f"{name}.{node.name}"] = body
    return found


def test_every_writer_is_classified():
    assert set(_writers()) == set(WRITERS)


def test_every_writer_said_to_check_holds_a_check():
    checks = ("require(", ".can(", "Forbidden", "_require_acting(")
    for name, body in _writers().items():
        if WRITERS[name].startswith("checks"):
            assert any(c in body for c in checks), f"{name} writes without a permission check"

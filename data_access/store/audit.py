"""The audit log: who changed what in the workflow store, when, before and after."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.ops.workorders import TRANSITIONS
from data_access.db import read_frame
from data_access.store.workflow import audit_log
from data_access.store.scope import require

#: The audit vocabulary: every action is ``<object>_<verb>`` and names one kind of event, the
#: same wherever it happens (an alert is raised as ``alert_raise`` by every detector).
ACTIONS = frozenset({
    # users and sign-in
    "user_create", "password_set", "user_activate", "user_deactivate", "role_change",
    "login_ok", "login_failed", "account_locked", "login_refused_locked",
    "login_refused_inactive",
    # diagnosis and alerts
    "template_save", "template_claim", "diagnosis_run", "alert_raise", "alert_dispatch",
    # work orders (one per lifecycle move) and dispatch rules
    "order_create", "order_checklist", "order_comment", "rule_seed", "rule_save",
    *(f"order_{move}" for move in TRANSITIONS),
    # marketing arsenal
    "arsenal_load", "tactic_create", "tactic_update", "tactic_activate", "tactic_deactivate",
    "tactic_pick", "tactic_pick_cancel",
    # budgets
    "budget_prebook", "budget_confirm", "budget_release", "budget_hand_down",
    "budget_allocate", "budget_set_quota", "budget_set_thresholds",
    # campaign plans, intelligence, communications
    "plan_draft", "plan_saved", "plan_override", "intel_submit", "intel_link",
    "comms_resource_add", "comms_request_create", "comms_request_move", "comms_budget_set",
    "demo_seed",
    # churn scores and trainings started from the page
    "churn_run_start", "churn_run_save", "churn_run_prune", "churn_run_prune_done",
    "churn_run_abandon", "churn_run_abandon_done", "precompute_save", "churn_training_start",
    "churn_training_step", "churn_training_finish",
    # group early warnings raised as orders, and their outcomes
    "rescue_create", "rescue_outcome",
})
#: Keys never written to the audit, whatever a caller passes.
SECRET_KEYS = frozenset({"password", "password_hash"})


def _json(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    safe = {k: v for k, v in value.items() if k not in SECRET_KEYS}
    return json.dumps(safe, ensure_ascii=False, sort_keys=True, default=str)


def record_audit(conn: sa.Connection, actor: str, action: str, entity: str, entity_id: Any,
                 before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
    """Append one audit row inside the caller's transaction.

    Every write to the workflow store calls this on the same connection, so the change and
    its audit row commit or roll back together. Keys named ``password`` or ``password_hash``
    are dropped, whatever the caller passes.
    """
    if action not in ACTIONS:
        raise ValueError(f"Audit action {action!r} is not in the vocabulary (ACTIONS)")
    conn.info["audited"] = conn.info.get("audited", 0) + 1
    conn.execute(sa.insert(audit_log).values(
        at=dt.datetime.now(dt.UTC), username=str(actor)[:40], action=action[:40],
        entity=entity[:40], entity_id=str(entity_id)[:80], before_json=_json(before),
        after_json=_json(after)))


def load_audit(engine: sa.Engine, *, entity_id: str | None = None, entity: str | None = None,
               username: str | None = None, limit: int = 500) -> pd.DataFrame:
    """The newest audit rows first, optionally for one entity, kind of entity or actor.

    Only roles with ``view_audit`` may read it (tools acting as nobody in particular may).
    """

    require("view_audit", "read the audit log")
    query = sa.select(audit_log).order_by(audit_log.c.audit_id.desc()).limit(int(limit))
    if entity_id is not None:
        query = query.where(audit_log.c.entity_id == entity_id)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    if username is not None:
        query = query.where(audit_log.c.username == username)
    return read_frame(engine, query)

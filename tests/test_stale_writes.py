"""Stale writes are refused deterministically, on SQLite and on PostgreSQL.

The thread race in test_workorders passes even without a version check (SQLite serialises
writers; PostgreSQL threads rarely overlap), so these tests fix the interleaving instead:
two people read the same version, the first write wins, the second is refused. Each layer
of the check is tested on its own: the version the caller saw (``transition``, ``comment``),
and the conditional UPDATE every change goes through (``version = <read version>``).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from data_access.store import auth
from data_access.store import dispatch
from data_access.store import order_actions
from data_access.store import workorders
from data_access.store.demo_users import DEMO_USERS, seed_demo_users
from data_access.store.workflow import StaleWrite, write_transaction

PEOPLE = {u: auth.Principal(u, name, role, level, value)
          for u, role, name, level, value in DEMO_USERS}
ADMIN, CHANNEL, ANALYST = PEOPLE["admin"], PEOPLE["channel_mgr"], PEOPLE["analyst"]


@pytest.fixture
def order(workflow: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    seed_demo_users(workflow)
    dispatch.seed_dispatch_rules(workflow)
    order_id = workorders.create_order(
        workflow, ADMIN, kind="task", title="Check outlet activations", unit_level="channel",
        unit_key="5", unit_label="Outlet 5", branch="Xiangzhou", micro_region="Gongbei",
        owner_role="channel_manager", assignee="channel_mgr", priority="normal",
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=48))
    return workorders.load_order(workflow, ADMIN, order_id)


def _history(workflow, order_id) -> list[str]:
    return list(workorders.order_history(workflow, ADMIN, order_id)["action"])


def test_the_second_of_two_people_who_saw_the_same_version_is_refused(workflow, order):
    seen_by_a = workorders.load_order(workflow, CHANNEL, order["order_id"])
    seen_by_b = workorders.load_order(workflow, ANALYST, order["order_id"])
    assert seen_by_a["version"] == seen_by_b["version"]
    order_actions.transition(workflow, CHANNEL, order["order_id"], "accept",
                             version=seen_by_a["version"])
    with pytest.raises(StaleWrite, match="changed by someone else"):
        order_actions.transition(workflow, ANALYST, order["order_id"], "reassign",
                                 version=seen_by_b["version"], assignee="account_mgr")
    with pytest.raises(StaleWrite):
        order_actions.comment(workflow, ANALYST, order["order_id"], "late note",
                              version=seen_by_b["version"])
    stored = workorders.load_order(workflow, ADMIN, order["order_id"])
    assert (stored["state"], stored["assignee"]) == ("accepted", "channel_mgr")
    assert stored["version"] == seen_by_a["version"] + 1
    assert _history(workflow, order["order_id"])[-1] == "accept"


def test_a_write_from_a_stale_read_is_refused_by_the_conditional_update(workflow, order):
    """Two transactions read version v; the first commits v+1; the second's UPDATE … WHERE
    version = v must match no row. On PostgreSQL the two transactions really are open at
    once; SQLite allows one writer, so there the second begins after the first commits."""
    order_id = order["order_id"]
    if workflow.dialect.name == "postgresql":
        first, second = workflow.connect(), workflow.connect()
        try:
            tx1, tx2 = first.begin(), second.begin()
            read1 = workorders._row(first, ADMIN, order_id)
            read2 = workorders._row(second, ADMIN, order_id)
            assert read1["version"] == read2["version"]
            workorders._update(first, read1, "admin", "comment", {}, "first")
            tx1.commit()
            with pytest.raises(StaleWrite):
                workorders._update(second, read2, "admin", "comment", {}, "second")
            tx2.rollback()
        finally:
            first.close()
            second.close()
    else:
        with workflow.connect() as conn, conn.begin():
            read1 = workorders._row(conn, ADMIN, order_id)
        read2 = dict(read1)  # the same version, read by someone else
        with write_transaction(workflow) as conn:
            workorders._update(conn, read1, "admin", "comment", {}, "first")
        with pytest.raises(StaleWrite):
            with write_transaction(workflow) as conn:
                workorders._update(conn, read2, "admin", "comment", {}, "second")
    notes = list(workorders.order_history(workflow, ADMIN, order_id)["note"])
    assert "first" in notes and "second" not in notes
    assert workorders.load_order(workflow, ADMIN, order_id)["version"] == order["version"] + 1

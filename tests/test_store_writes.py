"""The store's two write patterns: the versioned update, and a write with its audit row.

Both run on SQLite and PostgreSQL (the ``workflow`` fixture). The stale-write test is
deterministic: two explicit transactions read the same version, one after the other.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from data_access.store import arsenal
from data_access.store.audit import ACTIONS, record_audit
from data_access.store.workflow import (StaleWrite, UnauditedWrite, audit_log,
                                        update_versioned, write_transaction)


def _tactic_id(workflow: sa.Engine) -> int:
    arsenal.seed_arsenal(workflow)
    with workflow.connect() as conn:
        return int(conn.execute(sa.select(sa.func.min(arsenal.tactic.c.tactic_id))).scalar_one())


def _row(workflow: sa.Engine, tactic_id: int) -> dict:
    with workflow.connect() as conn:
        return dict(conn.execute(sa.select(arsenal.tactic).where(
            arsenal.tactic.c.tactic_id == tactic_id)).mappings().one())


def test_two_writers_from_one_version_the_second_is_refused(workflow: sa.Engine) -> None:
    tactic_id = _tactic_id(workflow)
    read = _row(workflow, tactic_id)["version"]  # both people opened the same version
    with write_transaction(workflow) as conn:
        new = update_versioned(conn, arsenal.tactic, {"tactic_id": tactic_id}, read,
                               {"name": "first writer", "updated_by": "alice"}, what="Tactic")
        record_audit(conn, "alice", "tactic_update", "tactic", tactic_id, None, None)
    assert new == read + 1
    with pytest.raises(StaleWrite, match=r"changed by alice .*version " + str(read + 1)):
        with write_transaction(workflow) as conn:
            update_versioned(conn, arsenal.tactic, {"tactic_id": tactic_id}, read,
                             {"name": "second writer", "updated_by": "bob"}, what="Tactic")
            record_audit(conn, "bob", "tactic_update", "tactic", tactic_id, None, None)
    after = _row(workflow, tactic_id)
    assert (after["name"], after["version"]) == ("first writer", read + 1)


def test_a_versioned_update_of_a_missing_row_says_so(workflow: sa.Engine) -> None:
    _tactic_id(workflow)
    with pytest.raises(Exception, match="no longer exists"):
        with write_transaction(workflow) as conn:
            update_versioned(conn, arsenal.tactic, {"tactic_id": 987654}, 1, {"name": "x"},
                             what="Tactic #987654")


def test_a_write_without_its_audit_row_is_rolled_back(workflow: sa.Engine) -> None:
    tactic_id = _tactic_id(workflow)
    before = _row(workflow, tactic_id)
    with pytest.raises(UnauditedWrite):
        with write_transaction(workflow) as conn:
            conn.execute(sa.update(arsenal.tactic).where(
                arsenal.tactic.c.tactic_id == tactic_id).values(name="sneaked in"))
    assert _row(workflow, tactic_id)["name"] == before["name"]


def test_a_transaction_that_writes_nothing_needs_no_audit_row(workflow: sa.Engine) -> None:
    with write_transaction(workflow) as conn:
        conn.execute(sa.select(audit_log.c.audit_id).limit(1)).all()


def test_audit_actions_come_from_one_vocabulary(workflow: sa.Engine) -> None:
    assert all(a == a.lower() and " " not in a for a in ACTIONS)
    with pytest.raises(ValueError, match="vocabulary"):
        with write_transaction(workflow) as conn:
            record_audit(conn, "alice", "raise_alert", "alert", 1, None, None)

"""Sessions follow the store: a user disabled, demoted, moved or given a new password is signed
out on the next run; with nobody signed in, reads and permission checks are refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from data_access.store import auth
from data_access.store import diagnosis
from data_access.mart import queries
from data_access.store import scope
from data_access.store.auth import SessionEnded
from data_access.db import create_mart_engine
from data_access.mart.queries import Slice

PASSWORD = "correct-horse-42"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)


def _signed_in(workflow):
    auth.create_user(workflow, "ana.li", PASSWORD, "regional_manager", display_name="Ana Li",
                     scope_level="micro_region", scope_value="Gongbei", actor="admin")
    return auth.authenticate(workflow, "ana.li", PASSWORD)


@pytest.mark.parametrize("change", [
    lambda e: auth.change_role(e, "ana.li", "regional_manager", scope_level="branch",
                               scope_value="Doumen", actor="admin"),
    lambda e: auth.change_role(e, "ana.li", "marketer", actor="admin"),
    lambda e: auth.set_password(e, "ana.li", "another-secret-77", actor="admin"),
    lambda e: auth.set_active(e, "ana.li", False, actor="admin"),
], ids=["scope", "role", "password", "deactivated"])
def test_every_change_to_a_user_ends_their_open_sessions(workflow, change):
    session = _signed_in(workflow)
    assert auth.current_principal(workflow, session) == session  # unchanged: still signed in
    change(workflow)
    with pytest.raises(SessionEnded, match="signed out"):
        auth.current_principal(workflow, session)


def test_a_new_sign_in_after_a_change_gets_the_new_role(workflow):
    session = _signed_in(workflow)
    auth.change_role(workflow, "ana.li", "marketer", actor="admin")
    fresh = auth.authenticate(workflow, "ana.li", PASSWORD)
    assert fresh.role == "marketer" and fresh.session_version > session.session_version
    assert auth.current_principal(workflow, fresh) == fresh


def test_a_removed_user_is_signed_out(workflow):
    session = _signed_in(workflow)
    with workflow.begin() as conn:
        conn.execute(sa.delete(auth.app_user).where(auth.app_user.c.username == "ana.li"))
    with pytest.raises(SessionEnded):
        auth.current_principal(workflow, session)


def test_with_nobody_signed_in_mart_reads_are_refused(duck_mart):
    mart = create_mart_engine(duck_mart, read_only=True)
    months = queries.available_months(mart)[-2:]
    with scope.acting_as(None):
        for read in (lambda: queries.load_monthly_totals(mart),
                     lambda: queries.load_breakdown(mart, "branch", months),
                     lambda: queries.load_region_table(mart),
                     lambda: queries.load_subscriber_rows(mart, months[-1], months[0])):
            with pytest.raises(scope.NoPrincipal, match="Nobody is signed in"):
                read()
        with pytest.raises(scope.NoPrincipal):
            scope.scoped(Slice())
        with pytest.raises(scope.NoPrincipal):
            scope.require("edit_templates", "save templates")
        with pytest.raises(scope.NoPrincipal):
            scope.in_scope("Doumen", None)
    mart.dispose()


def test_with_nobody_signed_in_alerts_and_the_audit_are_refused(workflow):
    with scope.acting_as(None):
        with pytest.raises(scope.NoPrincipal):
            diagnosis.list_alerts(workflow)
        with pytest.raises(scope.NoPrincipal):
            auth.load_audit(workflow)


def test_jobs_act_as_the_system_principal_explicitly():
    seen = []
    job = scope.as_system(lambda: seen.append(scope.acting()))
    with scope.acting_as(None):
        job()
        assert scope.acting() is None
    assert seen == [auth.SYSTEM]
    assert not auth.SYSTEM.sees_full_numbers  # jobs' reports keep numbers masked


def test_the_system_name_cannot_be_taken_by_a_user(workflow):
    with pytest.raises(auth.ConcertoError, match="reserved"):
        auth.create_user(workflow, "system", PASSWORD, "administrator", display_name="Sys",
                         actor="admin")


def _sign_in_through_the_form(at, username: str, role: str) -> None:
    at.text_input(key="login_username").set_value(username)
    at.text_input(key="login_password").set_value(f"Concerto-2026!{role}")
    at.button[0].click().run()


@pytest.mark.parametrize("username, role, title", [
    ("rm_gongbei", "regional_manager", "Micro-region management 微区域管理"),
    ("channel_mgr", "channel_manager", "Channels 渠道管理"),
    ("admin", "administrator", "Users & audit 用户与审计"),
    ("exec", "executive", "Operations sandbox 运营沙盘"),
])
def test_signing_in_at_the_root_opens_the_roles_own_page(app_as, username, role, title):
    at = app_as("analyst")
    del at.session_state["principal"]
    at.run()  # "/" with no parameters: the sign-in form
    assert at.text_input(key="login_username") is not None and not at.title[1:]
    _sign_in_through_the_form(at, username, role)
    assert not at.exception, at.exception
    assert at.session_state["principal"].username == username
    assert at.title[0].value == title


def test_a_link_with_parameters_survives_signing_in(app_as):
    at = app_as("analyst")
    del at.session_state["principal"]
    at.query_params["month"] = "2026-09"
    at.run()
    _sign_in_through_the_form(at, "rm_gongbei", "regional_manager")
    assert not at.exception, at.exception
    assert at.title[0].value == "Operations sandbox 运营沙盘"  # the link's page, not the landing
    assert str(at.sidebar.selectbox(key="global_month").value) == "2026-09-01"


def test_a_link_to_a_page_survives_signing_in(app_as):
    at = app_as("analyst")
    del at.session_state["principal"]
    at.switch_page("pages/alerts.py").run()
    assert at.text_input(key="login_username") is not None
    _sign_in_through_the_form(at, "rm_gongbei", "regional_manager")
    assert not at.exception, at.exception
    assert at.title[0].value == "Alerts 告警"


def test_a_link_to_a_page_outside_the_role_is_refused_after_signing_in(app_as):
    at = app_as("analyst")
    del at.session_state["principal"]
    at.switch_page("pages/mart.py").run()
    _sign_in_through_the_form(at, "marketer", "marketer")
    assert not at.exception, at.exception
    assert at.title[0].value == "Mart & planted truths 数据集市"
    message = at.info[0].value
    assert message.startswith("A marketer may not see the mart's tables")
    assert "is not in your menu" in message  # app.py's refusal: the page itself never ran

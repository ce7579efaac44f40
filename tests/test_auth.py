"""Users, roles, sign-in with lockout and the audit log, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from data_access.store import auth
from data_access.store import demo_users
from data_access.store.auth import AuthError, Principal
from data_access.db import ConcertoError
from data_access.store.workflow import app_user, audit_log

PASSWORD = "correct-horse-42"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)  # the default 12 costs ~0.25 s per hash



def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                     for t in (app_user, audit_log))


def _user(engine, **overrides) -> Principal:
    args = dict(username="ana.li", password=PASSWORD, role="analyst", display_name="Ana Li",
                actor="admin")
    args.update(overrides)
    return auth.create_user(engine, args.pop("username"), args.pop("password"), args.pop("role"),
                            **args)


def _row(engine, username="ana.li"):
    with engine.connect() as conn:
        return conn.execute(sa.select(app_user).where(app_user.c.username == username)
                            ).mappings().one()


def _audit_text(engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log)).mappings().all()
    return "\n".join(repr(dict(r)) for r in rows)


def test_created_user_signs_in_and_gets_a_principal(workflow):
    created = _user(workflow, role="regional_manager", scope_level="branch",
                    scope_value="Xiangzhou")
    signed_in = auth.authenticate(workflow, "ana.li", PASSWORD)
    assert signed_in == created == Principal("ana.li", "Ana Li", "regional_manager", "branch",
                                             "Xiangzhou")
    assert _row(workflow)["password_hash"].startswith("$2")
    assert auth.load_principal(workflow, "ana.li") == created
    assert "password_hash" not in auth.list_users(workflow).columns


def test_wrong_password_and_unknown_user_get_the_same_message(workflow):
    _user(workflow)
    with pytest.raises(AuthError) as wrong:
        auth.authenticate(workflow, "ana.li", "wrong-password-1")
    with pytest.raises(AuthError) as unknown:
        auth.authenticate(workflow, "nobody", "wrong-password-1")
    assert str(wrong.value) == str(unknown.value)
    assert "exist" not in str(wrong.value).lower()
    assert _row(workflow)["failed_logins"] == 1


def test_five_failures_lock_even_the_right_password_until_the_window_ends(workflow):
    _user(workflow)
    for minute in range(5):
        with pytest.raises(AuthError):
            auth.authenticate(workflow, "ana.li", "wrong-password-1",
                              now=T0 + dt.timedelta(minutes=minute))
    assert _row(workflow)["failed_logins"] == 5
    with pytest.raises(AuthError, match="Unknown username or wrong password"):  # locked to 09:19
        auth.authenticate(workflow, "ana.li", PASSWORD, now=T0 + dt.timedelta(minutes=10))
    assert _row(workflow)["failed_logins"] == 5  # the right password is refused, not counted
    with pytest.raises(AuthError):
        auth.authenticate(workflow, "ana.li", PASSWORD, now=T0 + dt.timedelta(minutes=18))
    assert auth.authenticate(workflow, "ana.li", PASSWORD, now=T0 + dt.timedelta(minutes=20))
    row = _row(workflow)
    assert (row["failed_logins"], row["locked_until"]) == (0, None)
    actions = list(auth.load_audit(workflow, entity_id="ana.li")["action"])
    assert actions.count("login_failed") == 5
    assert {"account_locked", "login_refused_locked", "login_ok"} <= set(actions)


def test_a_failure_after_the_lock_expires_starts_counting_afresh(workflow):
    _user(workflow)
    for _ in range(5):
        with pytest.raises(AuthError):
            auth.authenticate(workflow, "ana.li", "wrong-password-1", now=T0)
    with pytest.raises(AuthError, match="Unknown username or wrong password"):
        auth.authenticate(workflow, "ana.li", "wrong-password-1", now=T0 + dt.timedelta(hours=1))
    row = _row(workflow)
    assert (row["failed_logins"], row["locked_until"]) == (1, None)


def test_a_success_resets_the_failure_count(workflow):
    _user(workflow)
    for _ in range(4):
        with pytest.raises(AuthError):
            auth.authenticate(workflow, "ana.li", "wrong-password-1")
    auth.authenticate(workflow, "ana.li", PASSWORD)
    assert _row(workflow)["failed_logins"] == 0


def _at_once(workflow, passwords: list[str]) -> list[object]:
    """Sign in with every password from its own thread, all released at the same moment."""
    barrier, outcomes = threading.Barrier(len(passwords)), []

    def attempt(password):
        barrier.wait()
        try:
            outcomes.append(auth.authenticate(workflow, "ana.li", password))
        except AuthError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_thirty_wrong_passwords_at_once_are_all_counted_and_lock(workflow):
    _user(workflow)
    outcomes = _at_once(workflow, ["wrong-password-1"] * 30)
    assert len(outcomes) == 30 and all(isinstance(o, AuthError) for o in outcomes)
    assert {str(o) for o in outcomes} == {auth._WRONG}  # one message, locked or not
    row = _row(workflow)
    assert row["failed_logins"] == 30
    assert row["locked_until"] is not None
    actions = list(auth.load_audit(workflow, entity_id="ana.li")["action"])
    assert actions.count("account_locked") == 1
    assert actions.count("login_failed") + actions.count("login_refused_locked") == 30
    with pytest.raises(AuthError):
        auth.authenticate(workflow, "ana.li", PASSWORD)
    assert _row(workflow)["locked_until"] is not None


def test_a_right_password_checked_while_the_account_locks_is_refused(workflow, monkeypatch):
    """The right password passes the (slow) hash check before the wrong ones lock the account
    and is decided after: it must be refused, and the account must stay locked with every
    failure counted. Deterministic: the right attempt waits for the wrong ones to finish."""
    _user(workflow)
    wrong_done = threading.Event()
    real = auth._matches

    def matches(password, password_hash):
        ok = real(password, password_hash)
        if password == PASSWORD:
            assert wrong_done.wait(30)
        return ok

    monkeypatch.setattr(auth, "_matches", matches)
    result = []
    right = threading.Thread(target=lambda: result.append(_try(workflow, PASSWORD)))
    right.start()
    outcomes = _at_once(workflow, ["wrong-password-1"] * 12)
    wrong_done.set()
    right.join()
    assert all(isinstance(o, AuthError) for o in outcomes)
    assert isinstance(result[0], AuthError), "the right password was accepted during the lock"
    row = _row(workflow)
    assert row["failed_logins"] == 12 and row["locked_until"] is not None


def _try(workflow, password):
    try:
        return auth.authenticate(workflow, "ana.li", password)
    except AuthError as exc:
        return exc


def test_locked_and_unknown_accounts_get_the_same_message(workflow):
    _user(workflow)
    for _ in range(auth.MAX_FAILED_LOGINS):
        _try(workflow, "wrong-password-1")
    locked = _try(workflow, PASSWORD)
    unknown = _try_user(workflow, "made.up", PASSWORD)
    wrong = _try_user(workflow, "ana.li", "wrong-password-1")
    assert isinstance(locked, AuthError)
    assert str(locked) == str(unknown) == str(wrong)
    assert "locked until" not in str(locked)


def _try_user(workflow, username, password):
    try:
        return auth.authenticate(workflow, username, password)
    except AuthError as exc:
        return exc


def test_inactive_users_cannot_sign_in(workflow):
    _user(workflow)
    auth.set_active(workflow, "ana.li", False, actor="admin")
    with pytest.raises(AuthError, match="disabled"):
        auth.authenticate(workflow, "ana.li", PASSWORD)
    auth.set_active(workflow, "ana.li", True, actor="admin")
    assert auth.authenticate(workflow, "ana.li", PASSWORD).username == "ana.li"


@pytest.mark.parametrize("overrides, field", [
    ({"password": "short1"}, "password:"),
    ({"password": "no-digits-here"}, "password:"),
    ({"password": "1234567890"}, "password:"),
    ({"role": "overlord"}, "role:"),
    ({"role": "regional_manager"}, "scope_level:"),
    ({"scope_level": "district", "scope_value": "X"}, "scope_level:"),
    ({"scope_level": "branch"}, "scope_value:"),
    ({"username": "Ana Li"}, "username:"),
    ({"username": "ab"}, "username:"),
    ({"username": "x" * 41}, "username:"),
    ({"display_name": " "}, "display_name:"),
])
def test_bad_inputs_are_refused_naming_the_field_and_write_nothing(workflow, overrides, field):
    before = _counts(workflow)
    with pytest.raises(ConcertoError) as error:
        _user(workflow, **overrides)
    assert str(error.value).startswith(field)
    assert _counts(workflow) == before


def test_a_taken_username_is_refused(workflow):
    _user(workflow)
    before = _counts(workflow)
    with pytest.raises(ConcertoError, match="username: 'ana.li' is already taken"):
        _user(workflow, display_name="Someone Else")
    assert _counts(workflow) == before


def test_audit_records_create_login_and_role_change_without_secrets(workflow):
    _user(workflow)
    auth.authenticate(workflow, "ana.li", PASSWORD)
    with pytest.raises(AuthError):
        auth.authenticate(workflow, "ana.li", "wrong-password-1")
    auth.change_role(workflow, "ana.li", "regional_manager", scope_level="micro_region",
                     scope_value="Gongbei", actor="admin")
    auth.set_password(workflow, "ana.li", "another-secret-77", actor="admin")
    audit = auth.load_audit(workflow, entity_id="ana.li").set_index("action")
    assert {"user_create", "login_ok", "login_failed", "role_change", "password_set"} <= set(
        audit.index)
    assert audit.loc["user_create", "username"] == "admin"
    change = audit.loc["role_change"]
    assert '"role": "analyst"' in change["before_json"]
    assert '"scope_value": "Gongbei"' in change["after_json"]
    text = _audit_text(workflow)
    hash_ = _row(workflow)["password_hash"]
    for secret in (PASSWORD, "another-secret-77", "wrong-password-1", hash_, "$2b$",
                   "password_hash"):
        assert secret not in text
    assert auth.authenticate(workflow, "ana.li", "another-secret-77").role == "regional_manager"


def test_record_audit_drops_secret_keys_and_keeps_unicode(workflow):
    with workflow.begin() as conn:
        auth.record_audit(conn, "admin", "password_set", "app_user", 7, {"password": "x1"},
                          {"display_name": "珠海 Zhuhai", "password_hash": "$2b$x"})
    row = auth.load_audit(workflow).iloc[0]
    assert (row["before_json"], row["after_json"]) == ("{}", '{"display_name": "珠海 Zhuhai"}')
    assert row["entity_id"] == "7"


def test_a_failure_inside_create_user_leaves_no_user(workflow, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(auth, "record_audit", broken)
    with pytest.raises(RuntimeError):
        _user(workflow)
    assert _counts(workflow) == (0, 0)


def test_a_failure_inside_change_role_leaves_the_role(workflow, monkeypatch):
    _user(workflow)
    monkeypatch.setattr(auth, "record_audit", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        auth.change_role(workflow, "ana.li", "marketer", actor="admin")
    assert _row(workflow)["role"] == "analyst"


def test_changing_an_unknown_user_is_refused(workflow):
    with pytest.raises(ConcertoError, match="username: there is no user 'ghost'"):
        auth.change_role(workflow, "ghost", "analyst", actor="admin")


def test_demo_users_seed_once_and_sign_in(workflow):
    first = demo_users.seed_demo_users(workflow)
    counts = _counts(workflow)
    assert demo_users.seed_demo_users(workflow) == first
    assert _counts(workflow) == counts
    assert {role for _, role, _ in first} == set(auth.ROLES)
    for username, role, password in first:
        assert auth.authenticate(workflow, username, password).role == role
    assert auth.load_principal(workflow, "rm_gongbei").scope_level == "micro_region"
    assert auth.load_principal(workflow, "rm_xiangzhou").scope_value == "Xiangzhou"


def test_demo_passwords_are_documented():
    for username, role, _, _, _ in demo_users.DEMO_USERS:
        assert username in demo_users.seed_demo_users.__doc__
        assert f"Concerto-2026!{role}" in demo_users.seed_demo_users.__doc__


@pytest.mark.parametrize("role", sorted(auth.ROLES))
def test_principal_permissions_follow_the_table(role):
    who = Principal("x", "X", role)
    assert who.sees_full_numbers == (role in {"administrator", "account_manager"})
    assert who.can("manage_users") == (role == "administrator")
    assert who.can("view_dashboards")
    for permission, roles in auth.PERMISSIONS.items():
        assert who.can(permission) == (role in roles)
        assert roles <= set(auth.ROLES)


def test_unknown_permission_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown permission"):
        Principal("x", "X", "analyst").can("launch_missiles")

"""Users, roles, sign-in with lockout, and the audit log every store write goes through."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import bcrypt
import pandas as pd
import sqlalchemy as sa

from data_access.db import ConcertoError, read_frame
from data_access.store.audit import load_audit, record_audit  # noqa: F401  (part of this API)
from data_access.store.principal import (AUTH_LEVEL, PERMISSIONS, ROLES, SCOPE_LEVELS,  # noqa: F401
                                         SYSTEM, SYSTEM_ACTOR, Forbidden, Principal)  # (API)
from data_access.store.workflow import app_user, write_transaction
from data_access.store.scope import require

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
#: bcrypt work factor; tests lower it to keep runs fast.
BCRYPT_ROUNDS = 12


_USERNAME = re.compile(r"[a-z0-9._-]{3,40}")
#: The one answer to every refused sign-in of an unknown user, a wrong password or a locked
#: account, so that the answer never tells whether a username exists.
_WRONG = (f"Unknown username or wrong password (after {MAX_FAILED_LOGINS} failed sign-ins an "
          f"account is locked for {int(LOCKOUT.total_seconds() // 60)} minutes).")


class AuthError(ConcertoError):
    """A sign-in was refused; the message never says whether the username exists."""


class _UsernameTaken(ConcertoError):
    pass


class SessionEnded(AuthError):
    """The signed-in user was changed (role, scope, password, access) or removed since sign-in."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(when: dt.datetime | None) -> dt.datetime | None:
    """UTC-aware; SQLite hands timestamps back naive, and they were written in UTC."""
    if when is None:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


# --- validation -------------------------------------------------------------------------

def _check_username(username: str) -> None:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ConcertoError(f"username: {username!r} must be 3–40 characters of a–z, 0–9, "
                            "'.', '_' or '-'.")
    if username == SYSTEM_ACTOR:
        raise ConcertoError(f"username: {username!r} is reserved for scheduled jobs.")


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < 10:
        raise ConcertoError("password: must be at least 10 characters.")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise ConcertoError("password: must contain at least one letter and one digit.")
    if len(password.encode("utf-8")) > 72:  # bcrypt's limit; bcrypt 5 refuses longer input
        raise ConcertoError("password: must be at most 72 bytes.")


def _check_role(role: str, scope_level: str | None, scope_value: str | None) -> None:
    if role not in ROLES:
        raise ConcertoError(f"role: {role!r} is not one of {', '.join(ROLES)}.")
    if scope_level is not None and scope_level not in SCOPE_LEVELS:
        raise ConcertoError(f"scope_level: {scope_level!r} is not one of "
                            f"{', '.join(SCOPE_LEVELS)}.")
    if (scope_level is None) != (not scope_value):
        raise ConcertoError("scope_value: give scope_level and scope_value together.")
    if scope_value is not None and len(scope_value) > 40:
        raise ConcertoError("scope_value: must be at most 40 characters.")
    if role == "regional_manager" and scope_level is None:
        raise ConcertoError("scope_level: a regional manager needs a scope "
                            "(branch or micro_region) and a scope_value.")


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"),
                         bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")


def _matches(password: str, password_hash: str) -> bool:
    encoded = password.encode("utf-8") if isinstance(password, str) else b""
    if len(encoded) > 72:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))


_dummy_hash: dict[int, str] = {}


def _spend_time_like_a_check(password: str) -> None:
    """Check against a throwaway hash so an unknown username takes as long as a wrong password."""
    if BCRYPT_ROUNDS not in _dummy_hash:
        _dummy_hash[BCRYPT_ROUNDS] = _hash("not-a-real-password-0")
    _matches(password, _dummy_hash[BCRYPT_ROUNDS])


# --- users ------------------------------------------------------------------------------

def _principal(row: Mapping[str, Any]) -> Principal:
    return Principal(row["username"], row["display_name"], row["role"], row["scope_level"],
                     row["scope_value"], int(row.get("session_version") or 0))


def _profile(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit may see of a user row: everything but the hash."""
    keys = ("username", "display_name", "role", "scope_level", "scope_value", "active",
            "failed_logins", "locked_until", "session_version")
    return {k: row[k] for k in keys}


def _load_row(conn: sa.Connection, username: str) -> Mapping[str, Any]:
    row = conn.execute(sa.select(app_user).where(app_user.c.username == username)
                       ).mappings().first()
    if row is None:
        raise ConcertoError(f"username: there is no user {username!r}.")
    return row


def create_user(engine: sa.Engine, username: str, password: str, role: str, *,
                display_name: str, scope_level: str | None = None,
                scope_value: str | None = None, actor: str) -> Principal:
    """Create a user and its audit row in one transaction.

    Raises
    ------
    ConcertoError
        Naming the field at fault (username, password, role, scope_level, scope_value,
        display_name) or a username already taken; nothing is written then.
    """
    _require_acting("manage_users", "create users")
    _check_username(username)
    _check_password(password)
    _check_role(role, scope_level, scope_value)
    if not isinstance(display_name, str) or not 1 <= len(display_name.strip()) <= 80:
        raise ConcertoError("display_name: must be 1–80 characters.")
    values = dict(username=username, display_name=display_name.strip(), role=role,
                  scope_level=scope_level, scope_value=scope_value, failed_logins=0,
                  locked_until=None, active=True, session_version=0)
    password_hash = _hash(password)
    try:
        with engine.begin() as conn:
            if conn.execute(sa.select(app_user.c.user_id)
                            .where(app_user.c.username == username)).first():
                raise _UsernameTaken(f"username: {username!r} is already taken.")
            conn.execute(sa.insert(app_user).values(password_hash=password_hash,
                                                    created_at=_now(), **values))
            record_audit(conn, actor, "user_create", "app_user", username, None, values)
    except sa.exc.IntegrityError as exc:  # a concurrent create of the same name won
        raise _UsernameTaken(f"username: {username!r} is already taken.") from exc
    return _principal(values)


def load_principal(engine: sa.Engine, username: str) -> Principal:
    with engine.connect() as conn:
        return _principal(_load_row(conn, username))


def list_users(engine: sa.Engine) -> pd.DataFrame:
    """Every user without the password hash, by username."""
    columns = [c for c in app_user.c if c.name != "password_hash"]
    return read_frame(engine, sa.select(*columns).order_by(app_user.c.username))


def _require_acting(permission: str, doing: str) -> None:
    """Refuse unless the acting principal (``data_access.store.scope``) holds ``permission``."""

    require(permission, doing)


def _update_user(engine: sa.Engine, username: str, actor: str, action: str,
                 values: dict[str, Any], after_extra: dict[str, Any] | None = None) -> Principal:
    _require_acting("manage_users", "change users' roles, scopes, passwords or access")
    with engine.begin() as conn:
        before = _profile(_load_row(conn, username))
        # every change of role, scope, password or access ends the user's open sessions
        conn.execute(sa.update(app_user).where(app_user.c.username == username).values(
            session_version=sa.func.coalesce(app_user.c.session_version, 0) + 1, **values))
        after = _profile(_load_row(conn, username))
        record_audit(conn, actor, action, "app_user", username, before,
                     {**after, **(after_extra or {})})
    return _principal(after)


def set_password(engine: sa.Engine, username: str, password: str, *, actor: str) -> Principal:
    """Set a new password and clear any lockout (audited; the password never is)."""
    _check_password(password)
    return _update_user(engine, username, actor, "password_set",
                        dict(password_hash=_hash(password), failed_logins=0, locked_until=None),
                        {"password_changed": True})


def set_active(engine: sa.Engine, username: str, active: bool, *, actor: str) -> Principal:
    """Enable or disable sign-in for a user (audited)."""
    return _update_user(engine, username, actor, "user_activate" if active else "user_deactivate",
                        dict(active=bool(active)))


def change_role(engine: sa.Engine, username: str, role: str, *, scope_level: str | None = None,
                scope_value: str | None = None, actor: str) -> Principal:
    """Give a user a new role and scope (audited with before and after)."""
    _check_role(role, scope_level, scope_value)
    return _update_user(engine, username, actor, "role_change",
                        dict(role=role, scope_level=scope_level, scope_value=scope_value))


# --- sign-in ----------------------------------------------------------------------------

def _audit_login(engine: sa.Engine, username: str, action: str,
                 after: dict[str, Any] | None = None) -> None:
    with engine.begin() as conn:
        record_audit(conn, username, action, "app_user", username, None, after)


def authenticate(engine: sa.Engine, username: str, password: str, *,
                 now: dt.datetime | None = None) -> Principal:
    """Check a username and password and return the signed-in Principal.

    This is the only sign-in path. The password is checked first (slow, outside any lock);
    the outcome is then decided in one write transaction that holds the user's row
    (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL), so attempts made
    at the same moment are decided one after the other on the row as it is then:

    * while the account is locked every attempt is refused, even the right password; a wrong
      one is still counted;
    * a wrong password adds one to ``failed_logins``; the attempt that reaches
      ``MAX_FAILED_LOGINS`` locks the account for ``LOCKOUT``;
    * a lock that has run out is cleared and counting starts afresh.

    Every attempt is audited.

    Raises
    ------
    AuthError
        With one message for an unknown user, a wrong password and a locked account alike.
    """
    now = _as_utc(now) or _now()
    name = str(username)[:40]
    with engine.connect() as conn:
        row = conn.execute(sa.select(app_user.c.user_id, app_user.c.password_hash)
                           .where(app_user.c.username == name)).mappings().first()
    if row is None:
        _spend_time_like_a_check(password)
        _audit_login(engine, name, "login_failed", {"reason": "unknown_user"})
        raise AuthError(_WRONG)
    matched = _matches(password, row["password_hash"])
    u = app_user.c
    with write_transaction(engine) as conn:
        current = conn.execute(sa.select(app_user).where(u.user_id == row["user_id"])
                               .with_for_update()).mappings().one()
        if current["password_hash"] != row["password_hash"]:
            matched = False  # the password changed while it was being checked
        locked_until = _as_utc(current["locked_until"])
        expired = locked_until is not None and locked_until <= now
        failures = 0 if expired else int(current["failed_logins"] or 0)
        if locked_until is not None and not expired:
            conn.execute(sa.update(app_user).where(u.user_id == row["user_id"])
                         .values(failed_logins=u.failed_logins + (0 if matched else 1)))
            record_audit(conn, name, "login_refused_locked", "app_user", name, None,
                         {"locked_until": locked_until, "password_ok": matched,
                          "failed_logins": failures + (0 if matched else 1)})
            outcome = "locked"
        elif not matched:
            failures += 1
            lock = now + LOCKOUT if failures >= MAX_FAILED_LOGINS else None
            conn.execute(sa.update(app_user).where(u.user_id == row["user_id"])
                         .values(failed_logins=failures, locked_until=lock))
            record_audit(conn, name, "login_failed", "app_user", name, None,
                         {"failed_logins": failures})
            if lock is not None:
                record_audit(conn, name, "account_locked", "app_user", name, None,
                             {"locked_until": lock})
            outcome = "wrong"
        elif not current["active"]:
            if expired:
                conn.execute(sa.update(app_user).where(u.user_id == row["user_id"])
                             .values(failed_logins=0, locked_until=None))
            record_audit(conn, name, "login_refused_inactive", "app_user", name, None, None)
            outcome = "inactive"
        else:
            conn.execute(sa.update(app_user).where(u.user_id == row["user_id"])
                         .values(failed_logins=0, locked_until=None))
            record_audit(conn, name, "login_ok", "app_user", name, None, None)
            outcome = "ok"
    if outcome == "inactive":
        raise AuthError("This account is disabled; ask an administrator.")
    if outcome != "ok":
        raise AuthError(_WRONG)
    return _principal(current)


def current_principal(engine: sa.Engine, signed_in: Principal) -> Principal:
    """The signed-in person as the store has them now (role, scope, active, session version).

    The app calls this on every run, so a change made by an administrator takes effect at
    once instead of at the next sign-in.

    Raises
    ------
    SessionEnded
        The user is gone or disabled, or their role, scope or password changed since they
        signed in (the stored ``session_version`` differs from the session's).
    """
    with engine.connect() as conn:
        row = conn.execute(sa.select(app_user).where(app_user.c.username == signed_in.username)
                           ).mappings().first()
    if row is None or not row["active"]:
        raise SessionEnded("Your account has been disabled or removed; you have been signed "
                           "out.")
    fresh = _principal(row)
    if fresh.session_version != signed_in.session_version:
        raise SessionEnded("Your role, scope or password was changed; you have been signed "
                           "out. Please sign in again.")
    return fresh

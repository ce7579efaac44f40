"""The sign-in form and the signed-in banner (app.py calls these before any page runs)."""

from __future__ import annotations

import streamlit as st

from pages.common import cache, filters
from data_access.store.auth import AuthError, SessionEnded, authenticate, current_principal
from data_access.db import ConcertoError
from pages.common.session import PRINCIPAL_KEY
from pages.common.plaintext import plain  # user text shown as text


_ERROR = "login_error"
#: Set while the sign-in form shows: whether the person came to "/" with no parameters.
_ARRIVED_HOME = "login_arrived_home"
#: Set by a successful sign-in, taken by the next run (see :func:`take_fresh_arrival`).
_JUST_SIGNED_IN = "login_just_signed_in"


def _attempt() -> None:
    """Check the submitted username and password (a callback: it runs before any script)."""
    username = str(st.session_state.get("login_username", "")).strip()
    password = str(st.session_state.get("login_password", ""))
    st.session_state.pop("login_password", None)
    try:
        who = authenticate(cache.workflow_engine(), username, password)
    except AuthError as exc:
        st.session_state[_ERROR] = str(exc)
    except ConcertoError as exc:
        st.session_state[_ERROR] = f"Sign-in is unavailable: {exc}"
    else:
        st.session_state.pop(_ERROR, None)
        st.session_state[PRINCIPAL_KEY] = who
        st.session_state[_JUST_SIGNED_IN] = True


def refresh_signed_in():
    """The signed-in person as the store has them now, or None (signed out with a message).

    Called by app.py on every run: a user disabled, demoted, moved to another scope or given
    a new password since signing in is signed out here, not trusted until the next sign-in.
    """
    who = st.session_state.get(PRINCIPAL_KEY)
    if who is None:
        return None
    try:
        fresh = current_principal(cache.workflow_engine(), who)
    except SessionEnded as exc:
        for key in list(st.session_state):
            del st.session_state[key]
        st.session_state[_ERROR] = str(exc)
        return None
    except ConcertoError as exc:
        st.error(f"Sign-in cannot be checked: {plain(exc)}")
        st.stop()
    st.session_state[PRINCIPAL_KEY] = fresh
    return fresh


def sign_in(at_home: bool) -> None:
    """Show the sign-in form and stop the run until someone signs in.

    The check runs in the submit button's callback, before the next run starts, so the page
    a deep link asked for is the one shown once the person is in. ``at_home`` says the
    person came to "/" without a path or parameters: then the first run after signing in
    may take them to their role's own page (:func:`take_fresh_arrival`).
    """
    st.session_state[_ARRIVED_HOME] = at_home
    left, middle, right = st.columns([1, 2, 1])
    with middle:
        st.title("🎼 Concerto 协同运营平台")
        st.caption("Collaborative operations for the city company. Sign in to continue.")
        with st.form("login", border=True):
            st.text_input("Username 用户名", key="login_username")
            st.text_input("Password 密码", type="password", key="login_password")
            st.form_submit_button("Sign in 登录", type="primary", use_container_width=True,
                                  on_click=_attempt)
        if _ERROR in st.session_state:
            st.error(st.session_state[_ERROR])
        st.caption("Demo users are listed in the README (for example `channel_mgr` / "
                   "`Concerto-2026!channel_manager`).")
    st.stop()


def take_fresh_arrival() -> bool:
    """True once, in the first run after signing in through the form at "/" with no link."""
    just = st.session_state.pop(_JUST_SIGNED_IN, False)
    home = st.session_state.pop(_ARRIVED_HOME, False)
    return bool(just and home)


def scope_text(who) -> str:
    """Where ``who`` may look, for the banner: "micro-region Gongbei 拱北 only 仅限本区域"."""
    if not who.scope_value:
        return f"all of {filters.CITY}"
    level = "branch" if who.scope_level == "branch" else "micro-region"
    return f"{level} {filters.region_name(who.scope_level, who.scope_value)} only 仅限本区域"


def signed_in_banner() -> None:
    """Who is signed in, in the sidebar, with a sign-out button."""
    who = st.session_state[PRINCIPAL_KEY]
    box = st.sidebar.container(border=True)
    box.markdown(f"**{plain(who.display_name)}**  \n"
                 f"{plain(who.label.split('(', 1)[1].rstrip(')'))}")
    box.caption(plain(f"Scope 范围: {scope_text(who)}"))
    if box.button("Sign out 退出", key="logout"):
        for key in list(st.session_state):
            del st.session_state[key]
        st.rerun()

"""The sign-in form and the signed-in banner (app.py calls these before any page runs)."""

from __future__ import annotations

import streamlit as st

from data_access import cache
from data_access.auth import AuthError, authenticate
from data_access.db import ConcertoError
from pages.common.session import PRINCIPAL_KEY


def sign_in() -> None:
    """Show the sign-in form and stop the run until someone signs in."""
    left, middle, right = st.columns([1, 2, 1])
    with middle:
        st.title("🎼 Concerto 协同运营平台")
        st.caption("Collaborative operations for the city company. Sign in to continue.")
        with st.form("login", border=True):
            username = st.text_input("Username 用户名", key="login_username")
            password = st.text_input("Password 密码", type="password", key="login_password")
            submitted = st.form_submit_button("Sign in 登录", type="primary",
                                              use_container_width=True)
        if submitted:
            try:
                who = authenticate(cache.workflow_engine(), username.strip(), password)
            except AuthError as exc:
                st.error(str(exc))
            except ConcertoError as exc:
                st.error(f"Sign-in is unavailable: {exc}")
            else:
                st.session_state[PRINCIPAL_KEY] = who
                st.session_state.pop("login_password", None)
                st.rerun()
        st.caption("Demo users are listed in the README (for example `channel_mgr` / "
                   "`Concerto-2026!channel_manager`).")
    st.stop()


def signed_in_banner() -> None:
    """Who is signed in, in the sidebar, with a sign-out button."""
    who = st.session_state[PRINCIPAL_KEY]
    box = st.sidebar.container(border=True)
    box.markdown(f"**{who.display_name}**  \n{who.label.split('(', 1)[1].rstrip(')')}")
    if who.scope_value:
        box.caption(f"You see {who.scope_value} only 仅限本区域.")
    if box.button("Sign out 退出", key="logout"):
        for key in list(st.session_state):
            del st.session_state[key]
        st.rerun()

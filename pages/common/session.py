"""The signed-in person for this browser session (app.py signs in; pages only read it)."""

from __future__ import annotations

import streamlit as st

from data_access.store.auth import Principal

PRINCIPAL_KEY = "principal"


def principal() -> Principal:
    """Who is signed in; app.py never runs a page before someone is."""
    who = st.session_state.get(PRINCIPAL_KEY)
    if not isinstance(who, Principal):
        st.error("Please sign in first.")
        st.stop()
    return who

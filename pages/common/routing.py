"""Keep every run going through app.py's st.navigation, deep links included.

Streamlit (1.67, pinned) treats an app with a ``pages/`` folder beside its main script as a
legacy multipage app: a deep link such as ``/mart`` would run ``pages/mart.py`` without
``app.py``, skipping the router and the global filters. Concerto registers every page through
``st.navigation``, so the legacy mode is switched off on every run of app.py, and a page that
finds itself run without the router (the first run of a fresh server, or of a fresh AppTest)
switches it off and reruns.
"""

from __future__ import annotations

import streamlit as st

from data_access.store import scope
from streamlit.runtime.pages_manager import PagesManager
from pages.common.login import refresh_signed_in

ROUTED_KEY = "global_filters"  # app.py sets it on every run, before the page runs
_CHECKED_KEY = "routing_checked_principal"  # set by app.py in a run, taken by the page in it
_UNCHECKED = object()


def mark_checked(who: object) -> None:
    """Say that this run's signed-in person was just re-read from the store (by app.py)."""
    st.session_state[_CHECKED_KEY] = who


def use_navigation_only() -> None:
    """Turn off Streamlit's legacy ``pages/`` mode for this server process."""
    PagesManager.uses_pages_directory = False


def require_routed() -> None:
    """Rerun through app.py when this page was run without the router.

    A page can also run without app.py once the router has run (Streamlit's AppTest resets
    the legacy mode on every run); then the signed-in person is re-read from the store here
    (app.py does it once per run otherwise) and declared again; a session that has ended goes
    back through app.py's sign-in form.
    """

    if ROUTED_KEY not in st.session_state:
        use_navigation_only()
        st.rerun()
    who = st.session_state.pop(_CHECKED_KEY, _UNCHECKED)
    if who is _UNCHECKED:  # the page ran without app.py in this run: re-read the user here
        who = refresh_signed_in()
    if who is None:
        use_navigation_only()
        st.rerun()
    scope.act_as(who)

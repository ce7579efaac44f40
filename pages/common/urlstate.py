"""URL parameters as shared state: apply what a link brings, write back what the page shows.

A parameter is *incoming* when the URL holds a value this session did not write itself: a
shared link, or a page link from another page. Pages apply incoming values to their state and
write their state back, so the address bar always describes the view.
"""

from __future__ import annotations

import streamlit as st

_WRITTEN = "url_written_{}"


def incoming(name: str) -> str | None:
    """The URL's value for ``name`` if it came from outside this session's own writes."""
    value = st.query_params.get(name)
    if value is None or st.session_state.get(_WRITTEN.format(name)) == value:
        return None
    return value


def write(name: str, value: str | None) -> None:
    """Put ``value`` in the URL (None or "" removes the parameter) and remember it."""
    st.session_state[_WRITTEN.format(name)] = value or None
    if not value:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value

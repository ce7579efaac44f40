"""Tabs and expanders whose hidden content neither runs nor is sent to the browser.

Streamlit runs and draws every tab's and expander's content by default, so a page lands with
the charts and tables of tabs nobody has opened (the channel manager's landing: its
browser's main thread 1.8 → 1.0 s with only the open tab drawn). These track which tab is
open and whether an expander is; a page fills one only when its ``.open`` is true, and
opening another reruns the page (or its section) from the caches.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st


def lazy_tabs(labels: Sequence[str], key: str, keep: Sequence[str] = ()) -> Sequence:
    """Tabs keyed ``key`` (``st.session_state[key]`` is the open tab's label).

    Streamlit forgets the value of a widget that did not run, so a widget in a hidden tab
    would come back at its default: the widgets named in ``keep`` keep theirs. Give such a
    widget no default of its own (preset it through session state), or Streamlit logs that
    it was set twice.
    """
    for name in keep:
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]
    return st.tabs(list(labels), key=key, on_change="rerun")


def lazy_expander(label: str, key: str):
    """A closed expander keyed ``key`` whose ``.open`` says whether to fill it."""
    return st.expander(label, key=key, on_change="rerun")

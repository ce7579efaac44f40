"""Tabs and expanders whose hidden content neither runs nor is sent to the browser.

Streamlit runs and draws every tab's and expander's content by default, so a page lands with
the charts and tables of tabs nobody has opened (the channel manager's landing: its
browser's main thread 1.8 → 1.0 s with only the open tab drawn). These track which tab is
open and whether an expander is; a page fills one only when its ``.open`` is true, and
opening another reruns the page (or its section) from the caches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

#: Session-state prefix under which the tabs' labels of the last run are kept.
_SEEN = "_lazy_tabs_seen_"


def _kept(names: Sequence[str]) -> None:
    """Keep the values of these widgets (tabs, expanders, inputs) through a run in which they
    may not be drawn: Streamlit forgets a widget's value when it does not run."""
    for name in names:
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]


def lazy_tabs(labels: Sequence[str], key: str, keep: Sequence[str] = ()) -> Sequence:
    """Tabs keyed ``key`` (``st.session_state[key]`` is the open tab's label).

    Streamlit forgets the value of a widget that did not run, so a widget in a hidden tab
    would come back at its default: the widgets named in ``keep`` keep theirs. Give such a
    widget no default of its own (preset it through session state), or Streamlit logs that
    it was set twice.
    """
    labels = list(labels)
    _kept(keep)
    # A label that changes (a count in it) makes Streamlit take the tabs for new ones, open
    # at the first: the open tab is carried over by its place, so its own label may change too.
    seen, open_ = st.session_state.get(_SEEN + key), st.session_state.get(key)
    if seen and open_ in seen and len(seen) == len(labels):
        st.session_state[key] = labels[seen.index(open_)]
    st.session_state[_SEEN + key] = labels
    return st.tabs(labels, key=key, on_change="rerun")


def show_open(tabs: Sequence, sections: Sequence[Callable[[], None]]) -> None:
    """Run the open tab's section inside its tab; the other tabs stay empty.

    ``tabs`` come from :func:`lazy_tabs` and ``sections`` are their fillers, in the same
    order. A page whose tabs all share one filler (a breakdown per tab) loops itself.
    """
    for tab, section in zip(tabs, sections, strict=True):
        if tab.open:
            with tab:
                section()
            return


def lazy_expander(label: str, key: str):
    """A closed expander keyed ``key`` whose ``.open`` says whether to fill it; it stays
    open when its label changes (a count in it)."""
    _kept([key])
    return st.expander(label, key=key, on_change="rerun")

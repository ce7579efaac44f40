"""Tabs and expanders that run only when open (pages.common.lazy) keep what is open when their
labels change, as a count in a label does when the data under it changes."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

SCRIPT = """
import streamlit as st
from pages.common.lazy import lazy_expander, lazy_tabs

n = st.session_state.get("n", 1)
first, counted, last = lazy_tabs(["First", f"Counted ({n})", "Last"], key="tabs",
                                 keep=["picked"])
st.write("open", first.open, counted.open, last.open)
if counted.open:
    with counted:
        st.selectbox("Pick", ["a", "b", "c"], key="picked")
shelf = lazy_expander(f"Shelf of {n}", key="shelf")
if shelf.open:
    shelf.write("inside")
if st.button("Count one more", key="more"):
    st.session_state["n"] = n + 1
    st.rerun()
"""


def _open(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("open"))


def test_the_open_tab_and_expander_stay_open_when_a_label_changes():
    at = AppTest.from_string(SCRIPT).run()
    assert _open(at) == "open `True` `False` `False`"  # the first tab, alone
    assert "picked" not in [s.key for s in at.selectbox]
    at.session_state["tabs"] = "Counted (1)"
    at.run()
    at.selectbox(key="picked").set_value("c").run()
    at.button(key="more").click().run()  # its own label changes
    assert _open(at) == "open `False` `True` `False`" and at.session_state["tabs"] == "Counted (2)"
    assert at.selectbox(key="picked").value == "c"
    at.session_state["tabs"] = "Last"
    at.session_state["shelf"] = True
    at.run()
    assert "inside" in [m.value for m in at.markdown]
    at.button(key="more").click().run()  # another tab's label changes
    assert _open(at) == "open `False` `False` `True`"
    assert "inside" in [m.value for m in at.markdown]  # the expander's label changed too
    at.session_state["tabs"] = "Counted (3)"
    at.run()
    assert at.selectbox(key="picked").value == "c"  # kept while its tab was hidden


SECTIONS = """
import streamlit as st
from pages.common.lazy import lazy_tabs, show_open

ran = st.session_state.setdefault("ran", [])
tabs = lazy_tabs(["One", "Two", "Three"], key="tabs")
show_open(tabs, [lambda name=name: (ran.append(name), st.write(f"in {name}"))
                 for name in ("one", "two", "three")])
"""


def test_show_open_runs_the_open_tabs_section_alone_inside_its_tab():
    at = AppTest.from_string(SECTIONS).run()
    assert at.session_state["ran"] == ["one"]
    assert [m.value for m in at.tabs[0].markdown] == ["in one"]
    assert not at.tabs[1].markdown and not at.tabs[2].markdown
    at.session_state["tabs"] = "Three"
    at.run()
    assert at.session_state["ran"] == ["one", "three"]
    assert [m.value for m in at.tabs[2].markdown] == ["in three"] and not at.tabs[0].markdown

"""The empty state every page shows before a mart exists: build the demo mart here."""

from __future__ import annotations

import streamlit as st

from pages.common import cache
from data_access.db import ConcertoError
from data_access.synth.generate import generate_mart
from pages.common.routing import require_routed
from pages.common.plaintext import plain  # user text shown as text


def build_demo_mart_button(label: str = "Build the demo mart 生成演示数据") -> None:
    """A button that builds the demo mart with a progress bar, then reruns the app."""
    if not st.button(label, type="primary", key="empty_build_mart"):
        return
    bar = st.progress(0.0, text="Starting…")
    try:
        generate_mart(progress=lambda fraction, message: bar.progress(
            min(max(fraction, 0.0), 1.0), text=message))
    except ConcertoError as exc:
        st.error(plain(exc))
        return
    st.cache_data.clear()
    st.rerun()


def require_mart() -> None:
    """Stop the page with instructions when there is no mart to read (after routing)."""
    require_routed()
    if cache.mart_available():
        return
    st.info(
        "There is no mart yet. Build the demo mart (about 30,000 subscribers over 24 months, "
        "with planted truths to check the analytics against), or load a real extract with "
        "`python -m data_access.mart.load DIR`."
    )
    build_demo_mart_button()
    st.stop()

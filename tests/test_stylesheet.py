"""The app's one stylesheet (assets/app.css) reaches every page, signed in or not: Streamlit's
loading skeletons are drawn still instead of pulsing (each pulse a repaint; without a GPU, CPU)."""

from __future__ import annotations

import re

from tests.conftest import APP_FILE

STILL = re.compile(r'\[data-testid="stSkeleton"\][^{]*\{\s*animation:\s*none !important;\s*\}')


def _styles(at) -> list[str]:
    return [element.proto.body for element in at.get("html")]


def test_the_sign_in_form_and_a_signed_in_page_carry_the_stylesheet(app_as, monkeypatch):
    from streamlit.testing.v1 import AppTest

    signed_out = AppTest.from_file(APP_FILE, default_timeout=90).run()
    signed_in = app_as("exec").run()
    for at in (signed_out, signed_in):
        assert not at.exception
        assert any(STILL.search(body) and body.startswith("<style>") for body in _styles(at))

"""In Chromium: a micro-region manager's sandbox names their area, draws the map offline, and
shows every KPI card's label in full."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from analytics.kpis.registry import REGISTRY
from tests.browser_support import (app_server, browser, churn_model_dir,  # noqa: F401
                                   server)
from tests.browser_support import expect_ as _expect
from tests.browser_support import sign_in as _sign_in

pytestmark = pytest.mark.browser


def test_a_micro_region_managers_sandbox_in_the_browser(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        # a link with a parameter keeps the sandbox (at "/" alone, sign-in lands on the
        # regional manager's own page)
        page.goto(f"{server}/?kpi=revenue", timeout=30_000)
        _sign_in(page, "rm_gongbei", "regional_manager")
        expect = _expect()
        expect(page.locator(".st-key-sandbox_crumb_top button")).to_contain_text("Gongbei")
        expect(page.get_by_text("Your area")).to_contain_text("Gongbei")
        expect(page.locator('[data-testid="stDeckGlJsonChart"] canvas').first).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        for key, kpi in REGISTRY.items():
            label = page.locator(f".st-key-sandbox_cardbox_{key} strong").first
            expect(label).to_have_text(kpi.label)  # the whole label, as text of its own
            # ...and none of it is cut off: the text fits in its box (waits until laid out).
            label.evaluate("el => new Promise((ok, fail) => { const t0 = Date.now(); (function check() {"
                           " const box = el.parentElement;"  # the block that would cut it
                           " if (box.clientWidth > 0 && box.scrollWidth <= box.clientWidth + 1) ok(true);"
                           " else if (Date.now() - t0 > 10000) fail(new Error('label cut: ' + el.textContent));"
                           " else setTimeout(check, 200); })(); })")
        outside = {urlparse(u).hostname for u in asked
                   if urlparse(u).scheme in ("http", "https", "ws", "wss")} - {"127.0.0.1"}
        assert outside == set(), f"requests outside the app: {sorted(outside)}"
    finally:
        page.close()

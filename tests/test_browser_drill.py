"""In Chromium: a micro-region manager's sandbox names their area, draws the map offline, and
shows every KPI card's label in full; the drill (a fragment of its own) keeps its path in the
breadcrumbs and the URL, click after click and across a reload."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from analytics.kpis.registry import REGISTRY
from tests.browser_support import (Journey, app_server, browser,  # noqa: F401
                                   churn_model_dir, journey, server)
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
        # the map, drawn offline: the area's own cell among the city's grey ones
        expect(page.locator('.st-key-sandbox_map [data-testid="stVegaLiteChart"] svg.marks')
               ).to_be_visible()
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


#: The URL's drill parameter once it holds two steps (``level:value/level:value``; the "/"
#: may be percent-encoded).
_TWO_STEPS = re.compile(r"[?&]drill=[^&]+(/|%2F)[^&]+")

def _first_table(page, depth: int):
    """The ranked table at ``depth`` of the sandbox drill, whichever level it breaks down by."""
    return page.locator(f'[class*="st-key-sandbox_table_{depth}_"]')


def test_two_row_clicks_drill_two_levels_and_a_reload_keeps_the_path(journey: Journey):
    """Each row click reruns the drill fragment alone; the path moves in the click's callback,
    so the breadcrumbs show both steps, the URL's ``drill`` carries both, the browser's back
    and forward move along them, and a reload (a new session: sign in again) draws the same
    path from the URL."""
    page, expect = journey.page, journey.expect
    journey.sign_in("exec", "executive", "?kpi=revenue")  # a parameter keeps the sandbox
    for depth in (0, 1):
        table = _first_table(page, depth)
        expect(table).to_be_visible()
        key = table.evaluate("e => [...e.classList].find(c => c.startsWith('st-key-'))")
        journey.click_row(key.removeprefix("st-key-"))
        expect(page.locator(f".st-key-sandbox_crumb_{depth}")).to_be_visible()
    expect(_first_table(page, 2)).to_be_visible()  # the level below the second step
    expect(page).to_have_url(_TWO_STEPS)
    steps = parse_qs(urlparse(page.url).query)["drill"][0].split("/")
    assert len(steps) == 2, steps
    crumbs = [page.locator(f".st-key-sandbox_crumb_{i} button") for i in (0, 1)]
    for crumb, step in zip(crumbs, steps, strict=True):
        expect(crumb).to_contain_text(step.partition(":")[2])  # members named by their value
    expect(page.locator(".st-key-sandbox_crumb_2")).to_have_count(0)
    labels = [crumb.text_content() for crumb in crumbs]

    page.go_back()  # the browser's back: the whole page reruns from the URL, one step up
    journey.step("back")
    expect(page.locator(".st-key-sandbox_crumb_1")).to_have_count(0)
    expect(crumbs[0]).to_have_text(labels[0])
    expect(page).not_to_have_url(_TWO_STEPS)
    expect(page).to_have_url(re.compile(r"[?&]drill=[^&]+"))
    page.go_forward()
    journey.step("forward")
    expect(crumbs[1]).to_have_text(labels[1])

    page.reload()  # a new session: signed out, the URL still holds the path
    _sign_in(page, "exec", "executive")
    journey.step("reload and sign in again")
    for crumb, label in zip(crumbs, labels, strict=True):
        expect(crumb).to_have_text(label)
    expect(page.locator(".st-key-sandbox_crumb_2")).to_have_count(0)
    expect(_first_table(page, 2)).to_be_visible()
    expect(page).to_have_url(_TWO_STEPS)
    journey.finish()

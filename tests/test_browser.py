"""Browser smoke test: the real app on a free port, each page opened in headless Chromium
(the server, the browser and signing in come from ``tests.browser_support``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import (VIEWPORT, app_server, browser,  # noqa: F401
                                   churn_model_dir, expect_,
                                   server, settle, sign_in)
from tests.test_pages import PAGE_TESTS

pytestmark = pytest.mark.browser
# The default page is served at "/" (with a parameter, so signing in keeps it rather than
# switching to the role's own page); the first request of the module is a deep link to
# /mart on a fresh server, the case Streamlit's legacy pages/ mode gets wrong.
URL_PATHS = {"pages/sandbox.py": "?kpi=revenue", "pages/mart.py": "mart", "pages/diagnosis.py": "diagnosis",
             "pages/microregion.py": "microregion", "pages/alerts.py": "alerts",
             "pages/workorders.py": "workorders", "pages/arsenal.py": "arsenal", "pages/budgets.py": "budgets",
             "pages/admin.py": "admin", "pages/channels.py": "channels",
             "pages/churn.py": "churn", "pages/value.py": "value",
             "pages/calendar.py": "calendar", "pages/campaigns.py": "campaigns",
             "pages/competitors.py": "competitors", "pages/comms.py": "comms",
             "pages/assurance.py": "assurance", "pages/customer.py": "customer",
             "pages/groups.py": "groups", "pages/product.py": "product"}


def test_page_map_matches_the_registered_pages():
    assert set(URL_PATHS) == set(PAGE_TESTS)


@pytest.mark.parametrize("page_file", sorted(URL_PATHS))
def test_each_page_opens_without_an_exception(server, browser, page_file):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server}/{URL_PATHS[page_file]}", timeout=30_000)
        sign_in(page, "analyst", "analyst")
        expect = expect_()
        expect(page.get_by_text("Demo Analyst").first).to_be_visible()  # signed in
        expect(page.locator("h1").first).not_to_be_empty()  # then the page
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(page.get_by_text("Page not found")).to_have_count(0)
    finally:
        page.close()


def test_choosing_a_kpi_on_a_card_puts_it_in_the_url(server, browser):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server}/?month=2026-10", timeout=30_000)
        sign_in(page, "exec", "executive")
        page.locator(".st-key-sandbox_card_arpu button").click()  # ARPU's own card button
        page.wait_for_url("**kpi=arpu**", timeout=30_000)
        settle(page)
        expect = expect_()
        expect(page.get_by_role("heading", name="Drill-down")).to_contain_text("ARPU")
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()


def test_a_wrong_password_is_refused_in_the_form(server, browser):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(server, timeout=30_000)
        sign_in(page, "marketer", "marketer", password="not-the-password-1")
        expect = expect_()  # waits for the refusal to be drawn, however slow the rerun
        expect(page.get_by_text("Unknown username or wrong password")).to_have_count(1)
        expect(page.get_by_label("Password 密码")).to_be_visible()  # still the form
        expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)
    finally:
        page.close()


def test_browser_assertions_wait_instead_of_counting_once():
    """A bare ``.count()`` or ``inner_text()`` read right after an action races the page's
    rerun; every check here goes through ``expect``."""
    import ast

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    racy = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)
            and any(isinstance(n, ast.Attribute) and n.attr in ("count", "inner_text",
                                                                   "is_visible", "text_content")
                    for n in ast.walk(node))]
    assert racy == []

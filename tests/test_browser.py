"""Browser smoke test: the real app on a free port, each page opened in headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_pages import PAGE_TESTS

pytestmark = pytest.mark.browser
#: Browser assertions use Playwright's auto-waiting ``expect`` (it retries until the page
#: matches or the timeout ends), never a bare count right after an action.
EXPECT_MS = 30_000
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The default page is served at "/"; the first request of the module is a deep link to
# /mart on a fresh server, the case Streamlit's legacy pages/ mode gets wrong.
URL_PATHS = {"pages/sandbox.py": "", "pages/mart.py": "mart", "pages/diagnosis.py": "diagnosis",
             "pages/microregion.py": "microregion", "pages/alerts.py": "alerts",
             "pages/workorders.py": "workorders", "pages/arsenal.py": "arsenal", "pages/budgets.py": "budgets",
             "pages/admin.py": "admin", "pages/channels.py": "channels",
             "pages/churn.py": "churn", "pages/value.py": "value",
             "pages/calendar.py": "calendar", "pages/campaigns.py": "campaigns",
             "pages/competitors.py": "competitors", "pages/comms.py": "comms",
             "pages/assurance.py": "assurance", "pages/customer.py": "customer"}
PASSWORD = "Concerto-2026!{role}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(duck_mart: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    port = _free_port()
    store = tmp_path_factory.mktemp("browser") / "workflow.sqlite"
    env = {**os.environ, "CONCERTO_MART_URL": duck_mart,
           "CONCERTO_WORKFLOW_URL": f"sqlite:///{store}", "CONCERTO_DEMO_USERS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the app did not answer /_stcore/health within 60 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server: str):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def _settle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def _sign_in(page, username: str, role: str, password: str | None = None) -> None:
    """Fill in the sign-in form the way a person would."""
    _settle(page)
    page.get_by_label("Username 用户名").fill(username)
    page.get_by_label("Password 密码").fill(password or PASSWORD.format(role=role))
    page.get_by_role("button", name="Sign in 登录").click()
    if password is None:  # signed in: the sidebar's sign-out button appears
        page.wait_for_selector(".st-key-logout", timeout=60_000)
    _settle(page)


def _expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_MS)
    return expect


def test_page_map_matches_the_registered_pages():
    assert set(URL_PATHS) == set(PAGE_TESTS)


@pytest.mark.parametrize("page_file", sorted(URL_PATHS))
def test_each_page_opens_without_an_exception(server, browser, page_file):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server}/{URL_PATHS[page_file]}", timeout=30_000)
        _sign_in(page, "analyst", "analyst")
        expect = _expect()
        expect(page.get_by_text("Demo Analyst").first).to_be_visible()  # signed in
        expect(page.locator("h1").first).not_to_be_empty()  # then the page
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(page.get_by_text("Page not found")).to_have_count(0)
    finally:
        page.close()


def test_choosing_a_kpi_on_a_card_puts_it_in_the_url(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server}/?month=2026-10", timeout=30_000)
        _sign_in(page, "exec", "executive")
        page.locator(".st-key-sandbox_card_arpu button").click()  # ARPU's own card button
        page.wait_for_url("**kpi=arpu**", timeout=30_000)
        _settle(page)
        expect = _expect()
        expect(page.get_by_role("heading", name="Drill-down")).to_contain_text("ARPU")
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()


def test_a_wrong_password_is_refused_in_the_form(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(server, timeout=30_000)
        _sign_in(page, "marketer", "marketer", password="not-the-password-1")
        expect = _expect()  # waits for the refusal to be drawn, however slow the rerun
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

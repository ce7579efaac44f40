"""A work order in headless Chromium: the blue button is the expected move, and reject asks
first (nothing written) and then records the reason typed into the confirmation."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.ops import workorders as rules
from data_access.store import auth, order_actions, workorders
from data_access.store.demo_users import DEMO_USERS, seed_demo_users
from data_access.store.migrate import upgrade_store
from data_access.store.scope import acting_as
from data_access.store.workflow import create_workflow_engine
from tests.browser_support import CHROMIUM, ROOT
from tests.browser_support import expect_ as _expect
from tests.browser_support import free_port as _free_port
from tests.browser_support import sign_in as _sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def accepted_order(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A store holding the demo users and one order channel_mgr has accepted."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser_orders') / 'workflow.sqlite'}"
    people = {u: auth.Principal(u, n, r, lvl, v) for u, r, n, lvl, v in DEMO_USERS}
    engine = create_workflow_engine(url)
    try:
        upgrade_store(engine)
        with acting_as(auth.SYSTEM):
            seed_demo_users(engine)
        order_id = workorders.create_order(
            engine, people["admin"], kind="task", title="Check outlet 5",
            unit_level="micro_region", unit_key="Gongbei", unit_label="Gongbei",
            branch="Xiangzhou", micro_region="Gongbei", owner_role="channel_manager",
            assignee="channel_mgr",
            due_at=rules.due_at_for_day(dt.date.today() + dt.timedelta(days=3)))
        order_actions.transition(engine, people["channel_mgr"], order_id, "accept", version=1)
    finally:
        engine.dispose()
    return url, order_id


@pytest.fixture(scope="module")
def server(duck_mart: str, accepted_order: tuple[str, int]) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    port = _free_port()
    env = {**os.environ, "CONCERTO_MART_URL": duck_mart,
           "CONCERTO_WORKFLOW_URL": accepted_order[0], "CONCERTO_DEMO_USERS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def _state(url: str, order_id: int) -> tuple[str, int, str]:
    """The order's state and version, and the note of its last history row."""
    engine = create_workflow_engine(url)
    try:
        order = workorders.load_order(engine, None, order_id)
        last = workorders.order_history(engine, None, order_id)["note"].iloc[-1]
        return order["state"], order["version"], last
    finally:
        engine.dispose()


def test_an_accepted_order_offers_start_in_blue_and_reject_only_after_confirming(
        server, browser, accepted_order):
    url, order_id = accepted_order
    before = _state(url, order_id)
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    try:
        page.goto(f"{server}/workorders?order={order_id}", timeout=30_000)
        _sign_in(page, "channel_mgr", "channel_manager")
        expect = _expect()
        primary = re.compile("primary")
        expect(page.locator(".st-key-order_move_start button")).to_have_attribute(
            "data-testid", primary)
        expect(page.locator(".st-key-order_move_reject button")).not_to_have_attribute(
            "data-testid", primary)
        expect(page.get_by_text(re.compile(r"Due \d{4}-\d{2}-\d{2} 18:00 UTC\+8"))).to_be_visible()
        page.locator(".st-key-order_move_reject button").click()
        expect(page.get_by_text(f"Reject work order #{order_id}:")).to_be_visible()
        expect(page.locator(".st-key-order_confirm_yes button")).to_have_attribute(
            "data-testid", primary)
        assert _state(url, order_id) == before  # asked, not written
        page.get_by_label("Reason 原因 (required)").fill("Outlet 5 belongs to Jida")
        page.locator(".st-key-order_confirm_yes button").click()
        expect(page.get_by_text("next: Reassign 改派, by a dispatcher")).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()
    assert _state(url, order_id) == ("rejected", before[1] + 1, "Outlet 5 belongs to Jida")

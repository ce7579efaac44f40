"""In a real browser: a scoped manager signing in at "/" lands on their own page, with every
section of the menu open and their region named (the server and browser of test_browser.py)."""

from __future__ import annotations

import re

import pytest

from tests.browser_support import (app_server, browser, churn_model_dir,  # noqa: F401
                                   server)
from tests.browser_support import expect_ as _expect
from tests.browser_support import sign_in as _sign_in

pytestmark = pytest.mark.browser


def test_the_gongbei_manager_lands_on_micro_region_management_with_no_hidden_section(
        server, browser):  # noqa: F811 (the imported fixtures)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(server, timeout=30_000)  # "/" with no path and no parameters
        _sign_in(page, "rm_gongbei", "regional_manager")
        expect = _expect()  # waits for the switch to the landing page to be drawn
        expect(page).to_have_url(re.compile(r"/microregion(\?|$)"))
        expect(page.locator("h1").first).to_have_text("Micro-region management 微区域管理")
        menu = page.locator('[data-testid="stSidebarNav"]')
        expect(menu.get_by_text("Track 跟踪")).to_be_visible()  # the last section, open
        expect(menu.get_by_text("Campaign calendar 营销日历")).to_be_visible()
        expect(page.locator('[data-testid="stSidebarNavViewButton"]')).to_have_count(0)
        expect(menu.get_by_text(re.compile(r"View \d+ more"))).to_have_count(0)
        expect(menu.get_by_text("Mart & planted truths 数据集市")).to_have_count(0)  # not theirs
        expect(menu.get_by_text("Data 数据")).to_have_count(0)  # nor an empty heading for it
        expect(page.get_by_text(re.compile("Gongbei 拱北 \\(micro-region"))).to_be_visible()
        expect(page.get_by_text("Zhuhai city")).to_have_count(0)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()

"""A first day for every role, clicked through in the browser: each role's main journey, end to
end, as a person would, on the real app (one server and one Chromium for the module).

Every step waits for the page to settle and finds no exception element; at the end of each
journey the server must have written no traceback meanwhile, the browser must have asked no
host but the app's own, and its console must hold no error (``tests.browser_support``).

Pages change under these tests (navigation per role, formatting, drill ordering, work-order
buttons), so they find things by stable means: url paths, widget keys (``.st-key-<key>``),
headings and button names, never a row's position in a ranking or a figure's formatting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_support import (CHROMIUM, Journey, app_server, browser,  # noqa: F401
                                   journey, server)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def churn_model_dir(duck_mart: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A live churn model that scored the test mart's latest month (for the account
    manager's group warnings); the same commands the operator runs."""
    from jobs.churn import run

    if not Path(CHROMIUM).exists():  # skip before training a model nobody would use
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    folder = tmp_path_factory.mktemp("journey_models")
    assert run(["train", "--mart", duck_mart, "--model-dir", str(folder), "--train-months", "3",
                "--no-baselines"]) == 0
    store = f"sqlite:///{folder / 'workflow.sqlite'}"  # the app server's store (browser_support)
    assert run(["score", "--mart", duck_mart, "--model-dir", str(folder), "--workflow", store,
                "--fading", "0.01"]) == 0
    yield folder


def test_executive_drills_from_an_off_target_kpi_to_a_ledger(journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("exec", "executive")  # the landing page, whatever it becomes per role
    journey.go("", "Operations sandbox")
    # the cards: pick one whose badge says it is off target, whichever KPI that is
    off_target = page.locator('[data-testid="stColumn"]').filter(has_text="off target").locator(
        '[class*="st-key-sandbox_card_"] button')
    expect(off_target.first).to_be_visible()
    journey.click(off_target.first, "drill into an off-target KPI")
    expect(page).to_have_url(re.compile(r"[?&]kpi="))
    # the map (a Vega-Lite chart): a click on a cell focuses the page on that micro-region
    cells = page.locator('.st-key-sandbox_map [data-testid="stVegaLiteChart"] svg.marks')
    expect(cells).to_be_visible()
    cells.scroll_into_view_if_needed()
    box = cells.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    journey.step("click a micro-region on the map")
    expect(page).to_have_url(re.compile(r"[?&]region=\w"))
    expect(page.get_by_text(re.compile(r"Outlined: \w"))).to_be_visible()
    # one level down: the first member of whatever level the drill offers first
    first_level = page.locator('[class*="st-key-sandbox_table_0_"]')
    expect(first_level).to_be_visible()
    key = first_level.evaluate("e => [...e.classList].find(c => c.startsWith('st-key-'))")
    journey.click_row(key.removeprefix("st-key-"))
    expect(page.locator(".st-key-sandbox_crumb_0")).to_be_visible()  # the path shows the step
    expect(page).to_have_url(re.compile(r"[?&]drill=\w"))
    # the numbers behind it, then one subscriber's ledger
    levels = page.locator('[class*="st-key-sandbox_level_1"]')
    journey.click(levels.locator("button").filter(has_text="subscribers"), "subscriber rows")
    journey.click_row("sandbox_subscribers")
    expect(page.get_by_text("Ledger 明细账")).to_be_visible()
    # and on to that subscriber's customer view, in the same tab (no second sign-in)
    journey.click(page.locator(".st-key-sandbox_open_customer").get_by_role(
        "button", name=re.compile("Open customer view")), "open the customer view")
    expect(page).to_have_url(re.compile(r"/customer\?sub=\d+"))
    expect(page.get_by_role("heading", name=re.compile("Customer view"))).to_be_visible()
    journey.finish()


def test_analyst_runs_a_diagnosis_template_and_reads_the_mind_map(journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("analyst", "analyst")
    journey.go("diagnosis", "Market diagnosis")
    template = journey.choose("diagnosis_template")  # another stored template
    assert template and "New template" not in template
    journey.click(page.locator(".st-key-diagnosis_run button"), "run the template")
    expect(page.locator('[data-testid="stGraphVizChart"]')).to_be_visible()  # the mind map
    expect(page.get_by_role("button", name="Download node results (CSV)")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    journey.finish()


def test_regional_manager_goes_from_micro_region_to_subscribers_to_a_work_order(
        journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("rm_gongbei", "regional_manager")
    journey.go("microregion", "Micro-region management")
    expect(page.get_by_text("Gongbei").first).to_be_visible()  # the manager's own area
    # the drill starts inside the manager's micro-region: straight to its subscribers
    expect(page.locator(".st-key-micro_crumb_top")).to_contain_text("Gongbei")
    journey.click(page.locator('[class*="st-key-micro_level_0"] button').filter(
        has_text="subscribers"), "subscriber rows")
    expect(page.locator(".st-key-micro_subscribers [data-testid='stDataFrameResizable']")
           ).to_be_visible()
    # raise a work order about the micro-region
    journey.go("workorders", "Work orders")
    journey.click(page.get_by_role("tab", name="New order"), "the new-order tab")
    form = page.locator('[data-testid="stForm"]').filter(has_text="Create order")
    form.get_by_label("Title 标题").fill("Gongbei: subscribers leaving, visit the outlets")
    form.get_by_label("Unit key (name or number) 单元编码").fill("Gongbei")
    journey.click(form.get_by_role("button", name="Create order"), "create the order")
    expect(page.get_by_text("Created work order #")).to_be_visible()
    expect(page.get_by_role("heading", name="Gongbei: subscribers leaving")).to_be_visible()
    journey.finish()


def test_marketer_reads_a_campaign_effect_then_checks_a_plan_for_conflicts(journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("marketer", "marketer")
    journey.go("campaigns", "Campaigns")
    journey.choose("campaigns_pick")  # another campaign than the one shown first
    expect(page.get_by_text("Effect per participant")).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="ROI")).to_be_visible()
    journey.go("calendar", "Campaign calendar")
    expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()  # the Gantt
    form = page.locator(".st-key-calendar_plan_form, [data-testid='stForm']").filter(
        has_text="Check conflicts")
    form.get_by_label("Name 名称").fill("Journey test plan")
    journey.choose("plan_segments")
    journey.choose("plan_channels")
    journey.click(form.get_by_role("button", name="Check conflicts"), "check the plan")
    expect(page.get_by_text("No conflict").or_(page.get_by_text("conflict(s) with the calendar"))
           ).to_be_visible()
    journey.finish()


def test_channel_manager_reads_a_channel_evaluation_and_its_alerts(journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("channel_mgr", "channel_manager")
    journey.go("channels", "Channels")
    expect(page.locator(".st-key-channels_eval_table_csv")).to_be_visible()  # the evaluator
    journey.click(page.get_by_role("tab", name="Channel view"), "the channel view")
    verdict = page.locator('[data-testid="stMetric"]').filter(has_text="Net value")
    expect(verdict).to_be_visible()  # one channel's evaluation
    journey.choose("channels_pick")
    expect(verdict).to_be_visible()
    journey.click(page.get_by_role("tab", name="Alerts"), "the channel alerts")
    expect(page.get_by_text("SIM farming 养卡").first).to_be_visible()
    expect(page.get_by_text("Stock shortage 缺货").first).to_be_visible()
    journey.go("alerts", "Alerts")
    journey.finish()


def test_account_manager_goes_from_group_value_to_a_group_churn_warning(journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("account_mgr", "account_manager")
    journey.go("value", "Customer value")
    groups = page.locator('[data-testid="stExpander"]').filter(has_text="Enterprise groups")
    journey.click(groups.locator("summary"), "open the enterprise groups")
    expect(page.locator(".st-key-value_groups_csv")).to_be_visible()
    journey.go("churn", "Churn")
    expect(page.get_by_role("heading", name="Enterprise-group warnings")).to_be_visible()
    expect(page.locator(".st-key-churn_csv")).to_be_visible()  # the retention list's export
    journey.choose("churn_subscriber")  # one subscriber at risk, explained
    expect(page.get_by_text("Why at risk").first).to_be_visible()
    journey.finish()


def test_administrator_reads_users_and_the_audit_log(journey: Journey):
    page, expect = journey.page, journey.expect
    journey.sign_in("admin", "administrator")
    journey.go("admin", "Users & audit")
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()  # the users
    journey.click(page.get_by_role("tab", name="Audit log"), "the audit log")
    expect(page.get_by_role("button", name="Download the audit rows (CSV)")).to_be_visible()
    journey.finish()


def test_journey_assertions_wait_instead_of_counting_once():
    """A bare ``.count()`` or ``inner_text()`` read right after an action races the page's
    rerun; every check here goes through ``expect`` (or the journey's own steps)."""
    import ast

    for path in (Path(__file__), Path(__file__).with_name("browser_support.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        racy = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)
                and any(isinstance(n, ast.Attribute) and n.attr in (
                    "count", "inner_text", "is_visible", "text_content", "all_inner_texts")
                        for n in ast.walk(node))]
        assert racy == [], f"{path.name}: {racy}"

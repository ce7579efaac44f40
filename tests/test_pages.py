"""Every page renders under Streamlit's AppTest; deep links, bad URLs and the drill path work."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_readable_pages import unreadable

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
#: Each page registered in app.py and the test ("file::function") that renders it; the
#: meta-test checks that both exist.
PAGE_TESTS = {
    "pages/sandbox.py": "test_pages.py::test_sandbox_renders_cards_map_tree_and_drill",
    "pages/mart.py": "test_pages.py::test_mart_page_lists_tables_and_planted_truths",
    "pages/diagnosis.py": "test_pages.py::test_diagnosis_page_builds_runs_and_saves_a_template",
    "pages/microregion.py":
        "test_pages.py::test_micro_region_page_follows_a_finding_down_to_numbers",
    "pages/alerts.py": "test_pages.py::test_alerts_page_scans_and_lists_new_alerts",
    "pages/workorders.py": "test_pages_act.py::test_work_orders_page_walks_an_order_to_closed",
    "pages/arsenal.py": "test_arsenal.py::test_arsenal_page_front_line_sees_level_1_and_picks_for_an_order",
    "pages/budgets.py": "test_budgets.py::test_budgets_page_as_channel_mgr_prebooks_through_the_form",
    "pages/admin.py": "test_pages_act.py::test_admin_page_creates_a_user_and_shows_the_audit",
    "pages/channels.py":
        "test_channel_eval.py::test_channels_page_opens_the_farming_channel_and_raises_a_work_order",
    "pages/competitors.py":
        "test_competitors.py::test_the_page_shows_the_jida_jump_and_the_intelligence_behind_it",
    "pages/comms.py": "test_comms.py::test_the_page_recommends_a_media_mix_for_a_new_theme",
    "pages/campaigns.py": "test_campaign_effect.py::test_campaign_page_shows_the_planted_campaign_roi",
    "pages/value.py": "test_value_pages.py::test_value_page_shows_bands_lists_and_map",
    "pages/calendar.py":
        "test_value_pages.py::test_calendar_stops_a_plan_that_collides_with_the_planted_crowd",
    "pages/churn.py": "test_churn_page.py::test_churn_page_renders",
    "pages/groups.py": "test_groups.py::test_groups_page_shows_portfolio_warnings_and_raises_orders",
    "pages/customer.py": "test_customer_view.py::test_the_page_shows_one_subscriber",
    "pages/assurance.py":
        "test_assurance.py::test_assurance_page_lists_priced_findings_and_raises_alerts",
    "pages/product.py": "test_product.py::test_the_product_page_shows_plans_migrations_and_the_launch",
}


@pytest.fixture
def app(app_as) -> AppTest:
    """The app signed in as the demo analyst (every region, masked numbers)."""
    return app_as("analyst")


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.warning] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_every_registered_page_has_a_rendering_test():
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    registered = {
        node.args[0].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"
        and node.args and isinstance(node.args[0], ast.Constant)
    }
    on_disk = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")}
    assert registered == on_disk, "every file in pages/ must be registered in app.py"
    assert registered == set(PAGE_TESTS), "add the new page to PAGE_TESTS with its test"
    for target in PAGE_TESTS.values():
        file, name = target.split("::")
        source = ast.parse((ROOT / "tests" / file).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(source) if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"{target} is named in PAGE_TESTS but does not exist"
    # A fresh server's first request runs in Streamlit's legacy pages/ mode, which knows a
    # page by its file name; st.navigation must use the same path or the link falls through.
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            url = {k.arg: k.value.value for k in node.keywords if k.arg == "url_path"}
            if "url_path" in url:
                assert url["url_path"] == Path(node.args[0].value).stem


def test_sandbox_renders_cards_map_tree_and_drill(app: AppTest):
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value.startswith("Operations sandbox")
    labels = [m.label for m in app.metric]
    assert any(label.startswith("ARPU") for label in labels)
    assert len(app.metric) >= 9
    assert app.query_params["kpi"] == "revenue"  # the view is shareable


def test_deep_link_sets_filters_and_drill_path(app: AppTest):
    app.query_params["month"] = "2026-09"
    app.query_params["region"] = "Gongbei"
    app.query_params["kpi"] = "arpu"
    app.query_params["drill"] = "channel_type:social_outlet"
    app.run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key="global_branch").value == "Xiangzhou"
    assert app.sidebar.selectbox(key="global_micro_region").value == "Gongbei"
    assert str(app.sidebar.selectbox(key="global_month").value) == "2026-09-01"
    assert app.session_state["sandbox_kpi"] == "arpu"
    assert [s.label for s in app.session_state["sandbox_path"]] == ["social_outlet"]


def test_bad_url_parameters_get_a_message_naming_them(app: AppTest):
    app.query_params["month"] = "2031-13"
    app.query_params["branch"] = "Atlantis"
    app.query_params["kpi"] = "happiness"
    app.query_params["drill"] = "galaxy:far"
    app.run()
    assert not app.exception, app.exception
    shown = _texts(app)
    for fragment in ("month='2031-13'", "branch='Atlantis'", "kpi='happiness'", "drill='galaxy:far'"):
        assert fragment in shown


def test_a_red_card_drills_down_to_subscriber_rows_and_a_ledger(app: AppTest):
    app.query_params["drill"] = "micro_region:Gongbei/channel_type:social_outlet"
    app.run()
    assert not app.exception, app.exception
    control = app.segmented_control(key="sandbox_level_2")
    assert "subscribers" in control.options[-1]
    control.set_value("subscribers").run()
    assert not app.exception, app.exception
    rows = app.dataframe[-1].value
    assert len(rows) > 0
    assert rows["number"].str.fullmatch(r"\d{7}\*{4}").all()
    assert (rows["micro_region"] == "Gongbei").all()
    assert (rows["channel_type"] == "social_outlet").all()


def test_mart_page_lists_tables_and_planted_truths(app: AppTest):
    app.switch_page("pages/mart.py").run()
    assert not app.exception, app.exception
    frames = [d.value for d in app.dataframe]
    tables = frames[0]
    assert "fact_subscriber_month" in set(tables["Table 数据表"])
    kinds = set(frames[1]["Kind 类型"])
    assert {"revenue_drop", "sim_farming", "campaign_uplift", "churn_driver"} <= kinds
    assert "UTC+8" in " ".join(c.value for c in app.caption)  # built at, local and labelled
    assert unreadable(app) == []


#: Pages that work from the workflow store alone, and so render without a mart.
MART_FREE = {"pages/arsenal.py", "pages/budgets.py"}


def test_without_a_mart_every_page_explains_how_to_get_one(tmp_path, monkeypatch):
    from data_access.store.auth import Principal

    monkeypatch.setenv("CONCERTO_MART_URL", f"duckdb:///{tmp_path / 'absent.duckdb'}")
    monkeypatch.setenv("CONCERTO_WORKFLOW_URL", f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    for page in PAGE_TESTS:
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state["principal"] = Principal("admin", "Admin", "administrator")
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        if page in MART_FREE:
            continue
        assert "no mart yet" in _texts(at), page
        assert any("demo mart" in b.label for b in at.button)


def test_diagnosis_page_builds_runs_and_saves_a_template(app: AppTest):
    app.switch_page("pages/diagnosis.py").run()
    assert not app.exception, app.exception
    names = app.selectbox(key="diagnosis_template").options
    assert any("Revenue anomaly" in n for n in names)  # starter templates are there
    app.selectbox(key="diagnosis_template").set_value(
        next(n for n in names if "Revenue anomaly" in n)).run()
    app.button(key="diagnosis_run").click().run()
    assert not app.exception, app.exception
    nodes = app.dataframe[0].value
    assert nodes["Node 节点"].iloc[0].lower().startswith("revenue")
    shown = _texts(app)
    assert "micro-region Gongbei" in shown and "channel type social_outlet" in shown
    assert "diagnosis_add" not in [b.key for b in app.button]  # the editor's tab is not run
    # build a two-level tree from scratch and save it
    app.selectbox(key="diagnosis_template").set_value("➕ New template 新建模板").run()
    app.session_state["diagnosis_tab"] = "Edit 编辑"
    app.run()
    app.button(key="diagnosis_add").click().run()
    assert not app.exception, app.exception
    app.text_input[0].set_value("Two level check")
    app.button[[b.label for b in app.button].index("Save as a new version 保存")].click().run()
    assert not app.exception, app.exception
    assert any("Saved Two level check version 1" in s.value for s in app.success)
    assert app.selectbox(key="diagnosis_template").value == "Two level check"
    assert len(app.session_state["diagnosis_working"].root.children) == 1  # the child was kept
    app.session_state["diagnosis_tab"] = "Run 运行"
    app.run()
    app.button(key="diagnosis_run").click().run()
    assert not app.exception, app.exception
    assert len(app.dataframe[0].value) == 2  # both levels ran


def test_diagnosis_page_keeps_the_run_tabs_choices_across_tabs(app: AppTest):
    """Only the open tab runs; a period and a comparison chosen on the run tab are still
    chosen after the editor was open."""
    app.switch_page("pages/diagnosis.py").run()
    latest = app.selectbox(key="diagnosis_period").value
    app.selectbox(key="diagnosis_period").select_index(2).run()
    app.radio(key="diagnosis_mode").set_value("last year").run()
    chosen = app.selectbox(key="diagnosis_period").value
    assert chosen < latest
    app.session_state["diagnosis_tab"] = "Edit 编辑"
    app.run()
    assert "diagnosis_period" not in [b.key for b in app.selectbox]
    assert "diagnosis_add" in [b.key for b in app.button]
    app.session_state["diagnosis_tab"] = "Run 运行"
    app.run()
    assert not app.exception, app.exception
    assert app.selectbox(key="diagnosis_period").value == chosen
    assert app.radio(key="diagnosis_mode").value == "last year"


def test_micro_region_page_follows_a_finding_down_to_numbers(app: AppTest):
    app.query_params["region"] = "Gongbei"
    app.query_params["kpi"] = "revenue"
    app.query_params["drill"] = "channel_type:social_outlet"
    app.switch_page("pages/microregion.py").run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key="global_micro_region").value == "Gongbei"
    assert [s.label for s in app.session_state["micro_path"]] == ["social_outlet"]
    control = app.segmented_control(key="micro_level_1")
    control.set_value("subscribers").run()
    assert not app.exception, app.exception
    rows = app.dataframe[-1].value
    assert (rows["micro_region"] == "Gongbei").all() and (rows["channel_type"] == "social_outlet").all()
    assert rows["number"].str.fullmatch(r"\d{7}\*{4}").all()


def test_micro_region_page_shows_the_localisers_answer_for_the_city(app: AppTest):
    app.switch_page("pages/microregion.py").run()
    assert not app.exception, app.exception
    shown = _texts(app)
    assert "micro-region Gongbei" in shown  # findings in words (pages/common/findings.py)
    assert "branch Jinwan" in shown and "segment youth" in shown


def test_alerts_page_scans_and_lists_new_alerts(app: AppTest):
    app.switch_page("pages/alerts.py").run()
    assert not app.exception, app.exception
    before = len(app.dataframe[-1].value) if app.dataframe else 0  # the demo's budget alert
    app.button(key="alerts_scan").click().run()
    assert not app.exception, app.exception
    assert any("new alert(s)" in s.value for s in app.success)
    assert len(app.dataframe[-1].value) > before
    assert unreadable(app) == []  # KPI units, local raised times, no raw floats


def test_alerts_page_lists_a_raised_alert(app: AppTest, tmp_path):
    import os

    from data_access.store.diagnosis import raise_alerts
    from data_access.store.workflow import create_workflow_engine

    engine = create_workflow_engine(os.environ["CONCERTO_WORKFLOW_URL"])
    raise_alerts(engine, [{"source": "diagnosis", "metric": "revenue", "unit_level": "micro_region",
                           "unit_key": "Gongbei", "unit_label": "revenue [Gongbei]",
                           "observed_at": "2026-10", "score": 0.97, "actual": 1.0,
                           "expected": 2.0, "message": "revenue down 50% against 2026-09"}])
    engine.dispose()
    app.switch_page("pages/alerts.py").run()
    assert not app.exception, app.exception
    listed = app.dataframe[-1].value
    raised = listed[listed["Source 来源"] == "diagnosis"]
    assert list(raised["Unit 单元"]) == ["revenue [Gongbei]"]
    assert raised["Score 评分"].iloc[0] == 0.97


def test_alerts_page_folds_a_unit_and_what_it_lies_in_into_one_incident(app: AppTest, duck_mart):
    import os

    import sqlalchemy as sa

    from data_access.db import create_mart_engine
    from data_access.mart import schema as s
    from data_access.store.diagnosis import raise_alerts
    from data_access.store.workflow import create_workflow_engine

    mart = create_mart_engine(duck_mart, read_only=True)
    with mart.connect() as conn:
        channel = conn.execute(sa.select(s.dim_channel.c.channel_id).join(
            s.dim_region, s.dim_channel.c.region_id == s.dim_region.c.region_id).where(
            s.dim_region.c.micro_region == "Gongbei").limit(1)).scalar_one()
    mart.dispose()
    day = "2026-10-30"
    engine = create_workflow_engine(os.environ["CONCERTO_WORKFLOW_URL"])
    raise_alerts(engine, [
        {"source": "anomaly", "metric": "new_activations", "unit_level": "channel",
         "unit_key": str(channel), "unit_label": f"channel {channel}", "observed_at": day,
         "score": 0.99, "actual": 2.0, "expected": 40.0, "message": "activations fell"},
        {"source": "anomaly", "metric": "new_activations", "unit_level": "micro_region",
         "unit_key": "Gongbei", "unit_label": "Gongbei", "observed_at": day, "score": 0.95,
         "actual": 100.0, "expected": 130.0, "message": "activations fell"},
        {"source": "anomaly", "metric": "new_activations", "unit_level": "micro_region",
         "unit_key": "Sanzao", "unit_label": "Sanzao", "observed_at": day, "score": 0.95,
         "actual": 10.0, "expected": 30.0, "message": "activations fell"}])
    engine.dispose()
    app.switch_page("pages/alerts.py").run()
    assert not app.exception, app.exception
    leads = app.dataframe[-1].value
    ours = leads[leads["Observed 观测期"] == day]
    assert list(ours["Unit 单元"]) == [f"channel {channel}", "Sanzao"]  # impact order
    assert list(ours["Alerts in it 告警数"]) == [2, 1]
    app.toggle(key="alerts_every").set_value(True).run()
    every = app.dataframe[-1].value
    assert (every["Observed 观测期"] == day).sum() == 3

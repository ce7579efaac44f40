"""Each role's menu holds the pages it may open and agrees with the pages' own checks; a link
to another page says which and why; a scoped manager's filters, captions and breadcrumbs name
their own region, never the city."""

from __future__ import annotations


import ast
import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access.store.principal import PERMISSIONS, ROLES, Principal
from pages.common import navigation
from pages.common.filters import CITY, GlobalFilters

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

ROOT = Path(__file__).resolve().parent.parent


def _registered_pages() -> dict[str, dict[str, object]]:
    """Each ``st.Page("pages/….py", …)`` of app.py: file → its keyword arguments."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    return {node.args[0].value: {k.arg: k.value.value for k in node.keywords}
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"
            and node.args and isinstance(node.args[0], ast.Constant)}


def _page_gates(page_file: str) -> list[ast.expr]:
    """The page's own top-level refusals: ``if <test>: … st.stop()`` whose test asks
    ``who.can(…)`` (mart.py's and admin.py's "may not")."""
    tree = ast.parse((ROOT / page_file).read_text(encoding="utf-8"))
    gates = []
    for node in tree.body:
        if not isinstance(node, ast.If):
            continue
        asks = any(isinstance(n, ast.Attribute) and n.attr == "can" for n in ast.walk(node.test))
        stops = any(isinstance(n, ast.Attribute) and n.attr == "stop" for n in ast.walk(node))
        if asks and stops:
            gates.append(node.test)
    return gates


def _page_lets_in(page_file: str, role: str) -> bool:
    """Whether none of the page's own refusals stops ``role`` (each gate evaluated with
    ``who`` a principal of that role)."""
    who = Principal("someone", "Someone", role)
    return not any(eval(compile(ast.Expression(gate), page_file, "eval"), {"who": who})
                   for gate in _page_gates(page_file))


def test_every_page_registered_in_app_is_in_the_table():
    registered = _registered_pages()
    assert set(registered) == set(navigation.PAGE_NEEDS)
    # page_file() finds a page's file from its URL: the default page is HOME, the others
    # are served at their file's stem
    defaults = [f for f, kw in registered.items() if kw.get("default")]
    assert defaults == [navigation.HOME]
    for file, keywords in registered.items():
        if file != navigation.HOME:
            assert keywords["url_path"] == Path(file).stem
    for need in navigation.PAGE_NEEDS.values():
        assert set(need.permissions) <= set(PERMISSIONS), need


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_roles_menu_agrees_with_the_pages_own_checks(role):
    for page_file in navigation.PAGE_NEEDS:
        assert navigation.may_open(role, page_file) == _page_lets_in(page_file, role), (
            f"the menu and {page_file}'s own check disagree for a {role}")


def test_the_page_checks_are_found_where_pages_refuse():
    """The check above compares something: mart.py and admin.py refuse some roles."""
    assert _page_gates("pages/mart.py") and _page_gates("pages/admin.py")
    assert not _page_lets_in("pages/mart.py", "channel_manager")
    assert not _page_lets_in("pages/admin.py", "marketer")
    assert _page_lets_in("pages/admin.py", "executive")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_roles_menu_follows_the_permission_table(role):
    visible = {f for f in navigation.PAGE_NEEDS if navigation.may_open(role, f)}
    wanted = {f for f, need in navigation.PAGE_NEEDS.items()
              if any(role in PERMISSIONS[p] for p in need.permissions)}
    assert visible == wanted
    assert navigation.HOME in visible  # the page at "/" opens for everyone
    assert navigation.landing(role) in visible


def test_front_line_roles_do_not_see_the_data_pages():
    for role in ("regional_manager", "channel_manager", "account_manager", "marketer"):
        assert not navigation.may_open(role, "pages/mart.py")
        assert not navigation.may_open(role, "pages/admin.py")
    assert navigation.may_open("administrator", "pages/admin.py")
    assert navigation.may_open("analyst", "pages/mart.py")
    assert not navigation.may_open("analyst", "pages/admin.py")


def test_a_scope_label_never_says_the_city_when_a_region_is_selected():
    months = (dt.date(2026, 9, 1), dt.date(2026, 10, 1))
    chosen = GlobalFilters(months[1], months, "Xiangzhou", "Gongbei", place="Gongbei 拱北")
    assert chosen.scope_label == "Gongbei 拱北"
    assert GlobalFilters(months[1], months, "Doumen", None).scope_label == "Doumen"
    assert GlobalFilters(months[1], months, None, None).scope_label == CITY


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.warning]
    parts += [b.label for b in at.button] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


def test_a_link_to_a_page_outside_the_role_names_the_page_and_why(app_as):
    at = app_as("channel_mgr")
    at.switch_page("pages/mart.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Mart & planted truths 数据集市"
    message = at.info[0].value
    assert "channel manager may not see the mart's tables and planted truths" in message
    assert "Mart & planted truths 数据集市 is not in your menu" in message
    assert "executives, analysts and administrators" in message
    assert not at.dataframe  # none of the page itself ran
    assert "Page not found" not in _texts(at)


def test_a_role_that_may_open_the_page_gets_the_page(app_as):
    at = app_as("exec")
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert "is not in your menu" not in _texts(at)
    users = at.dataframe[0].value  # headers are the reader's names (pages/admin.py)
    assert "channel_mgr" in set(users["Username 用户名"])


def test_the_gongbei_manager_sees_gongbei_named_everywhere(app_as):
    at = app_as("rm_gongbei")
    at.run()
    assert not at.exception, at.exception
    shown = _texts(at)
    assert "Zhuhai city" not in shown and "All 全部" not in shown
    assert at.caption[0].value.startswith("Gongbei 拱北 · ")  # the sandbox's caption
    assert "⌂ Gongbei 拱北" in [b.label for b in at.button]  # the drill's breadcrumb
    assert "Scope 范围: micro-region Gongbei 拱北 only" in shown  # the banner
    branch = at.sidebar.selectbox(key="global_branch")
    region = at.sidebar.selectbox(key="global_micro_region")
    assert (branch.value, branch.options, branch.disabled) == ("Xiangzhou", ["Xiangzhou 香洲"], True)
    assert (region.value, region.options, region.disabled) == ("Gongbei", ["Gongbei 拱北"], True)


def test_a_branch_manager_keeps_the_branch_and_picks_among_its_micro_regions(app_as):
    at = app_as("rm_doumen")
    at.run()
    assert not at.exception, at.exception
    branch = at.sidebar.selectbox(key="global_branch")
    region = at.sidebar.selectbox(key="global_micro_region")
    assert (branch.value, branch.options, branch.disabled) == ("Doumen", ["Doumen 斗门"], True)
    assert region.options[0] == "All of Doumen 斗门 全部" and not region.disabled
    assert "Baijiao 白蕉" in region.options and "Gongbei 拱北" not in region.options
    assert at.caption[0].value.startswith("Doumen 斗门 · ")
    # one of their micro-regions (through a link: under AppTest a widget's rerun runs the
    # page without app.py's sidebar, see pages/common/routing.py)
    narrowed = app_as("rm_doumen")
    narrowed.query_params["region"] = "Baijiao"
    narrowed.run()
    assert not narrowed.exception, narrowed.exception
    assert narrowed.sidebar.selectbox(key="global_micro_region").value == "Baijiao"
    assert narrowed.caption[0].value.startswith("Baijiao 白蕉 · ")
    assert "⌂ Baijiao 白蕉" in [b.label for b in narrowed.button]


@pytest.mark.parametrize("user, caption, first_level", [
    ("rm_doumen", "Doumen 斗门 (branch 分公司) · ", "micro-region"),
    ("rm_gongbei", "Gongbei 拱北 (micro-region 微区域) · ", "channel"),
])
def test_the_micro_region_page_starts_at_the_managers_level(app_as, user, caption, first_level):
    at = app_as(user)
    at.switch_page("pages/microregion.py").run()
    assert not at.exception, at.exception
    assert at.caption[0].value.startswith(caption)
    assert "Zhuhai city" not in _texts(at)
    levels = at.segmented_control(key="micro_level_0").options
    assert levels[0].startswith(first_level)
    assert not any(level.startswith("branch") for level in levels)


def test_everyone_unscoped_still_starts_at_the_city(app_as):
    at = app_as("analyst")
    at.run()
    assert not at.exception, at.exception
    assert at.caption[0].value.startswith(f"{CITY} · ")
    assert at.sidebar.selectbox(key="global_branch").value == "All 全部"
    assert "Scope 范围: all of Zhuhai city 全市" in _texts(at)

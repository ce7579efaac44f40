"""Each role's menu holds the pages it may open and agrees with the pages' own checks; a link
to another page says which and why."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access.store.principal import PERMISSIONS, ROLES, Principal
from pages.common import navigation

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
    assert "channel_mgr" in set(at.dataframe[0].value["username"])

"""Who sees which page: one table of the permissions each page needs, each role's start page,
and the message a link to a page outside one's role shows instead of the page.

The table agrees with the pages' own checks: a page that stops a role with "may not" (the
mart's internals, users and audit) is left out of that role's menu; a page whose forms a role
cannot use but whose figures it can read stays in. A link to a left-out page still resolves
(the page is registered hidden), and app.py shows :func:`show_refusal` in its place, so the
person reads which page it was and why, never "Page not found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import streamlit as st

from data_access.store.principal import PERMISSIONS, ROLES, Principal
from pages.common.plaintext import plain  # titles and role names shown as text

#: The page every link without a path opens (app.py's ``default=True`` page, served at "/").
HOME = "pages/sandbox.py"


@dataclass(frozen=True)
class Need:
    """What opening a page takes: any one of ``permissions``; ``doing`` completes the
    sentence "A <role> may not …" for those who hold none of them."""

    permissions: tuple[str, ...]
    doing: str


_READ = ("view_dashboards",)
#: Page file → what it needs. Every page registered in app.py is here (tests check both ways).
PAGE_NEEDS: dict[str, Need] = {
    "pages/sandbox.py": Need(_READ, "see the operations sandbox"),
    "pages/diagnosis.py": Need(_READ, "run market diagnoses"),
    "pages/microregion.py": Need(_READ, "see micro-region management"),
    "pages/alerts.py": Need(_READ, "see alerts"),
    "pages/channels.py": Need(_READ, "see channel management"),
    "pages/competitors.py": Need(_READ, "see the competitor monitor"),
    "pages/assurance.py": Need(_READ, "see revenue assurance"),
    "pages/customer.py": Need(_READ, "see the customer view"),
    "pages/workorders.py": Need(_READ, "see work orders"),
    # everyone reads the tactics up to their level (data_access.store.arsenal.list_tactics)
    "pages/arsenal.py": Need(_READ, "see the marketing arsenal"),
    "pages/budgets.py": Need(("allocate_budgets", "book_budget", "view_all_budgets"),
                             "allocate, book or read budgets"),
    "pages/comms.py": Need(_READ, "read the communications plan"),  # "Your role reads the plan"
    "pages/campaigns.py": Need(_READ, "see campaigns"),
    "pages/churn.py": Need(_READ, "see churn prediction"),
    "pages/groups.py": Need(_READ, "see enterprise groups"),  # raising orders: act_on_alerts
    "pages/value.py": Need(_READ, "see customer value"),
    "pages/calendar.py": Need(_READ, "see the campaign calendar"),
    "pages/product.py": Need(_READ, "see the product view"),  # scoped reads, no forms
    # the pages themselves stop these roles (mart.py, admin.py): the menu leaves them out
    "pages/mart.py": Need(("view_mart_admin",), "see the mart's tables and planted truths"),
    "pages/admin.py": Need(("manage_users", "view_audit"), "manage users or read the audit log"),
}

#: Where each role starts after signing in at "/" (its own work, not everyone's sandbox).
LANDING: dict[str, str] = {
    "executive": HOME,
    "analyst": "pages/diagnosis.py",
    "regional_manager": "pages/microregion.py",
    "channel_manager": "pages/channels.py",
    "account_manager": "pages/groups.py",  # its portfolio and the group early warning
    "marketer": "pages/campaigns.py",
    "administrator": "pages/admin.py",
}


def may_open(role: str, file: str) -> bool:
    """Whether ``role`` holds one of the permissions the page in ``file`` needs.

    >>> may_open("channel_manager", "pages/admin.py"), may_open("executive", "pages/admin.py")
    (False, True)
    """
    if file not in PAGE_NEEDS:
        raise KeyError(f"{file} is not in pages.common.navigation.PAGE_NEEDS; add it")
    return any(role in PERMISSIONS[p] for p in PAGE_NEEDS[file].permissions)


def landing(role: str) -> str:
    """The page ``role`` starts on after signing in at "/"."""
    return LANDING[role]


def page_file(page) -> str:
    """The file of an ``st.Page`` registered in app.py.

    Streamlit does not expose a page's file, but app.py serves each page at its file's stem
    (tests/test_pages.py holds it to that: the legacy first request needs it) and the
    default page at "/".
    """
    return HOME if page.url_path == "" else f"pages/{page.url_path}.py"


def arrange(sections: Mapping[str, Sequence], who: Principal) -> dict[str, list]:
    """app.py's menu for ``who``: the pages their role may open, in order; every other page
    registered hidden in its place, so a link to it still arrives (and gets
    :func:`show_refusal`). Streamlit draws no heading for a section whose pages are all
    hidden (tests/test_navigation_browser.py checks it for the Data section).
    """
    return {section: [p if may_open(who.role, page_file(p)) else _hidden(p) for p in pages]
            for section, pages in sections.items()}


def _hidden(page):
    """The same page (file, title, icon, URL), left out of the menu."""
    return st.Page(page_file(page), title=page.title, icon=page.icon, url_path=page.url_path,
                   visibility="hidden")


def refused(page, who: Principal) -> bool:
    """Whether the page st.navigation resolved is one ``who`` may not open."""
    return not may_open(who.role, page_file(page))


def _holders(permissions: tuple[str, ...]) -> str:
    roles = [f"{ROLES[r].lower()}s" for r in ROLES
             if any(r in PERMISSIONS[p] for p in permissions)]
    return ", ".join(roles[:-1]) + f" and {roles[-1]}" if len(roles) > 1 else roles[0]


def refusal_message(page_title: str, file: str, role: str) -> str:
    """Why ``role`` may not open the page (the text :func:`show_refusal` shows).

    >>> refusal_message("Users & audit", "pages/admin.py", "marketer")  # doctest: +ELLIPSIS
    'A marketer may not manage users or read the audit log, so Users & audit is not ...'
    """
    need = PAGE_NEEDS[file]
    article = "An" if ROLES[role][0] in "AEIOU" else "A"
    return (f"{article} {ROLES[role].lower()} may not {need.doing}, so {page_title} is not in "
            f"your menu. It is open to {_holders(need.permissions)}; ask an administrator "
            "if your work needs it.")


def show_refusal(page, who: Principal, menu: Mapping[str, Sequence]) -> None:
    """Stand in for a page ``who`` may not open: its name, why, and a link to their own start
    page (found in ``menu``, what :func:`arrange` gave them)."""
    st.title(page.title)
    st.info(plain(refusal_message(page.title, page_file(page), who.role)))
    home = landing(who.role)
    title = next((p.title for pages in menu.values() for p in pages if page_file(p) == home),
                 "your start page")
    st.page_link(home, label=f"Go to {title} ▸")

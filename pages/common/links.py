"""Links to one subscriber's customer view 客户视图, for any table that lists subscribers.

Two ways in. A table whose reader picks a row offers :func:`open_customer_button` for
the row picked: it opens the customer view in the same tab and session (no second sign-in).
A table may also carry a URL column with :func:`with_customer_links`, shown with
:func:`customer_link_column`::

    st.dataframe(with_customer_links(rows), column_config={"customer": customer_link_column()})

The link is relative (``customer?sub=42``), so it works under any base URL path; the page
checks scope itself, so neither way shows more than its reader may see.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from data_access.db import ConcertoError
from pages.common.navigation import may_open
from pages.common.session import PRINCIPAL_KEY

CUSTOMER_PAGE = "pages/customer.py"
CUSTOMER_PATH = "customer"  # the page's url_path in app.py
PARAM = "sub"
_ID = re.compile(r"\d{1,18}")  # inside BIGINT: a longer "id" never reaches the database


def subscriber_param(value: object) -> int:
    """A ``sub`` URL parameter as a subscriber id.

    Raises
    ------
    ConcertoError
        Naming the parameter when it is not a positive whole number.
    """
    text = "" if value is None else str(value).strip()
    if not _ID.fullmatch(text) or int(text) <= 0:
        raise ConcertoError(f"URL parameter {PARAM}={str(value)[:40]!r} is not a subscriber id "
                            "(a positive whole number).")
    return int(text)


def customer_url(subscriber_id: object) -> str:
    """The customer view of one subscriber, as a relative link: ``customer?sub=42``."""
    return f"{CUSTOMER_PATH}?{PARAM}={subscriber_param(subscriber_id)}"


def with_customer_links(frame: pd.DataFrame, id_column: str = "subscriber_id",
                        link_column: str = "customer") -> pd.DataFrame:
    """``frame`` with a column of links to each row's customer view (empty where the id is
    missing)."""
    links = [None if pd.isna(v) else customer_url(int(v)) for v in frame[id_column]]
    return frame.assign(**{link_column: links})


def customer_link_column(label: str = "Customer view 客户视图") -> st.column_config.Column:
    """A ``st.column_config`` entry that shows a link column as the subscriber id."""
    return st.column_config.LinkColumn(label, display_text=rf"{CUSTOMER_PATH}\?{PARAM}=(\d+)",
                                       help="Open this subscriber's customer view")


def open_customer_button(subscriber_id: object, *, key: str, where=st,
                         label: str = "Open customer view 客户视图 →") -> None:
    """A button that opens ``subscriber_id``'s customer view in this tab and session.

    Nothing is drawn for a reader whose role may not open the customer view, or for a row
    with no subscriber id.
    """
    who = st.session_state.get(PRINCIPAL_KEY)
    if who is None or not may_open(who.role, CUSTOMER_PAGE):
        return
    try:
        sub = subscriber_param(subscriber_id)
    except ConcertoError:
        return
    if where.button(label, key=key, help=f"Subscriber {sub}: profile, 24 months, value, "
                    "campaigns, orders, churn risk and the suggested tactic"):
        st.switch_page(CUSTOMER_PAGE, query_params={PARAM: str(sub)})

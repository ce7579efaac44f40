"""Links to one subscriber's customer view 客户视图, for any table that lists subscribers.

A table adds a URL column with :func:`with_customer_links` and shows it with
:func:`customer_link_column`::

    st.dataframe(with_customer_links(rows), column_config={"customer": customer_link_column()})

The link is relative (``customer?sub=42``), so it works under any base URL path; the page
checks scope itself, so a link never shows more than its reader may see.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from data_access.db import ConcertoError

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

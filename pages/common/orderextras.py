"""What an order carries besides its lifecycle: arsenal picks and budget bookings."""

from __future__ import annotations

import streamlit as st

from analytics import workorders as rules
from data_access.auth import Principal


def order_extras(engine, who: Principal, order: dict, todo: list[rules.Question]) -> None:
    """Arsenal picks and budget bookings attached to the order (filled in below)."""
    del engine, who, order, todo
    st.caption("")

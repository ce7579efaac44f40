"""Enterprise groups 集团客户: an account manager's portfolio, the group early warning (a key
line's traffic falling before it is cancelled, a group's usage or members falling) raised as
work orders, and one group's members, money, lines and orders."""

import pandas as pd
import streamlit as st

from analytics.groups import group_trend, portfolio
from data_access.db import ConcertoError
from data_access.store.groups import rescue as group_rescue
from data_access.store.workorders import list_orders
from pages.common import cache
from pages.common.empty import require_mart
from pages.common.filters import current
from pages.common.plaintext import plain
from pages.common.session import principal
from pages.common.tables import show_table
from pages.sections import group_view as view

st.title("Enterprise groups 集团客户")
require_mart()
who = principal()
filters = current()
as_of = pd.Timestamp(filters.month)
everyone = "All groups in scope 全部集团"
managers = cache.account_managers()
manager = st.selectbox("Account manager 客户经理", [everyone] + managers, key="groups_manager",
                       help="The mart names each group's account manager; choose one to see "
                            "their portfolio.")
chosen = None if manager == everyone else manager
try:
    groups = cache.group_list(chosen)
    _, warnings, has_lines = cache.group_warnings(as_of)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
if groups.empty:
    st.info(f"No enterprise group in {filters.scope_label} for this account manager.")
    st.stop()
ids = groups["group_id"].tolist()
months = cache.group_months()
lines = cache.group_lines() if has_lines else pd.DataFrame(
    columns=["line_id", "group_id", "product", "monthly_fee", "start_month", "contract_end",
             "cancel_month"])
line_months = cache.group_line_months() if has_lines else pd.DataFrame(
    columns=["month", "line_id", "group_id", "traffic", "revenue"])
warnings = warnings[warnings["group_id"].isin(ids)]

st.caption(f"{filters.scope_label} · {len(groups)} group(s) as of {as_of:%Y-%m}. Net value = "
           "members' revenue after discounts + the group's line revenue − the members' cost "
           "to serve. Each line is judged against its own history and noise, after the "
           "month's common movement of its product (seasonality) is taken out.")
if not has_lines:
    st.info("The extract has no group lines (tables group_line and fact_group_line_month): "
            "lines, products and contracts are not shown, and the early warning watches "
            "members only. Add them to the next extract (docs/extract_format.md).")

st.subheader("Portfolio 客户组合")
view.portfolio_table(portfolio(groups, months[months["group_id"].isin(ids)],
                               lines[lines["group_id"].isin(ids)],
                               line_months[line_months["group_id"].isin(ids)], warnings, as_of))

st.subheader("Early warning 集团预警")
if warnings.empty:
    st.success(f"No group warning as of {as_of:%Y-%m}: every line and group holds its usual "
               "level within its own noise.")
else:
    view.warning_table(warnings)
    view.raise_button(who, as_of, len(warnings))

st.subheader("One group 单个集团")
names = dict(zip(groups["group_id"], groups["group_name"], strict=True))
first = int(warnings["group_id"].iloc[0]) if not warnings.empty else ids[0]
group_id = st.selectbox("Group 集团", ids, index=ids.index(first), format_func=names.get,
                        key="groups_one")
trend = group_trend(months[months["group_id"] == group_id],
                    line_months[line_months["group_id"] == group_id])
view.trend_charts(trend)
st.markdown("**Lines and contracts 专线与合约**")
view.line_section(lines[lines["group_id"] == group_id],
                  line_months[line_months["group_id"] == group_id], key="groups_one")
st.markdown("**Open orders and rescues 工单与挽留**")
engine = cache.workflow_engine()
orders = list_orders(engine, who)
mine = orders[(orders["unit_level"] == "group") & (orders["unit_key"] == str(group_id))]
if mine.empty:
    st.caption("No work order on this group that you may see.")
else:
    show_table(mine[["order_id", "title", "state", "assignee", "due_at"]], {"due_at": "time"},
               labels=view.LABELS, key="groups_orders")
    st.page_link("pages/workorders.py", label="Open Work orders 工单 ▸")
view.rescue_table(group_rescue.list_rescues(engine, group_ids=[group_id]), key="groups_rescues")

"""Concerto: the router — page config, sign-in, global filters, navigation."""

from pathlib import Path

import streamlit as st

from data_access.store import scope
from data_access.db import ConcertoError
from pages.common import filters, login, navigation, routing, runlog, warmup
from pages.common.plaintext import plain

#: Read once per server process: the same few lines are sent on every run.
STYLESHEET = "<style>" + (Path(__file__).parent / "assets" / "app.css").read_text("utf-8") \
    + "</style>"

routing.use_navigation_only()

st.set_page_config(page_title="Concerto 协同运营平台", page_icon="🎼", layout="wide")
st.html(STYLESHEET)  # a fixed stylesheet, no data: loading skeletons drawn still
warmup.start()  # once per server: the pages' imports and the mart, before anyone signs in

PAGES = {
    "Discover 发现": [
        # The default page lives at "/" (Streamlit ignores a default page's url_path).
        st.Page("pages/sandbox.py", title="Operations sandbox 运营沙盘", icon="📊", default=True),
    ],
    "Locate 定位": [
        st.Page("pages/diagnosis.py", title="Market diagnosis 市场诊断", icon="🧭",
                url_path="diagnosis"),
        st.Page("pages/microregion.py", title="Micro-region management 微区域管理", icon="📍",
                url_path="microregion"),
        st.Page("pages/alerts.py", title="Alerts 告警", icon="🚨", url_path="alerts"),
        st.Page("pages/channels.py", title="Channels 渠道管理", icon="🏪", url_path="channels"),
        st.Page("pages/competitors.py", title="Competitor monitor 竞争监控", icon="🛰️",
                url_path="competitors"),
        st.Page("pages/assurance.py", title="Revenue assurance 收入保障", icon="🧮",
                url_path="assurance"),
        st.Page("pages/customer.py", title="Customer view 客户视图", icon="👤",
                url_path="customer"),
    ],
    "Act 行动": [
        st.Page("pages/workorders.py", title="Work orders 工单", icon="🧾", url_path="workorders"),
        st.Page("pages/arsenal.py", title="Marketing arsenal 营销武器库", icon="🎯",
                url_path="arsenal"),
        st.Page("pages/budgets.py", title="Budgets 预算", icon="💰", url_path="budgets"),
        st.Page("pages/comms.py", title="Communications 传播管理", icon="📢", url_path="comms"),
    ],
    "Track 跟踪": [
        st.Page("pages/campaigns.py", title="Campaigns 营销活动", icon="📣", url_path="campaigns"),
        st.Page("pages/churn.py", title="Churn prediction 离网预测", icon="📉", url_path="churn"),
        st.Page("pages/groups.py", title="Enterprise groups 集团客户", icon="🏢", url_path="groups"),
        st.Page("pages/value.py", title="Customer value 价值经营", icon="💎", url_path="value"),
        st.Page("pages/calendar.py", title="Campaign calendar 营销日历", icon="🗓️",
                url_path="calendar"),
        st.Page("pages/product.py", title="Product view 产品视图", icon="📦", url_path="product"),
    ],
    "Data 数据": [
        st.Page("pages/mart.py", title="Mart & planted truths 数据集市", icon="🗄️", url_path="mart"),
        st.Page("pages/admin.py", title="Users & audit 用户与审计", icon="🔐", url_path="admin"),
    ],
}

# Each run is timed when CONCERTO_RUN_LOG names a file (pages/common/runlog.py).
with runlog.timed_run("app") as run:
    # Re-read on every run: a user disabled, demoted or moved since signing in is signed out.
    who = login.refresh_signed_in()
    scope.act_as(who)  # every data_access read in this run is narrowed to who may see it
    routing.mark_checked(who)  # the page need not re-read the user in this run
    run["role"] = who.role if who else ""

    # Navigation is set up before signing in, so a deep link survives the sign-in form. Signed in,
    # the menu holds the pages the role may open, every section open ("View N more" hides none);
    # the others stay registered, hidden, so a link to one gets a message instead of the page.
    menu = navigation.arrange(PAGES, who) if who else PAGES
    page = st.navigation(menu, position="sidebar" if who else "hidden", expanded=True)
    run["page"] = page.url_path or "sandbox"
    if who is None:
        login.sign_in(at_home=page.url_path == "" and not st.query_params)
    if login.take_fresh_arrival() and navigation.landing(who.role) != navigation.HOME:
        st.switch_page(navigation.landing(who.role))  # signed in at "/" with no link: own page
    st.sidebar.markdown("### 🎼 Concerto\nCollaborative operations 协同运营")
    login.signed_in_banner()
    st.session_state[routing.ROUTED_KEY] = filters.render_sidebar()
    try:
        if navigation.refused(page, who):
            navigation.show_refusal(page, who, menu)
        else:
            page.run()
    except ConcertoError as exc:  # refused, stale, out of scope…: a message, never a traceback
        st.error(plain(exc))

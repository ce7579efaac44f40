"""Concerto: the router — page config, global filters, navigation."""

import streamlit as st

from pages.common import filters

st.set_page_config(page_title="Concerto 协同运营平台", page_icon="🎼", layout="wide")

PAGES = {
    "Discover 发现": [
        st.Page("pages/sandbox.py", title="Operations sandbox 运营沙盘", icon="📊",
                url_path="sandbox", default=True),
    ],
    "Data 数据": [
        st.Page("pages/mart.py", title="Mart & planted truths 数据集市", icon="🗄️", url_path="mart"),
    ],
}

navigation = st.navigation(PAGES)
st.sidebar.markdown("### 🎼 Concerto\nCollaborative operations 协同运营")
st.session_state["global_filters"] = filters.render_sidebar()
navigation.run()

"""Users & audit 用户与审计: who may sign in with which role and scope, and every change made."""

import pandas as pd
import streamlit as st

from data_access.store import auth
from pages.common import cache
from data_access.store.audit import load_audit
from data_access.db import ConcertoError
from pages.common.empty import require_mart
from pages.common.session import principal
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.tables import show_table
from pages.common.lazy import lazy_tabs, show_open
from pages.common.plaintext import plain  # user text shown as text

USER_LABELS = {"username": "Username 用户名", "display_name": "Name 姓名", "role": "Role 角色",
               "scope": "Scope 范围", "active": "Active 启用", "failed_logins": "Failed sign-ins 失败次数",
               "locked": "Locked 锁定"}
AUDIT_LABELS = {"audit_id": "Entry 记录", "at": "When 时间", "username": "Username 用户名",
                "action": "Action 操作", "entity": "Object 对象", "entity_id": "Object id 对象编号",
                "before_json": "Before 修改前", "after_json": "After 修改后"}

st.title("Users & audit 用户与审计")
require_mart()
who = principal()
engine = cache.workflow_engine()
if not (who.can("manage_users") or who.can("view_audit")):
    st.info(f"A {auth.ROLES[who.role].lower()} may not manage users or read the audit log.")
    st.stop()

people, audit = lazy_tabs(["Users 用户", "Audit log 审计日志"], key="admin_tab",
                          keep=["admin_entity", "admin_actor", "admin_rows"])


def people_section() -> None:
    """The users, with forms to add one and change one."""
    users = auth.list_users(engine)
    shown = users.assign(role=users["role"].map(auth.ROLES), scope=users["scope_value"].fillna("—"),
                         locked=pd.to_datetime(users["locked_until"], utc=True).notna())
    show_table(shown[["username", "display_name", "role", "scope", "active", "failed_logins",
                      "locked", "created_at"]], {"created_at": "time", "failed_logins": "count"},
               key="admin_users", labels=USER_LABELS)
    st.download_button("Download users (CSV)", csv_file(shown.drop(columns=["locked_until"])),
                       "users.csv", "text/csv")
    if not who.can("manage_users"):
        st.caption("Only administrators change users.")
    else:
        regions = cache.region_table()
        scopes = ([None] + [f"branch:{b}" for b in sorted(regions["branch"].unique())]
                  + [f"micro_region:{m}" for m in regions["micro_region"]])
        label = {None: "everything 全部"} | {s: s.replace(":", " ") for s in scopes if s}
        add, change = st.columns(2)
        with add.form("admin_new_user"):
            st.markdown("**New user 新用户**")
            username = st.text_input("Username (a–z, 0–9, . _ -)")
            display = st.text_input("Display name 姓名")
            role = st.selectbox("Role 角色", list(auth.ROLES), format_func=auth.ROLES.get)
            where = st.selectbox("Scope 范围", scopes, format_func=label.get)
            password = st.text_input("Initial password (10+ characters, a letter and a digit)",
                                     type="password")
            if st.form_submit_button("Create 创建", type="primary"):
                level, value = where.split(":") if where else (None, None)
                try:
                    auth.create_user(engine, username.strip(), password, role,
                                     display_name=display, scope_level=level,
                                     scope_value=value, actor=who.username)
                except ConcertoError as exc:
                    st.error(plain(exc))
                else:
                    st.success(f"Created {username}.")
                    st.rerun()
        with change.form("admin_change_user"):
            st.markdown("**Change a user 修改用户**")
            target = st.selectbox("User", users["username"])
            role = st.selectbox("New role", list(auth.ROLES), format_func=auth.ROLES.get)
            where = st.selectbox("New scope", scopes, format_func=label.get, key="admin_scope")
            password = st.text_input("New password (leave empty to keep)", type="password")
            active = st.checkbox("May sign in 启用", value=True)
            if st.form_submit_button("Save 保存"):
                level, value = where.split(":") if where else (None, None)
                try:
                    auth.change_role(engine, target, role, scope_level=level, scope_value=value,
                                     actor=who.username)
                    auth.set_active(engine, target, active, actor=who.username)
                    if password:
                        auth.set_password(engine, target, password, actor=who.username)
                except ConcertoError as exc:
                    st.error(plain(exc))
                else:
                    st.success(f"Saved {target}.")
                    st.rerun()


def audit_section() -> None:
    """The audit log, filtered by entity and user."""
    if not who.can("view_audit"):
        st.info("Only administrators and executives read the audit log.")
    else:
        cols = st.columns(3)
        entity = cols[0].selectbox("Entity 对象", [None, "app_user", "work_order", "tactic",
                                                   "tactic_pick", "budget_unit", "budget_booking"],
                                   format_func=lambda e: e or "all 全部", key="admin_entity")
        actor = cols[1].text_input("By user 操作人", key="admin_actor")
        st.session_state.setdefault("admin_rows", 500)
        limit = cols[2].number_input("Rows", 50, 5000, step=50, key="admin_rows")
        rows = load_audit(engine, entity=entity, username=actor.strip() or None, limit=int(limit))
        if rows.empty:
            st.info("No audit rows match.")
        else:
            show_table(rows, {"at": "time"}, key="admin_audit", labels=AUDIT_LABELS,
                       csv=("Download the audit rows (CSV)", "audit_log.csv"))


show_open((people, audit), (people_section, audit_section))

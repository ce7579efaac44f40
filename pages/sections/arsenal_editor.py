"""The marketing-arsenal editor: add a tactic, edit one, deactivate or bring it back.

The editor remembers the version a tactic had when it was opened, and saves against that
version: when someone else saved the tactic meanwhile, the save is refused (``StaleWrite``)
instead of silently overwriting their change.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from analytics.ops import arsenal as rules
from data_access.store import arsenal as store
from data_access.store.auth import Principal
from data_access.db import ConcertoError
from data_access.store.workflow import StaleWrite
from pages.common.plaintext import plain  # user text shown as text

OPENED = "arsenal_edit_opened"  # tactic id -> the version the editor opened
CHOICE, SHOW_NEXT = "arsenal_edit_choice", "arsenal_edit_show_next"
NEW = 0
BLANK: dict[str, Any] = dict(code="", name="", kind="offer", description="", unit_cost=0.0,
                             auth_level=1, segments="", min_arpu=None, max_arpu=None,
                             min_tenure_months=0, plan_families="", target="subscriber",
                             max_per_customer=1, addresses="", active=True)


def _tags(value: Any) -> list[str]:
    return [t for t in str(value or "").split(";") if t]


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _form(row: dict[str, Any], key: str, editing: bool) -> dict[str, Any] | None:
    """The tactic's fields; the values entered when the form was submitted, else None."""
    with st.form(key, border=True):
        top = st.columns([1, 3, 1])
        code = top[0].text_input("Code 编码", row["code"], disabled=editing, key=f"{key}_code")
        name = top[1].text_input("Name 名称", row["name"], key=f"{key}_name")
        kind = top[2].selectbox("Kind 类型", list(rules.KINDS), list(rules.KINDS).index(
            row["kind"]), format_func=rules.KINDS.get, key=f"{key}_kind")
        description = st.text_area("Description 说明", row["description"], key=f"{key}_desc")
        cols = st.columns(4)
        cost = cols[0].number_input("Unit cost ¥ 单价", 0.0, 1e7, float(row["unit_cost"]), 1.0,
                                    key=f"{key}_cost")
        level = cols[1].selectbox("Level 权限", list(rules.LEVELS), int(row["auth_level"]) - 1,
                                  format_func=lambda v: f"{v} {rules.LEVELS[v]}", key=f"{key}_level")
        target = cols[2].selectbox("For 对象", list(rules.TARGETS),
                                   list(rules.TARGETS).index(row["target"]),
                                   format_func=rules.TARGETS.get, key=f"{key}_target")
        most = cols[3].number_input("Max per customer", 1, 10_000, int(row["max_per_customer"]),
                                    key=f"{key}_max")
        cols = st.columns(4)
        segments = cols[0].multiselect("Segments 客群 (none: any)", list(rules.SEGMENTS),
                                       _tags(row["segments"]), key=f"{key}_segments")
        low = cols[1].number_input("Min ARPU ¥", 0.0, 1e5, _number(row["min_arpu"]),
                                   key=f"{key}_min_arpu")
        high = cols[2].number_input("Max ARPU ¥", 0.0, 1e5, _number(row["max_arpu"]),
                                    key=f"{key}_max_arpu")
        tenure = cols[3].number_input("Min tenure (months)", 0, 600,
                                      int(row["min_tenure_months"] or 0), key=f"{key}_tenure")
        cols = st.columns(2)
        families = cols[0].text_input("Plan families 套餐族 (a;b, empty: any)",
                                      row["plan_families"], key=f"{key}_families")
        answers = cols[1].multiselect("Answers 针对问题", list(rules.REASONS),
                                      _tags(row["addresses"]), format_func=rules.REASONS.get,
                                      key=f"{key}_answers")
        if not st.form_submit_button("Save 保存", type="primary"):
            return None
    return dict(code=code, name=name, kind=kind, description=description, unit_cost=cost,
                auth_level=level, segments=";".join(segments), min_arpu=low, max_arpu=high,
                min_tenure_months=tenure, plan_families=families, target=target,
                max_per_customer=most, addresses=";".join(answers), active=row["active"])


def _stale(exc: StaleWrite, tactic_id: int, opened: dict[int, int]) -> None:
    """Refuse the save, and open the latest version on the next rerun."""
    opened.pop(tactic_id, None)
    st.error(f"{plain(exc)} The editor shows the latest version from your next click: make your "
             "change again there.")


def render_editor(engine: Any, who: Principal, tactics: pd.DataFrame) -> None:
    """Add, edit and (de)activate tactics; needs the ``manage_arsenal`` permission."""
    st.subheader("Edit the arsenal 武器库维护")
    labels = {NEW: "➕ New tactic 新增手段"} | dict(zip(
        tactics["tactic_id"], tactics["code"] + " · " + tactics["name"]
        + tactics["active"].map({True: "", False: " (inactive 已停用)"})))
    if SHOW_NEXT in st.session_state:  # a tactic just created: open it
        st.session_state[CHOICE] = st.session_state.pop(SHOW_NEXT)
    chosen = st.selectbox("Tactic 手段", list(labels), format_func=labels.get, key=CHOICE)
    opened: dict[int, int] = st.session_state.setdefault(OPENED, {})
    if chosen == NEW:
        row, version = BLANK, None
    else:
        row = tactics[tactics["tactic_id"] == chosen].iloc[0].to_dict()
        version = opened.setdefault(chosen, int(row["version"]))
        st.caption(f"Version {version}, last saved by {row['updated_by']}.")
    values = _form(row, f"arsenal_edit_{chosen}_{version}", editing=chosen != NEW)
    if values is not None:
        try:
            saved = store.save_tactic(engine, who, values, tactic_id=chosen or None,
                                      version=version)
        except StaleWrite as exc:
            _stale(exc, chosen, opened)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            opened.pop(chosen, None)
            st.toast(f"Tactic {values['code']} saved ✓")
            if chosen == NEW:
                st.session_state[SHOW_NEXT] = saved
            st.rerun()
    if chosen != NEW:
        active = bool(row["active"])
        if st.button("Deactivate 停用" if active else "Reactivate 启用", key="arsenal_edit_active"):
            try:
                store.set_active(engine, who, chosen, not active, version=version)
            except StaleWrite as exc:
                _stale(exc, chosen, opened)
            except ConcertoError as exc:
                st.error(plain(exc))
            else:
                opened.pop(chosen, None)
                st.rerun()

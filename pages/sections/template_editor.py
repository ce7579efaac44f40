"""Editing a diagnosis template's tree: pick a node, change it, add, remove, reorder."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.kpis.registry import REGISTRY
from analytics.diagnosis.templates import (BREAKDOWNS, Template, TemplateError, add_node, edit_node,
                                 move_node, remove_node)
from data_access.mart.queries import LEVELS
from data_access.mart.schema import CHANNEL_TYPES, SEGMENTS
from pages.common.plaintext import plain  # user text shown as text

WORKING = "diagnosis_working"
NONE = "—"


def outline(template: Template) -> str:
    """The tree as an indented Markdown list."""
    lines = []
    for node, _, depth in template.root.walk():
        extra = []
        if node.breakdown:
            extra.append(f"by {node.breakdown.removesuffix('_name').replace('_', ' ')}")
        if node.alert_change is not None:
            extra.append(f"alert at {node.alert_change:+.0%}")
        # the node's name is its KPI and slice (ARPU [branch=Gongbei]); ids stay internal
        lines.append("  " * depth + f"- **{plain(node.label)}**"
                     + (f" · {', '.join(extra)}" if extra else ""))
    return "\n".join(lines)


_FIELD = {"Branch": "branch", "Micro-region": "micro_region", "Channel type": "channel_type",
          "Segment": "segment", "Plan": "plan_name"}


def _pick(column, label: str, values, filters: dict) -> str:
    """A filter selectbox preset to the node's current value (— for none)."""
    options = [NONE, *values]
    current = filters.get(_FIELD[label])
    return column.selectbox(label, options, index=options.index(current) if current in options else 0)


def _apply(template: Template) -> None:
    st.session_state[WORKING] = template


def render_editor(template: Template, regions: pd.DataFrame, plans: list[str]) -> None:
    """Outline and controls; edits replace the working copy in session state."""
    st.markdown(outline(template))
    nodes = {node.id: (node, depth) for node, _, depth in template.root.walk()}
    if st.session_state.get("diagnosis_node") not in nodes:  # another template was loaded
        st.session_state["diagnosis_node"] = template.root.id
    node_id = st.selectbox("Node to edit 选择节点", list(nodes), key="diagnosis_node",
                           format_func=lambda i: "· " * nodes[i][1] + nodes[i][0].label)
    node = nodes[node_id][0]
    filters = dict(node.filters)
    with st.form("diagnosis_node_form", border=True):
        cols = st.columns(3)
        metric = cols[0].selectbox("Metric 指标", list(REGISTRY), index=list(REGISTRY).index(node.metric),
                                   format_func=lambda k: REGISTRY[k].label)
        options = [NONE, *BREAKDOWNS]
        breakdown = cols[1].selectbox("Break down by 拆分", options,
                                      index=options.index(node.breakdown or NONE),
                                      format_func=lambda b: b if b == NONE else LEVELS[b])
        use_alert = cols[2].checkbox("Alert on change", value=node.alert_change is not None)
        alert_pct = cols[2].number_input("Alert when change crosses (%)", -99.0, 500.0,
                                         value=(node.alert_change or -0.05) * 100, step=1.0)
        f1, f2, f3, f4, f5 = st.columns(5)
        choice = {
            "branch": _pick(f1, "Branch", dict.fromkeys(regions["branch"]), filters),
            "micro_region": _pick(f2, "Micro-region", regions["micro_region"], filters),
            "channel_type": _pick(f3, "Channel type", CHANNEL_TYPES, filters),
            "segment": _pick(f4, "Segment", SEGMENTS, filters),
            "plan_name": _pick(f5, "Plan", plans, filters),
        }
        if st.form_submit_button("Apply to this node", type="primary"):
            new_filters = {k: v for k, v in choice.items() if v != NONE}
            new_filters.update({k: v for k, v in filters.items() if k in ("channel_id", "group_id")})
            try:
                _apply(edit_node(template, node_id, metric=metric, filters=new_filters,
                                 breakdown=None if breakdown == NONE else breakdown,
                                 alert_change=alert_pct / 100 if use_alert else None))
                st.rerun()
            except TemplateError as exc:
                st.error(plain(exc))
    buttons = st.container(horizontal=True)
    try:
        if buttons.button("➕ Add child", key="diagnosis_add"):
            _apply(add_node(template, node_id, node.metric, dict(node.filters)))
            st.rerun()
        if buttons.button("⬆ Move up", key="diagnosis_up"):
            _apply(move_node(template, node_id, -1))
            st.rerun()
        if buttons.button("⬇ Move down", key="diagnosis_down"):
            _apply(move_node(template, node_id, 1))
            st.rerun()
        if buttons.button("🗑 Remove", key="diagnosis_remove", disabled=node_id == template.root.id):
            _apply(remove_node(template, node_id))
            st.rerun()
    except TemplateError as exc:
        st.error(plain(exc))

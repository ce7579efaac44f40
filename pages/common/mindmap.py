"""Drawing a diagnosis run as a mind map (Graphviz DOT, rendered offline by Streamlit), with
the legend of its colours and borders."""

from __future__ import annotations

import math

import pandas as pd

from analytics.diagnosis.runs import RunResult
from analytics.formatting import UNITS, MISSING, format_change, format_share
from analytics.formatting import format_value as _format_value

#: Text size in points: Streamlit shows the SVG at its own size, so this is what the reader gets.
FONT_SIZE = 14
#: What each status colour means (the node's KPI against its target), for the legend.
STATUS_MEANING = {"green": "on target 达标", "amber": "near target 接近目标",
                  "red": "off target 未达标", "grey": "no target 无目标"}
_FILL = {"green": "#DFF3E3", "amber": "#FCEBCB", "red": "#F8D7D7", "grey": "#ECEFF1"}
_EDGE = {"green": "#2EA043", "amber": "#E6A014", "red": "#D63939", "grey": "#9AA5AD"}


def format_value(value: object, unit: str) -> str:
    """``analytics.formatting.format_value``, and two decimals for a unit it does not know (a
    stored run from elsewhere must still open)."""
    if unit in UNITS:
        return _format_value(value, unit)
    return _format_value(value, "yuan_per_sub").replace("¥", "")


def words(name: str) -> str:
    """A breakdown or attribute name in words: ``plan_name`` → "plan", ``channel_type`` →
    "channel type"."""
    return str(name).removesuffix("_name").replace("_", " ")


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _change(node) -> str:
    if not math.isfinite(node.change_pct if node.change_pct is not None else math.nan):
        return "no comparison"
    arrow = "▲" if node.change > 0 else "▼" if node.change < 0 else "="
    if node.unit == "pct":
        return f"{arrow} {abs(node.change) * 100:.2f} pp"
    return f"{arrow} {abs(node.change_pct):.1%}"


_NAME_KEYS = ("micro_region", "branch", "channel_name", "group_name", "plan_name", "segment",
              "channel_type")


def _top_mover(node) -> str:
    """The breakdown member that moved the node most, e.g. ': top Gongbei −¥3,460'."""
    if not node.members:
        return ""
    top = node.members[0]
    name = next((str(top[k]) for k in _NAME_KEYS if top.get(k) is not None), "?")
    amount = top.get("contribution")
    if amount is None:
        return f": top {_quote(name)}"
    unit = "yuan" if node.unit == "yuan" else node.unit
    shown = format_value(abs(amount), unit)
    return f": top {_quote(name)} {'−' if amount < 0 else '+'}{shown}"


def mindmap_dot(result: RunResult) -> str:
    """One box per node (status colour, value, change, share of the parent's change), the
    localiser's findings hung under their node, breached nodes drawn with a thick border."""
    lines = ["digraph mindmap {", "rankdir=LR;", 'bgcolor="transparent";',
             "ranksep=0.35; nodesep=0.18;",
             'node [shape=box, style="rounded,filled", fontname="Helvetica", '
             f'fontsize={FONT_SIZE}, margin="0.12,0.05"];',
             'edge [color="#9AA5AD", arrowsize=0.6];']
    parents = {node.node_id: node for node in result.nodes}
    for node in result.nodes:
        parent = parents.get(node.parent_id)
        share = format_share(node.share_of_parent_change, parent and parent.change,
                             parent and parent.compare_value)
        share_text = "" if share == MISSING else f"\\n{share} of parent's change"
        value = format_value(node.value, node.unit)
        by = f"\\nby {words(node.breakdown)}{_top_mover(node)}" if node.breakdown else ""
        label = f"{_quote(node.label)}\\n{value}  {_change(node)}{share_text}{by}"
        border = 3 if node.breached else 1
        lines.append(f'"{node.node_id}" [label="{label}", fillcolor="{_FILL[node.status]}", '
                     f'color="{_EDGE[node.status]}", penwidth={border}];')
        if node.parent_id:
            lines.append(f'"{node.parent_id}" -> "{node.node_id}";')
        for i, finding in enumerate(node.findings[:3]):
            where = _quote(", ".join(f"{words(k)} {v}" for k, v in finding["attributes"].items())
                           or "every slice (a common shift)")
            share = finding.get("share_of_total_deviation")
            extra = f"\\n{share:.0%} of the deviation" if share is not None else ""
            fid = f"{node.node_id}__finding{i}"
            lines.append(f'"{fid}" [label="🔎 {where}{extra}", shape=note, fillcolor="#FFFFFF", '
                         f'color="#0B6E99", fontsize={FONT_SIZE - 1}];')
            lines.append(f'"{node.node_id}" -> "{fid}" [style=dashed, color="#0B6E99"];')
    lines.append("}")
    return "\n".join(lines)


def legend_markdown() -> str:
    """The mind map's key: what each fill colour, a thick border and a 🔎 note mean."""
    badges = " ".join(f":{'gray' if status == 'grey' else 'orange' if status == 'amber' else status}"
                      f"-background[{meaning}]" for status, meaning in STATUS_MEANING.items())
    return (f"**Legend 图例** {badges} · **thick border**: the node's alert fired 告警 · "
            "🔎 dashed note: where the localiser found the change 定位结果 · "
            "▲▼ change against the comparison month; pp for percentages")


def node_table(result: RunResult) -> pd.DataFrame:
    """One row per node as the reader sees it: each value in its own node's unit, the change
    with its arrow, the share of the parent's change ("—" when the parent barely moved)."""
    parents = {node.node_id: node for node in result.nodes}
    rows = []
    for node in result.nodes:
        parent = parents.get(node.parent_id)
        rows.append({
            "node": node.label, "value": format_value(node.value, node.unit),
            "compare_value": format_value(node.compare_value, node.unit),
            "change": (format_change(node.change, node.unit,
                                     None if node.unit == "pct" else node.change_pct)
                       if node.unit in UNITS else format_value(node.change, node.unit)),
            "share_of_parent_change": format_share(
                node.share_of_parent_change, parent and parent.change,
                parent and parent.compare_value),
            "status": STATUS_MEANING.get(node.status, node.status),
            "breached": bool(node.breached), "message": node.message})
    return pd.DataFrame(rows, columns=["node", "value", "compare_value", "change",
                                       "share_of_parent_change", "status", "breached",
                                       "message"])


def readable_comparison(compared: pd.DataFrame) -> pd.DataFrame:
    """Two runs side by side (``compare_runs``) with each value in its node's unit as text."""
    out = compared.drop(columns=["node_id"], errors="ignore").copy()
    units = out.pop("unit") if "unit" in out else pd.Series("yuan", index=out.index)
    for column in out.columns:
        if column.startswith("value") or column == "difference":
            out[column] = [format_value(v, u) for v, u in zip(out[column], units, strict=True)]
        elif column.startswith("status"):
            out[column] = out[column].map(lambda s: STATUS_MEANING.get(s, MISSING if pd.isna(s)
                                                                        else s))
    return out.rename(columns=lambda c: c.replace("value", "Value 值").replace(
        "status", "Status 状态").replace("breached", "Alert fired 告警").replace(
        "difference", "Difference 差值"))

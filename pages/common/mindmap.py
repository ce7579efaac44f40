"""Drawing a diagnosis run as a mind map (Graphviz DOT, rendered offline by Streamlit)."""

from __future__ import annotations

import math

from analytics.diagnosis.runs import RunResult
from analytics.formatting import format_value

_FILL = {"green": "#DFF3E3", "amber": "#FCEBCB", "red": "#F8D7D7", "grey": "#ECEFF1"}
_EDGE = {"green": "#2EA043", "amber": "#E6A014", "red": "#D63939", "grey": "#9AA5AD"}


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
             'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
             'margin="0.12,0.05"];', 'edge [color="#9AA5AD", arrowsize=0.6];']
    for node in result.nodes:
        share = node.share_of_parent_change
        share_text = (f"\\n{share:.0%} of parent's change"
                      if share is not None and math.isfinite(share) else "")
        value = format_value(node.value, node.unit)
        by = f"\\nby {node.breakdown}{_top_mover(node)}" if node.breakdown else ""
        label = f"{_quote(node.label)}\\n{value}  {_change(node)}{share_text}{by}"
        border = 3 if node.breached else 1
        lines.append(f'"{node.node_id}" [label="{label}", fillcolor="{_FILL[node.status]}", '
                     f'color="{_EDGE[node.status]}", penwidth={border}];')
        if node.parent_id:
            lines.append(f'"{node.parent_id}" -> "{node.node_id}";')
        for i, finding in enumerate(node.findings[:3]):
            where = _quote(", ".join(f"{k}={v}" for k, v in finding["attributes"].items())
                           or "every slice (a common shift)")
            share = finding.get("share_of_total_deviation")
            extra = f"\\n{share:.0%} of the deviation" if share is not None else ""
            fid = f"{node.node_id}__finding{i}"
            lines.append(f'"{fid}" [label="🔎 {where}{extra}", shape=note, fillcolor="#FFFFFF", '
                         'color="#0B6E99", fontsize=10];')
            lines.append(f'"{node.node_id}" -> "{fid}" [style=dashed, color="#0B6E99"];')
    lines.append("}")
    return "\n".join(lines)

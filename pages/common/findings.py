"""The localiser's findings, each with a one-click path into micro-region management."""

from __future__ import annotations

import streamlit as st

from analytics.diagnosis.runs import RunResult
from analytics.formatting import format_value
from pages.common.plaintext import plain  # user text shown as text

#: Finding attributes → the micro-region page's drill levels (region and branch go to filters).
_DRILL_LEVEL = {"channel_type": "channel_type", "plan_name": "plan", "segment": "segment"}


def finding_link(attributes: dict[str, str], kpi: str) -> dict[str, str]:
    """Query parameters that open the micro-region page on a finding."""
    params = {"kpi": kpi}
    if "micro_region" in attributes:
        params["region"] = attributes["micro_region"]
    elif "branch" in attributes:
        params["branch"] = attributes["branch"]
    drill = [f"{_DRILL_LEVEL[k]}:{v}" for k, v in attributes.items() if k in _DRILL_LEVEL]
    params["drill"] = "/".join(drill)
    return params


def _words(name: str) -> str:
    """An attribute's name as words: ``micro_region`` → "micro-region", ``plan_name`` → "plan"."""
    return str(name).removesuffix("_name").replace("micro_region", "micro-region").replace("_", " ")


def render_finding_list(findings: list[dict], kpi: str, unit: str) -> None:
    """One line per finding: where, how much, and a link to follow it down to numbers."""
    for finding in findings:
        if not finding["attributes"]:
            st.markdown("🔎 **Every slice moved together** by one common factor: a city-wide "
                        "shift (season, price change) rather than a local cause.")
            continue
        where = ", ".join(f"{_words(k)} {v}" for k, v in finding["attributes"].items())
        share = finding.get("share_of_total_deviation")
        line = st.container(horizontal=True, vertical_alignment="center")
        line.markdown(f"🔎 **{plain(where)}** · actual {format_value(finding['actual'], unit)} against "
                      f"expected {format_value(finding['expected'], unit)}"
                      + (f" · {share:.0%} of the deviation" if share is not None else ""))
        line.page_link("pages/microregion.py", label="Follow ▸", query_params=finding_link(
            finding["attributes"], kpi), help="Open micro-region management on this finding")


def render_findings(result: RunResult) -> None:
    """Every node's findings, under the node's name."""
    nodes = [n for n in result.nodes if n.findings]
    if not nodes:
        st.caption("The localiser found no concentrated cause in any node: the changes are "
                   "spread evenly or within noise.")
        return
    st.subheader("Findings 定位结果")
    for node in nodes:
        st.markdown(f"**{plain(node.label)}**")  # filter values are the template author's
        render_finding_list(node.findings, node.metric, node.unit)

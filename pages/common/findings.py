"""The localiser's findings, each with a one-click path into micro-region management."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.diagnosis.runs import RunResult
from analytics.formatting import MISSING, format_day, format_value
from analytics.kpis.registry import REGISTRY
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


#: Headers of the alert list (the alert table's own words).
ALERT_LABELS = {"incident": "Incident 事件", "incident_size": "Alerts in it 告警数",
                "alert_id": "Alert 告警", "source": "Source 来源", "metric": "Metric 指标",
                "unit_label": "Unit 单元", "observed_at": "Observed 观测期",
                "raised_at": "Raised 告警时间", "actual": "Actual 实际", "impact": "Impact 影响"}


def _observed(value: object) -> str:
    """An observation period as it was recorded: a month stays a month, a day has no time."""
    text = "" if value is None or pd.isna(value) else str(value)
    return text if len(text) <= 7 else format_day(value) if text else MISSING


def alert_rows(alerts: pd.DataFrame) -> pd.DataFrame:
    """The alert list for reading: actual and expected in each KPI's unit, the period as a day
    or month, the metric by its KPI name."""
    units = [REGISTRY[m].unit if m in REGISTRY else None for m in alerts["metric"]]

    def shown(column: str) -> list[str]:
        return [format_value(v, u) if u else (MISSING if pd.isna(v) else f"{float(v):,.1f}")
                for v, u in zip(alerts[column], units, strict=True)]

    out = alerts[["incident", "incident_size", "alert_id", "source", "metric", "unit_label",
                  "observed_at", "raised_at", "score", "actual", "expected", "impact",
                  "message", "status"]].copy()
    out["metric"] = [REGISTRY[m].label if m in REGISTRY else str(m).replace("_", " ")
                     for m in alerts["metric"]]
    out["observed_at"] = alerts["observed_at"].map(_observed)
    out["actual"], out["expected"] = shown("actual"), shown("expected")
    out["source"] = alerts["source"].astype(str).str.replace("_", " ")
    return out

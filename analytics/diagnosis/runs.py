"""Running a diagnosis template: every node's value, change, status, breakdown and findings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pandas as pd

from analytics.kpis.drill import SPECS, member_kpis, months_needed
from analytics.kpis.registry import REGISTRY, compute_kpis, kpi_cards
from analytics.diagnosis.templates import Node, Template, effective_filters
from analytics.rootcause.localiser import localize_detailed, localize_ratio_detailed

#: Dimensions of the leaves the localiser searches (the summary cube's).
LEAF_DIMENSIONS: tuple[str, ...] = ("branch", "micro_region", "channel_type", "plan_name", "segment")
#: Identifying columns of each breakdown level in the data the caller returns.
LEVEL_KEYS: dict[str, list[str]] = {
    "branch": ["branch"], "micro_region": ["micro_region"], "channel_type": ["channel_type"],
    "plan": ["plan_name"], "segment": ["segment"],
    "channel": ["channel_id", "channel_name", "channel_type"],
    "group": ["group_id", "group_name", "industry"],
}
TOP_MEMBERS = 10


class DiagnosisData(Protocol):
    """What a run reads; ``data_access.store.diagnosis.MartDiagnosisData`` reads it from the mart."""

    def monthly_totals(self, filters: Mapping[str, Any]) -> pd.DataFrame: ...

    def breakdown(self, level: str, months: list[pd.Timestamp], filters: Mapping[str, Any],
                  metric: str) -> pd.DataFrame: ...

    def leaves(self, months: list[pd.Timestamp], filters: Mapping[str, Any]) -> pd.DataFrame: ...


@dataclass(frozen=True)
class NodeResult:
    """One node's outcome; ``members`` are the breakdown's top movers as records."""

    node_id: str
    parent_id: str | None
    depth: int
    metric: str
    label: str
    unit: str
    filters: dict[str, Any]
    value: float
    compare_value: float
    change: float
    change_pct: float
    status: str
    share_of_parent_change: float
    breached: bool
    message: str
    breakdown: str | None = None
    alert_threshold: float | None = None
    members: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    """A whole run, storable as JSON (``to_dict`` / ``from_dict``)."""

    template: str
    version: int
    period: str
    compare_period: str
    nodes: list[NodeResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        nodes = [NodeResult(**n) for n in data["nodes"]]
        return cls(data["template"], data["version"], data["period"], data["compare_period"], nodes)

    def frame(self) -> pd.DataFrame:
        """One row per node (without members and findings)."""
        rows = [{k: v for k, v in asdict(n).items() if k not in ("members", "findings")}
                for n in self.nodes]
        return pd.DataFrame(rows)

    @property
    def breaches(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.breached]


def compare_month(period: pd.Timestamp, compare_to: str) -> pd.Timestamp:
    """The comparison month for ``last_period`` or ``last_year``."""
    lag = {"last_period": 1, "last_year": 12}[compare_to]
    return (pd.Timestamp(period).to_period("M") - lag).to_timestamp()


def _finite(x: float) -> float:
    return float(x) if x is not None and math.isfinite(float(x)) else math.nan


def _clean(value: Any) -> Any:
    """JSON-safe scalars (NaN becomes None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value


def _breach(node: Node, change_pct: float, status: str) -> bool:
    if node.alert_change is None:
        return status == "red"
    if not math.isfinite(change_pct):
        return False
    return change_pct <= node.alert_change if node.alert_change < 0 else change_pct >= node.alert_change


def leaf_months(metric: str, period: pd.Timestamp | str,
                compare: pd.Timestamp | str) -> list[pd.Timestamp]:
    """The months of leaves :func:`locate` needs: the two compared, and for a KPI whose
    denominator is last month's (churn rate) the month before each."""
    period, compare = pd.Timestamp(period), pd.Timestamp(compare)
    months = {period, compare}
    spec = SPECS.get(metric)
    if spec is not None and spec.lagged:
        months |= {(m.to_period("M") - 1).to_timestamp() for m in (period, compare)}
    return sorted(months)


def locate(metric: str, leaves: pd.DataFrame, period: pd.Timestamp | str,
           compare: pd.Timestamp | str) -> list[dict[str, Any]]:
    """Where a KPI's change between two months comes from, by the root-cause localiser.

    ``leaves`` are summary-cube rows (``LEAF_DIMENSIONS``, ``month`` and the measures) for
    the months of :func:`leaf_months`. Whether the KPI is a ratio comes from its split in
    ``analytics.kpis.drill.SPECS`` (keyed like ``analytics.kpis.registry.REGISTRY``): an additive KPI
    (revenue) is localised on its leaves' values; a ratio KPI (ARPU, MOU, DOU, churn rate,
    discount rate) by ``localize_ratio`` on each leaf's numerator and denominator, so the
    causes are where the *rate* moved, not where the base grew or shrank; a lagged
    denominator (churn rate: last month's base) is read from the month before each.

    Returns the localiser's causes as plain dicts (attributes, actual, expected, deviation,
    share_of_total_deviation, …), most important first; empty when the change is noise, or
    for KPIs the leaves cannot express (market share, net adds).
    """
    period, compare = pd.Timestamp(period), pd.Timestamp(compare)
    spec = SPECS.get(metric)
    if spec is None or spec.negate or leaves.empty:
        return []  # a difference (net adds) can be negative: its breakdown shows where instead
    needed = set(spec.numerator) | set(spec.negate) | set(spec.denominator or ())
    if not needed <= set(leaves.columns):
        return []  # e.g. market share: competitor figures exist per region only

    dims = [d for d in LEAF_DIMENSIONS if d in leaves.columns]

    def month(when: pd.Timestamp) -> pd.DataFrame:
        return leaves[leaves["month"] == when].groupby(dims, dropna=False).sum(numeric_only=True)

    def before(when: pd.Timestamp) -> pd.Timestamp:
        return (when.to_period("M") - 1).to_timestamp()

    now, then = month(period), month(compare)
    if spec.lagged:  # the denominator is the month before's: swap those columns in
        if not ((leaves["month"] == before(period)).any() and (leaves["month"] == before(compare)).any()):
            return []
        den = list(spec.denominator or ())
        now = now.drop(columns=den).join(month(before(period))[den], how="outer")
        then = then.drop(columns=den).join(month(before(compare))[den], how="outer")
    both = now.join(then, how="outer", suffixes=("_a", "_e")).fillna(0.0).reset_index()
    for col in dims:
        both[col] = both[col].astype(str)

    def total(suffix: str, columns: tuple[str, ...], negate: tuple[str, ...] = ()) -> pd.Series:
        out = sum(both[f"{c}_{suffix}"] for c in columns)
        for c in negate:
            out = out - both[f"{c}_{suffix}"]
        return out

    frame = both[dims].copy()
    frame["num_a"], frame["num_e"] = total("a", spec.numerator, spec.negate), total(
        "e", spec.numerator, spec.negate)
    if spec.denominator is None:
        causes = localize_detailed(frame, dims, "num_a", "num_e")
    else:
        frame["den_a"], frame["den_e"] = total("a", spec.denominator), total("e", spec.denominator)
        causes = localize_ratio_detailed(frame, dims, "num_a", "num_e", "den_a", "den_e")
    return [{k: _clean(v) for k, v in asdict(c).items() if k != "leaves"} for c in causes]


def _evaluate(node: Node, parent: NodeResult | None, filters: dict[str, Any], depth: int,
              data: DiagnosisData, period: pd.Timestamp, compare: pd.Timestamp) -> NodeResult:
    kpi = REGISTRY[node.metric]
    monthly = data.monthly_totals(filters)
    monthly = monthly.loc[:period]
    if period not in monthly.index or compare not in monthly.index:
        raise ValueError(f"node {node.id}: no data for {period:%Y-%m} or {compare:%Y-%m} "
                         f"in this slice ({filters or 'whole city'})")
    values = compute_kpis(monthly)[node.metric]
    value, before = _finite(values.loc[period]), _finite(values.loc[compare])
    change = value - before
    change_pct = change / abs(before) if before and math.isfinite(before) else math.nan
    card = kpi_cards(monthly, period).set_index("key").loc[node.metric]
    status = str(card["status"])
    share = math.nan
    if parent is not None and parent.metric == node.metric and kpi.unit in ("yuan", "subs") \
            and parent.change:
        share = change / parent.change
    members: list[dict[str, Any]] = []
    if node.breakdown and node.metric in SPECS:
        frame = data.breakdown(node.breakdown, months_needed(period, compare), filters,
                               node.metric)
        if not frame.empty:
            table = member_kpis(frame, LEVEL_KEYS[node.breakdown], node.metric, period,
                                compare=compare).head(TOP_MEMBERS)
            members = [{k: _clean(v) for k, v in row.items()} for row in table.to_dict("records")]
    breached = _breach(node, change_pct, status)
    leaves = (data.leaves(leaf_months(node.metric, period, compare), filters)
              if node.metric in SPECS else pd.DataFrame())
    findings = locate(node.metric, leaves, period, compare)
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    message = (f"{kpi.label} {direction} {abs(change_pct):.1%} against {compare:%Y-%m}"
               if math.isfinite(change_pct) else f"{kpi.label}: no comparison value")
    if findings:
        where = "; ".join(", ".join(f"{k}={v}" for k, v in f["attributes"].items())
                          or "every slice alike" for f in findings[:3])
        message += f" — located in {where}"
    return NodeResult(
        node.id, parent.node_id if parent else None, depth, node.metric, node.label, kpi.unit,
        filters, value, before, change, change_pct, status, share, breached, message,
        node.breakdown, node.alert_change, members, findings)


def run_template(template: Template, data: DiagnosisData, period: pd.Timestamp | str,
                 compare: pd.Timestamp | str | None = None) -> RunResult:
    """Evaluate every node of ``template`` for ``period`` against ``compare``.

    ``compare`` defaults to the template's ``compare_to`` (last period or last year).
    """
    period = pd.Timestamp(period).to_period("M").to_timestamp()
    compare = (compare_month(period, template.compare_to) if compare is None
               else pd.Timestamp(compare).to_period("M").to_timestamp())
    filters = effective_filters(template)
    results: dict[str, NodeResult] = {}
    for node, parent, depth in template.root.walk():
        results[node.id] = _evaluate(node, results.get(parent.id) if parent else None,
                                     filters[node.id], depth, data, period, compare)
    return RunResult(template.name, template.version, f"{period:%Y-%m}", f"{compare:%Y-%m}",
                     list(results.values()))


def compare_runs(first: RunResult, second: RunResult) -> pd.DataFrame:
    """Node by node: each run's value and status, and how the value moved between them."""
    # the suffixes name the run (A, B) as well as its period: two runs of the same month, or
    # a run compared with itself, must not give two columns the same name
    left, right = f" A ({first.period})", f" B ({second.period})"
    columns = ["node_id", "label", "unit", "value", "status", "breached"]
    a = _run_frame(first, columns).set_index("node_id")
    b = _run_frame(second, columns).set_index("node_id")
    out = a.join(b[["value", "status", "breached"]], how="outer", suffixes=(left, right))
    for column in ("label", "unit"):  # a node only the second run has keeps its name
        out[column] = out[column].fillna(b[column])
    out["difference"] = out[f"value{right}"] - out[f"value{left}"]
    return out.reset_index()


def _run_frame(result: RunResult, columns: list[str]) -> pd.DataFrame:
    """A run's node table with ``columns`` even when it has no nodes."""
    frame = result.frame()
    return frame[columns] if len(frame) else pd.DataFrame(columns=columns)


_UNIT_ORDER = ("channel_id", "group_id", "micro_region", "branch", "channel_type", "plan_name",
               "segment")


def breach_alerts(result: RunResult) -> list[dict[str, Any]]:
    """One alert per breached node: the unit is the node's most specific filter (or the city).

    The score says how far past its threshold the node went: 0.5 at the threshold, 1.0 at
    twice it (0.9 for a node judged by red status alone).
    """
    rows = []
    for node in result.breaches:
        level, key = next(((k, node.filters[k]) for k in _UNIT_ORDER if k in node.filters),
                          ("city", "all"))
        pct = abs(node.change_pct) if math.isfinite(node.change_pct) else 0.0
        limit = abs(node.alert_threshold) if node.alert_threshold else None
        score = min(1.0, 0.5 + pct / (2 * limit)) if limit else 0.9
        rows.append({
            "source": "diagnosis", "metric": node.metric, "unit_level": level,
            "unit_key": str(key), "unit_label": f"{node.label} ({result.template})"[:120],
            "observed_at": result.period, "score": round(score, 4),
            "actual": _clean(node.value), "expected": _clean(node.compare_value),
            "message": node.message[:400],
        })
    return rows

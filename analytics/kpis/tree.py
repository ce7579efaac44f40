"""The KPI tree (which component moved) and member contributions for drill-down tables."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Measures ``kpi_tree`` reads from each period.
TREE_MEASURES: tuple[str, ...] = (
    "active_subs", "new_subs", "churned_subs", "rev_voice", "rev_data", "rev_sms", "rev_vas",
    "discount", "revenue",
)
#: Ratio measures ``contributions_by`` can split: key → (numerator, denominator).
RATIO_MEASURES: dict[str, tuple[str, str]] = {
    "arpu": ("revenue", "active_subs"),
    "mou": ("mou", "active_subs"),
    "dou": ("data_mb", "active_subs"),
}
_ARPU_PARTS = (  # (node key, label, measure, sign)
    ("arpu_voice", "voice ARPU 语音ARPU", "rev_voice", 1.0),
    ("arpu_data", "data ARPU 数据ARPU", "rev_data", 1.0),
    ("arpu_sms", "SMS ARPU 短信ARPU", "rev_sms", 1.0),
    ("arpu_vas", "VAS ARPU 增值ARPU", "rev_vas", 1.0),
    ("arpu_discount", "discount ARPU 户均折扣", "discount", -1.0),
)
_FRAME_COLUMNS = ("node", "label", "unit", "parent", "depth", "current", "previous", "change",
                  "contribution", "share_of_parent_change", "parent_unit", "parent_change",
                  "parent_current", "parent_level")
#: The KPIs that have a tree, and the identity each one splits (what the page says above it).
TREE_IDENTITIES: dict[str, str] = {
    "revenue": "revenue = subscribers × ARPU; ARPU = voice + data + SMS + VAS − discount; "
               "subscribers = previous + new − churned",
    "arpu": "ARPU = voice + data + SMS + VAS − discount, per subscriber",
    "active_subs": "subscribers = previous + new − churned",
    "net_adds": "net adds = new activations − churned",
}
_REL = 1e-9  # below this (relative to the values' size) a residual is rounding, not data


@dataclass(frozen=True)
class TreeNode:
    """One node of a KPI tree.

    ``contribution`` is this node's part of its parent's change, in the parent's unit; the
    children's contributions sum to the node's ``change``. The root's contribution is its own
    change. A residual node (key ending in ``_residual``) only appears when the data do not
    satisfy the tree's identity.
    """

    key: str
    label: str
    unit: str
    current: float
    previous: float
    change: float
    contribution: float
    children: tuple[TreeNode, ...] = ()
    #: The size this node's change is judged against (NaN: its own value); net adds are
    #: judged against the subscriber base.
    level: float = math.nan

    def walk(self, parent: TreeNode | None = None,
             depth: int = 0) -> Iterator[tuple[TreeNode, TreeNode | None, int]]:
        """Yield (node, parent, depth) depth-first, this node first."""
        yield self, parent, depth
        for child in self.children:
            yield from child.walk(self, depth + 1)

    def to_frame(self) -> pd.DataFrame:
        """Flatten to one row per node: node, label, unit, parent, depth, current, previous,
        change, contribution, share_of_parent_change (contribution ÷ parent's change), and the
        parent's unit, change, current value and level (the contribution is in the parent's
        unit; the level is what the parent's change is judged against)."""
        rows = []
        for node, parent, depth in self.walk():
            share = (node.contribution / parent.change
                     if parent is not None and parent.change != 0 else math.nan)
            rows.append((node.key, node.label, node.unit, parent.key if parent else None, depth,
                         node.current, node.previous, node.change, node.contribution, share,
                         parent.unit if parent else node.unit,
                         parent.change if parent else math.nan,
                         parent.current if parent else math.nan,
                         (parent.level if math.isfinite(parent.level) else parent.current)
                         if parent else math.nan))
        return pd.DataFrame(rows, columns=list(_FRAME_COLUMNS))


def _div(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _material(residual: float, *scale: float) -> bool:
    """True when ``residual`` is more than float rounding relative to ``scale``."""
    size = max([1.0] + [abs(v) for v in scale if math.isfinite(v)])
    return abs(residual) > _REL * size


def _measures(period: pd.Series | Mapping[str, float], name: str) -> dict[str, float]:
    missing = [m for m in TREE_MEASURES if m not in period]
    if missing:
        raise ValueError(f"the {name} period lacks measures: {', '.join(missing)}")
    return {m: float(period[m]) for m in TREE_MEASURES}


def _arpu_node(cur: dict[str, float], prev: dict[str, float], contribution: float) -> TreeNode:
    """ARPU and its additive components (voice, data, SMS, VAS, minus discount)."""
    s1, s0 = cur["active_subs"], prev["active_subs"]
    a1, a0 = _div(cur["revenue"], s1), _div(prev["revenue"], s0)
    change = a1 - a0
    children = []
    for key, label, measure, sign in _ARPU_PARTS:
        c1 = sign * _div(cur[measure], s1) + 0.0  # + 0.0 turns -0.0 into 0.0
        c0 = sign * _div(prev[measure], s0) + 0.0
        children.append(TreeNode(key, label, "yuan_per_sub", c1, c0, c1 - c0, c1 - c0))
    residual = change - sum(child.contribution for child in children)
    if math.isfinite(residual) and _material(residual, a1, a0):
        # Real extracts may not satisfy revenue = components − discount exactly.
        children.append(TreeNode("arpu_residual", "other 其他 (revenue ≠ components − discount)",
                                 "yuan_per_sub", residual, math.nan, math.nan, residual))
    return TreeNode("arpu", "ARPU 每户平均收入", "yuan_per_sub", a1, a0, change, contribution,
                    tuple(children))


def _subs_node(cur: dict[str, float], prev: dict[str, float], contribution: float) -> TreeNode:
    """Active subscribers: change = new activations − churned (+ residual on real data)."""
    s1, s0 = cur["active_subs"], prev["active_subs"]
    new1, churn1 = cur["new_subs"], cur["churned_subs"]
    children = [
        TreeNode("new_subs", "new activations 新放号", "subs", new1, prev["new_subs"],
                 new1 - prev["new_subs"], new1),
        TreeNode("churned_subs", "churned 离网", "subs", churn1, prev["churned_subs"],
                 churn1 - prev["churned_subs"], -churn1),
    ]
    residual = (s1 - s0) - (new1 - churn1)
    if _material(residual, s1, s0):
        children.append(TreeNode("active_subs_residual", "residual 差异 (unreconciled)", "subs",
                                 residual, math.nan, math.nan, residual))
    return TreeNode("active_subs", "active subscribers 出账用户", "subs", s1, s0, s1 - s0,
                    contribution, tuple(children))


def kpi_tree(current: pd.Series | Mapping[str, float],
             previous: pd.Series | Mapping[str, float]) -> TreeNode:
    """Split one slice's revenue change into subscriber and ARPU effects, and those further.

    revenue = active subscribers × ARPU, split with the symmetric (midpoint, Shapley) rule
    Δ(s·a) = Δs·ā + Δa·s̄, which sums exactly; ARPU = voice + data + SMS + VAS − discount, per
    subscriber; active(t) = active(t−1) + new(t) − churned(t), with a residual node only when
    the data do not satisfy it (real extracts, or periods that are not consecutive months).
    When a period has no subscribers the whole revenue change is the subscriber effect.

    Parameters
    ----------
    current, previous : Series or mapping
        Measure sums of the two periods (``TREE_MEASURES`` at least); ``previous`` should be
        the month before ``current`` for the subscriber identity to hold.

    Returns
    -------
    TreeNode
        The revenue node; ``.to_frame()`` flattens it.

    Examples
    --------
    >>> zero = dict.fromkeys(TREE_MEASURES, 0.0)
    >>> before = {**zero, "active_subs": 100, "revenue": 8000, "rev_data": 8000}
    >>> after = {**zero, "active_subs": 110, "new_subs": 15, "churned_subs": 5,
    ...          "revenue": 8250, "rev_data": 8250}
    >>> tree = kpi_tree(after, before)
    >>> [(child.key, child.contribution) for child in tree.children]
    [('active_subs', 775.0), ('arpu', -525.0)]
    """
    cur, prev = _measures(current, "current"), _measures(previous, "previous")
    r1, r0 = cur["revenue"], prev["revenue"]
    s1, s0 = cur["active_subs"], prev["active_subs"]
    change = r1 - r0
    if s1 and s0:
        subs_effect = (s1 - s0) * (r1 / s1 + r0 / s0) / 2
        # Δa·s̄ algebraically; taken as the remainder so the two sum to the change exactly.
        arpu_effect = change - subs_effect
    else:
        subs_effect, arpu_effect = change, 0.0
    children = (_subs_node(cur, prev, subs_effect), _arpu_node(cur, prev, arpu_effect))
    return TreeNode("revenue", "revenue 收入", "yuan", r1, r0, change, change, children)


def _net_adds_node(cur: dict[str, float], prev: dict[str, float]) -> TreeNode:
    """Net adds = new activations − churned: each side's change, churn counted against."""
    n1, n0 = cur["new_subs"] - cur["churned_subs"], prev["new_subs"] - prev["churned_subs"]
    new_change = cur["new_subs"] - prev["new_subs"]
    churn_change = cur["churned_subs"] - prev["churned_subs"]
    children = (
        TreeNode("new_subs", "new activations 新放号", "subs", cur["new_subs"], prev["new_subs"],
                 new_change, new_change),
        TreeNode("churned_subs", "churned 离网", "subs", cur["churned_subs"],
                 prev["churned_subs"], churn_change, -churn_change),
    )
    return TreeNode("net_adds", "net adds 净增", "subs", n1, n0, n1 - n0, n1 - n0, children,
                    level=cur["active_subs"])


def tree_for(kpi: str, current: pd.Series | Mapping[str, float],
             previous: pd.Series | Mapping[str, float]) -> TreeNode | None:
    """The tree of ``kpi`` (a key of ``TREE_IDENTITIES``), or None when the KPI has none.

    Revenue splits into subscribers × ARPU (:func:`kpi_tree`); ARPU into its per-subscriber
    components; active subscribers into new activations and churned; net adds into the
    change of new activations and of churn. Each root's contribution is its own change.

    Examples
    --------
    >>> zero = dict.fromkeys(TREE_MEASURES, 0.0)
    >>> before = {**zero, "active_subs": 100, "new_subs": 12, "churned_subs": 4}
    >>> after = {**zero, "active_subs": 103, "new_subs": 8, "churned_subs": 5}
    >>> tree = tree_for("active_subs", after, before)
    >>> [(c.key, c.contribution) for c in tree.children], tree.change
    ([('new_subs', 8.0), ('churned_subs', -5.0)], 3.0)
    >>> [(c.key, c.contribution) for c in tree_for("net_adds", after, before).children]
    [('new_subs', -4.0), ('churned_subs', -1.0)]
    >>> tree_for("mou", after, before) is None
    True
    """
    if kpi not in TREE_IDENTITIES:
        return None
    cur, prev = _measures(current, "current"), _measures(previous, "previous")
    if kpi == "revenue":
        return kpi_tree(cur, prev)
    if kpi == "arpu":
        node = _arpu_node(cur, prev, 0.0)
        return TreeNode(node.key, node.label, node.unit, node.current, node.previous,
                        node.change, node.change, node.children)
    if kpi == "active_subs":
        return _subs_node(cur, prev, cur["active_subs"] - prev["active_subs"])
    return _net_adds_node(cur, prev)


def revenue_bridge(tree: TreeNode) -> pd.DataFrame:
    """A tree's change as steps in its root's unit: last month, each leaf's effect, this month.

    Named for the revenue tree (steps in yuan); any tree of :func:`tree_for` works, and the
    ``unit`` column says which unit the amounts are in. A grandchild's contribution is in its parent's unit (subscribers, yuan per subscriber);
    it is converted to yuan with the parent's own factor (its yuan effect ÷ its change: the
    mean ARPU for subscriber leaves, the mean base for ARPU leaves), so the steps add up
    exactly. A parent that did not change is shown as one step.

    Examples
    --------
    >>> zero = dict.fromkeys(TREE_MEASURES, 0.0)
    >>> before = {**zero, "active_subs": 100, "revenue": 8000, "rev_data": 8000}
    >>> after = {**zero, "active_subs": 110, "new_subs": 15, "churned_subs": 5,
    ...          "revenue": 8250, "rev_data": 8250}
    >>> bridge = revenue_bridge(kpi_tree(after, before))
    >>> bridge[["step", "amount"]].values.tolist()[:3]
    [['last month', 8000.0], ['new activations 新放号', 1162.5], ['churned 离网', -387.5]]
    >>> float(bridge.loc[bridge["kind"] != "total", "amount"].sum())
    250.0
    """
    rows = [("last month", tree.previous, "total", None)]
    for child in tree.children:
        if child.children and child.change:
            factor = child.contribution / child.change
            rows += [(leaf.label, leaf.contribution * factor, "effect", child.key)
                     for leaf in child.children]
        else:
            rows.append((child.label, child.contribution, "effect", child.key))
    rows.append(("this month", tree.current, "total", None))
    return pd.DataFrame(rows, columns=["step", "amount", "kind", "parent"]).assign(unit=tree.unit)


def _sums(frame: pd.DataFrame, dimension: str, period: str, label: str,
          columns: list[str]) -> pd.DataFrame:
    return frame.loc[frame[period] == label].groupby(dimension, sort=False)[columns].sum()


def contributions_by(frame: pd.DataFrame, dimension: str, measure: str = "revenue", *,
                     period: str = "period") -> pd.DataFrame:
    """Each member's part of the change of ``measure`` between two periods.

    Parameters
    ----------
    frame : DataFrame
        Long rows with a ``dimension`` column, a ``period`` column holding 'current' or
        'previous', and additive measure columns; several rows per member are summed, and a
        member missing from a period counts as zero there.
    dimension : str
        The member column (branch, micro_region, channel_id, ...).
    measure : str
        An additive column (or 'net_adds' = new_subs − churned_subs): members' changes, which
        sum to the total change. Or a ratio in ``RATIO_MEASURES`` ('arpu', 'mou', 'dou'): with
        weights w = member's share of subscribers and a = member's ratio, each member's
        ``contribution`` = w1·a1 − w0·a0 − Δw·Ā (Ā the midpoint of the two totals; that last
        term sums to zero over members and makes growth of a below-average member count
        against the total) = ``mix_effect`` Δw·(ā − Ā) + ``rate_effect`` w̄·Δa. The
        contributions sum exactly to the total ratio's change.
    period : str
        Name of the period column.

    Returns
    -------
    DataFrame
        Sorted by absolute contribution, largest first. Additive: ``dimension``, current,
        previous, change, contribution (= change), share_of_change. Ratio: ``dimension``,
        current, previous, change (the member's own ratio), weight_current, weight_previous,
        mix_effect, rate_effect, contribution, share_of_change.

    Examples
    --------
    >>> frame = pd.DataFrame({"branch": ["A", "B", "A", "B"],
    ...                       "period": ["previous", "previous", "current", "current"],
    ...                       "revenue": [100.0, 100.0, 100.0, 160.0],
    ...                       "active_subs": [1, 1, 1, 1]})
    >>> contributions_by(frame, "branch")[["branch", "change", "share_of_change"]].values.tolist()
    [['B', 60.0, 1.0], ['A', 0.0, 0.0]]
    >>> contributions_by(frame, "branch", "arpu")["contribution"].tolist()
    [30.0, 0.0]
    """
    for column in (dimension, period):
        if column not in frame.columns:
            raise ValueError(f"the frame has no {column!r} column")
    unknown = set(frame[period].dropna().unique()) - {"current", "previous"}
    if unknown:
        raise ValueError(f"period values must be 'current' or 'previous', not {sorted(unknown)}")
    if measure in RATIO_MEASURES:
        columns = list(RATIO_MEASURES[measure])
    elif measure == "net_adds":
        columns = ["new_subs", "churned_subs"]
    else:
        columns = [measure]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks columns for {measure!r}: {', '.join(missing)}")
    cur = _sums(frame, dimension, period, "current", columns)
    prev = _sums(frame, dimension, period, "previous", columns)
    members = cur.index.append(prev.index).unique()
    cur = cur.reindex(members, fill_value=0).astype(float)
    prev = prev.reindex(members, fill_value=0).astype(float)
    if measure in RATIO_MEASURES:
        out = _ratio_split(cur, prev, *columns)
    else:
        if measure == "net_adds":
            now = cur["new_subs"] - cur["churned_subs"]
            before = prev["new_subs"] - prev["churned_subs"]
        else:
            now, before = cur[measure], prev[measure]
        out = pd.DataFrame({"current": now, "previous": before, "change": now - before})
        out["contribution"] = out["change"]
    total = out["contribution"].sum()
    out["share_of_change"] = out["contribution"] / total if total else np.nan
    out = out.iloc[np.argsort(-out["contribution"].abs().to_numpy(), kind="stable")]
    return out.rename_axis(dimension).reset_index()


def _ratio_split(cur: pd.DataFrame, prev: pd.DataFrame, num: str, den: str) -> pd.DataFrame:
    """Mix and rate effects of each member on the change of Σnum ÷ Σden."""
    n1, n0, d1, d0 = cur[num], prev[num], cur[den], prev[den]
    total1, total0 = d1.sum(), d0.sum()
    a1, a0 = n1 / d1.where(d1 != 0), n0 / d0.where(d0 != 0)
    if not (total1 and total0):
        nan = pd.Series(np.nan, index=cur.index)
        return pd.DataFrame({"current": a1, "previous": a0, "change": a1 - a0,
                             "weight_current": d1 / total1 if total1 else nan,
                             "weight_previous": d0 / total0 if total0 else nan,
                             "mix_effect": nan, "rate_effect": nan, "contribution": nan})
    w1, w0 = d1 / total1, d0 / total0
    midpoint = (n1.sum() / total1 + n0.sum() / total0) / 2
    # A member absent in one period has no rate change: its own ratio stands in for the gap.
    rate = (w1 + w0) / 2 * (a1.fillna(a0) - a0.fillna(a1)).fillna(0.0)
    contribution = n1 / total1 - n0 / total0 - (w1 - w0) * midpoint
    return pd.DataFrame({"current": a1, "previous": a0, "change": a1 - a0,
                         "weight_current": w1, "weight_previous": w0,
                         "mix_effect": contribution - rate, "rate_effect": rate,
                         "contribution": contribution})

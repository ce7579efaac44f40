"""Stored diagnosis runs seen through the acting scope.

A stored run is computed for the whole city (the scheduler acts as the system principal), so
a regional manager may read only the nodes whose filters put them inside their own branch or
micro-region; a run with no such node is refused with a message rather than shown in full.
"""

from __future__ import annotations

from dataclasses import replace

from analytics.diagnosis.runs import NodeResult, RunResult
from data_access.store import scope
from data_access.store.auth import Forbidden


def _inside(node: NodeResult, level: str, value: str) -> bool:
    """Whether every row of the node lies inside the scope (judged from its filters alone)."""
    filters = node.filters or {}
    if filters.get(level) == value:
        return True
    # a branch-scoped manager also owns nodes narrowed to a micro-region *and* their branch
    return level == "branch" and filters.get("branch") == value


def narrow_run(result: RunResult) -> RunResult:
    """``result`` with only the nodes inside the acting scope (all of them when unscoped).

    Raises
    ------
    Forbidden
        The run has no node inside the scope: it was computed city-wide and cannot be
        narrowed to the manager's region.
    NoPrincipal
        Nobody is acting.
    """
    who = scope.acting_principal("read diagnosis runs")
    if who.scope_level is None:
        return result
    kept = [n for n in result.nodes if _inside(n, who.scope_level, str(who.scope_value))]
    if not kept:
        raise Forbidden(f"This stored run of {result.template} was computed for the whole city "
                        f"and has no node for {who.scope_value}; {who.display_name} may see "
                        f"{who.scope_value} only. Run the template yourself on the Run tab: "
                        "it is narrowed to your region.")
    ids = {n.node_id for n in kept}
    kept = [n if n.parent_id in ids else replace(n, parent_id=None) for n in kept]
    return replace(result, nodes=kept)

"""Mind-map diagnosis templates: a tree of metrics, filters and breakdowns (never raw SQL).

A template is plain data (JSON) checked against whitelists: every node names a KPI from the
registry, optional filters on whitelisted fields and an optional breakdown dimension. Parsing
a bad template raises :class:`TemplateError` naming the node and field that is wrong.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from analytics.kpis.registry import REGISTRY

#: Breakdown dimensions a node may split by (the drill levels of the mart).
BREAKDOWNS: tuple[str, ...] = ("branch", "micro_region", "channel_type", "channel", "group",
                               "plan", "segment")
#: Fields a node may filter on, and the kind of value each takes.
FILTERS: dict[str, type] = {"branch": str, "micro_region": str, "channel_type": str,
                            "channel_id": int, "group_id": int, "plan_name": str, "segment": str}
SCHEDULES: tuple[str, ...] = ("none", "daily", "weekly", "monthly")
COMPARISONS: tuple[str, ...] = ("last_period", "last_year")
MAX_NODES = 60
MAX_DEPTH = 6
_ID = re.compile(r"[a-z0-9_]{1,40}")
_NAME = re.compile(r"[\w \-·()&/'.,]{1,80}", re.UNICODE)


#: Limits on pasted JSON text, checked before it is parsed (deep nesting would otherwise
#: exhaust Python's recursion limit inside ``json.loads``).
MAX_JSON_CHARS = 100_000
MAX_JSON_NESTING = 40


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 4, 4


def _brief(value: Any) -> str:
    """A short repr for messages: bounded in size and depth, whatever JSON was sent."""
    return _REPR.repr(value)


class TemplateError(ValueError):
    """A template that cannot be used; the message names the node and field."""


def _check_json_shape(text: str) -> None:
    """Refuse JSON text that is too long or nested too deeply, without parsing it."""
    if len(text) > MAX_JSON_CHARS:
        raise TemplateError(f"template: {len(text):,} characters; at most {MAX_JSON_CHARS:,}")
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_NESTING:
                raise TemplateError(f"template: nested deeper than {MAX_JSON_NESTING} levels "
                                    f"(a tree may be {MAX_DEPTH} nodes deep)")
        elif char in "]}":
            depth -= 1


@dataclass(frozen=True)
class Node:
    """One node of a mind map: a KPI on a slice, optionally broken down, with children.

    Filters accumulate down the tree: a child sees its parent's filters plus its own.
    ``alert_change`` is a relative change against the comparison period that raises an alert
    when crossed (−0.05: a fall of more than 5%; 0.1: a rise of more than 10%); without it a
    node alerts when its status is red.
    """

    id: str
    metric: str
    filters: tuple[tuple[str, str | int], ...] = ()
    breakdown: str | None = None
    alert_change: float | None = None
    children: tuple[Node, ...] = ()

    @property
    def label(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.filters)
        return REGISTRY[self.metric].label + (f" [{where}]" if where else "")

    def walk(self, parent: Node | None = None, depth: int = 0
             ) -> Iterator[tuple[Node, Node | None, int]]:
        """Yield (node, parent, depth), depth first."""
        yield self, parent, depth
        for child in self.children:
            yield from child.walk(self, depth + 1)


@dataclass(frozen=True)
class Template:
    """A named, versioned tree with a schedule and a default comparison."""

    name: str
    root: Node
    schedule: str = "monthly"
    compare_to: str = "last_period"
    version: int = 1
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def nodes(self) -> list[Node]:
        return [node for node, _, _ in self.root.walk()]


def _node_from(obj: Any, path: str, depth: int, seen: set[str]) -> Node:
    if not isinstance(obj, Mapping):
        raise TemplateError(f"{path}: a node must be an object, not {type(obj).__name__}")
    unknown = set(obj) - {"id", "metric", "filters", "breakdown", "alert_change", "children"}
    if unknown:
        raise TemplateError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    node_id = obj.get("id")
    if not isinstance(node_id, str) or not _ID.fullmatch(node_id):
        raise TemplateError(f"{path}.id: {_brief(node_id)} is not an id (1–40 of a–z, 0–9, _)")
    if node_id in seen:
        raise TemplateError(f"{path}.id: {_brief(node_id)} is used twice")
    seen.add(node_id)
    metric = obj.get("metric")
    if not isinstance(metric, str) or metric not in REGISTRY:
        raise TemplateError(f"{path}.metric: {_brief(metric)} is not a KPI; choose one of "
                            f"{', '.join(REGISTRY)}")
    filters = obj.get("filters") or {}
    if not isinstance(filters, Mapping):
        raise TemplateError(f"{path}.filters: must be an object of field: value")
    clean: list[tuple[str, str | int]] = []
    for key, value in filters.items():
        if key not in FILTERS:
            raise TemplateError(f"{path}.filters: {_brief(key)} cannot be filtered on; choose among "
                                f"{', '.join(FILTERS)}")
        kind = FILTERS[key]
        if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
            raise TemplateError(f"{path}.filters.{key}: {_brief(value)} must be a whole number")
        if kind is str and not (isinstance(value, str) and 0 < len(value) <= 80):
            raise TemplateError(f"{path}.filters.{key}: {_brief(value)} must be text of 1–80 characters")
        clean.append((key, value))
    breakdown = obj.get("breakdown")
    if breakdown is not None and breakdown not in BREAKDOWNS:
        raise TemplateError(f"{path}.breakdown: {_brief(breakdown)} is not a dimension; choose one of "
                            f"{', '.join(BREAKDOWNS)}")
    alert_change = obj.get("alert_change")
    if alert_change is not None:
        if isinstance(alert_change, bool) or not isinstance(alert_change, (int, float)) \
                or not -1 < alert_change < 10 or alert_change == 0:
            raise TemplateError(f"{path}.alert_change: {_brief(alert_change)} must be a non-zero "
                                "relative change between −1 and 10 (−0.05 is a 5% fall)")
        alert_change = float(alert_change)
    children_obj = obj.get("children") or []
    if not isinstance(children_obj, list):
        raise TemplateError(f"{path}.children: must be a list of nodes")
    if children_obj and depth + 1 >= MAX_DEPTH:
        raise TemplateError(f"{path}.children: the tree may be at most {MAX_DEPTH} levels deep")
    children = tuple(_node_from(child, f"{path}.children[{i}]", depth + 1, seen)
                     for i, child in enumerate(children_obj))
    return Node(node_id, metric, tuple(sorted(clean)), breakdown, alert_change, children)


def parse_template(obj: Mapping[str, Any] | str) -> Template:
    """Check and build a template from a dict or its JSON text.

    Examples
    --------
    >>> t = parse_template({"name": "Revenue check", "root": {"id": "root", "metric": "revenue",
    ...                     "breakdown": "branch"}})
    >>> t.root.breakdown, t.schedule
    ('branch', 'monthly')
    >>> parse_template({"name": "x", "root": {"id": "root", "metric": "profit"}})
    Traceback (most recent call last):
    ...
    analytics.diagnosis.templates.TemplateError: root.metric: 'profit' is not a KPI; choose one of ...
    """
    if isinstance(obj, str):
        _check_json_shape(obj)
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"template: not valid JSON ({exc.msg} at line {exc.lineno}, "
                                f"column {exc.colno})") from exc
        except RecursionError as exc:  # a backstop: _check_json_shape refuses these first
            raise TemplateError(f"template: nested deeper than {MAX_JSON_NESTING} levels") from exc
    if not isinstance(obj, Mapping):
        raise TemplateError("template: must be an object with name and root")
    name = obj.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip() or "!"):
        raise TemplateError(f"name: {_brief(name)} must be 1–80 letters, digits, spaces or - · ( ) & / ' . ,")
    schedule = obj.get("schedule", "monthly")
    if schedule not in SCHEDULES:
        raise TemplateError(f"schedule: {_brief(schedule)} is not one of {', '.join(SCHEDULES)}")
    compare_to = obj.get("compare_to", "last_period")
    if compare_to not in COMPARISONS:
        raise TemplateError(f"compare_to: {_brief(compare_to)} is not one of {', '.join(COMPARISONS)}")
    if "root" not in obj:
        raise TemplateError("root: missing (the tree's top node)")
    seen: set[str] = set()
    root = _node_from(obj["root"], "root", 0, seen)
    if len(seen) > MAX_NODES:
        raise TemplateError(f"root: {len(seen)} nodes; a template may have at most {MAX_NODES}")
    version = obj.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TemplateError(f"version: {_brief(version)} must be a whole number from 1")
    description = obj.get("description", "")
    if not isinstance(description, str) or len(description) > 400:
        raise TemplateError("description: must be text of at most 400 characters")
    return Template(name.strip(), root, schedule, compare_to, version, description)


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "metric": node.metric}
    if node.filters:
        out["filters"] = dict(node.filters)
    if node.breakdown:
        out["breakdown"] = node.breakdown
    if node.alert_change is not None:
        out["alert_change"] = node.alert_change
    if node.children:
        out["children"] = [_node_dict(child) for child in node.children]
    return out


def template_to_dict(template: Template) -> dict[str, Any]:
    """The template as plain data; ``parse_template`` of it gives the template back."""
    return {"name": template.name, "version": template.version, "schedule": template.schedule,
            "compare_to": template.compare_to, "description": template.description,
            "root": _node_dict(template.root)}


def template_to_json(template: Template) -> str:
    return json.dumps(template_to_dict(template), ensure_ascii=False, indent=2, sort_keys=False)


def _rebuild(node: Node, change: Any) -> Node:
    changed = change(node)
    return replace(changed, children=tuple(_rebuild(c, change) for c in changed.children))


def _new_id(template: Template, metric: str) -> str:
    taken = {n.id for n in template.nodes()}
    i = 1
    while f"{metric}_{i}" in taken:
        i += 1
    return f"{metric}_{i}"


def add_node(template: Template, parent_id: str, metric: str,
             filters: Mapping[str, str | int] | None = None, breakdown: str | None = None,
             alert_change: float | None = None) -> Template:
    """A copy of ``template`` with a new child under ``parent_id`` (checked like a parse)."""
    if parent_id not in {n.id for n in template.nodes()}:
        raise TemplateError(f"no node {_brief(parent_id)} to add under")
    child = {"id": _new_id(template, metric), "metric": metric, "filters": dict(filters or {}),
             "breakdown": breakdown, "alert_change": alert_change}

    def add(node: Node) -> Node:
        return replace(node, children=(*node.children, _parse_node(child))) \
            if node.id == parent_id else node

    return _checked(replace(template, root=_rebuild(template.root, add)))


def remove_node(template: Template, node_id: str) -> Template:
    """A copy without ``node_id`` and its subtree (the root cannot be removed)."""
    if node_id == template.root.id:
        raise TemplateError("the root node cannot be removed; edit it instead")
    if node_id not in {n.id for n in template.nodes()}:
        raise TemplateError(f"no node {_brief(node_id)} to remove")
    return replace(template, root=_rebuild(template.root, lambda n: replace(
        n, children=tuple(c for c in n.children if c.id != node_id))))


def move_node(template: Template, node_id: str, offset: int) -> Template:
    """A copy with ``node_id`` moved ``offset`` places among its siblings (clamped)."""
    def move(node: Node) -> Node:
        ids = [c.id for c in node.children]
        if node_id not in ids:
            return node
        i = ids.index(node_id)
        j = min(max(i + offset, 0), len(ids) - 1)
        children = list(node.children)
        children.insert(j, children.pop(i))
        return replace(node, children=tuple(children))

    if node_id not in {n.id for n in template.nodes()}:
        raise TemplateError(f"no node {_brief(node_id)} to move")
    return replace(template, root=_rebuild(template.root, move))


def edit_node(template: Template, node_id: str, **changes: Any) -> Template:
    """A copy with some of ``node_id``'s fields changed (metric, filters, breakdown, alert_change)."""
    if node_id not in {n.id for n in template.nodes()}:
        raise TemplateError(f"no node {_brief(node_id)} to edit")

    def edit(node: Node) -> Node:
        if node.id != node_id:
            return node
        data = {**_node_dict(replace(node, children=())), **changes, "id": node.id}
        return replace(_parse_node(data), children=node.children)

    return _checked(replace(template, root=_rebuild(template.root, edit)))


def _parse_node(data: Mapping[str, Any]) -> Node:
    return _node_from({k: v for k, v in data.items() if v is not None}, "node", 0, set())


def _checked(template: Template) -> Template:
    return parse_template(template_to_dict(template))


def effective_filters(template: Template) -> dict[str, dict[str, str | int]]:
    """Each node's filters including those inherited from its ancestors (child wins)."""
    out: dict[str, dict[str, str | int]] = {}
    for node, parent, _ in template.root.walk():
        out[node.id] = {**(out[parent.id] if parent else {}), **dict(node.filters)}
    return out

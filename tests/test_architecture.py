"""The layers import one way, without cycles, and folders stay small (docs/architecture.md).

The rules, read from the code with ``ast`` (nothing is imported or run):

* ``analytics/`` is the pure core: no Streamlit, SQLAlchemy, database driver, ``data_access``,
  ``jobs`` or ``pages``;
* ``data_access/`` imports no Streamlit, ``jobs`` or ``pages``;
* ``jobs/`` imports no Streamlit or ``pages``;
* ``pages/`` and ``app.py`` import no SQLAlchemy or driver;
* no import cycle between project modules, and no project import inside a function;
* no folder holds more than 25 Python files.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("analytics", "data_access", "jobs", "pages", "app")
BANNED = {
    "analytics": {"streamlit", "sqlalchemy", "duckdb", "duckdb_engine", "psycopg", "alembic",
                  "data_access", "jobs", "pages"},
    "data_access": {"streamlit", "jobs", "pages"},
    "jobs": {"streamlit", "pages"},
    "pages": {"sqlalchemy", "duckdb", "duckdb_engine", "psycopg", "alembic"},
    "app": {"sqlalchemy", "duckdb", "duckdb_engine", "psycopg", "alembic"},
}
MAX_FILES = 25


def project_modules(root: Path) -> dict[str, Path]:
    """Module name → file, for every layer's Python file under ``root``."""
    found = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] not in LAYERS and rel.parts != ("app.py",):
            continue
        name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports_of(path: Path, name: str) -> list[tuple[str, bool]]:
    """``(imported module, inside a function?)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package[: len(package) - child.level + 1] + ([base] if base else []))
                out.append((base, in_function))
                out.extend((f"{base}.{alias.name}", in_function) for alias in child.names)
            visit(child, nested)

    visit(tree, False)
    return out


def problems(root: Path) -> list[str]:
    """Every broken rule under ``root``, one line each."""
    modules = project_modules(root)
    graph: dict[str, set[str]] = defaultdict(set)
    found: list[str] = []
    for name, path in modules.items():
        layer = name.split(".")[0]
        for imported, in_function in imports_of(path, name):
            top = imported.split(".")[0]
            if top in BANNED.get(layer, ()):
                found.append(f"{path.relative_to(root)} imports {top} ({layer} must not)")
            parts = imported.split(".")
            for k in range(len(parts), 0, -1):
                target = ".".join(parts[:k])
                if target in modules and target != name:
                    graph[name].add(target)
                    if in_function:
                        found.append(f"{path.relative_to(root)} imports {target} inside a function")
                    break
    found += [f"import cycle: {' -> '.join(sorted(c))}" for c in cycles(graph)]
    per_folder: dict[Path, int] = defaultdict(int)
    for path in modules.values():
        per_folder[path.parent] += 1
    found += [f"{folder.relative_to(root)}/ holds {n} Python files (more than {MAX_FILES})"
              for folder, n in per_folder.items() if n > MAX_FILES]
    return sorted(set(found))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in list(graph):
        if v not in index:
            strong(v)
    return out


def test_the_project_keeps_its_layers_cycles_and_folder_sizes() -> None:
    assert problems(ROOT) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.mark.parametrize(("files", "expected"), [
    ({"analytics/__init__.py": "", "analytics/x.py": "import sqlalchemy\n"},
     "analytics/x.py imports sqlalchemy (analytics must not)"),
    ({"analytics/__init__.py": "", "analytics/x.py": "from data_access.db import y\n",
      "data_access/__init__.py": "", "data_access/db.py": ""},
     "analytics/x.py imports data_access (analytics must not)"),
    ({"data_access/__init__.py": "", "data_access/c.py": "import streamlit as st\n"},
     "data_access/c.py imports streamlit (data_access must not)"),
    ({"pages/p.py": "import sqlalchemy as sa\n"}, "pages/p.py imports sqlalchemy (pages must not)"),
    ({"jobs/__init__.py": "", "jobs/a.py": "from jobs import b\n", "jobs/b.py": "import jobs.a\n"},
     "import cycle: jobs.a -> jobs.b"),
    ({"jobs/__init__.py": "", "jobs/a.py": "def f():\n    from jobs import b\n", "jobs/b.py": ""},
     "jobs/a.py imports jobs.b inside a function"),
    ({**{f"analytics/m{i}.py": "" for i in range(26)}, "analytics/__init__.py": ""},
     f"analytics/ holds 27 Python files (more than {MAX_FILES})"),
])
def test_the_check_notices_each_kind_of_break(tmp_path: Path, files: dict[str, str],
                                              expected: str) -> None:
    _write(tmp_path, files)
    assert expected in problems(tmp_path)

"""Work that every first visitor of a fresh server would wait for, done once when it starts.

A page script imports its sections, charts and analytics the first time anyone opens it
(a few seconds in all: scikit-learn, Altair, pydeck, the sections), and the first query on
the mart starts the database engine. Ten people signing in together after a restart queue
behind those imports in one Python process. :func:`start` runs them in a background thread
as soon as the app's first run begins, so by the time someone has typed a password most of
it is done. Nothing here reads data for anyone: a failure (no mart yet) is only logged, and
the first page then does the work itself as before.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import threading
from pathlib import Path

import streamlit as st

from pages.common import cache

ROOT = Path(__file__).resolve().parent.parent.parent
_log = logging.getLogger(__name__)


def page_imports(root: Path = ROOT) -> list[str]:
    """The modules the app's page scripts import at their top level (``pages/*.py``), each
    once, in the order first seen."""
    names: list[str] = []
    for script in sorted((root / "pages").glob("*.py")):
        tree = ast.parse(script.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
    return list(dict.fromkeys(names))


def warm(root: Path = ROOT) -> list[str]:
    """Import what the pages import and open the mart once; the modules that could not be
    imported (names that are attributes, not modules, are skipped silently)."""
    failed = []
    for name in page_imports(root):
        try:
            importlib.import_module(name)
        except ImportError:
            if "." not in name or importlib.util.find_spec(name.rsplit(".", 1)[0]) is None:
                failed.append(name)
        except Exception:  # a module that fails here fails on its page, with a message
            _log.exception("warm-up: importing %s failed", name)
            failed.append(name)
    try:
        if cache.mart_available():
            with cache.mart_engine().connect():
                pass  # the database engine and the driver's settings, once
    except Exception:  # noqa: BLE001 — the first page reports a broken mart to its reader
        _log.warning("warm-up: the mart could not be opened", exc_info=True)
    return failed


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start :func:`warm` once per server process (later calls return the same thread)."""
    thread = threading.Thread(target=warm, name="concerto-warm-up", daemon=True)
    thread.start()
    return thread

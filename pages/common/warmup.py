"""Work that every first visitor of a fresh server would wait for, done once when it starts.

A page script imports its sections, charts and analytics the first time anyone opens it
(a few seconds in all: scikit-learn, Altair, the sections), and the first query on
the mart starts the database engine. Ten people signing in together after a restart queue
behind those imports in one Python process. :func:`start` runs them in a background thread
as soon as the app's first run begins, so by the time someone has typed a password most of
it is done. Nothing here reads data for anyone: a failure (no mart yet) is only logged, and
the first page then does the work itself as before. It also limits the C library's malloc
arenas for the threads to come and maps large blocks on their own (:func:`tune_malloc`).
"""

from __future__ import annotations

import ast
import ctypes
import importlib
import importlib.util
import logging
import threading
from pathlib import Path

import streamlit as st

from pages.common import cache

ROOT = Path(__file__).resolve().parent.parent.parent
_log = logging.getLogger(__name__)
#: glibc malloc arenas the server may use. Every Streamlit script run is a thread of its own,
#: and glibc gives threads up to eight arenas per core, each keeping the memory its threads
#: freed: with ten people at once on the 1M mart, 200 MB of the server's peak were free
#: chunks held by the arenas (``mallinfo2``). With two arenas that fell to 51 MB and the peak
#: from 835 to 757 MB (bench.load, N = 1, 5, 10 on one server), with no slower click.
ARENAS = 2
#: Blocks from this size up are mapped on their own and handed back to the system when freed.
#: glibc's own threshold starts at 128 KB and rises to the largest block freed so far (up to
#: 32 MB), after which the server's frames and cached pickles of a few megabytes fragment
#: the arenas instead: 785–799 MB peak with ten people at once, 730 MB with this fixed.
MMAP_THRESHOLD = 4 * 2**20
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt's parameter numbers in glibc's malloc.h


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
    try:
        names = page_imports(root)
    except Exception:  # noqa: BLE001 — e.g. CPython 3.11's ast.parse racing a compile in
        # another thread ("AST constructor recursion depth mismatch"): the pages import alone
        _log.warning("warm-up: the page scripts could not be read", exc_info=True)
        names = []
    for name in names:
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


def tune_malloc(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """From now on, let this process's threads share at most ``arenas`` glibc malloc arenas
    (those already made stay) and map blocks of ``mmap_threshold`` bytes and more on their
    own; False where the C library has no ``mallopt`` (not glibc) or refuses either."""
    try:  # the process's own symbols: no ldconfig run (find_library starts one)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    limited = bool(mallopt(_M_ARENA_MAX, int(arenas)))
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and limited


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Tune the C library's allocator (:func:`tune_malloc`) and start :func:`warm`, once per
    server process (later calls return the same thread)."""
    if not tune_malloc():
        _log.info("warm-up: no mallopt here; the C library's own arena limit applies")
    thread = threading.Thread(target=warm, name="concerto-warm-up", daemon=True)
    thread.start()
    return thread

"""The server's warm-up (pages/common/warmup.py): it imports what the page scripts import,
found from their source, and opens the mart once; it never fails the app."""

from __future__ import annotations

import sys

import pytest

from pages.common import warmup


def test_the_pages_imports_are_found_from_their_source():
    names = warmup.page_imports()
    assert "pages.sections.drilldown" in names  # microregion.py, sandbox.py: from … import
    assert "altair" in names and "streamlit" in names
    assert "pages.common.cache" in names  # from pages.common import cache
    assert len(names) == len(set(names))


def test_warming_imports_them_and_reports_none_missing(duck_mart, monkeypatch):
    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    for name in ("pages.sections.customer_view", "pages.sections.network_view"):
        sys.modules.pop(name, None)
    assert warmup.warm() == []
    assert "pages.sections.customer_view" in sys.modules
    assert "pages.sections.network_view" in sys.modules


def test_a_page_importing_a_missing_module_is_reported_not_raised(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "odd.py").write_text(
        "import json\nfrom collections import OrderedDict\nimport no_such_module_here\n",
        encoding="utf-8")
    assert warmup.page_imports(tmp_path) == ["json", "collections",
                                             "collections.OrderedDict", "no_such_module_here"]
    assert warmup.warm(tmp_path) == ["no_such_module_here"]


def test_page_scripts_that_cannot_be_read_are_logged_not_raised(monkeypatch, caplog):
    """The warm-up runs in a thread of its own: a failure to read the page scripts (seen in
    CI: CPython 3.11's ``ast.parse`` racing another thread's compile) is logged, and the
    mart is still opened."""
    def broken(root):
        raise SystemError("AST constructor recursion depth mismatch (before=18, after=24)")

    opened = []
    monkeypatch.setattr(warmup, "page_imports", broken)
    monkeypatch.setattr(warmup.cache, "mart_available", lambda: opened.append(1) or False)
    with caplog.at_level("WARNING", logger=warmup.__name__):
        assert warmup.warm() == []
    assert "page scripts could not be read" in caplog.text and opened == [1]


_ARENAS_SEEN = """
import ctypes, ctypes.util, os, sys, threading
sys.path.insert(0, {root!r})
if {limit}:
    from pages.common.warmup import tune_malloc
    assert tune_malloc(2)
held, ready, done = [], threading.Barrier(9), threading.Event()
def work():
    held.append([bytearray(300_000) for _ in range(20)])  # malloc'd in this thread's arena
    ready.wait()
    done.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
ready.wait()
os.dup2(1, 2)  # malloc_stats prints on stderr
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
done.set()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_server_threads_share_a_few_malloc_arenas():
    """Eight threads allocating at once get arenas of their own, unless the limit is set."""
    import subprocess

    def arenas(limit: bool) -> int:
        out = subprocess.run([sys.executable, "-c", _ARENAS_SEEN.format(
            root=str(warmup.ROOT), limit=limit)], capture_output=True, text=True, check=True)
        return out.stdout.count("Arena ")

    assert arenas(False) >= 6
    assert arenas(True) <= 3  # the two allowed, and at most one made before the limit


_MAPPED_AFTER_A_FREE = """
import ctypes, ctypes.util, sys
sys.path.insert(0, {root!r})
if {tune}:
    from pages.common.warmup import tune_malloc
    assert tune_malloc()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = Info
first = bytearray(6 * 2**20)  # mapped either way; freeing it raises glibc's own threshold
del first
second = bytearray(6 * 2**20)
print(libc.mallinfo2().hblkhd // 2**20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_blocks_stay_mapped_on_their_own_after_one_was_freed():
    """glibc alone serves the second 6 MB block from its arenas (its threshold rose when the
    first was freed); tuned, it maps it on its own, to give it back whole when freed."""
    import subprocess

    def mapped_mb(tune: bool) -> int:
        out = subprocess.run([sys.executable, "-c", _MAPPED_AFTER_A_FREE.format(
            root=str(warmup.ROOT), tune=tune)], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    assert mapped_mb(False) < 6 <= mapped_mb(True)


def test_without_mallopt_the_tuning_is_skipped(monkeypatch):
    monkeypatch.setattr(warmup.ctypes, "CDLL", lambda _name: object())
    assert warmup.tune_malloc() is False

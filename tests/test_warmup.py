"""The server's warm-up (pages/common/warmup.py): it imports what the page scripts import,
found from their source, and opens the mart once; it never fails the app."""

from __future__ import annotations

import sys

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

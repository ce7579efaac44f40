"""The app's cached access picks up a mart file that was rebuilt and swapped in."""

from __future__ import annotations

import pytest

from pages.common import cache
from data_access.synth.generate import generate_mart

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")



def test_a_rebuilt_mart_is_read_on_the_next_call(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'mart.duckdb'}"
    monkeypatch.setenv("CONCERTO_MART_URL", url)
    assert not cache.mart_available()
    generate_mart(url, subscribers=500, months=13, seed=1)
    assert cache.mart_info()["seed"] == "1"
    first_total = cache.monthly_totals()["revenue"].sum()
    engine = cache.mart_engine()
    with engine.connect():  # a pooled read-only connection stays open on the old file
        pass
    generate_mart(url, subscribers=500, months=13, seed=2)  # written aside, renamed over
    assert cache.mart_info()["seed"] == "2"
    assert cache.monthly_totals()["revenue"].sum() != first_total
    assert cache.mart_engine() is not engine

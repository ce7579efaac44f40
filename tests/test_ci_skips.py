"""Under CI=true a PostgreSQL or Chromium test that would skip fails instead (conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.mark.parametrize("ci, outcome", [("true", {"failed": 2, "skipped": 1}),
                                         ("", {"skipped": 3})])
def test_missing_backends_fail_in_ci_and_skip_elsewhere(pytester, monkeypatch, ci, outcome):
    monkeypatch.setenv("PYTHONPATH", str(CONFTEST.parent.parent))
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_backends='''
import pytest

def test_needs_postgresql():
    pytest.skip("PostgreSQL is not installed")

def test_needs_chromium():
    pytest.skip("Chromium is not installed")

def test_skipped_for_another_reason():
    pytest.skip("not relevant here")
''')
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(**outcome)

"""Documentation kept in step with the code: data dictionary, settings, set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from data_access.mart.dictionary import DICTIONARY_PATH, render_dictionary

ROOT = Path(__file__).resolve().parent.parent


def test_data_dictionary_matches_the_schema():
    assert DICTIONARY_PATH.read_text(encoding="utf-8") == render_dictionary(), (
        "docs/data_dictionary.md is stale: run `python -m data_access.mart.dictionary`")


def test_every_setting_the_code_reads_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    used = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        used |= set(re.findall(r'"(CONCERTO_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    assert used, "no settings found: the scan is broken"
    missing = sorted(v for v in used if v not in readme)
    assert not missing, f"README does not document {missing}"


def test_readme_setup_has_exactly_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Set-up.*?```(?:sh|bash)?\n(.*?)```", readme, re.S)
    assert block, "README has no Set-up section with a code block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines(), f"{commands[1]!r} is not what .ci/run calls"

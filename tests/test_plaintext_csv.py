"""User text is shown as text and CSV exports cannot carry formulas."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pages.common.csvexport import csv_bytes, safe_frame
from pages.common.plaintext import plain

ROOT = Path(__file__).resolve().parent.parent
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def _live(text: str) -> str:
    """``text`` with every escaped character blanked: what is left can be Markdown."""
    return _ESCAPED.sub("§", text)


def _unescape(text: str) -> str:
    """What CommonMark shows for ``text`` if nothing in it is Markdown structure."""
    return _ESCAPED.sub(r"\1", text.replace("  \n", "\n"))


@pytest.mark.parametrize("attack", [
    "[click](https://evil.example)", "![x](https://evil.example/p.png)",
    "<https://evil.example>", "https://evil.example/a", "www.evil.example", "a@evil.example",
    ":red[alarm]", "$x^2$", "**bold** _it_ `code` ~~gone~~", "# heading", "- item",
    "> quote", "1. one", "| a | b |", "<img src=x onerror=alert(1)>",
])
def test_markdown_and_links_are_escaped(attack):
    shown = plain(attack)
    assert _unescape(shown) == attack  # the reader sees exactly what was typed
    for syntax in ("](", "![", "<http", "://", "www.", "@", ":red[", "**", "`", "<img", "$"):
        assert syntax not in _live(shown), (attack, shown)
    assert not re.match(r"\s*([-+>#]|\d+\.)", _live(shown))  # no list, quote or heading


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_round_trips_and_opens_no_link(text):
    shown = plain(text)
    assert _unescape(shown) == text.replace("\r\n", "\n").replace("\r", "\n")
    assert "](" not in _live(shown) and "://" not in _live(shown)


def test_csv_cells_that_could_start_a_formula_are_neutralised_and_numbers_kept():
    frame = pd.DataFrame({"title": ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx",
                                    "\rx", "fine", None],
                          "amount": [-1.5, 2, -3, 4, 5, 6, 7, 8],
                          "count": pd.array([-1, 2, 3, 4, 5, 6, 7, None], dtype="Int64")})
    assert list(safe_frame(frame)["title"])[:7] == ["'=HYPERLINK(\"x\")", "'+1", "'-2+3",
                                                    "'@SUM(A1)", "'\tx", "'\rx", "fine"]
    back = pd.read_csv(io.BytesIO(csv_bytes(frame.drop(index=5))), keep_default_na=False)
    assert list(back["title"]) == ["'=HYPERLINK(\"x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tx",
                                   "fine", ""]
    assert list(back["amount"]) == [-1.5, 2, -3, 4, 5, 7, 8]  # numbers are not mangled
    assert safe_frame(frame)["count"].tolist()[:3] == [-1, 2, 3]
    assert frame["title"].iloc[0] == "=HYPERLINK(\"x\")"  # the caller's frame is untouched


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(), st.floats(allow_nan=False), st.integers()), min_size=1,
                max_size=8))
@example([0.0, 9_007_199_254_740_993])  # found by Hypothesis: map() turned the int into a float
@example(["=1", 2**60, "-x", None])
def test_no_exported_text_cell_starts_a_formula(cells):
    frame = pd.DataFrame({"cell": pd.Series(cells, dtype=object)})
    text = pd.DataFrame({"cell": pd.Series([c for c in cells if isinstance(c, str)] or ["x"],
                                           dtype="string")})
    assert not safe_frame(text)["cell"].str.startswith(("=", "+", "-", "@", "\t", "\r")).any()
    for value, safe in zip(cells, safe_frame(frame)["cell"]):
        if isinstance(value, str):
            assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert safe in (value, "'" + value)
        else:
            assert safe == value and type(safe) is type(value)


def test_every_download_button_exports_through_the_helper():
    """Every CSV a page offers goes through safe_frame (``.pipe(safe_frame).to_csv``)."""
    bare = []
    for path in sorted((ROOT / "pages").rglob("*.py")):
        if path.name == "csvexport.py":
            continue
        source = path.read_text(encoding="utf-8")
        bare += [f"{path.name}:{source[:m.start()].count(chr(10)) + 1}"
                 for m in re.finditer(r"\.to_csv\(", source)
                 if not source[:m.start()].endswith(".pipe(safe_frame)")]
    assert bare == []


def test_no_page_passes_unsafe_html():
    for path in sorted((ROOT / "pages").rglob("*.py")):
        assert "unsafe_allow_html=True" not in path.read_text(encoding="utf-8"), path.name

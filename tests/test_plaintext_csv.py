"""User text is shown as text and CSV exports cannot carry formulas."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pages.common.csvexport import csv_bytes, csv_file, safe_frame
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


def test_a_deferred_csv_holds_the_rows_as_they_were_shown():
    frame = pd.DataFrame({"title": ["=1+1", "ok"], "amount": [1.5, -2.0]})
    later = csv_file(frame, encoding="utf-8-sig")
    frame.loc[0, "title"] = "changed after the render"
    frame["amount"] *= 10
    data = later()
    assert data.startswith("\ufeff".encode("utf-8"))  # Excel reads the Chinese headers right
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert list(back["title"]) == ["'=1+1", "ok"] and list(back["amount"]) == [1.5, -2.0]


def test_every_download_is_written_only_when_asked_for():
    """A page run never formats a CSV: each download button gets a deferred file (csv_file or
    a function of its own), so rows nobody downloads cost neither time nor session memory."""
    eager = []
    for path in sorted((ROOT / "pages").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        eager += [f"{path.name}:{source[:m.start()].count(chr(10)) + 1}"
                  for m in re.finditer(r"download_button\(", source)
                  if _eager(_call_text(source, m.end()))]
    assert eager == []


def _eager(arguments: str) -> bool:
    """Whether a download button's arguments write the file now (not inside a lambda)."""
    now = arguments.split("lambda", 1)[0]
    return bool(re.search(r"csv_bytes\(|\.to_csv\(|\.encode\(", now))


def _call_text(source: str, start: int) -> str:
    """The argument text of the call whose opening parenthesis ends at ``start``."""
    depth = 1
    for at in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[at], 0)
        if depth == 0:
            return source[start:at]
    return source[start:]


def test_no_page_passes_unsafe_html():
    for path in sorted((ROOT / "pages").rglob("*.py")):
        assert "unsafe_allow_html=True" not in path.read_text(encoding="utf-8"), path.name

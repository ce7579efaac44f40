"""CSV exports that spreadsheets cannot turn into formulas: the one helper every download
button uses.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (CSV injection: ``=HYPERLINK(...)``,
``=cmd|...``). Such text cells get a leading ``'``, which spreadsheets show as text; numbers
are left alone (a negative number is a number, not a formula).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that could start a formula prefixed by ``'``."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_object_dtype(out[column]) or
                pd.api.types.is_string_dtype(out[column])):
            continue  # numbers, dates and booleans are never formulas
        values = out[column]
        risky = [isinstance(v, str) and v.startswith(_FORMULA_START) for v in values]
        if any(risky):  # only those cells change: the others keep their values and dtype
            out.loc[risky, column] = "'" + values[risky].astype(str)
    out.columns = [_safe_cell(str(c)) for c in out.columns]
    return out


def csv_bytes(frame: pd.DataFrame, *, index: bool = False, encoding: str = "utf-8") -> bytes:
    """The frame as CSV with formula-like text cells neutralised (UTF-8; ``"utf-8-sig"``
    adds the mark that makes Excel read Chinese text right)."""
    return safe_frame(frame).to_csv(index=index).encode(encoding)


def csv_file(frame: pd.DataFrame, *, index: bool = False,
             encoding: str = "utf-8") -> Callable[[], bytes]:
    """The CSV of ``frame`` (:func:`csv_bytes`), written only when someone downloads it.

    ``st.download_button`` calls it on the click, so a page run never formats rows that
    nobody asked for, and a session keeps a reference to the rows instead of their text. The
    frame is taken as it is now: pandas' copy-on-write keeps later edits of the caller's
    frame out of the file.
    """
    rows = frame.copy(deep=False)
    return lambda: csv_bytes(rows, index=index, encoding=encoding)

"""Tables for the reader: human bilingual headers, numbers in their units, "—" for missing.

Every table a page shows goes through :func:`show_table`. It renames columns with
:func:`analytics.formatting.column_label`, formats each column by its unit and keeps numbers
sortable where Streamlit can format them itself (percentages, per-subscriber yuan, counts,
minutes); money that needs 万/亿, data volumes, dates and times become text (dates and
``YYYY-MM-DD HH:MM UTC+8`` times still sort correctly as text). A CSV download offers the
raw rows (formula-like text neutralised by :mod:`pages.common.csvexport`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from analytics.formatting import (MISSING, column_label, format_day, format_month,
                                  format_ratio, format_times, format_value)
from pages.common.csvexport import csv_file

#: Units a table column can carry: the KPI units of ``format_value`` and a few table-only ones.
#: ``ratio`` is a multiple (ROI 1.37×), ``day``/``month`` calendar dates, ``time`` a moment
#: (shown in local time, labelled), ``count`` an exact whole number, ``number`` two decimals.
TABLE_UNITS = ("yuan", "yuan_per_sub", "subs", "pct", "min", "mb", "ratio", "day", "month",
               "time", "count", "number")

#: Units Streamlit can format while the column stays numeric (and sorts as numbers).
_NUMERIC_FORMAT = {"pct": "percent", "yuan_per_sub": "¥%,.2f", "min": "%,.0f min",
                   "count": "%,d", "number": "%,.2f"}


def _all_finite(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(numbers.map(math.isfinite).all())


def _each(values: pd.Series, text: Callable[[Any], str]) -> pd.Series:
    """``values.map(text)``, calling ``text`` once per distinct value: a list of 5,000
    members has a few distinct costs and plans, and a rerun formats it again."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    texts = [text(v) for v in distinct]
    if (codes < 0).any():
        texts.append(text(values[codes < 0].iloc[0]))  # the missing value, as map would see it
    return pd.Series(np.asarray(texts, dtype=object)[codes], index=values.index, dtype=object)


def _text(values: pd.Series, unit: str) -> pd.Series:
    """``values`` as the reader's text in ``unit`` (missing as "—")."""
    if unit == "time":
        return format_times(values)
    if unit == "day":
        return _each(values, format_day)
    if unit == "month":
        return _each(values, format_month)
    if unit == "ratio":
        return _each(values, format_ratio)
    if unit == "count":
        return _each(values, lambda v: MISSING if pd.isna(v) else f"{float(v):,.0f}")
    if unit == "number":
        return _each(values, lambda v: format_value(v, "yuan_per_sub").removeprefix("¥")
                     .replace("-¥", "-"))
    return _each(values, lambda v: format_value(v, unit))


def _guess_unit(values: pd.Series) -> str | None:
    """A unit for a numeric column the caller did not name: whole numbers or two decimals."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values):
        return None  # ids and whole counts already read as they are
    numbers = values.dropna()
    return "count" if numbers.empty or (numbers == numbers.round()).all() else "number"


def readable_table(frame: pd.DataFrame, units: Mapping[str, str] | None = None, *,
                   labels: Mapping[str, str] | None = None
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame as the reader sees it, and the column configuration that goes with it.

    Parameters
    ----------
    frame : DataFrame
        Raw rows with machine names (``rev_voice``, ``share_of_parent_change``).
    units : mapping, optional
        Column → one of ``TABLE_UNITS``. Datetime columns without a unit become days when
        every value is midnight, else local times; other float columns get two decimals.
    labels : mapping, optional
        Column → header, for names ``column_label`` does not know well enough.

    Returns
    -------
    (DataFrame, dict)
        The display frame with human headers, and ``column_config`` keyed by those headers.
    """
    units = dict(units or {})
    labels = dict(labels or {})
    shown = pd.DataFrame(index=frame.index)
    config: dict[str, Any] = {}
    used: set[str] = set()
    for column in frame.columns:
        values = frame[column]
        unit = units.get(column)
        if unit is not None and unit not in TABLE_UNITS:
            raise ValueError(f"unknown unit {unit!r} for {column!r}; expected one of "
                             f"{', '.join(TABLE_UNITS)}")
        if unit is None and pd.api.types.is_datetime64_any_dtype(values):
            stamps = pd.to_datetime(values)
            unit = "day" if (stamps.dropna() == stamps.dropna().dt.normalize()).all() else "time"
        if unit is None:
            unit = _guess_unit(values)
        header = labels.get(column) or column_label(str(column))
        if header in used:  # two names with one label (channel, channel_id): keep both apart
            header = f"{header} ({str(column).replace('_', ' ')})"
        used.add(header)
        numeric_ok = (pd.api.types.is_numeric_dtype(values)
                      and not pd.api.types.is_bool_dtype(values) and _all_finite(values))
        if unit == "subs" and numeric_ok and not (values.abs() >= 1e5).any():
            unit = "count"  # below 10万 a count is exact: keep it numeric
        if unit in _NUMERIC_FORMAT and numeric_ok and (
                unit != "count" or (values.dropna() == values.dropna().round()).all()):
            shown[header] = values.astype(float) if unit != "count" else values
            if unit == "count" and not pd.api.types.is_integer_dtype(values):
                shown[header] = values.astype("Int64") if values.isna().any() else \
                    values.round().astype("int64")
            config[header] = st.column_config.NumberColumn(header, format=_NUMERIC_FORMAT[unit])
        elif unit is not None:
            shown[header] = _text(values, unit).astype(object)
            config[header] = st.column_config.TextColumn(header)
        else:
            shown[header] = values
    return shown, config


def show_table(frame: pd.DataFrame, units: Mapping[str, str] | None = None, *,
               key: str | None = None, labels: Mapping[str, str] | None = None,
               csv: tuple[str, str] | None = None, where: Any = st,
               column_config: Mapping[str, Any] | None = None, height: Any = "auto",
               select: bool = False) -> int | None:
    """Show ``frame`` readably (see :func:`readable_table`), with an optional raw CSV.

    ``csv`` is (button label, file name); the file holds the raw rows and machine names.
    ``column_config`` entries (keyed by the shown header) override the generated ones.
    With ``select`` the reader may pick one row (``key`` is then required); the position
    of the row picked in ``frame`` is returned (None while nothing is picked).
    """
    if select and key is None:
        raise ValueError("a selectable table needs a key")
    shown, config = readable_table(frame, units, labels=labels)
    config.update(column_config or {})
    options = {"on_select": "rerun", "selection_mode": "single-row"} if select else {}
    event = where.dataframe(shown, hide_index=True, column_config=config, key=key,
                            placeholder=MISSING, height=height, **options)
    if csv is not None:
        label, name = csv
        where.download_button(label, csv_file(frame), name, "text/csv",
                              key=f"{key or name}_csv")
    rows = event.selection.rows if select and event is not None else []
    return int(rows[0]) if rows and int(rows[0]) < len(frame) else None

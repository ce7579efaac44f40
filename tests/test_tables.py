"""The shared table helper (pages.common.tables): human headers, units, "—", raw CSV."""

from __future__ import annotations

import io
import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as hs
import pytest

from analytics.formatting import MISSING, format_ratio, format_value
from pages.common import tables


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "rev_voice": [2646771.32, -11035.36, None],
        "share_of_parent_change": [0.4213, None, -0.05],
        "is_new": [True, False, True],
        "month": pd.to_datetime(["2024-11-01", "2024-12-01", None]),
        "created_at": pd.to_datetime(["2026-12-05 17:30", "2026-12-05 01:00", None]),
        "new_numbers": [1200, 35, 7],
        "roi": [1.3749, math.inf, None],
    })


def _shown(frame):
    return tables.readable_table(frame, {"rev_voice": "yuan", "share_of_parent_change": "pct",
                                         "month": "month", "created_at": "time",
                                         "new_numbers": "subs", "roi": "ratio"})


def test_headers_are_human_and_bilingual(frame):
    shown, config = _shown(frame)
    assert "Voice revenue 语音收入" in shown.columns and "Share of change 变化占比" in shown.columns
    assert not any("_" in str(c) for c in shown.columns)
    assert set(config) <= set(shown.columns)


def test_money_in_wan_percent_sortable_and_missing_as_a_dash(frame):
    shown, config = _shown(frame)
    money = shown["Voice revenue 语音收入"].tolist()
    assert money == ["¥264.7万", "-¥1.1万", "—"]
    share = config["Share of change 变化占比"]
    assert share["type_config"]["format"] == "percent"  # numeric: the column still sorts
    assert shown["Share of change 变化占比"].dtype.kind == "f"
    assert shown["ROI 投入产出比"].tolist() == ["1.37×", "∞", "—"]
    assert shown["New numbers 新增号码"].dtype.kind == "i"


def test_dates_without_time_and_times_local_and_labelled(frame):
    shown, _ = _shown(frame)
    assert shown["Month 月份"].tolist() == ["2024-11", "2024-12", "—"]
    assert shown["Created 创建时间"].tolist()[:2] == ["2026-12-06 01:30 UTC+8",
                                                   "2026-12-05 09:00 UTC+8"]
    # a datetime column nobody named a unit for: midnight-only values are days
    auto, _ = tables.readable_table(frame[["month"]].rename(columns={"month": "due_day"}))
    assert auto.iloc[0, 0] == "2024-11-01"


def test_unnamed_float_columns_get_a_format_not_raw_digits():
    shown, config = tables.readable_table(pd.DataFrame({"odd_measure": [0.123456, 2.5]}))
    header = "Odd measure"
    assert config[header]["type_config"]["format"]  # never 0.123456 on screen


def test_unknown_unit_is_refused(frame):
    with pytest.raises(ValueError, match="unknown unit"):
        tables.readable_table(frame, {"roi": "furlongs"})


def test_the_csv_holds_the_raw_rows(frame, monkeypatch):
    seen = {}

    class Fake:
        def dataframe(self, data, **kwargs):
            seen["shown"], seen["kwargs"] = data, kwargs

        def download_button(self, label, data, name, mime, key=None):
            seen["csv"] = data

    raw = frame.assign(reason=["=HYPERLINK(1)", "ok", "ok"])
    tables.show_table(raw, {"rev_voice": "yuan"}, csv=("Download", "x.csv"), where=Fake())
    assert callable(seen["csv"])  # written on the download, not on every render
    back = pd.read_csv(io.BytesIO(seen["csv"]()))
    assert list(back.columns) == list(raw.columns)  # machine names, as the rows were
    assert back["rev_voice"].iloc[0] == pytest.approx(2646771.32)
    assert back["reason"].iloc[0].startswith("'=")  # formula neutralised
    assert seen["kwargs"]["placeholder"] == "—"


@settings(max_examples=150, deadline=None)
@given(hs.lists(hs.one_of(hs.none(), hs.floats(allow_nan=False, allow_infinity=False,
                                                min_value=-1e12, max_value=1e12),
                          hs.sampled_from([0.0, 5.0, 12.5])), min_size=1, max_size=40),
       hs.sampled_from(["yuan", "yuan_per_sub", "pct", "count", "number", "ratio", "subs"]))
def test_each_distinct_value_is_formatted_as_every_cell_was(values, unit):
    column = pd.Series(values, dtype="float64")
    one_by_one = {"count": lambda v: MISSING if pd.isna(v) else f"{float(v):,.0f}",
                  "number": lambda v: format_value(v, "yuan_per_sub").removeprefix("¥")
                  .replace("-¥", "-"),
                  "ratio": format_ratio}.get(unit, lambda v: format_value(v, unit))
    assert tables._text(column, unit).tolist() == column.map(one_by_one).tolist()

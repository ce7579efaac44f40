"""Number formatting and phone-number masking, on hand-written examples."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest

from analytics import formatting
from analytics.formatting import format_change, format_value, mask_msisdn, mask_msisdn_series


def test_docstring_examples_run() -> None:
    result = doctest.testmod(formatting)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (0, "yuan", "¥0"),
    (1234.4, "yuan", "¥1,234"),
    (9999, "yuan", "¥9,999"),
    (9999.6, "yuan", "¥1.0万"),  # rounds to 10,000, so it is shown in 万
    (12345, "yuan", "¥1.2万"),
    (123456, "yuan", "¥12.3万"),
    (99_999_999, "yuan", "¥1.00亿"),  # 9999.99994万 would round to 10000.0万
    (123_456_789, "yuan", "¥1.23亿"),
    (-25000, "yuan", "-¥2.5万"),
    (-0.3, "yuan", "¥0"),  # no minus sign on a zero
    (81.3, "yuan_per_sub", "¥81.30"),
    (-5, "yuan_per_sub", "-¥5.00"),
    (12345, "subs", "12,345"),
    (99_999, "subs", "99,999"),
    (100_000, "subs", "10.0万"),
    (1_234_567, "subs", "123.5万"),
    (0.01523, "pct", "1.52%"),
    (0.6, "pct", "60.00%"),
    (-0.005, "pct", "-0.50%"),
    (412.2, "min", "412 min"),
    (1234.5, "min", "1,234 min"),
    (512, "mb", "512 MB"),
    (1023, "mb", "1,023 MB"),
    (1024, "mb", "1.0 GB"),
    (5222, "mb", "5.1 GB"),
    (3 * 1024**2, "mb", "3.0 TB"),
    (np.float64(80), "yuan_per_sub", "¥80.00"),
    (np.int64(123456), "subs", "12.3万"),
])
def test_format_value_examples(value: float, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, pd.NA, math.inf, "not a number"])
def test_format_value_shows_a_dash_for_missing(missing: object) -> None:
    assert format_value(missing, "yuan") == "—"


def test_format_value_rejects_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="unknown unit 'usd'"):
        format_value(1.0, "usd")
    with pytest.raises(ValueError, match="unknown unit"):
        format_change(1.0, "usd")


@pytest.mark.parametrize(("change", "unit", "pct", "expected"), [
    (-12000, "yuan", None, "▼ ¥1.2万"),
    (2500, "yuan", 0.032, "▲ ¥2,500 (+3.2%)"),
    (-2500, "yuan", -0.032, "▼ ¥2,500 (-3.2%)"),
    (None, "yuan", 0.032, "▲ 3.2%"),
    (math.nan, "subs", -0.05, "▼ 5.0%"),
    (0.0012, "pct", None, "▲ 0.12 pp"),
    (-0.0025, "pct", None, "▼ 0.25 pp"),
    (-3.5, "yuan_per_sub", None, "▼ ¥3.50"),
    (150, "subs", None, "▲ 150"),
    (0, "subs", None, "= 0"),
    (2048, "mb", None, "▲ 2.0 GB"),
    (None, "yuan", None, "—"),
    (math.nan, "yuan", math.nan, "—"),
])
def test_format_change_examples(change: float | None, unit: str, pct: float | None,
                                expected: str) -> None:
    assert format_change(change, unit, pct=pct) == expected


@pytest.mark.parametrize(("number", "expected"), [
    ("13512345678", "1351234****"),
    (13512345678, "1351234****"),
    (" 13512345678 ", "1351234****"),
    ("+8613512345678", "+86***********"),
    ("135 1234 5678", "135**********"),
    ("1351234567", "135*******"),  # ten digits: not a mobile number, keep only 3
    ("10086", "100**"),
    ("abc", "abc"),
    ("", ""),
    (None, "—"),
    (math.nan, "—"),
])
def test_mask_msisdn_examples(number: object, expected: str) -> None:
    assert mask_msisdn(number) == expected


def test_mask_msisdn_never_shows_the_last_four_digits_of_a_mobile_number() -> None:
    rng = np.random.default_rng(7)
    for value in rng.integers(13_000_000_000, 19_999_999_999, size=200):
        masked = mask_msisdn(str(value))
        assert masked[:7] == str(value)[:7] and masked[7:] == "****"


def test_mask_msisdn_series_matches_the_scalar_rule() -> None:
    rng = np.random.default_rng(11)
    numbers = [str(v) for v in rng.integers(10**10, 10**11, size=50)]
    numbers += ["10086", "+8613512345678", "135 1234 5678", "", None, "12"]
    series = pd.Series(numbers, index=range(100, 100 + len(numbers)), name="msisdn")
    masked = mask_msisdn_series(series)
    assert masked.tolist() == [mask_msisdn(n) for n in numbers]
    assert masked.index.equals(series.index) and masked.name == "msisdn"


def test_mask_msisdn_series_accepts_integers() -> None:
    masked = mask_msisdn_series(pd.Series([13512345678, 13987654321]))
    assert masked.tolist() == ["1351234****", "1398765****"]


@pytest.mark.parametrize("value, expected", [
    (1.3749, "1.37×"), (0.5, "0.50×"), (12345.6, "12,345.60×"), (math.inf, "∞"),
    (-math.inf, "—"), (None, "—"), (float("nan"), "—"), ("n/a", "—")])
def test_format_ratio_shows_a_multiple_infinity_when_nothing_was_spent_and_dash_when_missing(
        value, expected) -> None:
    assert formatting.format_ratio(value) == expected


def test_every_column_a_changed_page_names_has_a_bilingual_label() -> None:
    # the new labels read as words in both languages: no underscore, some CJK text
    for name in ("share_of_parent_change", "compare_value", "roi_note", "negative_customers",
                 "campaign_cost", "n_treated", "alerts_raised", "started_at"):
        label = formatting.column_label(name)
        assert "_" not in label and any("\u4e00" <= ch <= "\u9fff" for ch in label), name

"""The demo data gives the ROI bands something to show: customers spread over the bands on
both generator variants (the bands are the source report's, not placed to fit the data)."""

from __future__ import annotations

import pytest

from analytics.value import operations as vo
from data_access.db import create_mart_engine
from data_access.mart import value
from data_access.store import scope
from data_access.store.principal import SYSTEM


@pytest.fixture
def bands(variant_mart: str):
    engine = create_mart_engine(variant_mart, read_only=True)
    with scope.acting_as(SYSTEM):
        window = value.load_value_window(engine)
        frame = value.load_customer_bands(engine, window).set_index("band")
    engine.dispose()
    return frame["units"].reindex(list(vo.BANDS), fill_value=0) / frame["units"].sum()


def test_customers_spread_over_every_roi_band(bands):
    # every band is populated, and no band holds nearly everyone (the reviewer saw ~100%
    # in one band when serving a customer cost almost nothing)
    assert (bands > 0.02).all(), bands.to_dict()
    assert bands.max() < 0.8, bands.to_dict()


def test_some_customers_lose_money_and_most_do_not(bands):
    # ROI below 1 is exactly a negative net value: a minority, but a visible one
    assert 0.02 < bands["0–1"] < 0.5, bands.to_dict()

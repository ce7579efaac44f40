"""The city's branches and micro-regions, shipped in ``assets/regions.csv``."""

from __future__ import annotations

from functools import cache

import pandas as pd

from data_access.db import PROJECT_ROOT

REGIONS_CSV = PROJECT_ROOT / "assets" / "regions.csv"


@cache
def _regions() -> pd.DataFrame:
    return pd.read_csv(REGIONS_CSV, dtype={"region_id": "int64"})


def load_regions() -> pd.DataFrame:
    """Micro-regions with branch, Chinese names, coordinates and a relative size ``weight``."""
    return _regions().copy()

"""Network beside the market: the quality index and the fixed-effects link between quality
and next month's churn, on hand-made panels (coverage, a city-wide shock, too little data)
and on both generator variants (the planted micro-regions found, a placebo silent)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics import network as net
from data_access.db import create_mart_engine, read_frame
from data_access.mart import network as reads
from data_access.mart import schema

REGIONS = [f"r{i:02d}" for i in range(15)]
MONTHS = pd.date_range("2025-01-01", periods=14, freq="MS")


def _panel(rng: np.random.Generator, effect: float, shock: float = 0.0) -> pd.DataFrame:
    """Region months: own churn levels, city-wide seasons, a quality index, binomial churn.
    ``shock``: one month where the whole city's quality and churn move together."""
    panel = pd.DataFrame([(r, m) for r in REGIONS for m in MONTHS], columns=["region", "month"])
    level = dict(zip(REGIONS, rng.uniform(0.01, 0.025, len(REGIONS)), strict=True))
    season = dict(zip(MONTHS, rng.normal(0, 0.002, len(MONTHS)), strict=True))
    panel["index"] = rng.normal(0, 1, len(panel))
    city = panel["month"] == MONTHS[6]
    panel.loc[city, "index"] += shock
    rate = (panel["region"].map(level) + panel["month"].map(season) + effect * panel["index"]
            + shock * 0.004 * city)
    panel["active_subs"] = rng.integers(1500, 4000, len(panel))
    churned = rng.binomial(panel["active_subs"], np.clip(rate, 0.0005, 0.5))
    return panel.assign(churn_next=churned / panel["active_subs"])


def test_a_known_effect_is_inside_the_interval_at_about_the_stated_rate():
    rng = np.random.default_rng(5)
    hits = sum(_covers(_panel(rng, 0.002), 0.002) for _ in range(200))
    # a 95% interval on 15 clusters: 89–99% of 200 (±3 sd of a binomial around 95%)
    assert 178 <= hits <= 199, hits


def _covers(panel: pd.DataFrame, truth: float) -> bool:
    effect = net.network_effect(panel)
    return effect.low < truth < effect.high


def test_no_effect_is_rarely_called_significant():
    rng = np.random.default_rng(6)
    significant = sum(net.network_effect(_panel(rng, 0.0)).significant for _ in range(200))
    assert significant <= 20, significant  # about 5% expected; 10% is far beyond chance


def test_a_city_wide_shock_is_not_taken_for_the_network():
    """Quality and churn both move in one month everywhere (a strike, a price change): the
    month's fixed effect takes it, and no link is claimed."""
    rng = np.random.default_rng(7)
    significant = sum(net.network_effect(_panel(rng, 0.0, shock=4.0)).significant
                      for _ in range(100))
    assert significant <= 12, significant
    pooled = _panel(np.random.default_rng(8), 0.0, shock=4.0)
    slope = np.polyfit(pooled["index"], pooled["churn_next"], 1)[0]
    assert slope > 0.0005  # a plain regression would have claimed one


def test_too_little_data_is_a_message_not_a_number():
    few = _panel(np.random.default_rng(9), 0.002)
    few = few[few["region"].isin(REGIONS[:2])]
    effect = net.network_effect(few)
    assert effect.effect is None and "Not enough to measure" in effect.message
    flat = _panel(np.random.default_rng(10), 0.0).assign(index=1.0)
    assert "does not vary" in net.network_effect(flat).message


def test_the_index_judges_an_area_against_itself():
    months = pd.date_range("2026-01-01", periods=6, freq="MS")
    weak = pd.DataFrame({"region": "hills", "month": months, "coverage_pct": 90.0,
                         "call_drop_rate": 0.02, "throughput_mbps": 20.0,
                         "complaints_per_10k": 3.0})
    strong = weak.assign(region="town", coverage_pct=99.0, call_drop_rate=0.005,
                         throughput_mbps=80.0, complaints_per_10k=1.0)
    strong.loc[5, ["coverage_pct", "throughput_mbps"]] = [97.0, 50.0]  # the town's bad month
    index = net.quality_index(pd.concat([weak, strong], ignore_index=True))
    worst = net.worst_months(index, top=1).iloc[0]
    assert (worst["region"], worst["month"]) == ("town", months[5])
    assert index.loc[index["region"] == "hills", "index"].abs().max() == 0


def _planted(url: str) -> list[dict]:
    truths = read_frame(create_mart_engine(url, read_only=True),
                        sa.select(schema.planted_truth)
                        .where(schema.planted_truth.c.kind == "network_churn"))
    return [{"where": json.loads(w), "period": p} for w, p in
            zip(truths["where_json"], truths["period"], strict=True)]


def _mart_index(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    engine = create_mart_engine(url, read_only=True)
    churn = reads.load_region_months(engine)
    return net.quality_index(net.monthly_kpis(reads.load_network_months(engine), churn)), churn


def test_the_planted_areas_are_the_worst_and_churn_follows_them(variant_mart):
    planted = {t["where"]["micro_region"] for t in _planted(variant_mart)}
    assert planted
    index, churn = _mart_index(variant_mart)
    worst = index.groupby("region")["index"].max().sort_values(ascending=False)
    assert set(worst.index[:len(planted)]) == planted, worst.head(6)
    effect = net.network_effect(net.churn_panel(index, churn))
    assert effect.significant and effect.effect > 0, effect.message


def test_a_placebo_network_finds_nothing(duck_mart):
    """The same index, shuffled across micro-regions within each month: the link is gone."""
    index, churn = _mart_index(duck_mart)
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(20):
        shuffled = index.copy()
        shuffled["index"] = shuffled.groupby("month")["index"].transform(
            lambda s: s.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).to_numpy())
        hits += net.network_effect(net.churn_panel(shuffled, churn)).significant
    assert hits <= 4, hits


def test_micro_region_page_shows_the_network_beside_churn(app_as):
    at = app_as("analyst")
    at.run()
    at.switch_page("pages/microregion.py").run()
    assert not at.exception, at.exception
    assert "Network beside the market 网络与市场" in [h.value for h in at.subheader]
    said = [w.value for w in at.warning] + [c.value for c in at.caption]
    assert any("network quality" in s and "pp" in s for s in said), said


def test_a_mart_built_before_the_optional_tables_still_works(duck_mart, tmp_path):
    """A demo mart or extract from before fact_network_day and discount_term: the network
    section and the discount checks say they cannot run; nothing raises."""
    import shutil

    import duckdb

    from data_access.db import duckdb_path
    from jobs import assurance as job

    old = tmp_path / "old.duckdb"
    shutil.copy(duckdb_path(duck_mart), old)
    with duckdb.connect(str(old)) as con:
        con.execute("DROP TABLE fact_network_day")
        con.execute("DROP TABLE discount_term")
    engine = create_mart_engine(f"duckdb:///{old}", read_only=True)
    assert reads.has_network_data(engine) is False
    result = job.run_checks(engine)
    assert result.discount_checks is False
    assert not result.findings["check"].str.startswith("discount").any()
    assert any("did not run" in line for line in job.report_lines(result))

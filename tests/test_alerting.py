"""Alerts worth reading: surprise and size, ranking by expected impact, incidents."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analytics.anomaly import alerting
from analytics.anomaly.alerting import (DEFAULT_MIN_EFFECT, expected_impact, group_incidents,
                                min_effect_for, rank_alerts, scan_panel)
from analytics.anomaly.scores import anomaly_scores


def test_docstring_examples_run() -> None:
    result = doctest.testmod(alerting)
    assert result.attempted > 0 and result.failed == 0


def test_alerting_stays_in_the_pure_core() -> None:
    code = ("import sys, analytics.anomaly.alerting; print(sorted(m for m in ('streamlit', 'sqlalchemy',"
            " 'data_access') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def count_panel(seed: int, units: int = 30, days: int = 240, rate: float = 20.0
                ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=days, freq="D")
    weekly = np.where(index.day_of_week >= 5, 1.3, 0.9)
    return pd.concat([pd.DataFrame({"unit": u, "unit_label": f"Channel {u}", "time": index,
                                    "value": rng.poisson(rate * weekly).astype(float)})
                      for u in range(units)], ignore_index=True)


def test_net_adds_of_one_against_zero_expected_is_not_an_alert() -> None:
    """A quiet channel: zeros, then a 1. Improbable maybe, but too small to read."""
    index = pd.date_range("2026-01-01", periods=200, freq="D")
    values = np.zeros(200)
    values[-1] = 1.0
    panel = pd.DataFrame({"unit": 1, "unit_label": "quiet", "time": index, "value": values})
    assert anomaly_scores(panel.set_index("time")["value"]).iloc[-1] >= 0.8  # surprising...
    assert scan_panel(panel, "new_activations", "channel", threshold=0.8) == []  # ...small
    assert scan_panel(panel, "new_activations", "channel", threshold=0.8, min_effect=0)
    rows = [{"metric": "new_activations", "actual": 1.0, "expected": 0.0, "score": 0.999}]
    assert rank_alerts(rows).empty
    assert len(rank_alerts(rows, min_effect={"new_activations": 0.5})) == 1


def test_scan_panel_matches_scoring_each_unit_and_ranks_by_impact() -> None:
    panel = count_panel(8, units=12)
    last = panel["time"].max()
    small = (panel["unit"] == 3) & (panel["time"] == last)
    big = (panel["unit"] == 5) & (panel["time"] == last)
    panel.loc[small, "value"] = 1.0      # a collapse of a ~18/day channel
    panel.loc[big, "value"] = 90.0       # and a much larger jump elsewhere
    rows = scan_panel(panel, "new_activations", "channel")
    assert [r["unit_key"] for r in rows] == ["5", "3"]
    for r in rows:
        one = panel[panel["unit"] == int(r["unit_key"])].set_index("time")["value"]
        assert r["score"] == pytest.approx(anomaly_scores(one).iloc[-1], abs=1e-4)
    assert expected_impact(rows[0]["actual"], rows[0]["expected"], rows[0]["score"]) > \
        expected_impact(rows[1]["actual"], rows[1]["expected"], rows[1]["score"])
    # the stored alert rows keep exactly the columns of the alert table
    assert set(rows[0]) == {"source", "metric", "unit_level", "unit_key", "unit_label",
                            "observed_at", "score", "actual", "expected", "message"}


def test_a_quiet_scan_of_many_count_series_raises_almost_nothing() -> None:
    panel = count_panel(9, units=300, days=200)
    assert len(scan_panel(panel, "new_activations", "channel")) <= 2


def test_rank_alerts_needs_surprise_and_size_and_orders_by_impact() -> None:
    rows = pd.DataFrame([
        {"metric": "revenue", "actual": 100_500.0, "expected": 100_000.0, "score": 0.999},
        {"metric": "revenue", "actual": 80_000.0, "expected": 100_000.0, "score": 0.92},
        {"metric": "revenue", "actual": 60_000.0, "expected": 100_000.0, "score": 0.95},
        {"metric": "revenue", "actual": 50_000.0, "expected": 100_000.0, "score": 0.5},
        {"metric": "share", "actual": 31.0, "expected": 30.0, "score": 0.97},
    ])
    ranked = rank_alerts(rows)
    assert list(ranked["actual"]) == [60_000.0, 80_000.0, 31.0]  # 500 yuan is too small
    assert (np.diff(ranked["impact"]) <= 0).all()
    assert ranked["effect"].tolist() == [-40_000.0, -20_000.0, 1.0]
    assert rank_alerts(rows, min_effect=0.0).shape[0] == 4          # the 0.5 score never
    with pytest.raises(ValueError, match="lack columns"):
        rank_alerts(rows.drop(columns="expected"))


def test_min_effect_lookup() -> None:
    assert min_effect_for("revenue") == DEFAULT_MIN_EFFECT["revenue"]
    assert min_effect_for("new_activations_7d") == DEFAULT_MIN_EFFECT["new_activations_7d"]
    assert min_effect_for("churned_7d", {"churned": 4.0}) == 4.0
    assert min_effect_for("anything", 2.5) == 2.5 and min_effect_for("unknown", {}) == 0.0
    with pytest.raises(ValueError, match="≥ 0"):
        min_effect_for("revenue", -1.0)


def test_alerts_of_a_unit_and_its_parent_in_one_window_form_one_incident() -> None:
    hierarchy = {"channel:7": "micro_region:12", "channel:8": "micro_region:12",
                 "micro_region:12": "district:2", "channel:9": "micro_region:13"}
    alerts = pd.DataFrame([
        # a channel collapses: its activations and revenue, its region's activations
        {"unit_level": "channel", "unit_key": "7", "metric": "new_activations",
         "observed_at": "2026-08-28", "actual": 2.0, "expected": 18.0, "score": 0.95},
        {"unit_level": "channel", "unit_key": "7", "metric": "revenue",
         "observed_at": "2026-08-28", "actual": 900.0, "expected": 5_000.0, "score": 0.93},
        {"unit_level": "micro_region", "unit_key": "12", "metric": "new_activations",
         "observed_at": "2026-08-29", "actual": 150.0, "expected": 180.0, "score": 0.92},
        # the region's parent on the same day: linked through the region
        {"unit_level": "district", "unit_key": "2", "metric": "revenue",
         "observed_at": "2026-08-28", "actual": 1.0e5, "expected": 1.1e5, "score": 0.91},
        # a sibling channel the same day: not linked to channel 7 directly, but through
        # the region it shares
        {"unit_level": "channel", "unit_key": "8", "metric": "new_activations",
         "observed_at": "2026-08-28", "actual": 1.0, "expected": 9.0, "score": 0.94},
        # an unrelated channel the same day, and channel 7 again three weeks earlier
        {"unit_level": "channel", "unit_key": "9", "metric": "new_activations",
         "observed_at": "2026-08-28", "actual": 40.0, "expected": 20.0, "score": 0.97},
        {"unit_level": "channel", "unit_key": "7", "metric": "new_activations",
         "observed_at": "2026-08-07", "actual": 3.0, "expected": 18.0, "score": 0.96},
    ])
    grouped = group_incidents(alerts, hierarchy, window="1D")
    assert len(grouped) == len(alerts)
    incident = grouped.groupby("incident")["unit_key"].apply(list).to_dict()
    first = grouped.loc[grouped["lead"] & (grouped["incident"] == 1)].iloc[0]
    assert sorted(incident[1]) == ["12", "2", "7", "7", "8"]
    assert first["unit_level"] == "district"    # the largest expected impact leads
    assert grouped["lead"].sum() == grouped["incident"].nunique() == 3
    assert grouped.loc[grouped["incident"] == 1, "incident_size"].iloc[0] == 5
    later = grouped[(grouped["unit_key"] == "7") & (grouped["observed_at"] == "2026-08-07")]
    assert later["lead"].all() and later["incident_size"].iloc[0] == 1
    # no hierarchy: only several KPIs of one unit fold together
    plain = group_incidents(alerts)
    assert plain["incident"].nunique() == 6
    # a wider window folds channel 7's earlier alert in too
    assert group_incidents(alerts, hierarchy, window="30D")["incident"].nunique() == 2


def test_group_incidents_handles_empty_and_bad_input() -> None:
    empty = group_incidents(pd.DataFrame(columns=["unit", "observed_at", "impact"]))
    assert empty.empty and {"incident", "lead"} <= set(empty.columns)
    with pytest.raises(ValueError, match="unit"):
        group_incidents(pd.DataFrame({"observed_at": ["2026-01-01"], "impact": [1.0]}))

"""Churn features: no leakage past the snapshot, same answers on DuckDB and PostgreSQL,
hand-checked values, and the time split."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.churn.features import FEATURES, plan_time_split, rival_pressure
from jobs.churn_pipeline import load_snapshot
from data_access.mart import churn as reads
from data_access.db import ConcertoError, create_mart_engine, duckdb_path

SNAPSHOT = pd.Timestamp("2026-05-01")  # the shared mart runs 2025-09 … 2026-10


@pytest.fixture(scope="module")
def duck_engine(duck_mart):
    return create_mart_engine(duck_mart, read_only=True)


def _query(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@pytest.fixture(scope="module")
def snapshot(duck_engine):
    return load_snapshot(duck_engine, SNAPSHOT)


def _truncate_after(path, month: dt.date) -> None:
    """Delete or blank everything the mart knows about the time after ``month``."""
    after = f"DATE '{month + pd.DateOffset(months=1):%Y-%m-%d}'"
    statements = [
        f"DELETE FROM fact_subscriber_month WHERE month >= {after}",
        f"DELETE FROM truth_churn_prob WHERE month >= {after}",
        f"DELETE FROM fact_competitor_month WHERE month >= {after}",
        f"DELETE FROM competitor_event WHERE day >= {after}",
        f"DELETE FROM fact_region_day WHERE day >= {after}",
        f"DELETE FROM fact_channel_day WHERE day >= {after}",
        *[f"DELETE FROM {t} WHERE month >= {after}" for t in
          ("sum_cube_month", "sum_channel_month", "sum_region_channel_month", "sum_group_month",
           "sum_top_fallers_month", "sum_top_fallers_type_month")],
        f"DELETE FROM campaign_member WHERE campaign_id IN "
        f"(SELECT campaign_id FROM campaign WHERE start_month >= {after})",
        f"DELETE FROM campaign_member WHERE subscriber_id IN "
        f"(SELECT subscriber_id FROM dim_subscriber WHERE join_month >= {after})",
        f"DELETE FROM campaign WHERE start_month >= {after}",
        f"DELETE FROM dim_subscriber WHERE join_month >= {after}",
        f"UPDATE dim_subscriber SET churn_month = NULL WHERE churn_month >= {after}",
        "DELETE FROM truth_churn_prob",  # the generator's hindsight goes too
        "DELETE FROM planted_truth",
    ]
    with duckdb.connect(str(path)) as conn:
        for statement in statements:
            conn.execute(statement)


def test_no_feature_reads_data_after_the_snapshot_month(duck_mart, snapshot, tmp_path):
    copy = tmp_path / "until_snapshot.duckdb"
    shutil.copy(duckdb_path(duck_mart), copy)
    _truncate_after(copy, SNAPSHOT.date())
    engine = create_mart_engine(f"duckdb:///{copy}", read_only=True)
    last = _query(engine, "SELECT max(month) AS m FROM fact_subscriber_month").iloc[0, 0]
    assert pd.Timestamp(last) == SNAPSHOT  # the future is really gone
    blind = load_snapshot(engine, SNAPSHOT)
    pd.testing.assert_frame_equal(blind.features, snapshot.features)
    pd.testing.assert_frame_equal(blind.context, snapshot.context)


def test_features_are_the_same_on_duckdb_and_postgresql(snapshot, pg_mart):
    on_postgres = load_snapshot(create_mart_engine(pg_mart), SNAPSHOT)
    pd.testing.assert_frame_equal(on_postgres.features, snapshot.features, check_exact=False,
                                  rtol=1e-9)
    pd.testing.assert_frame_equal(on_postgres.context, snapshot.context, check_exact=False,
                                  rtol=1e-9, check_dtype=False)


def test_every_billed_subscriber_gets_every_feature(duck_engine, snapshot):
    billed = _query(duck_engine, "SELECT count(*) AS n FROM fact_subscriber_month "
                    "WHERE month = :month", month=SNAPSHOT.date())["n"].iloc[0]
    features = snapshot.features
    assert len(features) == billed and features.index.is_unique
    assert list(features.columns) == list(FEATURES)
    always = ["tenure_months", "plan_family", "segment", "channel_type", "in_group", "mou",
              "rival_events_city", "discount_share", "benefits_12m", "branch"]
    assert features[always].notna().all().all()


def test_feature_values_match_a_hand_computation(duck_engine, snapshot):
    subscriber = int(_query(duck_engine, """
        SELECT f.subscriber_id FROM fact_subscriber_month f
        JOIN dim_subscriber s ON s.subscriber_id = f.subscriber_id
        WHERE f.month = :month AND s.join_month <= DATE '2025-12-01' AND f.discount > 0
        ORDER BY f.subscriber_id LIMIT 1""", month=SNAPSHOT.date()).iloc[0, 0])
    rows = _query(duck_engine, """
        SELECT month, rev_voice + rev_data + rev_sms + rev_vas AS gross, revenue, discount, mou,
               data_mb FROM fact_subscriber_month WHERE subscriber_id = :id ORDER BY month""",
                  id=subscriber)
    rows = rows.set_index(pd.to_datetime(rows["month"]))
    may, february = rows.loc[pd.Timestamp("2026-05-01")], rows.loc[pd.Timestamp("2026-02-01")]
    row = snapshot.features.loc[subscriber]
    assert row["arpu_trend_3m"] == pytest.approx(np.log((may.gross + 1) / (february.gross + 1)))
    assert row["mou_trend_3m"] == pytest.approx(np.log((may.mou + 1) / (february.mou + 1)))
    assert row["discount_share"] == pytest.approx(may.discount / may.gross)
    latest_first = rows.loc[:"2026-05-01", "discount"].iloc[::-1].iloc[:6] > 0
    assert row["discount_streak"] == int(latest_first.cumprod().sum())
    assert row["arpu_3m"] == pytest.approx(rows.loc["2026-03-01":"2026-05-01", "revenue"].mean())
    joined = _query(duck_engine, "SELECT join_month FROM dim_subscriber WHERE subscriber_id = :id",
                    id=subscriber).iloc[0, 0]
    assert row["tenure_months"] == (2026 - joined.year) * 12 + 5 - joined.month


def test_rival_pressure_counts_recent_local_and_city_wide_events():
    events = pd.DataFrame({
        "day": pd.to_datetime(["2026-05-03", "2026-04-20", "2026-03-09", "2026-05-10",
                               "2025-10-02"]),
        "region_id": pd.array([1, 1, 2, pd.NA, 3], dtype="Int64"),
        "kind": ["tariff", "network", "promotion", "campus", "tariff"]})
    out = rival_pressure(events, pd.DataFrame(), pd.Timestamp("2026-05-01"), [1, 2, 3])
    assert out.loc[1, "rival_events_local"] == 2  # counted, not weighted by an assumed decay
    assert out.loc[2, "rival_events_local"] == 1 and out.loc[3, "rival_events_local"] == 0
    assert out.loc[1, "rival_months_since_local"] == 0 and out.loc[2, "rival_months_since_local"] == 2
    assert np.isnan(out.loc[3, "rival_months_since_local"])  # its event is 7 months old
    assert (out["rival_events_city"] == 1.0).all()
    assert out.loc[1, "rival_price_events"] == 1.0  # the tariff; the network event is not price
    assert out.loc[3, "rival_price_events"] == 0.0


def test_time_split_trains_before_it_tests():
    months = pd.date_range("2025-09-01", "2026-10-01", freq="MS")
    split = plan_time_split(months, horizon=2, train_months=4)
    assert split.test == (pd.Timestamp("2026-08-01"),)
    assert split.train[-1] + pd.DateOffset(months=2) <= split.test[0]
    assert len(split.train) == 4 and split.latest == months[-1]
    with pytest.raises(ValueError, match="too few"):
        plan_time_split(months[:4], horizon=1)


def test_labels_beyond_the_mart_are_refused(duck_engine):
    with pytest.raises(ConcertoError, match="not known yet"):
        reads.load_churn_labels(duck_engine, dt.date(2026, 9, 1), 2)
    labels = reads.load_churn_labels(duck_engine, dt.date(2026, 9, 1), 1)
    assert labels["churned"].dtype == bool and 0 < labels["churned"].mean() < 0.1


def test_the_snapshot_brings_the_months_the_features_read_and_no_more(duck_engine, snapshot,
                                                                      monkeypatch):
    """The reader fetches ``SNAPSHOT_LAGS`` (the same values as the full six months for those
    columns); the features are built from it (the fixture), and a month fewer of any measure
    is refused by name rather than read as a shorter trend."""
    from analytics.churn.features import SNAPSHOT_LAGS

    full = reads.load_churn_snapshot(duck_engine, SNAPSHOT.date())
    trimmed = reads.load_churn_snapshot(duck_engine, SNAPSHOT.date(), lags=SNAPSHOT_LAGS)
    measures = {c for c in full.columns if c.rsplit("_", 1)[0] in reads.MEASURES}
    wanted = {f"{m}_{j}" for m, n in SNAPSHOT_LAGS.items() for j in range(n)}
    assert wanted < measures and set(trimmed.columns) == set(full.columns) - (measures - wanted)
    pd.testing.assert_frame_equal(trimmed, full[list(trimmed.columns)])
    assert len(snapshot.features) == len(trimmed)
    for measure, months in SNAPSHOT_LAGS.items():
        with monkeypatch.context() as m:
            m.setitem(SNAPSHOT_LAGS, measure, months - 1)
            with pytest.raises(ValueError, match=f"{measure}_{months - 1}"):
                load_snapshot(duck_engine, SNAPSHOT)
    with pytest.raises(ConcertoError, match="Unknown measure"):
        reads.load_churn_snapshot(duck_engine, SNAPSHOT.date(), lags={"arpu": 3})

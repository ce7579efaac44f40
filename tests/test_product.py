"""The product view 产品视图: plan history in the mart, the planted launch found from the data
alone, migrations that add up to fact_plan_change, scope, the loader's checks, and the page."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from analytics import product as prod
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import product as reads
from data_access.mart.load import ExtractError, load_extract
from data_access.mart.queries import Slice
from data_access.store import scope
from data_access.store.auth import Forbidden, Principal
from tests.test_load import D, digest, snapshot, valid_tables, write_csv, write_extract
from tests.test_readable_pages import unreadable

EVERY = (dt.date(2000, 1, 1), dt.date(2100, 12, 1))
RM_GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                       "Gongbei")
RM_DOUMEN = Principal("rm_doumen", "Doumen manager", "regional_manager", "branch", "Doumen")


def _sql(url: str, sql: str, **params) -> pd.DataFrame:
    engine = create_mart_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(sql), conn, params=params)
    finally:
        engine.dispose()


def _read(url: str, who=None):
    """The city's (or ``who``'s) plan months and changes over the whole mart."""
    engine = create_mart_engine(url, read_only=True)
    try:
        with scope.acting_as(who) if who else contextlib.nullcontext():
            return (reads.load_plan_months(engine, Slice(), None, *EVERY),
                    reads.load_plan_changes(engine, Slice(), None, *EVERY))
    finally:
        engine.dispose()


def _launch_truth(url: str) -> dict:
    rows = _sql(url, "SELECT where_json, size, detail FROM planted_truth WHERE kind = 'plan_launch'")
    assert len(rows) == 1
    return {"where": json.loads(rows["where_json"].iloc[0]), "size": rows["size"].iloc[0],
            **json.loads(rows["detail"].iloc[0])}


# --- the mart and the generator ---------------------------------------------------------


def test_history_chains_and_ends_on_the_current_plan(variant_mart):
    changes = _sql(variant_mart, """
        SELECT c.*, s.plan_id, s.join_month, s.churn_month FROM fact_plan_change c
        JOIN dim_subscriber s USING (subscriber_id) ORDER BY subscriber_id, month""")
    assert len(changes) > 0
    previous = changes.groupby("subscriber_id")["to_plan_id"].shift()
    assert (previous.dropna() == changes.loc[previous.notna(), "from_plan_id"]).all()
    last = changes.groupby("subscriber_id").tail(1)
    assert (last["to_plan_id"] == last["plan_id"]).all()
    assert (changes["from_plan_id"] != changes["to_plan_id"]).all()
    assert (changes["month"] > changes["join_month"]).all()
    gone = changes["churn_month"].notna()
    assert (changes.loc[gone, "month"] < changes.loc[gone, "churn_month"]).all()


def test_the_plan_summary_adds_up_to_the_other_summaries(variant_mart):
    sums = _sql(variant_mart, """
        SELECT (SELECT sum(active_subs) FROM sum_plan_month) AS plan_subs,
               (SELECT sum(active_subs) FROM sum_cube_month) AS cube_subs,
               (SELECT sum(revenue) FROM sum_plan_month) AS plan_revenue,
               (SELECT sum(revenue) FROM sum_cube_month) AS cube_revenue,
               (SELECT sum(churned_subs) FROM sum_plan_month) AS plan_churned,
               (SELECT sum(churned_subs) FROM sum_cube_month) AS cube_churned""").iloc[0]
    assert sums["plan_subs"] == sums["cube_subs"]
    assert sums["plan_churned"] == sums["cube_churned"]
    assert sums["plan_revenue"] == pytest.approx(sums["cube_revenue"])


def test_nobody_holds_the_launch_plan_before_its_launch(variant_mart):
    truth = _launch_truth(variant_mart)
    held = _sql(variant_mart, "SELECT month, sum(active_subs) AS subs FROM sum_plan_month "
                "WHERE plan_id = :p GROUP BY month", p=truth["plan_id"])
    launch = pd.Timestamp(truth["launch_month"] + "-01")
    assert held.loc[pd.to_datetime(held["month"]) < launch, "subs"].sum() == 0
    assert held.loc[pd.to_datetime(held["month"]) >= launch, "subs"].min() > 0


# --- the analytics find what was planted ------------------------------------------------


def test_the_launch_is_found_with_its_month(variant_mart):
    truth = _launch_truth(variant_mart)
    months, _ = _read(variant_mart)
    launches = prod.detect_launches(months)
    assert [(x.plan_id, x.month) for x in launches] == [
        (truth["plan_id"], pd.Timestamp(truth["launch_month"] + "-01"))]


def test_cannibalisation_ranks_the_planted_sources_first(variant_mart):
    truth = _launch_truth(variant_mart)
    months, changes = _read(variant_mart)
    launch = prod.detect_launches(months)[0]
    result = prod.estimate_cannibalisation(changes, months, launch.plan_id, launch.month)
    planted = pd.Series(truth["source_shares"]).astype(float)
    planted.index = planted.index.astype(int)
    main = list(planted[planted >= 0.2].sort_values(ascending=False).index)
    ranked = list(result.sources["from_plan_id"])
    assert ranked[:len(main)] == main
    assert set(ranked) == set(planted.index)
    assert result.switchers == truth["size"]
    shares = result.sources.set_index("from_plan_id")
    for plan in main:
        assert shares.at[plan, "share_low"] <= planted[plan] <= shares.at[plan, "share_high"]


def test_the_excess_over_the_usual_outflow_is_the_launchs_own_switching(variant_mart):
    """Each source's excess interval covers the switchers the launch took from it; counting
    every switch from a source since the launch (no baseline) would not."""
    truth = _launch_truth(variant_mart)
    months, changes = _read(variant_mart)
    launch = prod.detect_launches(months)[0]
    sources = prod.estimate_cannibalisation(changes, months, launch.plan_id,
                                            launch.month).sources.set_index("from_plan_id")
    for plan, taken in truth["switchers_by_source"].items():
        row = sources.loc[int(plan)]
        assert row["excess_low"] <= taken <= row["excess_high"], plan
        assert row["expected"] > 0  # the source was losing subscribers before, too
    raw = sources.loc[[int(p) for p in truth["switchers_by_source"]]]
    assert (raw["post_outflow"] > raw["excess_high"]).any()  # the baseline matters here


def test_migration_matrix_rows_match_fact_plan_change(variant_mart):
    months, changes = _read(variant_mart)
    matrix = prod.migration_matrix(changes, months).set_index(["from_plan_id", "to_plan_id"])
    raw = _sql(variant_mart, "SELECT from_plan_id, to_plan_id, count(*) AS n FROM "
               "fact_plan_change GROUP BY 1, 2").set_index(["from_plan_id", "to_plan_id"])
    assert matrix["changes"].sort_index().to_dict() == raw["n"].sort_index().to_dict()
    base = months.groupby("plan_id")["active_subs"].sum()
    assert (matrix["exposure"] <= matrix.index.get_level_values(0).map(base)).all()
    assert ((matrix["rate"] > 0) & (matrix["rate"] < 0.5)).all()


def test_plan_kpis_add_up_to_the_summary_and_name_every_flow(duck_mart):
    months, changes = _read(duck_mart)
    kpis = prod.plan_kpis(months, changes)
    assert kpis["switched_in"].sum() == kpis["switched_out"].sum() == changes["changes"].sum()
    one = kpis.iloc[len(kpis) // 2]
    row = months[(months["plan_id"] == one["plan_id"]) & (months["month"] == one["month"])].iloc[0]
    assert one["arpu"] == pytest.approx(row["revenue"] / row["active_subs"])
    assert one["dou"] == pytest.approx(row["data_mb"] / row["active_subs"])
    summary = prod.summarise_plans(months, changes)
    assert summary["revenue"].sum() == pytest.approx(months["revenue"].sum())
    assert summary["uptake"].sum() == months["new_subs"].sum() + changes["changes"].sum()


def test_no_launch_is_claimed_for_a_window_starting_after_it(duck_mart):
    truth = _launch_truth(duck_mart)
    months, _ = _read(duck_mart)
    later = months[months["month"] >= pd.Timestamp(truth["launch_month"] + "-01")]
    assert prod.detect_launches(later) == []


# --- scope and bad input ----------------------------------------------------------------


@pytest.mark.parametrize("who", [RM_GONGBEI, RM_DOUMEN], ids=lambda w: w.username)
def test_a_regional_manager_sees_only_their_regions_plans(duck_mart, who):
    city_months, city_changes = _read(duck_mart)
    own_months, own_changes = _read(duck_mart, who)
    column = "r.micro_region" if who.scope_level == "micro_region" else "r.branch"
    theirs = _sql(duck_mart, f"""
        SELECT count(*) AS n FROM fact_plan_change c JOIN dim_subscriber s USING (subscriber_id)
        JOIN dim_region r ON r.region_id = s.region_id WHERE {column} = :v""", v=who.scope_value)
    assert own_changes["changes"].sum() == theirs["n"].iloc[0] < city_changes["changes"].sum()
    assert 0 < own_months["active_subs"].sum() < city_months["active_subs"].sum()
    engine = create_mart_engine(duck_mart, read_only=True)
    try:
        with scope.acting_as(who), pytest.raises(Forbidden):
            elsewhere = {"micro_region": "Jida", "branch": "Jinwan"}[who.scope_level]
            reads.load_plan_months(engine, Slice(**{who.scope_level: elsewhere}), None, *EVERY)
    finally:
        engine.dispose()


def test_bad_filters_get_a_message(duck_mart):
    engine = create_mart_engine(duck_mart, read_only=True)
    try:
        with pytest.raises(ConcertoError, match="is after the last"):
            reads.load_plan_months(engine, Slice(), None, EVERY[1], EVERY[0])
        with pytest.raises(ConcertoError, match="channel type 'kiosk' is not one of"):
            reads.load_plan_changes(engine, Slice(), "kiosk", *EVERY)
        empty = reads.load_plan_months(engine, Slice(), None, dt.date(2001, 1, 1),
                                       dt.date(2001, 6, 1))
        assert empty.empty
    finally:
        engine.dispose()


def _changes(*rows: tuple[int, dt.date, int, int]) -> list[dict]:
    return [dict(subscriber_id=s, month=m, from_plan_id=f, to_plan_id=t) for s, m, f, t in rows]


def test_the_loader_takes_a_chained_history_and_counts_months_by_plan_held(tmp_path):
    # 1001 (now on plan 1) moved 2 → 1 in February: January counts on plan 2
    tables = {**valid_tables(), "fact_plan_change": _changes((1001, D(2024, 2, 1), 2, 1))}
    url = f"duckdb:///{tmp_path}/m.duckdb"
    rows = load_extract(write_extract(tmp_path / "x", tables), url)
    assert rows["fact_plan_change"] == 1
    held = _sql(url, "SELECT month, plan_id, active_subs FROM sum_plan_month p JOIN dim_region "
                "r USING (region_id) WHERE r.micro_region = 'Gongbei' AND channel_type = 'own_hall'")
    got = {(pd.Timestamp(m).date(), p): n for m, p, n in held.itertuples(index=False)}
    assert got == {(D(2024, 1, 1), 2): 1, (D(2024, 2, 1), 1): 1}


BAD_HISTORY = {
    "unknown plan": (_changes((1001, D(2024, 2, 1), 7, 1)),
                     "fact_plan_change.csv, line 2, column from_plan_id: 7 is not a plan_id in dim_plan"),
    "broken chain": (_changes((1004, D(2023, 12, 1), 1, 2), (1004, D(2024, 2, 1), 1, 2)),
                     "fact_plan_change.csv, line 3, column from_plan_id: from_plan_id is not 2, "
                     "the plan the subscriber's previous change moved to (line 2)"),
    "not the current plan": (_changes((1001, D(2024, 2, 1), 1, 2)),
                             "fact_plan_change.csv, line 2, column to_plan_id: the subscriber's "
                             "last change must end on the current plan, dim_subscriber.plan_id 1"),
    "before joining": (_changes((1002, D(2024, 1, 1), 1, 2)),
                       "column month: the change is not after the subscriber's join_month"),
    "after leaving": (_changes((1003, D(2024, 3, 1), 2, 1)),
                      "column month: the change is not before the subscriber's churn_month"),
    "to the same plan": (_changes((1004, D(2024, 2, 1), 2, 2)),
                         "column to_plan_id: the change moves to the plan it comes from"),
}


@pytest.mark.parametrize("case", list(BAD_HISTORY))
def test_the_loader_refuses_a_bad_history_and_writes_nothing(tmp_path, case):
    url = f"duckdb:///{tmp_path}/m.duckdb"
    load_extract(write_extract(tmp_path / "good"), url)
    before, file_digest = snapshot(url), digest(tmp_path / "m.duckdb")
    directory = write_extract(tmp_path / "bad")
    rows, expected = BAD_HISTORY[case]
    write_csv(directory / "fact_plan_change.csv", rows)
    with pytest.raises(ExtractError) as error:
        load_extract(directory, url)
    assert expected in str(error.value), str(error.value)
    assert "the mart is unchanged" in str(error.value)
    assert digest(tmp_path / "m.duckdb") == file_digest and snapshot(url) == before


# --- the page ---------------------------------------------------------------------------


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.warning] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_the_product_page_shows_plans_migrations_and_the_launch(app_as, duck_mart):
    truth = _launch_truth(duck_mart)
    at = app_as("analyst")
    at.run()
    at.switch_page("pages/product.py").run()
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe]
    plans = tables[0]
    assert truth["where"]["plan_name"] in set(plans["Plan 套餐"])
    assert truth["where"]["plan_name"] in _texts(at)  # the launch section names it
    sources = tables[-1]
    names = truth["source_names"]
    shares = truth["source_shares"]
    assert sources["Source plan 来源套餐"].iloc[0] == names[max(shares, key=shares.get)]
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download the plan table (CSV)" in labels and "Download the sources (CSV)" in labels
    assert len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart")) >= 3
    assert unreadable(at) == []


def test_the_page_explains_a_plan_with_no_rows(app_as, duck_mart):
    """Months before the launch, the launch plan chosen: a message, no empty chart."""
    truth = _launch_truth(duck_mart)
    at = app_as("rm_gongbei")
    at.run()
    at.switch_page("pages/product.py").run()
    assert not at.exception, at.exception
    months = at.select_slider(key="product_months").options
    at.select_slider(key="product_months").set_range(months[0], months[1]).run()
    at.selectbox(key="product_plan").select(truth["plan_id"]).run()
    assert not at.exception, at.exception
    assert f"{truth['where']['plan_name']} has no subscribers in Gongbei" in _texts(at)
    assert "No plan was launched inside these months" in _texts(at)


def test_a_mart_without_plan_history_says_so(app_as, duck_mart, tmp_path, monkeypatch):
    import shutil

    import duckdb

    from data_access.db import duckdb_path

    copy = tmp_path / "old.duckdb"
    shutil.copy(duckdb_path(duck_mart), copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DROP TABLE fact_plan_change")
        con.execute("DROP TABLE sum_plan_month")
    at = app_as("analyst")
    monkeypatch.setenv("CONCERTO_MART_URL", f"duckdb:///{copy}")
    at.run()
    at.switch_page("pages/product.py").run()
    assert not at.exception, at.exception
    assert "built before the product view" in _texts(at)


def test_the_launch_is_found_on_duckdb_and_postgresql(any_mart):
    truth = _launch_truth(any_mart)
    months, changes = _read(any_mart)
    launch = prod.detect_launches(months)[0]
    assert (launch.plan_id, launch.month) == (truth["plan_id"],
                                              pd.Timestamp(truth["launch_month"] + "-01"))
    assert changes["changes"].sum() == _sql(any_mart, "SELECT count(*) AS n FROM "
                                            "fact_plan_change")["n"].iloc[0]


def test_a_plans_churn_rate_is_leavers_over_the_base_before():
    months = pd.DataFrame({"month": ["2026-01-01", "2026-02-01", "2026-03-01"], "plan_id": 1,
                           "active_subs": [100, 90, 80], "new_subs": 0,
                           "churned_subs": [7, 10, 10], "revenue": 1000.0, "mou": 1.0,
                           "data_mb": 1.0})
    none = pd.DataFrame(columns=["month", "from_plan_id", "to_plan_id", "changes"])
    row = prod.summarise_plans(months, none).iloc[0]
    assert row["churn_rate"] == pytest.approx(20 / 190)  # January's leavers have no base before
    assert (row["base"], row["base_change"], row["arpu"]) == (80, -20, pytest.approx(3000 / 270))

"""Did the action work? (效果跟踪) The estimator on frames built here, then the planted actions of
both generator variants found through the demo orders, the job and the readers."""

from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.ops.action_effect import (ActionCase, EffectSettings, estimate_action_effect,
                                         effects_frame, rank_effects)
from data_access.db import ConcertoError, create_mart_engine, read_frame
from data_access.mart import queries
from data_access.mart.actions import load_effect_panel, load_effect_units
from data_access.store import scope
from data_access.store.arsenal import seed_arsenal
from data_access.store.auth import SYSTEM, Principal
from data_access.store.demo import seed_effect_orders
from data_access.store.workflow import create_workflow_engine
from data_access.store.workorders import list_orders
from jobs.action_effects import evaluate_orders, main, measure_orders, rank_measured

DAYS, ACTION = 112, 56
START = dt.date(2026, 1, 1)


def _panel(seed: int, effect: float, *, units: int = 20, days: int = DAYS,
           action: int = ACTION, spread: float = 0.03) -> pd.DataFrame:
    """Daily values of ``units`` units of very different sizes sharing city-wide shocks; each
    unit's level shifts by its own amount on the action day (sd ``spread``), and unit 0's
    also by ``1 + effect``."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(4.0, 1.0, units))
    common = np.exp(0.05 * np.sin(np.arange(days) / 9) + rng.normal(0, 0.02, days))
    after = np.arange(days) >= action
    level = size[:, None] * common[None, :] * np.exp(np.outer(rng.normal(0, spread, units), after))
    level[0] *= np.where(after, 1 + effect, 1.0)
    value = level * np.exp(rng.normal(0, 0.1, level.shape))
    day = pd.Timestamp(START) + pd.to_timedelta(np.arange(days), unit="D")
    return pd.DataFrame({"unit_id": np.repeat(np.arange(units), days),
                         "day": np.tile(day, units), "value": value.ravel()})


def _case(kpi: str = "revenue", action: int = ACTION) -> ActionCase:
    return ActionCase(1, "micro_region", 0, "Unit 0", kpi, START + dt.timedelta(days=action),
                      "ROADSHOW", "task")


# --- the estimator on frames built here ------------------------------------------------------

@pytest.mark.parametrize("effect", [0.10, -0.06])
def test_a_known_effect_lies_inside_the_interval_at_the_stated_rate(effect):
    settings = EffectSettings()
    inside = [(lambda e: e.ci_low <= effect <= e.ci_high)(
        estimate_action_effect(_panel(seed, effect), _case(), settings=settings))
        for seed in range(300)]
    assert 0.92 <= np.mean(inside) <= 0.98, np.mean(inside)


def test_no_effect_is_covered_at_about_the_nominal_rate_and_rarely_called_a_success():
    effects = [estimate_action_effect(_panel(1000 + seed, 0.0), _case()) for seed in range(300)]
    covered = np.mean([e.ci_low <= 0 <= e.ci_high for e in effects])
    assert 0.92 <= covered <= 0.98, covered
    assert np.mean([e.verdict == "worked" for e in effects]) <= 0.05


def test_a_clear_effect_is_called_worked_and_a_clear_fall_worse():
    assert estimate_action_effect(_panel(7, 0.25), _case()).verdict == "worked"
    assert estimate_action_effect(_panel(7, -0.25), _case()).verdict == "worse"


def test_for_a_kpi_where_lower_is_better_a_fall_is_the_success():
    effect = estimate_action_effect(_panel(7, -0.25), _case("churned"))
    assert effect.verdict == "worked" and effect.estimate < 0 < effect.improvement


def test_units_with_an_order_of_their_own_are_never_controls():
    panel = _panel(3, 0.0)
    panel.loc[panel["unit_id"] == 5, "value"] *= np.where(
        panel.loc[panel["unit_id"] == 5, "day"] >= pd.Timestamp(START + dt.timedelta(ACTION)),
        3.0, 1.0)  # unit 5 tripled after its own order
    kept = estimate_action_effect(panel, _case())
    dropped = estimate_action_effect(panel, _case(), excluded={5})
    assert dropped.n_controls == kept.n_controls - 1
    assert dropped.ci_high - dropped.ci_low < (kept.ci_high - kept.ci_low) / 2


@pytest.mark.parametrize("units, action, words", [
    (2, ACTION, "comparable unit"),  # one control unit
    (20, 0, "of data before"),  # no day before the action
    (20, DAYS, "of data from the action"),  # no day after it yet
])
def test_too_little_data_gives_a_message_not_an_exception(units, action, words):
    effect = estimate_action_effect(_panel(1, 0.2, units=units), _case(action=action))
    assert effect.verdict == "not_enough_data" and words in effect.message
    assert np.isnan(effect.estimate)


def test_an_unknown_kpi_or_missing_unit_gives_a_message():
    assert estimate_action_effect(_panel(1, 0.2), _case("arpu")).verdict == "not_enough_data"
    missing = estimate_action_effect(_panel(1, 0.2).query("unit_id != 0"), _case())
    assert missing.verdict == "not_enough_data" and "no revenue data" in missing.message


def test_tactics_are_ranked_by_pooled_effect_with_counts_and_intervals():
    effects = []
    for seed in range(6):
        for effect, tactic in ((0.2, "GOOD"), (0.0, "NOTHING"), (-0.15, "BAD")):
            if tactic == "GOOD" and seed >= 3:
                continue  # the best tactic is not the most used one
            case = ActionCase(len(effects), "micro_region", 0, "u", "revenue",
                              START + dt.timedelta(ACTION), tactic, "task")
            effects.append(estimate_action_effect(_panel(seed, effect), case))
    short = ActionCase(99, "micro_region", 0, "u", "revenue", START, "EMPTY", "alert")
    effects.append(estimate_action_effect(_panel(1, 0.0), short))
    ranked = rank_effects(effects)
    assert list(ranked["tactic"]) == ["GOOD", "NOTHING", "BAD", "EMPTY"]
    good = ranked.iloc[0]
    assert good["orders"] == good["measured"] == good["worked"] == 3
    assert good["ci_low"] < 0.2 < good["ci_high"] and good["ci_low"] > 0.1
    assert ranked.iloc[1]["ci_low"] < 0 < ranked.iloc[1]["ci_high"]
    assert ranked.iloc[-1]["not_enough_data"] == 1 and np.isnan(ranked.iloc[-1]["improvement"])
    by_kind = rank_effects(effects_frame(effects), by="order_kind")
    assert dict(zip(by_kind["order_kind"], by_kind["orders"])) == {"task": 15, "alert": 1}


def test_one_order_keeps_its_own_interval_in_the_ranking():
    effect = estimate_action_effect(_panel(4, 0.2), _case())
    row = rank_effects([effect]).iloc[0]
    assert row["ci_low"] == pytest.approx(effect.ci_low, rel=1e-6)
    assert row["ci_high"] == pytest.approx(effect.ci_high, rel=1e-6)


# --- the planted actions of both variants ------------------------------------------------------

def _planted(mart: sa.Engine) -> list[dict]:
    truths = queries.load_planted_truths(mart)
    rows = truths[truths["kind"] == "action_effect"]
    return [{**json.loads(r["detail"]), "size": r["size"]} for _, r in rows.iterrows()]


@pytest.fixture
def measured(variant_mart, tmp_path):
    """The demo orders of a variant's planted actions, seeded into a new store, measured."""
    mart = create_mart_engine(variant_mart, read_only=True)
    store = create_workflow_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with scope.acting_as(SYSTEM):
        seed_arsenal(store)
        assert seed_effect_orders(store, mart) > 0
        assert seed_effect_orders(store, mart) == 0  # idempotent
        planted = _planted(mart)
        book = evaluate_orders(mart, store)
        orders = list_orders(store, None)
    yield mart, store, planted, book, orders
    store.dispose()
    mart.dispose()


def test_planted_actions_are_found_and_do_nothing_ones_are_not(measured):
    mart, _, planted, book, orders = measured
    outcomes = {p["outcome"] for p in planted}
    assert {"works", "none"} <= outcomes
    effects = book.frame()
    for p in planted:
        order = orders[(orders["unit_key"] == p["unit_key"]) & (orders["metric"] == p["metric"])]
        assert len(order) == 1, p["unit_label"]
        got = effects[effects["order_id"] == int(order["order_id"].iloc[0])].iloc[0]
        assert str(got["action_day"]) == p["action_day"]
        expected = {"works": "worked", "none": "no_effect", "worse": "worse"}[p["outcome"]]
        assert got["verdict"] == expected, (p["unit_label"], p["outcome"], got["estimate"])
        if p["shape"] == "step":  # the full effect from the first day: the unit's is inside
            assert got["ci_low"] <= p["unit_effect"] <= got["ci_high"], p["unit_label"]


def test_planted_effects_agree_between_daily_and_monthly_facts(variant_mart):
    mart = create_mart_engine(variant_mart, read_only=True)
    with scope.acting_as(SYSTEM):
        planted = _planted(mart)
    with mart.connect() as conn:
        for p in planted:
            if p["unit_level"] == "channel":
                daily = ("select date_trunc('month', day) m, sum(revenue) v from fact_channel_day "
                         "where channel_id = :k group by 1")
                monthly = ("select f.month m, sum(f.revenue) v from fact_subscriber_month f join "
                           "dim_subscriber d using (subscriber_id) where d.channel_id = :k group by 1")
                key = int(p["unit_key"])
            else:
                daily = ("select date_trunc('month', day) m, sum(revenue) v from fact_region_day "
                         "join dim_region using (region_id) where micro_region = :k group by 1")
                monthly = ("select f.month m, sum(f.revenue) v from fact_subscriber_month f join "
                           "dim_subscriber d using (subscriber_id) join dim_region r on "
                           "d.region_id = r.region_id where r.micro_region = :k group by 1")
                key = p["unit_key"]
            a = pd.DataFrame(conn.execute(sa.text(daily), {"k": key}).all()).set_index("m")
            b = pd.DataFrame(conn.execute(sa.text(monthly), {"k": key}).all()).set_index("m")
            a.index, b.index = pd.to_datetime(a.index), pd.to_datetime(b.index)
            joined = a.merge(b, how="outer", left_index=True, right_index=True,
                             suffixes=("_day", "_month"))
            assert np.allclose(joined["v_day"], joined["v_month"], rtol=1e-9), p["unit_label"]
            if p["outcome"] != "none" and p["shape"] == "step":  # the month splits at the day
                table = "fact_channel_day" if p["unit_level"] == "channel" else "fact_region_day"
                days = _unit_days(conn, table, p)
                action = pd.Timestamp(p["action_day"])
                month = days[days["day"].dt.to_period("M") == action.to_period("M")]
                ratio = (month.loc[month["day"] >= action, "v"].mean()
                         / month.loc[month["day"] < action, "v"].mean())
                assert abs(ratio - 1 - p["unit_effect"]) < abs(p["unit_effect"]) / 2, (
                    p["unit_label"], ratio)
    mart.dispose()


def _unit_days(conn: sa.Connection, table: str, p: dict) -> pd.DataFrame:
    """The unit's daily revenue (``day``, ``v``)."""
    if table == "fact_channel_day":
        sql, key = "select day, revenue v from fact_channel_day where channel_id = :k", int(p["unit_key"])
    else:
        sql, key = ("select day, revenue v from fact_region_day join dim_region using (region_id) "
                    "where micro_region = :k"), p["unit_key"]
    frame = pd.DataFrame(conn.execute(sa.text(sql), {"k": key}).all(), columns=["day", "v"])
    return frame.assign(day=pd.to_datetime(frame["day"]))


def test_the_variants_plant_actions_on_other_units_days_and_shapes(duck_mart, duck_mart_b):
    with scope.acting_as(SYSTEM):
        a = _planted(create_mart_engine(duck_mart, read_only=True))
        b = _planted(create_mart_engine(duck_mart_b, read_only=True))
    assert {p["action_day"] for p in a}.isdisjoint({p["action_day"] for p in b})
    assert {p["shape"] for p in a} != {p["shape"] for p in b}
    assert sorted(p["size"] for p in a) != sorted(p["size"] for p in b)


def test_a_regional_manager_measures_against_units_in_scope_only(measured):
    mart, store, planted, _, _ = measured
    doumen = Principal("rm_doumen", "Doumen manager", "regional_manager", "branch", "Doumen")
    gongbei = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                        "Gongbei")
    with scope.acting_as(doumen):
        units = load_effect_units(mart)
        book = evaluate_orders(mart, store)
    assert set(units["branch"]) == {"Doumen"}
    regions = units[units["unit_level"] == "micro_region"]
    for effect in book.effects.values():
        if effect.verdict != "not_enough_data" and effect.unit_level == "micro_region":
            assert effect.n_controls <= len(regions) - 1
        outside = effect.unit_label not in set(units["unit_label"])
        if outside:
            assert effect.verdict == "not_enough_data" and "scope" in effect.message
    with scope.acting_as(gongbei):
        lone = evaluate_orders(mart, store)
    regional = [e for e in lone.effects.values() if e.unit_level == "micro_region"]
    assert regional and all(e.verdict == "not_enough_data" for e in regional)


def test_an_order_acted_on_after_the_marts_last_day_waits_for_data(duck_mart):
    mart = create_mart_engine(duck_mart, read_only=True)
    with scope.acting_as(SYSTEM):
        units = load_effect_units(mart)
        region = units[units["unit_level"] == "micro_region"].iloc[0]
        now = pd.Timestamp("2026-12-01", tz="UTC")
        orders = pd.DataFrame([{
            "order_id": 1, "kind": "task", "state": "resolved", "unit_level": "micro_region",
            "unit_key": region["unit_key"], "unit_label": region["unit_label"],
            "metric": "region_revenue", "created_at": now, "resolved_at": now, "version": 1}])
        picks = pd.DataFrame(columns=["pick_id", "order_id", "code", "picked_at", "status"])
        book = measure_orders(mart, orders, picks, today=dt.date(2026, 12, 6))
    effect = book.effects[1]
    assert effect.verdict == "not_enough_data" and "from the action" in effect.message
    mart.dispose()


def test_the_panel_reader_refuses_a_kpi_its_table_lacks(duck_mart):
    mart = create_mart_engine(duck_mart, read_only=True)
    with scope.acting_as(SYSTEM), pytest.raises(ConcertoError, match="daily channel facts hold"):
        load_effect_panel(mart, "channel", "churned", START, START)
    mart.dispose()


def test_orders_are_ranked_from_the_store(measured):
    _, _, planted, book, _ = measured
    ranked = rank_measured(book.frame(), "tactic")
    works = {p["tactic"] for p in planted if p["outcome"] == "works"}
    assert set(ranked["tactic"].iloc[:len(works)]) == works
    assert int(ranked["orders"].sum()) == len(planted)
    with pytest.raises(ConcertoError, match="rank by"):
        rank_measured(book.frame(), "unit_label")


def test_the_command_line_prints_the_ranking(duck_mart, tmp_path, monkeypatch, capsys):
    store = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    monkeypatch.setenv("CONCERTO_WORKFLOW_URL", store)
    engine = create_workflow_engine(store)
    with scope.acting_as(SYSTEM):
        seed_arsenal(engine)
    out = tmp_path / "effects.csv"
    assert main(["--seed-demo", "--by", "order_kind", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Seeded" in printed and "order_kind" in printed and "worked" in printed
    assert len(pd.read_csv(out)) == len(read_frame(engine, sa.text("select * from work_order")))


# --- the page sections ---------------------------------------------------------------------------

def _order_panel(order_id: int) -> None:
    """AppTest script: the effect panel of one order, as the demo analyst."""
    from data_access.store import scope
    from data_access.store.auth import Principal
    from data_access.store.workorders import load_order
    from pages.common.cache import workflow_engine
    from pages.sections.order_effect import render_order_effect

    analyst = Principal("analyst", "Demo Analyst", "analyst")
    with scope.acting_as(analyst):
        render_order_effect(load_order(workflow_engine(), analyst, order_id))


def _tactic_table() -> None:
    """AppTest script: the ranking of tactics, as the demo analyst."""
    from data_access.store import scope
    from data_access.store.auth import Principal
    from pages.sections.tactic_effects import render_tactic_effects

    with scope.acting_as(Principal("analyst", "Demo Analyst", "analyst")):
        render_tactic_effects()


@pytest.fixture
def demo_store(duck_mart, tmp_path, monkeypatch, fresh_streamlit_caches):
    """A demo store holding the planted actions' orders, and the pages pointed at it."""
    url = f"sqlite:///{tmp_path / 'pages.sqlite'}"
    monkeypatch.setenv("CONCERTO_MART_URL", duck_mart)
    monkeypatch.setenv("CONCERTO_WORKFLOW_URL", url)
    store = create_workflow_engine(url)
    mart = create_mart_engine(duck_mart, read_only=True)
    with scope.acting_as(SYSTEM):
        seed_arsenal(store)
        seed_effect_orders(store, mart)
        planted = _planted(mart)
        orders = list_orders(store, None)
    yield store, planted, orders
    store.dispose()
    mart.dispose()


def test_the_order_panel_shows_the_verdict_interval_and_chart(demo_store):
    from streamlit.testing.v1 import AppTest

    _, planted, orders = demo_store
    works = next(p for p in planted if p["outcome"] == "works")
    order_id = int(orders.loc[orders["unit_key"] == works["unit_key"], "order_id"].iloc[0])
    at = AppTest.from_function(_order_panel, kwargs={"order_id": order_id},
                               default_timeout=90).run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert "worked" in values["Verdict 结论"] and "▲" in values["Interval 区间"]
    assert at.get("vega_lite_chart")  # the unit against the controls, action day marked
    assert any("comparable units" in c.value for c in at.caption)


def test_an_open_order_is_not_measured_yet(demo_store):
    from streamlit.testing.v1 import AppTest

    store, _, _ = demo_store
    with scope.acting_as(SYSTEM):
        order_id = int(read_frame(store, sa.text("select min(order_id) from work_order")).iloc[0, 0])
        with store.begin() as conn:
            conn.execute(sa.text("update work_order set state = 'accepted' where order_id = :o"),
                         {"o": order_id})
    at = AppTest.from_function(_order_panel, kwargs={"order_id": order_id},
                               default_timeout=90).run()
    assert not at.exception and not at.metric
    assert any("once the order is resolved" in c.value for c in at.caption)


def test_the_tactic_table_ranks_the_working_tactics_first_with_a_csv(demo_store):
    from streamlit.testing.v1 import AppTest

    _, planted, _ = demo_store
    at = AppTest.from_function(_tactic_table, default_timeout=90).run()
    assert not at.exception
    table = at.dataframe[0].value
    works = {p["tactic"] for p in planted if p["outcome"] == "works"}
    assert set(table["Tactic 工具"].iloc[:len(works)]) == works
    assert len(at.get("download_button")) >= 1
    at.radio(key="arsenal_effect_by").set_value("order_kind").run()
    assert not at.exception
    assert set(at.dataframe[0].value["Order kind 工单类型"]) == {p["order_kind"] for p in planted}


def test_the_order_page_and_the_arsenal_show_whether_the_action_worked(app_as):
    """Wired into the pages: an order's own page has the panel, the arsenal the ranking."""
    store = create_workflow_engine(app_as.workflow_url)
    mart = create_mart_engine(os.environ["CONCERTO_MART_URL"], read_only=True)
    with scope.acting_as(SYSTEM):
        seed_arsenal(store)
        seed_effect_orders(store, mart)
        order_id = int(list_orders(store, None)["order_id"].iloc[0])
    at = app_as("analyst")
    at.query_params["order"] = str(order_id)
    at.run()
    at.switch_page("pages/workorders.py").run()
    assert not at.exception, at.exception
    assert any("Did it work? 效果跟踪" in m.value for m in at.markdown)
    at.switch_page("pages/arsenal.py").run()
    assert not at.exception, at.exception
    assert "What worked 效果排行" in [h.value for h in at.subheader]

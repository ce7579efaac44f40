"""Channel management: the evaluator's types on constructed channels, the three alerts on
planted and constructed cases, scope on the mart readers, work orders, and the page."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from analytics import channels as ce
from data_access.store import channel_orders
from data_access.mart import channels
from data_access.store import scope
from data_access.store import workorders
from data_access.store.auth import Principal
from data_access.db import ConcertoError, create_mart_engine
from data_access.store.workflow import create_workflow_engine
from tests.test_readable_pages import unreadable

RM_GONGBEI = Principal("rm_gongbei", "x", "regional_manager", "micro_region", "Gongbei")
CHANNEL_MGR = Principal("channel_mgr", "Channel manager", "channel_manager")


def _channel(channel_id: int, **changes: object) -> dict:
    """A plain mature franchise; tests change what they need."""
    base = dict(channel_id=channel_id, channel_name=f"Shop {channel_id}", channel_type="franchise",
                branch="Xiangzhou", micro_region="Gongbei", new_numbers=40, low_use=0,
                other_branch=0, revenue=20_000.0, service_cost=1_000.0, campaign_cost=0.0,
                new_revenue_month=60.0, age_months=60, new_before=20, new_recent=20,
                market_share=0.6)
    return base | changes


def _frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


# --- the evaluator on constructed channels ------------------------------------------------

CASES = {
    "arbitrage": dict(low_use=15),  # 37.5 % low use, net value positive
    "pioneering": dict(age_months=5),
    "growing": dict(new_before=10, new_recent=30),
    "activation_driven": dict(new_numbers=80, new_revenue_month=20.0, new_before=40,
                              new_recent=40),
    "competitive": dict(market_share=0.40),
    "mature": {},
}


def test_evaluator_gives_each_constructed_channel_its_type_and_action():
    rows = [_channel(i + 1, **change) for i, change in enumerate(CASES.values())]
    # Ordinary channels set the city references (median new numbers, ARPU, market share).
    rows += [_channel(10 + i, revenue=5_000.0) for i in range(6)]
    got = ce.evaluate_channels(_frame(*rows)).set_index("channel_id")
    for i, kind in enumerate(CASES):
        assert got.at[i + 1, "behaviour"] == kind, kind
    assert got.at[1, "action"] == "penalty and rectification"
    assert got.at[2, "action"] == "more promotion"
    assert got.at[3, "action"] == "increase stock orders"
    assert got.at[4, "action"] == "staff training"
    assert got.at[5, "action"] == "more promotion"
    assert got.at[6, "action"] == "reward"  # its ROI tops the low-revenue channels'
    assert got.at[10, "action"] == "staff training"  # mature, ROI below the median


def test_arbitrage_turns_to_termination_when_most_numbers_are_unused_or_value_is_negative():
    peers = [_channel(i, low_use=i % 2) for i in range(3, 12)]
    got = ce.evaluate_channels(_frame(
        _channel(1, low_use=25), _channel(2, low_use=15, revenue=100.0), *peers))
    assert list(got["action"][:2]) == ["termination", "termination"]
    assert (got["behaviour"][2:] != "arbitrage").all()


def test_low_use_is_judged_against_the_populations_own_usage():
    usage = pd.DataFrame({"mou": [40.0, 200, 240, 400, 1000], "data_mb": [100.0, 3000, 4000, 5000, 9000],
                          "revenue": [3.0, 40, 48, 60, 120]})
    cut = ce.low_use_cutoffs(usage)
    assert cut == {"mou": 30.0, "data_mb": 500.0, "revenue": 6.0}  # an eighth of each median
    heavier = ce.low_use_cutoffs(usage * 10)  # the same numbers in a heavier-using city
    assert heavier["mou"] == pytest.approx(300.0) and heavier["revenue"] == pytest.approx(60.0)


def test_sim_farming_is_judged_against_peers_of_the_same_type():
    # Social outlets here often sell numbers that are little used (a fifth of them): one
    # outlet at 30% is within its peers' spread; a franchise at 30% (its peers: 2%) is not.
    outlets = [_channel(i, channel_type="social_outlet", low_use=6 + i % 5) for i in range(1, 12)]
    shops = [_channel(20 + i, low_use=i % 2) for i in range(8)]
    busy = _channel(50, channel_type="social_outlet", low_use=12)
    farm = _channel(60, low_use=12)
    found = ce.detect_sim_farming(_frame(*outlets, *shops, busy, farm))
    assert list(found["channel_id"]) == [60]
    assert found.at[0, "expected"] < 0.05
    # a small outlet, 7 of 20 (35%, above the peers' fence) at a peer rate near 12%: a chance
    # of about 1% is not enough once every channel has been tested
    peers = [_channel(i, channel_type="social_outlet", low_use=4 + i % 3) for i in range(1, 20)]
    small = _channel(70, channel_type="social_outlet", new_numbers=20, low_use=7)
    assert ce.detect_sim_farming(_frame(*peers, small)).empty


def test_net_value_and_roi_follow_the_stated_formula():
    got = ce.evaluate_channels(_frame(_channel(1, channel_type="social_outlet",
                                               campaign_cost=500.0))).iloc[0]
    cost = 40 * ce.COMMISSION_PER_ACTIVATION["social_outlet"] + 500.0
    assert got["cost"] == pytest.approx(cost)
    assert got["net_value"] == pytest.approx(20_000 - 1_000 - cost)
    assert got["roi"] == pytest.approx((20_000 - 1_000 - cost) / cost)


def test_rule_table_lists_every_type_once_in_order():
    table = ce.rule_table()
    assert list(table["type"]) == list(ce.TYPES)
    assert table["action"].str.len().gt(0).all()


# --- the alerts on constructed cases -----------------------------------------------------

def test_sim_farming_fires_on_the_farming_channel_and_not_on_clean_ones():
    clean = [_channel(i, low_use=i % 2) for i in range(1, 20)]
    assert ce.detect_sim_farming(_frame(*clean)).empty
    found = ce.detect_sim_farming(_frame(*clean, _channel(99, low_use=20)))
    assert list(found["channel_id"]) == [99]
    assert found.at[0, "score"] == pytest.approx(0.5)
    assert "20 of 40 new numbers" in found.at[0, "reason"]
    few = ce.detect_sim_farming(_frame(*clean, _channel(99, new_numbers=8, low_use=4)))
    assert few.empty  # half of 8 is striking, but 4 numbers are too little to go on


def test_cross_region_fires_on_a_shop_selling_to_another_branch_but_not_on_e_channels():
    # No planted cross-region case exists in the generator: these are constructed.
    clean = [_channel(i, other_branch=1) for i in range(1, 10)]
    online = _channel(50, channel_type="e_channel", other_branch=30)
    assert ce.detect_cross_region(_frame(*clean, online)).empty
    found = ce.detect_cross_region(_frame(*clean, online, _channel(60, other_branch=25)))
    assert list(found["channel_id"]) == [60]
    assert "25 of 40" in found.at[0, "reason"]


def _stock(channel_id: int, low_days: int, recent: int, expected: float,
           usual: float = 0.0) -> dict:
    return dict(channel_id=channel_id, channel_name=f"Shop {channel_id}", channel_type="franchise",
                branch="Doumen", micro_region="Jing'an", recent_days=14, low_days=low_days,
                recent_sales=recent, expected_sales=expected, last_stock=0, min_stock=0,
                normal_stock=30.0, baseline_low_share=usual)


def test_stock_shortage_needs_empty_shelves_and_lost_sales():
    clean = _frame(_stock(1, 3, 10, 10.0), _stock(2, 12, 1, 1.0), _stock(3, 10, 10, 10.0),
                   _stock(5, 9, 3, 10.0, usual=0.5))  # always short: nothing new
    assert ce.detect_stock_shortage(clean).empty
    found = ce.detect_stock_shortage(pd.concat([clean, _frame(_stock(4, 14, 2, 10.0))]))
    assert list(found["channel_id"]) == [4] and found.at[0, "score"] == pytest.approx(1.0)
    assert "usual level (30)" in found.at[0, "reason"]


# --- on the test mart (DuckDB and PostgreSQL) --------------------------------------------

@pytest.fixture
def mart(any_mart: str):
    engine = create_mart_engine(any_mart, read_only=True)
    yield engine
    engine.dispose()


def _planted(mart, kind: str) -> dict:
    from data_access.mart import queries

    truths = queries.load_planted_truths(mart)
    row = truths[truths["kind"] == kind].iloc[0]
    return {"where": json.loads(row["where_json"]), "detail": json.loads(row["detail"]),
            "period": row["period"]}


@pytest.fixture
def planted_mart(any_planted_mart: str):
    """The test mart of variant a (DuckDB, PostgreSQL) and of variant b (DuckDB)."""
    engine = create_mart_engine(any_planted_mart, read_only=True)
    yield engine
    engine.dispose()


def test_sim_farming_alert_fires_on_the_planted_channel(planted_mart):
    mart = planted_mart
    truth = _planted(mart, "sim_farming")
    months = channels.window_months(mart)
    metrics = channels.load_channel_metrics(mart, months)
    found = ce.detect_sim_farming(metrics)
    planted = truth["where"]["channel_id"]
    assert planted in set(found["channel_id"])
    row = metrics.set_index("channel_id").loc[planted]
    farmed = truth["detail"]["farmed_numbers"]
    assert row["low_use"] >= 0.8 * farmed
    low_elsewhere = int(metrics.loc[metrics["channel_id"] != planted, "low_use"].sum())
    rate = ce.false_alarm_rate(found, metrics["channel_id"], {planted})
    print(f"SIM farming: {int(row['low_use'])} low-use numbers at the farm ({farmed} farmed), "
          f"{low_elsewhere} elsewhere; false-alarm rate on the other {len(metrics) - 1} "
          f"channels: {rate:.1%}")
    assert low_elsewhere <= 0.5 * farmed  # the low-use line catches farming, not customers
    assert rate <= 0.03
    evaluated = ce.evaluate_channels(metrics).set_index("channel_id")
    assert evaluated.at[planted, "behaviour"] == "arbitrage"
    assert (evaluated["behaviour"] == "arbitrage").sum() == 1
    assert evaluated.at[planted, "action"] in ("termination", "penalty and rectification")


def test_cross_region_alert_fires_on_the_planted_outlet_only(planted_mart):
    """Variant a plants no cross-region selling (the alert must stay silent); variant b has a
    Doumen outlet selling about 40% of its new numbers to Xiangzhou customers."""
    from data_access.mart import queries

    truths = queries.load_planted_truths(planted_mart)
    planted = {json.loads(w)["channel_id"]
               for w in truths.loc[truths["kind"] == "cross_region", "where_json"]}
    metrics = channels.load_channel_metrics(planted_mart, channels.window_months(planted_mart))
    found = ce.detect_cross_region(metrics)
    assert set(found["channel_id"]) == planted
    for row in found.itertuples():
        assert row.expected < 0.05 < 0.3 < row.actual  # peers sell almost only at home


def test_stock_shortage_alert_fires_on_the_planted_drop(planted_mart):
    mart = planted_mart
    truth = _planted(mart, "activation_drop")
    assert truth["detail"]["cause"] == "stock_shortage"
    stock = channels.load_stock_summary(mart)
    found = ce.detect_stock_shortage(stock)
    planted = truth["where"]["channel_id"]
    assert planted in set(found["channel_id"])
    rate = ce.false_alarm_rate(found, stock["channel_id"], {planted})
    print(f"stock-shortage false-alarm rate on the other channels: {rate:.1%}")
    assert rate <= 0.05


def test_channel_history_and_low_use_numbers_show_the_farming(planted_mart):
    mart = planted_mart
    planted = _planted(mart, "sim_farming")["where"]["channel_id"]
    history = channels.load_channel_history(mart, planted)
    assert history["low_use_new"].sum() > 0
    assert (history["low_use_new"] <= history["new_subs"]).all()
    days = channels.load_channel_days(mart, planted, days=30)
    assert len(days) == 30
    low = channels.load_low_use_numbers(mart, planted, channels.window_months(mart))
    assert len(low) > 0 and low["number"].str.endswith("****").all()  # acting as nobody


def test_readers_return_only_the_regional_managers_channels(mart):
    months = channels.window_months(mart)
    everyone = channels.load_channel_metrics(mart, months)
    outside = int(everyone.loc[everyone["micro_region"] != "Gongbei", "channel_id"].iloc[0])
    with scope.acting_as(RM_GONGBEI):
        metrics = channels.load_channel_metrics(mart, months)
        stock = channels.load_stock_summary(mart)
        assert len(metrics) > 0 and set(metrics["micro_region"]) == {"Gongbei"}
        assert set(stock["channel_id"]) == set(metrics["channel_id"])
        assert channels.load_channel_history(mart, outside).empty
        assert channels.load_channel_days(mart, outside).empty
        assert channels.load_low_use_numbers(mart, outside, months).empty


def test_window_needs_two_months(mart):
    with pytest.raises(ConcertoError, match="months"):
        channels.load_channel_metrics(mart, channels.window_months(mart)[-1:])


# --- work orders and workflow alerts (SQLite and PostgreSQL) -------------------------------

ALERT = dict(channel_id=25, channel_name="Qianwu Shop", channel_type="social_outlet",
             branch="Jinwan", micro_region="Qianwu", metric="sim_farming", score=0.66,
             actual=0.66, expected=0.0, reason="35 of 53 new numbers had almost no use.")


def test_a_channel_alert_becomes_a_work_order_for_the_channel_manager(workflow):
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    order_id = channel_orders.raise_channel_order(workflow, CHANNEL_MGR, ALERT, due_at=due,
                                                  note="Visit the shop.")
    order = workorders.load_order(workflow, CHANNEL_MGR, order_id)
    assert (order["unit_level"], order["unit_key"], order["metric"]) == ("channel", "25",
                                                                        "sim_farming")
    assert order["owner_role"] == "channel_manager" and order["state"] == "new"
    assert "Visit the shop." in order["detail"]
    with pytest.raises(ConcertoError, match="metric"):
        channel_orders.raise_channel_order(workflow, CHANNEL_MGR, {**ALERT, "metric": "x"},
                                           due_at=due)


def test_channel_alerts_are_recorded_once_for_dispatch(workflow):
    from data_access.store import diagnosis

    alerts = pd.DataFrame([ALERT, {**ALERT, "metric": "stock_shortage", "channel_id": 5}])
    assert channel_orders.record_channel_alerts(workflow, alerts, "2026-10") == 2
    assert channel_orders.record_channel_alerts(workflow, alerts, "2026-10") == 0
    listed = diagnosis.list_alerts(workflow)
    assert set(listed["source"]) == {"channel"}
    assert set(listed["metric"]) == {"sim_farming", "stock_shortage"}


# --- the page -----------------------------------------------------------------------------

CHANNEL_VIEW = "Channel view 渠道全息"


def test_channels_page_opens_the_farming_channel_and_raises_a_work_order(app_as):
    at = app_as("channel_mgr")
    at.session_state["channels_tab"] = CHANNEL_VIEW
    at.switch_page("pages/channels.py").run()
    assert not at.exception
    assert any("Channels" in t.value for t in at.title)
    picker = at.selectbox(key="channels_pick")
    assert picker.value == 25  # the planted farming channel is flagged first
    at.text_area(key="channels_order_note").set_value("Check the shop's SIM stock.")
    at.button(key="channels_order_submit").click().run()
    assert not at.exception
    assert any("Work order #" in s.value for s in at.success)
    engine = create_workflow_engine(app_as.workflow_url)
    orders = workorders.load_order(engine, CHANNEL_MGR, 1)
    engine.dispose()
    assert orders["metric"] == "sim_farming" and orders["unit_key"] == "25"


def test_channels_page_for_a_regional_manager_shows_their_channels_only(app_as):
    at = app_as("rm_gongbei")
    at.session_state["channels_tab"] = CHANNEL_VIEW
    at.switch_page("pages/channels.py").run()
    assert not at.exception
    options = at.selectbox(key="channels_pick").options
    shown = [o.removeprefix("⚠ ").split(" · ")[0] for o in options]
    assert shown and "25" not in shown


def _evaluated() -> pd.DataFrame:
    return pd.DataFrame({"channel_id": [1, 2, 3, 4, 5],
                         "net_value": [500.0, 9000.0, 500.0, -200.0, 3000.0],
                         "roi": [0.2, 1.5, 0.9, -0.1, 8.0],
                         "behaviour": ["mature", "mature", "growing", "mature", "arbitrage"]})


def test_channels_are_ranked_most_valuable_first():
    ranked = ce.rank_channels(_evaluated())
    # net value descending; equal net value falls back to ROI, descending
    assert ranked["channel_id"].tolist() == [2, 5, 3, 1, 4]


def test_a_flagged_channel_has_a_suspect_roi_whatever_its_size():
    alerts = pd.DataFrame({"channel_id": [3, 1], "metric": ["cross_region", "stock_shortage"]})
    ranked = ce.rank_channels(_evaluated(), alerts).set_index("channel_id")
    # arbitrage (SIM farming) and cross-region selling make ROI meaningless; a stock shortage
    # says nothing about whether sales are real
    assert ranked.loc[5, "roi_suspect"] and "SIM farming" in ranked.loc[5, "roi_note"]
    assert ranked.loc[3, "roi_suspect"] and "cross-region" in ranked.loc[3, "roi_note"]
    assert not ranked.loc[1, "roi_suspect"] and not ranked.loc[2, "roi_suspect"]


def test_channels_page_runs_only_the_open_tab_and_keeps_the_picked_channel(app_as, duck_mart):
    """The landing draws the evaluator alone; a tab switch runs that tab; a channel picked in
    the channel view is still picked after a visit to another tab."""
    at = app_as("channel_mgr")
    at.switch_page("pages/channels.py").run()
    assert not at.exception
    assert any("ROI note 说明" in d.value.columns for d in at.dataframe)  # the evaluator
    assert "channels_pick" not in [s.key for s in at.selectbox] and not at.metric
    at.session_state["channels_tab"] = CHANNEL_VIEW
    at.run()
    first = at.selectbox(key="channels_pick").value
    at.selectbox(key="channels_pick").select_index(1).run()
    picked = at.selectbox(key="channels_pick").value
    assert picked != first and at.metric and not at.exception
    at.session_state["channels_tab"] = "Value evaluator 价值评估"
    at.run()
    assert "channels_pick" not in [s.key for s in at.selectbox]
    at.session_state["channels_tab"] = CHANNEL_VIEW
    at.run()
    assert at.selectbox(key="channels_pick").value == picked
    # its stock now is the stock summary's last day (read from the channel's own days)
    engine = create_mart_engine(duck_mart, read_only=True)
    with scope.acting_as(scope.SYSTEM):
        summary = channels.load_stock_summary(engine).set_index("channel_id")
    engine.dispose()
    shown = {m.label: m.value for m in at.metric}["Stock now 库存"]
    assert shown == f"{int(summary.loc[picked, 'last_stock']):,}"


def test_channels_page_withholds_the_farming_channels_roi_and_reads_as_words(app_as):
    at = app_as("channel_mgr")
    at.switch_page("pages/channels.py").run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "ROI note 说明" in d.value.columns)
    roi, note = table["ROI 投入产出比"], table["ROI note 说明"]
    assert list(table.columns[:2]) == ["Channel 渠道", "ROI 投入产出比"]  # ROI on screen
    suspect = note.str.startswith("not meaningful")
    assert suspect.any() and roi[suspect].isna().all() and roi[~suspect].notna().any()
    assert unreadable(at) == []
    at.session_state["channels_tab"] = CHANNEL_VIEW
    at.run()
    # the picked channel (the flagged one) shows no proud ROI beside its action
    shown = {m.label: m for m in at.metric}
    assert shown["ROI"].value == "n/a" and "not meaningful" in shown["ROI"].help
    assert unreadable(at) == []

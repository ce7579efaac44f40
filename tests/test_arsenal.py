"""The marketing arsenal: the starter catalogue, levels, picks on work orders, versioned edits,
retention suggestions, and the page under AppTest."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.ops import arsenal as rules
from data_access.store import arsenal as store
from data_access.store import arsenal_picks as picks
from data_access.store.audit import load_audit
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError
from data_access.store.demo_users import DEMO_USERS
from data_access.store.workflow import StaleWrite, create_workflow_engine
from data_access.store.workorders import work_order

PEOPLE = {u: Principal(u, name, role, level, value) for u, role, name, level, value in DEMO_USERS}
CATALOGUE = store.read_catalogue(store.ASSET)


def _order(engine: sa.Engine, *, assignee: str | None = "channel_mgr", state: str = "dispatched",
           branch: str | None = "Xiangzhou", micro_region: str | None = "Gongbei",
           title: str = "Activations fell at outlet 42") -> int:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        return conn.execute(sa.insert(work_order).values(
            kind="task", title=title, state=state, priority="normal", unit_level="channel",
            unit_key="42", unit_label="Outlet 42", branch=branch, micro_region=micro_region,
            owner_role="channel_manager", assignee=assignee, created_by="analyst",
            created_at=now, due_at=now + dt.timedelta(days=2), version=1,
        )).inserted_primary_key[0]


def _id(engine: sa.Engine, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(store.tactic.c.tactic_id)
                            .where(store.tactic.c.code == code)).scalar_one()


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _actions(engine: sa.Engine) -> list[str]:
    return load_audit(engine)["action"].tolist()


@pytest.fixture
def arsenal(workflow: sa.Engine) -> sa.Engine:
    """A fresh store (SQLite and PostgreSQL) with the starter catalogue loaded."""
    assert store.seed_arsenal(workflow) == len(CATALOGUE)
    return workflow


# --- the catalogue file -------------------------------------------------------------------

def test_starter_catalogue_is_valid_and_covers_every_kind_level_and_reason():
    assert 20 <= len(CATALOGUE) <= 30
    assert CATALOGUE["code"].is_unique
    assert set(CATALOGUE["kind"]) == set(rules.KINDS)
    assert set(CATALOGUE["auth_level"]) == set(rules.LEVELS)
    assert set(CATALOGUE["target"]) == set(rules.TARGETS)
    answered = {tag for tags in CATALOGUE["addresses"] for tag in tags.split(";")}
    assert answered == set(rules.REASONS)
    for row in CATALOGUE.to_dict("records"):  # every normalised row passes the check again
        assert rules.check_tactic(row)["code"] == row["code"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in row["name"]), row["name"]  # bilingual


def test_docstring_examples_hold():
    import doctest

    from analytics.ops import arsenal_catalogue

    for module in (rules, arsenal_catalogue):
        result = doctest.testmod(module)
        assert result.attempted and not result.failed


def test_catalogue_vocabulary_matches_the_mart():
    from data_access.mart import schema
    from data_access.synth.dims import PLANS

    assert rules.SEGMENTS == tuple(schema.SEGMENTS)
    families = {f for tags in CATALOGUE["plan_families"] for f in tags.split(";") if f}
    assert families <= set(PLANS["plan_family"])


BROKEN = {
    "bad level": ("RETCALL", "auth_level", "4", "line 12 (code RETCALL), auth_level"),
    "negative cost": ("BILLCR30", "unit_cost", "-5", "line 5 (code BILLCR30), unit_cost"),
    "unknown kind": ("GIFTPACK", "kind", "voucher", "line 18 (code GIFTPACK), kind: 'voucher'"),
    "unknown reason": ("POSKIT", "addresses", "low_footfall;bad_weather", "addresses: 'bad_weather'"),
    "duplicate code": ("CAMPUSDATA", "code", "DATA10G3M", "line 3, code: 'DATA10G3M' is used twice"),
    "min above max": ("UPGRADE5G", "min_arpu", "120", "line 4 (code UPGRADE5G), max_arpu"),
    "channel with segments": ("STOCKXFER", "segments", "mass", "(code STOCKXFER), segments"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_catalogue_names_line_and_column_and_loads_nothing(workflow, tmp_path, case):
    code, column, value, expected = BROKEN[case]
    frame = pd.read_csv(store.ASSET, dtype=str, keep_default_na=False)
    frame.loc[frame["code"] == code, column] = value
    path = tmp_path / "arsenal.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ConcertoError, match="arsenal.csv") as caught:
        store.load_catalogue(workflow, path)
    assert expected in str(caught.value)
    assert _count(workflow, store.tactic) == 0
    assert "arsenal_load" not in _actions(workflow)


def test_a_catalogue_with_a_missing_column_or_no_rows_is_refused(workflow, tmp_path):
    frame = pd.read_csv(store.ASSET, dtype=str, keep_default_na=False)
    frame.drop(columns=["target"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ConcertoError, match="column target: missing"):
        store.load_catalogue(workflow, tmp_path / "a.csv")
    frame.head(0).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ConcertoError, match="no tactics"):
        store.load_catalogue(workflow, tmp_path / "b.csv")
    with pytest.raises(ConcertoError, match="no such catalogue file"):
        store.load_catalogue(workflow, tmp_path / "missing.csv")
    assert _count(workflow, store.tactic) == 0


def test_seeding_again_adds_nothing_and_keeps_edits(arsenal):
    admin = PEOPLE["admin"]
    tid = _id(arsenal, "GIFTPACK")
    store.set_active(arsenal, admin, tid, False, version=1)
    assert store.seed_arsenal(arsenal) == 0
    kept = store.load_tactic(arsenal, tid)
    assert not kept["active"] and kept["version"] == 2
    assert _actions(arsenal).count("arsenal_load") == 1


# --- who sees and picks what -------------------------------------------------------------

def test_front_line_cannot_see_or_pick_a_level_3_tactic_while_admin_can(arsenal):
    order = _order(arsenal)
    front = store.list_tactics(arsenal, PEOPLE["channel_mgr"])
    assert len(front) and (front["auth_level"] == 1).all() and front["may_pick"].all()
    assert "LEASEDLINE" not in set(front["code"])
    with pytest.raises(Forbidden, match="needs authorisation level 3"):
        picks.pick_tactic(arsenal, PEOPLE["channel_mgr"], _id(arsenal, "EXCLUSIVE"), order)
    everything = store.list_tactics(arsenal, PEOPLE["admin"])
    assert len(everything) == len(CATALOGUE) and everything["may_pick"].all()
    pick = picks.pick_tactic(arsenal, PEOPLE["admin"], _id(arsenal, "EXCLUSIVE"), order)
    assert picks.list_picks(arsenal, order)["pick_id"].tolist() == [pick]


def test_a_manager_of_the_arsenal_sees_every_tactic_and_which_they_may_pick(arsenal):
    listed = store.list_tactics(arsenal, PEOPLE["marketer"]).set_index("code")  # level 2
    assert len(listed) == len(CATALOGUE)
    assert not listed.loc["LEASEDLINE", "may_pick"] and listed.loc["BILLCR120", "may_pick"]
    assert len(store.list_tactics(arsenal, PEOPLE["rm_xiangzhou"])) == (
        CATALOGUE["auth_level"] <= 2).sum()
    assert not store.list_tactics(arsenal, PEOPLE["exec"])["may_pick"].any()  # may not pick


def test_a_pick_is_attached_to_the_order_with_its_total_cost_and_audited(arsenal):
    order = _order(arsenal)
    pick = picks.pick_tactic(arsenal, PEOPLE["channel_mgr"], _id(arsenal, "CHANBONUS"), order,
                             quantity=30, target_key="42", note="weekend push")
    row = picks.list_picks(arsenal, order).iloc[0]
    assert (row["pick_id"], row["code"], row["quantity"]) == (pick, "CHANBONUS", 30)
    assert (row["unit_cost"], row["total_cost"], row["status"]) == (20.0, 600.0, "picked")
    assert row["order_title"] == "Activations fell at outlet 42"
    audit = load_audit(arsenal, entity_id=str(pick))
    assert audit["action"].tolist() == ["tactic_pick"]
    assert json.loads(audit["after_json"].iloc[0])["total_cost"] == 600.0
    assert picks.list_picks(arsenal, _order(arsenal)).empty  # another order has none


def test_picks_on_closed_unknown_or_other_peoples_orders_are_refused(arsenal):
    call = _id(arsenal, "RETCALL")
    who = PEOPLE["channel_mgr"]
    for state in ("closed", "rejected"):
        with pytest.raises(ConcertoError, match=f"order_id: work order #\\d+ is {state}"):
            picks.pick_tactic(arsenal, who, call, _order(arsenal, state=state))
    with pytest.raises(ConcertoError, match="order_id: there is no work order #999"):
        picks.pick_tactic(arsenal, who, call, 999)
    theirs = _order(arsenal, assignee="account_mgr")
    with pytest.raises(Forbidden, match="assigned to account_mgr"):
        picks.pick_tactic(arsenal, who, call, theirs)
    with pytest.raises(Forbidden, match="may not pick tactics"):
        picks.pick_tactic(arsenal, PEOPLE["analyst"], call, _order(arsenal, assignee="analyst"))
    assert _count(arsenal, store.tactic_pick) == 0
    # a dispatcher may pick on orders in their scope only
    rm = PEOPLE["rm_xiangzhou"]
    assert picks.pick_tactic(arsenal, rm, call, theirs)
    doumen = _order(arsenal, assignee="account_mgr", branch="Doumen", micro_region="Baijiao")
    with pytest.raises(Forbidden, match="outside Xiangzhou"):
        picks.pick_tactic(arsenal, rm, call, doumen)


def test_quantity_limits_per_customer_and_inactive_tactics(arsenal):
    order, who = _order(arsenal), PEOPLE["channel_mgr"]
    call = _id(arsenal, "RETCALL")  # at most 2 per customer
    for bad, message in ((0, "at least 1"), (3, "at most 2 per customer"), ("x", "whole number")):
        with pytest.raises(ConcertoError, match=f"quantity: .*{message}"):
            picks.pick_tactic(arsenal, who, call, order, quantity=bad)
    picks.pick_tactic(arsenal, who, call, order, target_key="1001")
    first = picks.pick_tactic(arsenal, who, call, order, target_key="1001")
    with pytest.raises(ConcertoError, match="1001 already has 2"):
        picks.pick_tactic(arsenal, who, call, _order(arsenal), target_key="1001")
    picks.cancel_pick(arsenal, who, first, note="customer declined")
    assert picks.pick_tactic(arsenal, who, call, order, target_key="1001")  # room again
    gift = _id(arsenal, "GIFTPACK")
    store.set_active(arsenal, PEOPLE["marketer"], gift, False, version=1)
    with pytest.raises(ConcertoError, match="GIFTPACK is deactivated"):
        picks.pick_tactic(arsenal, who, gift, order)
    assert "GIFTPACK" not in set(store.list_tactics(arsenal, who)["code"])


def test_concurrent_picks_for_one_customer_cannot_both_exceed_the_limit(arsenal):
    order, call = _order(arsenal), _id(arsenal, "RETCALL")  # at most 2 per customer
    start, outcomes = threading.Barrier(2), []

    def pick() -> None:
        start.wait()
        try:
            picks.pick_tactic(arsenal, PEOPLE["channel_mgr"], call, order, quantity=2,
                              target_key="1001")
            outcomes.append("picked")
        except ConcertoError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=pick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[0] == "picked" and "1001 already has 2" in sorted(outcomes)[1]
    assert picks.list_picks(arsenal, order)["quantity"].sum() == 2


def test_cancelling_a_pick(arsenal):
    order, who = _order(arsenal), PEOPLE["channel_mgr"]
    pick = picks.pick_tactic(arsenal, who, _id(arsenal, "POSKIT"), order)
    with pytest.raises(Forbidden, match="made by channel_mgr"):
        picks.cancel_pick(arsenal, PEOPLE["account_mgr"], pick)
    picks.cancel_pick(arsenal, who, pick, note="outlet refused the posters")
    row = picks.list_picks(arsenal, order).iloc[0]
    assert (row["status"], row["cancelled_by"], row["note"]) == (
        "cancelled", "channel_mgr", "outlet refused the posters")
    with pytest.raises(ConcertoError, match="already cancelled"):
        picks.cancel_pick(arsenal, who, pick)
    assert picks.list_picks(arsenal, order, include_cancelled=False).empty
    assert "tactic_pick_cancel" in _actions(arsenal)


# --- editing the catalogue ---------------------------------------------------------------

def test_two_saves_from_one_version_one_wins_the_other_is_stale(arsenal):
    tid = _id(arsenal, "BILLCR30")
    read = store.load_tactic(arsenal, tid)
    mine = {**{k: read[k] for k in rules.COLUMNS}, "unit_cost": 35.0}
    theirs = {**mine, "unit_cost": 25.0, "name": "Bill credit ¥25 话费返还"}
    store.save_tactic(arsenal, PEOPLE["marketer"], mine, tactic_id=tid, version=read["version"])
    with pytest.raises(StaleWrite, match="changed by marketer"):
        store.save_tactic(arsenal, PEOPLE["admin"], theirs, tactic_id=tid, version=read["version"])
    with pytest.raises(StaleWrite):
        store.set_active(arsenal, PEOPLE["admin"], tid, False, version=read["version"])
    now = store.load_tactic(arsenal, tid)
    assert (now["unit_cost"], now["version"], now["active"]) == (35.0, 2, True)
    audit = load_audit(arsenal, entity_id=str(tid))
    assert audit["action"].tolist() == ["tactic_update"]
    assert json.loads(audit["before_json"].iloc[0])["unit_cost"] == 30.0
    assert json.loads(audit["after_json"].iloc[0])["unit_cost"] == 35.0


def test_concurrent_saves_of_one_tactic_let_exactly_one_win(arsenal):
    tid = _id(arsenal, "DATA10G3M")
    read = store.load_tactic(arsenal, tid)
    start, outcomes = threading.Barrier(2), []

    def save(who: str, cost: float) -> None:
        values = {**{k: read[k] for k in rules.COLUMNS}, "unit_cost": cost}
        start.wait()
        try:
            store.save_tactic(arsenal, PEOPLE[who], values, tactic_id=tid, version=1)
            outcomes.append(("saved", cost))
        except StaleWrite:
            outcomes.append(("stale", cost))

    threads = [threading.Thread(target=save, args=a) for a in (("marketer", 16.0),
                                                                ("admin", 17.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o for o, _ in outcomes) == ["saved", "stale"]
    winner = next(cost for o, cost in outcomes if o == "saved")
    assert store.load_tactic(arsenal, tid)["unit_cost"] == winner
    assert store.load_tactic(arsenal, tid)["version"] == 2


def test_saving_tactics_needs_the_permission_and_valid_fields(arsenal):
    fresh = dict(code="SIMGIFT", name="Free second SIM 副卡赠送", kind="gift", unit_cost=12,
                 auth_level=1, target="subscriber", addresses="competitor_pressure")
    with pytest.raises(Forbidden, match="may not edit the marketing arsenal"):
        store.save_tactic(arsenal, PEOPLE["channel_mgr"], fresh)
    for field, bad, message in (("kind", "coupon", "kind: 'coupon'"),
                                ("auth_level", 0, "auth_level: 0"),
                                ("unit_cost", -1, "unit_cost: -1"),
                                ("segments", "students", "segments: 'students'"),
                                ("code", "bad code", "code: 'bad code'")):
        with pytest.raises(ConcertoError, match=message):
            store.save_tactic(arsenal, PEOPLE["marketer"], {**fresh, field: bad})
    tid = store.save_tactic(arsenal, PEOPLE["marketer"], fresh)
    assert store.load_tactic(arsenal, tid)["version"] == 1
    with pytest.raises(ConcertoError, match="'SIMGIFT' is already used"):
        store.save_tactic(arsenal, PEOPLE["admin"], fresh)
    with pytest.raises(ConcertoError, match="code cannot change"):
        store.save_tactic(arsenal, PEOPLE["admin"], {**fresh, "code": "OTHER"}, tactic_id=tid,
                          version=1)
    assert _actions(arsenal).count("tactic_create") == 1


# --- eligibility and suggestions (pure) --------------------------------------------------

MASS = dict(segment="mass", arpu=88.0, tenure_months=30, plan_family="postpaid")


def test_eligibility_reads_segment_arpu_band_tenure_plan_and_target():
    t = CATALOGUE.set_index("code", drop=False)
    youth = rules.eligible(CATALOGUE, dict(segment="youth", arpu=60, tenure_months=2,
                                           plan_family="data"))["code"]
    assert {"CAMPUSDATA", "DATA10G3M", "RETCALL"} <= set(youth)
    assert "UPGRADE5G" not in set(youth)  # needs 3 months
    assert "CAMPUSDATA" in set(rules.eligible(t, dict(segment="youth", arpu=60.0,
                                                      plan_family="data"))["code"])  # ≤ bound
    assert "CAMPUSDATA" not in set(rules.eligible(t, dict(segment="youth", arpu=60.01,
                                                          plan_family="data"))["code"])
    assert set(rules.eligible(CATALOGUE, {})["code"]) == {"RETCALL", "COMPLAINTFIX",
                                                           "WELCOMECALL"}  # no rules at all
    channel = set(rules.eligible(CATALOGUE, {"target": "channel"})["code"])
    assert channel == set(CATALOGUE.loc[CATALOGUE["target"] == "channel", "code"])
    assert rules.visible_for_level(CATALOGUE, 1)["auth_level"].max() == 1


@pytest.mark.parametrize("reasons, profile, level, expected", [
    (["arpu_drop", "discount_ending", "competitor_pressure"], MASS, 1, "RETCALL"),
    (["data_near_quota"], dict(segment="youth", arpu=40, tenure_months=2, plan_family="data"),
     1, "CAMPUSDATA"),
    (["data_near_quota", "arpu_drop"], dict(segment="mass", arpu=58, tenure_months=12,
                                            plan_family="postpaid"), 1, "DATA10G3M"),
    (["stock_shortage"], {"target": "channel"}, 1, "STOCKXFER"),
    (["goods_moved", "stock_shortage"], {"target": "channel"}, 1, "DIVERSIONAUDIT"),
    (["competitor_pressure", "discount_ending"], {"target": "group", "segment": "enterprise",
                                                  "tenure_months": 36}, 1, "GROUPVISIT"),
    (["competitor_pressure", "discount_ending"], {"target": "group", "segment": "enterprise",
                                                  "tenure_months": 36}, 3, "GROUPBUNDLE"),
    (["rival_products", "goods_moved"], {"target": "channel"}, 3, "EXCLUSIVE"),
    (["tenure_short", "low_usage"], dict(segment="youth", arpu=18, tenure_months=2,
                                         plan_family="prepaid"), 1, "WELCOMECALL"),
    (["prepaid_plan", "social_outlet"], dict(segment="mass", arpu=38, tenure_months=9,
                                             plan_family="prepaid"), 1, "PRE2POST"),
], ids=["three reasons", "quota youth", "quota and arpu", "stock", "moved goods", "group l1",
        "group l3", "rival outlet l3", "new and quiet", "prepaid"])
def test_suggest_retention_on_hand_made_reasons(reasons, profile, level, expected):
    best = rules.suggest_retention(CATALOGUE, reasons, profile, level)
    assert best is not None and best["code"] == expected
    assert best["answered"] == len(best["answers"].split(";"))


def test_suggest_retention_ties_nothing_and_unknown_reasons():
    base = dict(kind="offer", segments="", min_arpu=None, max_arpu=None, min_tenure_months=0,
                plan_families="", target="subscriber", active=True, addresses="arpu_drop")
    tied = pd.DataFrame([{**base, "code": "ZED", "unit_cost": 10.0, "auth_level": 1},
                         {**base, "code": "ALPHA", "unit_cost": 10.0, "auth_level": 1},
                         {**base, "code": "AAA", "unit_cost": 10.0, "auth_level": 2},
                         {**base, "code": "CHEAP", "unit_cost": 5.0, "auth_level": 1,
                          "active": False}])
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):  # input order does not matter
        assert rules.suggest_retention(tied.iloc[order], ["arpu_drop"], {}, 2)["code"] == "ALPHA"
    assert rules.suggest_retention(tied, ["service_complaint"], {}, 3) is None
    assert rules.suggest_retention(tied, [], {}, 3) is None
    assert rules.suggest_retention(CATALOGUE, ["low_footfall"], MASS, 3) is None  # channel only
    assert rules.suggest_retention(tied, ["social_outlet"], {}, 3) is None  # not a REASON
    best = rules.suggest_retention(tied, ["social_outlet", "arpu_drop", "arpu_drop"], {}, 1)
    assert (best["code"], best["answered"], best["answers"]) == ("ALPHA", 1, "arpu_drop")


def test_the_arsenal_answers_the_churn_model_reasons():
    churn_reasons = pytest.importorskip("analytics.churn.reasons")
    # the second tag of each driver (the value points the other way), and drivers no tactic
    # changes (where a customer was activated, their segment, branch, …)
    not_actionable = {"arpu_trend", "usage_trend", "usage_level", "discount", "data_quota",
                      "rivals", "tenure", "plan", "enterprise_group", "activation_channel",
                      "segment", "spend_level", "benefits", "network", "branch"}
    assert set(churn_reasons.TAGS) - not_actionable <= set(rules.REASONS)


# --- the page ------------------------------------------------------------------------------

def _open(at):
    at.switch_page("pages/arsenal.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Marketing arsenal 营销武器库"
    return at


def _codes(at) -> set[str]:
    return set(at.dataframe[0].value["Code 编码"])


def test_arsenal_page_front_line_sees_level_1_and_picks_for_an_order(app_as):
    engine = create_workflow_engine(app_as.workflow_url)
    order = _order(engine, title="Restock the Gongbei outlet")
    at = _open(app_as("channel_mgr"))
    assert _codes(at) == set(CATALOGUE.loc[CATALOGUE["auth_level"] == 1, "code"])
    assert any("level is 1" in c.value for c in at.caption)
    at.number_input(key="arsenal_pick_order").set_value(999).run()
    assert any("there is no work order #999" in e.value for e in at.error)
    assert at.button(key="arsenal_pick").disabled
    at.selectbox(key="arsenal_pick_tactic").set_value(_id(engine, "STOCKXFER"))
    at.number_input(key="arsenal_pick_order").set_value(order).run()
    assert any("Restock the Gongbei outlet" in s.value for s in at.success)
    at.number_input(key="arsenal_pick_quantity").set_value(2)
    at.button(key="arsenal_pick").click().run()
    assert not at.exception, at.exception
    row = picks.list_picks(engine, order).iloc[0]
    assert (row["code"], row["quantity"], row["total_cost"]) == ("STOCKXFER", 2, 100.0)
    assert "¥100.00" in set(at.dataframe[-1].value["Total 合计"])
    at.multiselect(key="arsenal_reasons").set_value(["goods_moved"]).run()
    assert _codes(at) == {"DIVERSIONAUDIT"}
    at.multiselect(key="arsenal_kinds").set_value(["gift"]).run()
    assert not at.exception, at.exception
    assert _codes(at) == set()
    engine.dispose()


def test_arsenal_page_marketer_edits_and_meets_a_stale_version(app_as):
    at = _open(app_as("marketer"))
    assert "LEASEDLINE" in _codes(at)  # a manager of the arsenal sees every level
    engine = create_workflow_engine(app_as.workflow_url)
    tid = _id(engine, "BILLCR30")
    at.selectbox(key="arsenal_edit_choice").set_value(tid).run()
    form = f"arsenal_edit_{tid}_1"
    at.text_input(key=f"{form}_name").set_value("Bill credit ¥30 on next bill 话费返还")
    at.button(key=f"FormSubmitter:{form}-Save 保存").click().run()
    assert not at.exception, at.exception
    assert store.load_tactic(engine, tid)["name"] == "Bill credit ¥30 on next bill 话费返还"
    # someone else saves version 2 while the marketer's editor holds it open
    at.selectbox(key="arsenal_edit_choice").set_value(tid).run()
    held = store.load_tactic(engine, tid)
    store.save_tactic(engine, PEOPLE["admin"], {**{k: held[k] for k in rules.COLUMNS},
                                                "unit_cost": 31.0}, tactic_id=tid, version=2)
    form = f"arsenal_edit_{tid}_2"
    at.number_input(key=f"{form}_cost").set_value(29.0)
    at.button(key=f"FormSubmitter:{form}-Save 保存").click().run()
    assert any("changed by admin" in e.value for e in at.error)
    assert store.load_tactic(engine, tid)["unit_cost"] == 31.0
    # a new tactic, then it is deactivated
    at.selectbox(key="arsenal_edit_choice").set_value(0).run()
    form = "arsenal_edit_0_None"
    at.text_input(key=f"{form}_code").set_value("SIMGIFT")
    at.text_input(key=f"{form}_name").set_value("Free second SIM 副卡赠送")
    at.number_input(key=f"{form}_cost").set_value(12.0)
    at.multiselect(key=f"{form}_answers").set_value(["no_group"])
    at.button(key=f"FormSubmitter:{form}-Save 保存").click().run()
    assert not at.exception, at.exception
    new = _id(engine, "SIMGIFT")
    assert at.selectbox(key="arsenal_edit_choice").value == new
    at.button(key="arsenal_edit_active").click().run()
    assert not store.load_tactic(engine, new)["active"]
    engine.dispose()


def test_arsenal_page_empty_state_lets_a_manager_load_the_catalogue(app_as, monkeypatch):
    at = app_as("admin")
    monkeypatch.setenv("CONCERTO_DEMO_USERS", "0")  # no demo seeding: an empty arsenal
    _open(at)
    assert any("No tactics yet" in i.value for i in at.info)
    at.button(key="arsenal_seed").click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == len(CATALOGUE)
    engine = create_workflow_engine(app_as.workflow_url)
    assert "arsenal_load" in load_audit(engine).query("username == 'admin'")["action"].tolist()
    with pytest.raises(Forbidden):
        store.load_starter_catalogue(engine, PEOPLE["channel_mgr"])
    engine.dispose()


def test_arsenal_page_without_permission_to_pick_shows_the_catalogue_only(app_as):
    at = _open(app_as("exec"))
    assert _codes(at) == set(CATALOGUE["code"])
    assert not [b for b in at.button if b.key == "arsenal_pick"]
    assert not [s for s in at.selectbox if s.key == "arsenal_edit_choice"]


def _suggest_by_sorting(tactics: pd.DataFrame, reasons: list[str], profile: dict, level: int):
    """The rule written plainly (filter, then sort the whole pool): the reference the chooser
    that suggest_retention and the score job use must agree with."""
    wanted = [r for r in dict.fromkeys(reasons) if r in rules.REASONS]
    pool = rules.eligible(rules.visible_for_level(tactics[tactics["active"].astype(bool)], level),
                          profile)
    if pool.empty or not wanted:
        return None
    tags = pool["addresses"].fillna("").astype(str).map(lambda s: set(s.split(";")))
    pool = pool.assign(answered=tags.map(lambda t: sum(r in t for r in wanted)),
                       _cost=pd.to_numeric(pool["unit_cost"]),
                       _level=pd.to_numeric(pool["auth_level"]))
    pool = pool[pool["answered"] > 0]
    if pool.empty:
        return None
    return pool.sort_values(["answered", "_cost", "_level", "code"],
                            ascending=[False, True, True, True], kind="mergesort").iloc[0]["code"]


def test_the_score_jobs_suggestions_agree_with_the_rule_row_by_row():
    import numpy as np

    from analytics.churn.retention import suggest_actions

    rng = np.random.default_rng(3)
    n = 3_000
    reasons = sorted(rules.REASONS)
    catalogue = CATALOGUE.copy()
    catalogue.loc[catalogue.index[::4], "unit_cost"] = float("nan")  # NaN costs sort last
    scores = pd.DataFrame({
        "reason_tags": [",".join(rng.choice(reasons, size=rng.integers(0, 4), replace=False))
                        for _ in range(n)],
        "segment": rng.choice(["mass", "youth", "high_end", "enterprise"], n),
        "plan_family": rng.choice(["prepaid", "postpaid", "data", "family"], n),
        "arpu": np.where(rng.random(n) < 0.05, np.nan, rng.gamma(2.0, 40.0, n).round(1)),
        "tenure_months": rng.integers(0, 60, n),
    })
    for level in (1, 3):
        got = suggest_actions(scores, catalogue, level=level, rows=None)
        for i, row in scores.iterrows():
            tags = [t for t in row["reason_tags"].split(",") if t]
            profile = {k: row[k] for k in ("segment", "arpu", "tenure_months", "plan_family")}
            code = _suggest_by_sorting(catalogue, tags, profile | {"target": "subscriber"},
                                       level)
            assert (got[i].endswith(f"[{code}]") if code else got[i] == ""), (i, got[i], code)

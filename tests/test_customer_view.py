"""The customer view 客户视图: its reads give exactly one subscriber's rows, inside the reader's
scope (an outsider reads like an unknown id), numbers masked by role, the search box, the
work orders and reports that mention a subscriber, the churn-risk seam, and the page."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from analytics.customer import parse_search, window_value
from analytics.formatting import mask_msisdn
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import customer as reads
from data_access.mart import value
from data_access.store import churn as churn_store
from data_access.store import churn_scores
from data_access.store import intel, scope, workorders
from data_access.store.auth import SYSTEM, Principal
from data_access.store.demo_users import DEMO_USERS
from data_access.store.workflow import create_workflow_engine
from pages.common import links
from pages.common.routing import ROUTED_KEY

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "customer.py")
PEOPLE = {u: Principal(u, name, role, level, v) for u, role, name, level, v in DEMO_USERS}
ANALYST, ACCOUNT_MGR, RM_GONGBEI = PEOPLE["analyst"], PEOPLE["account_mgr"], PEOPLE["rm_gongbei"]


@pytest.fixture(scope="module")
def mart(duck_mart: str):
    engine = create_mart_engine(duck_mart, read_only=True)
    yield engine
    engine.dispose()


def _sql(mart: sa.Engine, sql: str, **params) -> pd.DataFrame:
    with mart.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


@pytest.fixture(scope="module")
def people(mart) -> dict[str, int]:
    """A Gongbei subscriber still billed, with campaigns; one of another region; and an id
    nobody has."""
    inside = _sql(mart, "select s.subscriber_id from dim_subscriber s join dim_region r "
                        "using (region_id) join campaign_member m using (subscriber_id) "
                        "where r.micro_region = 'Gongbei' and s.churn_month is null group by 1 "
                        "having count(*) >= 2 order by 1 limit 1").iloc[0, 0]
    outside = _sql(mart, "select s.subscriber_id from dim_subscriber s join dim_region r "
                         "using (region_id) where r.branch <> 'Xiangzhou' order by 1 "
                         "limit 1").iloc[0, 0]
    unknown = _sql(mart, "select max(subscriber_id) + 1000 from dim_subscriber").iloc[0, 0]
    return {"inside": int(inside), "outside": int(outside), "unknown": int(unknown)}


def _number(mart, subscriber_id: int) -> str:
    return str(_sql(mart, "select msisdn from dim_subscriber where subscriber_id = :i",
                    i=subscriber_id).iloc[0, 0])


# --- reads -----------------------------------------------------------------------------


def test_the_reads_return_exactly_the_subscribers_rows(mart, people):
    sub = people["inside"]
    with scope.acting_as(ANALYST):
        profile = reads.load_profile(mart, sub)
        ledger = reads.load_ledger(mart, sub)
        joined = reads.load_campaigns(mart, sub)
    direct = _sql(mart, "select s.*, r.branch, r.micro_region from dim_subscriber s join "
                        "dim_region r using (region_id) where subscriber_id = :i", i=sub)
    assert profile["subscriber_id"].tolist() == [sub]
    for column in ("branch", "micro_region", "segment", "channel_id", "age"):
        assert profile.iloc[0][column] == direct.iloc[0][column], column

    latest = _sql(mart, "select max(month) from fact_subscriber_month").iloc[0, 0]
    first = (pd.Timestamp(latest).to_period("M") - 23).to_timestamp()
    bills = _sql(mart, "select * from fact_subscriber_month where subscriber_id = :i and "
                       "month >= :first order by month", i=sub, first=first.date())
    assert len(ledger) == len(bills) > 0
    assert list(pd.to_datetime(ledger["month"])) == list(pd.to_datetime(bills["month"]))
    for column in ("revenue", "discount", "mou", "data_mb", "service_cost"):
        assert ledger[column].tolist() == pytest.approx(bills[column].tolist()), column
    assert ledger["gross"].tolist() == pytest.approx(
        (bills["rev_voice"] + bills["rev_data"] + bills["rev_sms"] + bills["rev_vas"]).tolist())

    members = _sql(mart, "select campaign_id, arm, cost from campaign_member where "
                         "subscriber_id = :i order by campaign_id", i=sub)
    mine = joined.sort_values("campaign_id")
    assert mine["campaign_id"].tolist() == members["campaign_id"].tolist()
    assert mine["arm"].tolist() == members["arm"].tolist()
    assert set(joined["subscriber_id"]) == {sub}


def test_the_reads_and_the_search_agree_on_duckdb_and_postgresql(any_mart):
    engine = create_mart_engine(any_mart, read_only=True)
    try:
        first = _sql(engine, "select s.subscriber_id, s.msisdn from dim_subscriber s join "
                             "dim_region r on s.region_id = r.region_id where r.micro_region "
                             "= 'Gongbei' order by 1 limit 1").iloc[0]
        sub, full = int(first["subscriber_id"]), str(first["msisdn"])
        with scope.acting_as(ACCOUNT_MGR):
            assert reads.load_profile(engine, sub)["number"].tolist() == [full]
            assert reads.search_subscribers(engine, full)["subscriber_id"].tolist() == [sub]
            pattern = reads.search_subscribers(engine, full[:3] + "****" + full[7:])
        with scope.acting_as(RM_GONGBEI):
            masked = reads.search_subscribers(engine, mask_msisdn(full), limit=10_000)
            bills = reads.load_ledger(engine, sub)
            joined = reads.load_campaigns(engine, sub)
        assert sub in set(pattern["subscriber_id"])
        assert sub in set(masked["subscriber_id"]) and set(masked["micro_region"]) == {"Gongbei"}
        assert set(masked["number"]) == {mask_msisdn(full)}
        direct = _sql(engine, "select count(*) from campaign_member where subscriber_id = :i",
                      i=sub).iloc[0, 0]
        assert len(joined) == direct and len(bills) > 0
    finally:
        engine.dispose()


def test_the_ledger_keeps_only_the_marts_last_24_months(mart, people):
    with scope.acting_as(ANALYST):
        short = reads.load_ledger(mart, people["inside"], months=3)
    latest = pd.Timestamp(_sql(mart, "select max(month) from fact_subscriber_month").iloc[0, 0])
    assert len(short) <= 3
    assert pd.to_datetime(short["month"]).min() > latest - pd.DateOffset(months=3)


def test_another_regions_subscriber_reads_like_an_unknown_one(mart, people):
    with scope.acting_as(RM_GONGBEI):
        for sub in (people["outside"], people["unknown"]):
            assert reads.load_profile(mart, sub).empty
            assert reads.load_ledger(mart, sub).empty
            assert reads.load_campaigns(mart, sub).empty
        assert reads.load_profile(mart, people["inside"])["micro_region"].tolist() == ["Gongbei"]
    with scope.acting_as(ANALYST):  # the outsider does exist
        assert not reads.load_profile(mart, people["outside"]).empty


def test_numbers_are_masked_unless_the_role_may_see_them(mart, people):
    sub, full = people["inside"], _number(mart, people["inside"])
    with scope.acting_as(ANALYST):
        masked = reads.load_profile(mart, sub)["number"].iloc[0]
        ledger_numbers = set(reads.load_ledger(mart, sub)["number"])
    with scope.acting_as(ACCOUNT_MGR):
        shown = reads.load_profile(mart, sub)["number"].iloc[0]
    assert masked == mask_msisdn(full) != full
    assert ledger_numbers == {mask_msisdn(full)}
    assert shown == full


def test_search_finds_by_id_and_by_the_masked_number(mart, people):
    sub, full = people["inside"], _number(mart, people["inside"])
    with scope.acting_as(ANALYST):
        by_id = reads.search_subscribers(mart, f" {sub} ")
        by_mask = reads.search_subscribers(mart, mask_msisdn(full), limit=10_000)
    assert by_id["subscriber_id"].tolist() == [sub]
    prefix = _sql(mart, "select subscriber_id from dim_subscriber where msisdn like :p",
                  p=full[:7] + "____")
    assert sorted(by_mask["subscriber_id"]) == sorted(prefix["subscriber_id"])
    assert by_mask["number"].str.fullmatch(r"\d{7}\*{4}").all()


def test_full_numbers_and_hidden_digits_are_searchable_only_by_roles_that_see_them(mart, people):
    sub, full = people["inside"], _number(mart, people["inside"])
    pattern = full[:3] + "****" + full[7:]
    with scope.acting_as(ACCOUNT_MGR):
        assert reads.search_subscribers(mart, full)["subscriber_id"].tolist() == [sub]
        assert sub in set(reads.search_subscribers(mart, pattern)["subscriber_id"])
    with scope.acting_as(ANALYST):
        for text in (full, pattern):
            with pytest.raises(ConcertoError, match="masked numbers"):
                reads.search_subscribers(mart, text)


def test_search_never_matches_outside_the_scope(mart, people):
    outside, full = people["outside"], _number(mart, people["outside"])
    with scope.acting_as(RM_GONGBEI):
        assert reads.search_subscribers(mart, str(outside)).empty
        found = reads.search_subscribers(mart, mask_msisdn(full), limit=10_000)
        assert outside not in set(found["subscriber_id"])
        inside = reads.search_subscribers(mart, str(people["inside"]))
    assert inside["subscriber_id"].tolist() == [people["inside"]]
    with scope.acting_as(RM_GONGBEI):
        any_prefix = reads.search_subscribers(mart, mask_msisdn(_number(mart, people["inside"])),
                                              limit=10_000)
    assert set(any_prefix["micro_region"]) == {"Gongbei"}


@pytest.mark.parametrize("text", ["", "drop table dim_subscriber", "1' or '1'='1", "0",
                                  "1351234***", "*" * 11, "2351234****"])
def test_a_search_that_is_no_id_or_number_gets_a_message(mart, text):
    with scope.acting_as(ANALYST), pytest.raises(ConcertoError, match="search"):
        reads.search_subscribers(mart, text)


def test_parse_search_tells_ids_masks_patterns_and_numbers_apart():
    assert parse_search("#42").kind == "id" and parse_search("#42").value == 42
    assert parse_search("1351234****").like() == "1351234____"
    assert parse_search("135-1234-5678").kind == "number"
    assert parse_search("1351234xx78").reveals_hidden_digits
    assert not parse_search("1351234****").reveals_hidden_digits


def test_net_value_is_the_value_pages_for_the_same_customer(mart):
    with scope.acting_as(ANALYST):
        window = value.load_value_window(mart)
        listed = value.load_value_customers(mart, window, "duplicate_benefit", limit=5)
        assert not listed.empty
        for row in listed.itertuples():
            ledger = reads.load_ledger(mart, row.subscriber_id)
            worth = window_value(ledger, reads.load_campaigns(mart, row.subscriber_id), *window)
            assert worth.net_value == pytest.approx(row.net_value, abs=0.01)
            assert worth.campaign_cost == pytest.approx(row.campaign_cost, abs=0.01)


def test_only_benefits_of_campaigns_overlapping_the_window_count():
    ledger = pd.DataFrame({"month": pd.to_datetime(["2026-08-01", "2026-09-01"]),
                           "rev_voice": [60.0, 60.0], "rev_data": [40.0, 40.0],
                           "rev_sms": [0.0, 0.0], "rev_vas": [0.0, 0.0],
                           "discount": [10.0, 10.0], "revenue": [90.0, 90.0],
                           "service_cost": [5.0, 5.0]})
    joined = pd.DataFrame({"cost": [30.0, 500.0, 70.0, 0.0],
                           "start_month": pd.to_datetime(["2026-09-01", "2026-01-01",
                                                          "2026-10-01", "2026-08-01"]),
                           "end_month": pd.to_datetime(["2026-11-01", "2026-03-01",
                                                        "2026-12-01", "2026-09-01"])})
    worth = window_value(ledger, joined, "2026-08-01", "2026-09-01")
    assert worth.campaign_cost == 30.0  # before the window, after it, and free: not counted
    assert worth.net_value == 180.0 - 10.0 - 30.0
    assert worth.gross == 200.0 and worth.roi == pytest.approx(200.0 / (20.0 + 10.0 + 30.0))


# --- the workflow store: orders and reports that mention a subscriber -------------------


@pytest.fixture
def store(tmp_path) -> sa.Engine:
    engine = create_workflow_engine(f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    yield engine
    engine.dispose()


def _order(store, who, title, *, level="micro_region", key="Gongbei", detail="",
           micro_region="Gongbei", assignee=None) -> int:
    return workorders.create_order(
        store, who, kind="task", title=title, detail=detail, unit_level=level, unit_key=key,
        unit_label=key, owner_role="regional_manager", branch="Xiangzhou",
        micro_region=micro_region, assignee=assignee,
        due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))


def test_work_orders_and_reports_that_mention_the_subscriber(mart, people, store):
    sub, full = people["inside"], _number(mart, people["inside"])
    admin = PEOPLE["admin"]
    about = _order(store, admin, "Retention call", level="subscriber", key=str(sub),
                   assignee="rm_doumen")  # an order its assignee sees wherever it lies
    named = _order(store, admin, f"Check the bill of {full}", detail="disputed charge")
    _order(store, admin, "Stock short at a hall")  # mentions nobody
    _order(store, admin, "Someone else", level="subscriber", key=str(people["outside"]))
    linked = intel.submit_report(store, admin, token=uuid.uuid4().hex, operator="rival_a",
                                 category="promotion", text="Rival offered a handset",
                                 branch="Xiangzhou", micro_region="Gongbei", order_id=about)
    quoted = intel.submit_report(store, admin, token=uuid.uuid4().hex, operator="rival_b",
                                 category="tariff", text=f"Customer {full} was called by B",
                                 branch="Xiangzhou", micro_region="Gongbei")
    intel.submit_report(store, admin, token=uuid.uuid4().hex, operator="rival_b",
                        category="tariff", text="Unrelated", branch="Xiangzhou",
                        micro_region="Gongbei")
    with scope.acting_as(ANALYST):
        orders = reads.load_work_orders(store, mart, sub)
        reports = reads.load_intel_reports(store, mart, sub, orders["order_id"].tolist())
    assert sorted(orders["order_id"]) == sorted([about, named])
    assert sorted(reports["report_id"]) == sorted([linked.report_id, quoted.report_id])
    # a role that sees masked numbers reads them masked in the text too
    assert full not in " ".join(orders["title"]) + " ".join(reports["text"])
    assert mask_msisdn(full) in " ".join(orders["title"])
    with scope.acting_as(admin):  # sees every order, and full numbers
        assert full in " ".join(reads.load_work_orders(store, mart, sub)["title"])
    with scope.acting_as(ACCOUNT_MGR):  # sees full numbers, but only its own role's orders
        assert reads.load_work_orders(store, mart, sub).empty
    # a manager elsewhere: the subscriber is outside their scope, so nothing at all, not
    # even the order assigned to them
    with scope.acting_as(PEOPLE["rm_doumen"]):
        assert about in set(workorders.list_orders(store, PEOPLE["rm_doumen"])["order_id"])
        assert reads.load_work_orders(store, mart, sub).empty
        assert reads.load_intel_reports(store, mart, sub, [about]).empty


# --- churn risk -------------------------------------------------------------------------


def _live_scores(folder: Path, mart, ids: list[int], workflow) -> None:
    """A live model folder and a scoring run of its latest month holding ``ids`` in the
    store's scores table (a stand-in model object: the customer view reads the scores,
    never the model)."""
    placed = _sql(mart, "select s.subscriber_id, r.branch, r.micro_region, s.segment from "
                        "dim_subscriber s join dim_region r using (region_id) "
                        f"where s.subscriber_id in ({','.join(str(int(i)) for i in ids)})")
    scores = placed.assign(churn_prob=0.42, net_value=120.0, expected_loss=50.4,
                           rank=range(1, len(placed) + 1), top_reason="usage fell",
                           reasons="usage fell by 40%; a rival cut prices nearby",
                           reason_tags="usage_drop,rival_offer", action="", arpu=80.0,
                           tenure_months=12, plan_family="family", risk_band="high")
    version = churn_store.save_model({"stand-in": True}, {"model_format": "test"},
                                     model_dir=folder)
    with scope.acting_as(SYSTEM):
        churn_scores.save_score_run(workflow, version, "2026-10", scores, pd.DataFrame())


def test_churn_risk_is_the_live_scores_row_or_none(mart, people, tmp_path, workflow):
    assert reads.churn_risk(workflow, people["inside"], model_dir=tmp_path / "none") is None
    _live_scores(tmp_path, mart, [people["inside"], people["outside"]], workflow)
    with scope.acting_as(ANALYST):
        risk = reads.churn_risk(workflow, people["inside"], model_dir=tmp_path)
        assert reads.churn_risk(workflow, people["unknown"], model_dir=tmp_path) is None
    assert risk is not None and risk.churn_prob == pytest.approx(0.42)
    assert risk.reasons == ("usage fell by 40%", "a rival cut prices nearby")
    assert risk.reason_tags == ("usage_drop", "rival_offer") and risk.month == "2026-10"
    with scope.acting_as(RM_GONGBEI):  # the scores are scoped too
        assert reads.churn_risk(workflow, people["outside"], model_dir=tmp_path) is None


# --- links ------------------------------------------------------------------------------


def test_links_point_at_the_customer_page_and_refuse_what_is_no_id():
    assert links.customer_url(42) == "customer?sub=42"
    frame = links.with_customer_links(pd.DataFrame({"subscriber_id": [7, None]}))
    assert frame["customer"].iloc[0] == "customer?sub=7" and pd.isna(frame["customer"].iloc[1])
    for bad in ("abc", "-3", "0", "9" * 30, "1.5", "", None, "1 or 1=1"):
        with pytest.raises(ConcertoError, match="sub="):
            links.subscriber_param(bad)


# --- the page ---------------------------------------------------------------------------


@pytest.fixture
def page(app_as, monkeypatch, tmp_path):
    """The customer page run on its own (app.py's navigation does not list it yet), signed
    in as a demo user, with no churn model unless a test provides one."""
    monkeypatch.setattr(churn_store, "MODEL_DIR", tmp_path / "no-models")

    def make(username: str, sub: str | None = None) -> AppTest:
        app_as(username)  # the shared mart, a fresh store holding this user
        at = AppTest.from_file(PAGE, default_timeout=90)
        at.session_state["principal"] = PEOPLE[username]
        at.session_state[ROUTED_KEY] = None  # as if app.py had routed the run
        if sub is not None:
            at.query_params["sub"] = sub
        return at.run()

    return make


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.warning]
    parts += [e.value for e in at.error] + [e.value for e in at.success]
    return "\n".join(str(p) for p in parts)


def test_the_page_shows_one_subscriber(page, mart, people):
    sub = people["inside"]
    at = page("analyst", str(sub))
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Number 号码"] == mask_msisdn(_number(mart, sub))
    assert "Gongbei" in _texts(at)
    assert "Net value 净价值" in metrics
    assert len(at.get("vega_lite_chart")) >= 3  # revenue by component, MOU, DOU
    assert [d.proto.label for d in at.get("download_button")] == [
        "Download the 24-month ledger (CSV) 下载账单"]
    assert "Not scored yet" in _texts(at)
    campaigns = next(d.value for d in at.dataframe if "campaign" in d.value.columns)
    assert len(campaigns) == len(_sql(mart, "select 1 from campaign_member where "
                                            "subscriber_id = :i", i=sub))


def test_an_unknown_and_an_outside_subscriber_get_the_same_message(page, people):
    shown = {}
    for who, sub in (("rm_gongbei", people["unknown"]), ("rm_gongbei", people["outside"])):
        at = page(who, str(sub))
        assert not at.exception, at.exception
        assert not at.metric  # nothing of the subscriber
        shown[sub] = [w.value.replace(str(sub), "<sub>") for w in at.warning]
    first, second = shown.values()
    assert first == second and len(first) == 1 and "outside your region" in first[0]


@pytest.mark.parametrize("raw", ["abc", "-1", "9" * 30, "1;drop", "[x](http://evil)"])
def test_a_malformed_sub_parameter_gets_a_message(page, raw):
    at = page("analyst", raw)
    assert not at.exception, at.exception
    assert any("URL parameter sub=" in w.value for w in at.warning), _texts(at)
    assert not at.metric


def test_the_search_box_opens_the_subscriber(page, mart, people):
    sub = people["inside"]
    at = page("analyst")
    assert not at.exception and not at.metric
    at.text_input(key="customer_search").input(str(sub)).run()
    assert not at.exception, at.exception
    assert at.query_params["sub"] == [str(sub)] or at.query_params["sub"] == str(sub)
    at.run()
    assert at.metric[0].value == mask_msisdn(_number(mart, sub))


def test_the_churn_section_shows_the_scored_risk(page, mart, people, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    store = create_workflow_engine(os.environ["CONCERTO_WORKFLOW_URL"])  # the page's store
    _live_scores(folder, mart, [people["inside"]], store)
    store.dispose()
    monkeypatch.setattr(churn_store, "MODEL_DIR", folder)
    at = page("analyst", str(people["inside"]))
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Churn risk 离网概率"] == "42.00%"
    assert "a rival cut prices nearby" in _texts(at)
    assert "Not scored yet" not in _texts(at)


def test_a_search_with_several_matches_lists_links_and_opens_the_one_picked(page, mart):
    prefix = _sql(mart, "select substr(msisdn, 1, 7) as p from dim_subscriber group by 1 "
                        "having count(*) >= 2 order by 1 limit 1").iloc[0, 0]
    matches = _sql(mart, "select subscriber_id from dim_subscriber where msisdn like :p "
                         "order by 1", p=prefix + "____")["subscriber_id"].tolist()
    at = page("analyst")
    at.text_input(key="customer_search").input(prefix + "****").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["customer"].tolist() == [f"customer?sub={i}" for i in matches]
    assert table["number"].str.fullmatch(r"\d{7}\*{4}").all()
    assert not at.metric  # nothing opened yet: the reader picks
    at.selectbox(key="customer_pick").select(matches[-1]).run()
    assert not at.exception, at.exception
    assert at.metric  # a subscriber is shown …
    assert f"Subscriber 用户** {matches[-1]} ·" in _texts(at)  # … the one picked


def test_the_page_lists_the_orders_and_reports_that_mention_the_subscriber(page, app_as, mart,
                                                                            people):
    sub, full = people["inside"], _number(mart, people["inside"])
    app_as("admin")  # the store now holds the demo users
    store = create_workflow_engine(app_as.workflow_url)
    try:
        admin = PEOPLE["admin"]
        order = _order(store, admin, f"Win back [{full}](http://evil)", level="subscriber",
                       key=str(sub), detail="=HYPERLINK(1)")
        intel.submit_report(store, admin, token=uuid.uuid4().hex, operator="rival_a",
                            category="handset", text="Rival A offered a free phone",
                            branch="Xiangzhou", micro_region="Gongbei", order_id=order)
    finally:
        store.dispose()
    at = page("analyst", str(sub))
    assert not at.exception, at.exception
    frames = [d.value for d in at.dataframe]
    orders = next(f for f in frames if "order" in f.columns and "title" in f.columns)
    reports = next(f for f in frames if "report" in f.columns)
    assert orders["order"].tolist() == [f"#{order}"]
    assert orders["title"].iloc[0] == f"Win back [{mask_msisdn(full)}](http://evil)"
    assert orders["created_at"].iloc[0].endswith("UTC+8")
    assert reports["order"].tolist() == [f"#{order}"]
    assert reports["text"].tolist() == ["Rival A offered a free phone"]  # through its order
    assert full not in _texts(at)

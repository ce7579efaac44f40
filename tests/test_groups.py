"""Enterprise-group management 集团客户管理: the early warning finds the planted declining lines
before they are cancelled (read from planted_truth, on both variants) with few alarms on lines
that never cancel; the scan raises one order per warned group, once; rescues are settled from
the mart; reads stay in scope; the loader refuses bad group lines; the page renders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analytics import groups as rules
from data_access.db import create_mart_engine
from data_access.mart import groups as reads
from data_access.mart import queries, schema
from data_access.mart.load import ExtractError, load_extract
from data_access.store import auth, scope
from data_access.store.groups import rescue as group_rescue
from data_access.store.auth import Principal
from data_access.store.workflow import alert, create_workflow_engine
from data_access.store.workorders import work_order
from jobs import groups as job
from tests.test_load import digest, loaded_mart, snapshot, valid_tables, write_csv, write_extract

__all__ = ["loaded_mart"]  # the shared fixture of test_load, used here too

D = pd.Timestamp


def _truths(url: str, kind: str) -> list[tuple[dict, dict]]:
    engine = create_mart_engine(url, read_only=True)
    frame = pd.read_sql(sa.select(schema.planted_truth).where(
        schema.planted_truth.c.kind == kind), engine)
    return [(json.loads(r.where_json), json.loads(r.detail)) for r in frame.itertuples()]


@pytest.fixture(scope="module")
def history(request) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per variant: the lines and every warning the scan would have raised, month by month."""
    out = {}
    for name, fixture in (("a", "duck_mart"), ("b", "duck_mart_b")):
        url = request.getfixturevalue(fixture)
        engine = create_mart_engine(url, read_only=True)
        lines, facts = reads.load_lines(engine), reads.load_line_months(engine)
        found = [rules.line_warnings(lines, facts, m) for m in queries.available_months(engine)]
        out[url] = (lines, pd.concat(found, ignore_index=True))
    return out


def _first_warning(warnings: pd.DataFrame, line_id: int) -> pd.Timestamp | None:
    mine = warnings[(warnings["signal"] == "line_traffic") & (warnings["line_id"] == line_id)]
    return None if mine.empty else pd.Timestamp(mine["as_of"].min())


def _months(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def test_planted_declines_are_flagged_before_their_cancellation(variant_mart, history):
    lines, warnings = history[variant_mart]
    planted = _truths(variant_mart, "group_line_churn")
    assert planted, "the generator planted no declining line"
    latest = pd.Timestamp(warnings["as_of"].max())
    for where, detail in planted:
        first = _first_warning(warnings, where["line_id"])
        cancel = pd.Timestamp(f"{detail['cancel_month']}-01")
        assert first is not None, f"line {where['line_id']} fell before {cancel:%Y-%m} unflagged"
        assert first < cancel and _months(first, cancel) >= 1
        assert first >= pd.Timestamp(f"{detail['decline_from']}-01")  # not before it fell
        if not detail["cancelled"]:  # still falling: on the list of the latest month
            assert first <= latest


def test_lines_that_never_cancel_rarely_alarm_and_sudden_ones_are_not_claimed(variant_mart,
                                                                            history):
    lines, warnings = history[variant_mart]
    told = {w["line_id"] for kind in ("group_line_churn", "group_line_dip",
                                      "group_line_sudden_cancel")
            for w, _ in _truths(variant_mart, kind)}
    told |= {ln for _, d in _truths(variant_mart, "group_usage_fall") for ln in d["lines"]}
    quiet = lines[lines["cancel_month"].isna() & ~lines["line_id"].isin(told)]["line_id"]
    alarmed = warnings[(warnings["signal"] == "line_traffic")
                       & warnings["line_id"].isin(quiet)]["line_id"].nunique()
    assert len(quiet) >= 15
    assert alarmed / len(quiet) <= 0.1, f"{alarmed} of {len(quiet)} quiet lines alarmed"
    for where, detail in _truths(variant_mart, "group_line_dip"):
        if detail["months"] == 1:  # one bad month is not a fall that persists
            assert _first_warning(warnings, where["line_id"]) is None
    for where, _ in _truths(variant_mart, "group_line_sudden_cancel"):
        assert _first_warning(warnings, where["line_id"]) is None  # honest: unforeseeable


def test_a_planted_falling_group_is_warned_in_the_latest_month(variant_mart):
    engine = create_mart_engine(variant_mart, read_only=True)
    _, found, has_lines = job.judge_groups(engine)
    assert has_lines
    usage = set(found.loc[found["signal"] == "group_usage", "group_id"])
    planted = {w["group_id"] for w, _ in _truths(variant_mart, "group_usage_fall")}
    assert planted and planted & usage


def _panel(falls: dict[int, tuple[float, float]], months: int = 14, seed: int = 3
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic lines: id → (noise, sustained fall over the last three months)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-09-01", periods=months, freq="MS")
    rows, lines = [], []
    for line_id, (noise, fall) in falls.items():
        level = np.exp(rng.normal(0, noise, months)) * 100
        level[-3:] *= 1 - fall
        rows += [dict(month=m, line_id=line_id, traffic=v) for m, v in zip(dates, level)]
        lines.append(dict(line_id=line_id, group_id=line_id, product="ip_line",
                          contract_end=D("2028-01-01"), cancel_month=pd.NaT))
    return pd.DataFrame(lines), pd.DataFrame(rows)


def test_a_fall_is_judged_on_the_line_s_own_noise():
    quiet_peers = {i: (0.03, 0.0) for i in range(10, 16)}
    noisy = {i: (0.25, 0.15) for i in range(2, 8)}
    lines, facts = _panel({1: (0.02, 0.15), **noisy, **quiet_peers})
    found = rules.line_warnings(lines, facts, facts["month"].max())
    flagged = set(found["line_id"].dropna().astype(int))
    assert 1 in flagged  # 15% is far outside a quiet line's 2% noise
    assert not flagged & set(noisy)  # and inside a noisy line's 25%
    assert not flagged & set(quiet_peers)
    row = found[found["line_id"] == 1].iloc[0]
    assert 0.1 < row["fall"] < 0.2 and row["since"] == facts["month"].max() - pd.DateOffset(months=2)


def test_a_movement_every_line_of_the_product_shares_is_season_not_a_warning():
    lines, facts = _panel({i: (0.03, 0.20) for i in range(1, 9)})  # all fall together
    assert rules.line_warnings(lines, facts, facts["month"].max()).empty


def test_members_leaving_faster_than_usual_warn():
    dates = pd.date_range("2025-09-01", periods=14, freq="MS")
    rng = np.random.default_rng(5)
    rows = []
    for group_id in range(1, 9):
        pace = np.full(14, -0.01) + rng.normal(0, 0.005, 14)
        if group_id == 1:
            pace[-3:] = -0.08  # members leave eight times faster
        members = 200 * np.exp(np.cumsum(pace))
        rows += [dict(month=m, group_id=group_id, active_subs=round(v)) for m, v in zip(dates, members)]
    found = rules.member_warnings(pd.DataFrame(rows), dates[-1])
    assert list(found["group_id"]) == [1]


def test_outcome_and_severity_rules():
    assert rules.classify_outcome("2026-05-01", "2026-07-01", "2026-10-01") == (
        "lost", D("2026-07-01"))
    assert rules.classify_outcome("2026-05-01", None, "2026-10-01")[0] == "retained"
    assert rules.classify_outcome("2026-05-01", "2026-12-01", "2026-07-01") == ("pending", None)
    assert rules.severity(0.1, "2026-11-01", "2026-10-01") == "high"  # contract ends soon
    assert rules.severity(0.1, "2028-01-01", "2026-10-01") == "medium"


# --- the scan, its orders and their outcomes -------------------------------------------------

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    engine = create_workflow_engine(f"sqlite:///{tmp_path / 'wf.sqlite'}")
    auth.create_user(engine, "am_one", "Test-password-1", "account_manager",
                     display_name="Account manager", actor="tests")
    return engine


def _scan_month(url: str) -> pd.Timestamp:
    """A month at which some planted decline is already warned and not yet cancelled."""
    engine = create_mart_engine(url, read_only=True)
    lines, facts = reads.load_lines(engine), reads.load_line_months(engine)
    for where, detail in _truths(url, "group_line_churn"):
        if detail["cancelled"]:
            cancel = pd.Timestamp(f"{detail['cancel_month']}-01")
            month = cancel - pd.DateOffset(months=1)
            found = rules.line_warnings(lines, facts, month)
            if where["line_id"] in set(found["line_id"].dropna().astype(int)):
                return month
    raise AssertionError("no planted decline is warned the month before its cancellation")


def test_the_scan_raises_one_order_per_warned_group_and_nothing_twice(duck_mart, store):
    mart = create_mart_engine(duck_mart, read_only=True)
    month = _scan_month(duck_mart)
    scan = job.scan_groups(store, mart, as_of=month)
    groups = scan.warnings["group_id"].nunique()
    assert scan.new_alerts == groups and len(scan.orders) == groups
    assert scan.new_rescues == len(scan.warnings)
    orders = pd.read_sql(sa.select(work_order), store)
    assert len(orders) == groups
    assert set(orders["owner_role"]) == {"account_manager"}
    assert set(orders["assignee"]) == {"am_one"} and set(orders["unit_level"]) == {"group"}
    rescues = group_rescue.list_rescues(store)
    assert set(rescues["order_id"]) == set(orders["order_id"])
    assert (rescues["offer_code"] != "").all()
    again = job.scan_groups(store, mart, as_of=month)
    assert (again.new_alerts, again.new_rescues) == (0, 0)
    assert len(pd.read_sql(sa.select(work_order), store)) == groups
    assert len(pd.read_sql(sa.select(alert), store)) == groups


def test_rescues_are_settled_from_the_mart(duck_mart, store):
    mart = create_mart_engine(duck_mart, read_only=True)
    job.scan_groups(store, mart, as_of=_scan_month(duck_mart))
    assert job.settle_outcomes(store, mart) > 0
    assert job.settle_outcomes(store, mart) == 0  # decided once
    lines = reads.load_lines(mart).set_index("line_id")
    rescues = group_rescue.list_rescues(store)
    settled = rescues[rescues["line_id"].notna()]
    assert not settled.empty
    latest = pd.Timestamp(queries.available_months(mart)[-1])
    for r in settled.itertuples():
        cancel = lines.at[int(r.line_id), "cancel_month"]
        expected, when = rules.classify_outcome(pd.Timestamp(f"{r.warned_month}-01"), cancel, latest)
        assert r.outcome == expected
        if expected == "lost":
            assert r.outcome_month == f"{cancel:%Y-%m}"
    assert "lost" in set(settled["outcome"])  # the planted decline was cancelled


def test_a_regional_manager_reads_only_their_branch_s_groups(duck_mart, store):
    mart = create_mart_engine(duck_mart, read_only=True)
    job.scan_groups(store, mart, as_of=_scan_month(duck_mart))
    everyone = reads.load_groups(mart)
    doumen = Principal("rm_doumen", "Doumen manager", "regional_manager", "branch", "Doumen")
    with scope.acting_as(doumen):
        mine = reads.load_groups(mart)
        lines = reads.load_lines(mart)
        _, found, _ = job.judge_groups(mart)
        rescues = group_rescue.list_rescues(store)
    assert 0 < len(mine) < len(everyone) and set(mine["branch"]) == {"Doumen"}
    assert set(lines["group_id"]) <= set(mine["group_id"])
    assert set(found["group_id"]) <= set(mine["group_id"])
    assert set(rescues["branch"]) <= {"Doumen"}


# --- the loader ---------------------------------------------------------------------------

_LINE = dict(line_id=1, group_id=1, product="ip_line", monthly_fee=5000.0,
             start_month=pd.Timestamp("2023-06-01").date(),
             contract_end=pd.Timestamp("2025-06-01").date(), cancel_month=None)
_MONTH = dict(month=pd.Timestamp("2024-01-01").date(), line_id=1, traffic=812.5, revenue=5100.0)


def _with_lines(directory, lines, months):
    write_extract(directory)
    write_csv(directory / "group_line.csv", lines, [c.name for c in schema.group_line.columns])
    write_csv(directory / "fact_group_line_month.csv", months,
              [c.name for c in schema.fact_group_line_month.columns])
    return directory


def test_valid_group_lines_load(tmp_path):
    url = f"duckdb:///{tmp_path / 'm.duckdb'}"
    rows = load_extract(_with_lines(tmp_path / "x", [_LINE], [_MONTH]), url)
    assert rows["group_line"] == 1 and rows["fact_group_line_month"] == 1
    assert reads.has_group_lines(create_mart_engine(url, read_only=True))


BAD_LINES = {
    "unknown group": ([{**_LINE, "group_id": 9}], [_MONTH],
                      "group_line.csv, line 2, column group_id: 9 is not a group_id in dim_group"),
    "negative traffic": ([_LINE], [{**_MONTH, "traffic": -3.0}],
                         "fact_group_line_month.csv, line 2, column traffic: -3 is not between 0"),
    "month before the line": ([_LINE], [{**_MONTH, "month": pd.Timestamp("2023-01-01").date()}],
                              "line 1 was not billed in 2023-01: it starts in 2023-06"),
    "month after cancelling": ([{**_LINE, "cancel_month": pd.Timestamp("2023-12-01").date()}],
                               [_MONTH], "line 1 was not billed in 2024-01: it was cancelled "
                                         "from 2023-12"),
    "unknown product": ([{**_LINE, "product": "fax"}], [_MONTH],
                        "'fax' is not one of ip_line, idc, group_sms, cloud_pbx"),
    "unknown line": ([_LINE], [{**_MONTH, "line_id": 7}],
                     "column line_id: 7 is not a line_id in group_line"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_bad_group_lines_are_refused_with_nothing_written(tmp_path, loaded_mart, case):
    url, path, before = loaded_mart
    lines, months, expected = BAD_LINES[case]
    directory = _with_lines(tmp_path / "x", lines, months)
    file_digest = digest(path)
    with pytest.raises(ExtractError) as error:
        load_extract(directory, url)
    assert expected in str(error.value), str(error.value)
    assert digest(path) == file_digest and snapshot(url) == before


def test_a_mart_without_group_lines_says_so(loaded_mart):
    engine = create_mart_engine(loaded_mart[0], read_only=True)
    assert not reads.has_group_lines(engine)
    _, found, has_lines = job.judge_groups(engine)
    assert not has_lines and found.empty


def test_scan_refuses_a_month_outside_the_mart(duck_mart, store):
    from data_access.db import ConcertoError

    with pytest.raises(ConcertoError, match="is not a month in the mart"):
        job.scan_groups(store, create_mart_engine(duck_mart, read_only=True), as_of="1999-01-01")
    assert job.main(["--as-of", "June"]) == 2


# --- the page ---------------------------------------------------------------------------------

def _page(app_as, username: str):
    at = app_as(username)
    at.run()
    at.switch_page("pages/groups.py").run()
    assert not at.exception, at.exception
    return at


def test_groups_page_shows_portfolio_warnings_and_raises_orders(app_as):
    at = _page(app_as, "account_mgr")
    assert "Enterprise groups 集团客户" in [t.value for t in at.title]
    headers = [set(d.value.columns) for d in at.dataframe]
    assert any("Net value 净价值" in h and "Members 成员数" in h for h in headers)
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download the portfolio (CSV)" in labels
    if at.button(key="groups_raise") is not None and any(
            "Evidence 证据" in h for h in headers):
        at.button(key="groups_raise").click().run()
        at.button(key="groups_raise_yes").click().run()
        assert not at.exception, at.exception
        assert any("new alert(s)" in s.value for s in at.success)


def test_groups_page_for_a_regional_manager_stays_in_the_branch(app_as):
    at = _page(app_as, "rm_doumen")
    portfolio = [d.value for d in at.dataframe if "Account manager 客户经理" in d.value.columns]
    assert portfolio and len(portfolio[0]) > 0


def test_account_managers_land_on_their_portfolio():
    from pages.common import navigation

    assert navigation.landing("account_manager") == "pages/groups.py"
    assert navigation.may_open("account_manager", "pages/groups.py")


def test_a_groups_usage_is_the_mean_of_its_lines_with_every_recent_month():
    """Written plainly, group by group: lines missing a recent month are left out, a group
    needs two lines left, and a month missing in any line left is missing in the mean."""
    from analytics.groups import group_usage

    rng = np.random.default_rng(5)
    centred = pd.DataFrame(rng.normal(size=(9, 8)), index=range(101, 110), columns=range(8))
    centred.iloc[1, 2] = np.nan           # line 102 (group 1): an early gap, still complete
    centred.iloc[3, -1] = np.nan          # line 104 (group 2): a recent month missing
    centred.iloc[6, -3] = np.nan          # line 107 (group 3): missing just before the recent
    owners = pd.Series([1, 1, 2, 2, 3, 3, 3, 4, 5], index=centred.index)
    got = group_usage(centred, owners, recent=2)
    want = {}
    for group_id in sorted(owners.unique()):
        part = centred[owners == group_id]
        part = part.dropna(subset=part.columns[-2:].tolist())
        if len(part) >= 2:
            want[int(group_id)] = part.mean(axis=0, skipna=False).to_numpy(dtype=float)
    assert list(got) == list(want) == [1, 3]
    for group_id, values in want.items():
        np.testing.assert_allclose(got[group_id], values, equal_nan=True)
    assert np.isnan(got[1][2]) and np.isnan(got[3][5])


def test_the_short_series_median_is_numpys():
    """The level test's medians (a fast path for the few months of each of thousands of
    series) equal ``np.median`` exactly, odd and even lengths, any scale."""
    rng = np.random.default_rng(7)
    for n in range(1, 40):
        for _ in range(50):
            values = rng.normal(size=n) * 10 ** rng.uniform(-3, 3)
            assert rules._median(values) == float(np.median(values))
    assert rules.month_number("2026-01-31") - rules.month_number("2025-12-01") == 1

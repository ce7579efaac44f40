"""The extract loader: valid extracts load on DuckDB and SQLite, bad ones are refused and change nothing."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.mart import schema
from data_access.db import PROJECT_ROOT, create_mart_engine
from data_access.mart.load import ExtractError, export_mart, load_extract
from data_access.mart.checks.validation import ALLOWED_CODES, CODE_LISTS, arrow_schema, parse_values

D = dt.date


def _fact(month: D, sub: int, voice: float, data: float, discount: float, is_new: bool = False) -> dict:
    revenue = round(voice + data + 1.0 + 2.5 - discount, 2)
    return dict(month=month, subscriber_id=sub, rev_voice=voice, rev_data=data, rev_sms=1.0,
                rev_vas=2.5, discount=discount, revenue=revenue, mou=120.0, data_mb=2048.5,
                sms_cnt=10.0, service_cost=3.2, is_new=is_new)


def valid_tables() -> dict[str, list[dict]]:
    """A tiny extract covering every table and every reference between them."""
    jan, feb = D(2024, 1, 1), D(2024, 2, 1)
    return {
        "dim_region": [
            dict(region_id=1, branch="Xiangzhou", branch_zh="香洲", micro_region="Gongbei",
                 micro_region_zh="拱北", lat=22.22, lon=113.55),
            dict(region_id=2, branch="Doumen", branch_zh="斗门", micro_region="Jing'an",
                 micro_region_zh="井岸", lat=22.21, lon=113.29),
        ],
        "dim_plan": [
            dict(plan_id=1, plan_name="Basic 38", plan_family="4G", monthly_fee=38.0, data_quota_mb=1024.0),
            dict(plan_id=2, plan_name="Max 128", plan_family="5G", monthly_fee=128.0, data_quota_mb=30720.0),
        ],
        "dim_channel": [
            dict(channel_id=1, channel_name="Gongbei hall 拱北营业厅", channel_type="own_hall", region_id=1,
                 manager="Li Lei", opened_on=D(2019, 3, 1)),
            dict(channel_id=2, channel_name="App", channel_type="e_channel", region_id=2,
                 manager="Han Meimei", opened_on=D(2020, 1, 15)),
        ],
        "dim_group": [
            dict(group_id=1, group_name="Hengqin Resort 横琴度假村", industry="tourism",
                 account_manager="Wang Fang", region_id=1, has_leased_line=True),
        ],
        "dim_subscriber": [
            dict(subscriber_id=1001, msisdn="13800000001", join_month=D(2023, 6, 1), churn_month=None,
                 plan_id=1, region_id=1, channel_id=1, group_id=None, segment="mass", age=34),
            dict(subscriber_id=1002, msisdn="13800000002", join_month=jan, churn_month=None,
                 plan_id=2, region_id=2, channel_id=2, group_id=1, segment="enterprise", age=41),
            dict(subscriber_id=1003, msisdn="13800000003", join_month=D(2023, 1, 1), churn_month=feb,
                 plan_id=1, region_id=2, channel_id=1, group_id=None, segment="youth", age=22),
            dict(subscriber_id=1004, msisdn="13800000004", join_month=D(2023, 9, 1), churn_month=None,
                 plan_id=2, region_id=1, channel_id=2, group_id=None, segment="high_end", age=50),
        ],
        "fact_subscriber_month": [
            _fact(jan, 1001, 20.0, 18.0, 0.0), _fact(feb, 1001, 21.5, 17.25, 2.0),
            _fact(jan, 1002, 40.0, 88.0, 10.0, is_new=True), _fact(feb, 1002, 42.0, 90.0, 10.0),
            _fact(jan, 1003, 10.0, 5.0, 0.0),
            _fact(jan, 1004, 60.0, 70.0, 5.0), _fact(feb, 1004, 61.0, 72.5, 5.0),
        ],
        "fact_region_day": [
            dict(day=D(2024, 2, 1), region_id=1, new_activations=3, churned=1, revenue=120.5, active_subs=2),
            dict(day=D(2024, 2, 1), region_id=2, new_activations=1, churned=0, revenue=80.0, active_subs=2),
        ],
        "fact_channel_day": [
            dict(day=D(2024, 2, 1), channel_id=1, new_activations=2, revenue=100.0, stock_level=50),
            dict(day=D(2024, 2, 1), channel_id=2, new_activations=1, revenue=60.0, stock_level=0),
        ],
        "fact_competitor_month": [
            dict(month=feb, region_id=1, operator=op, subscribers=n, new_adds=5, churned=3, net_adds=2,
                 arpu=arpu)
            for op, n, arpu in (("us", 2, 81.3), ("rival_a", 3, 60.0), ("rival_b", 1, 55.5))
        ],
        "competitor_event": [
            dict(event_id=1, day=D(2024, 2, 10), operator="rival_a", region_id=1, kind="tariff",
                 description="Rival A cuts its 5G plan to 99, 含流量30GB"),
            dict(event_id=2, day=D(2024, 2, 15), operator="rival_b", region_id=None, kind="promotion",
                 description='City-wide "double data",\nsecond line'),
        ],
        "campaign": [
            dict(campaign_id=1, campaign_name="Spring 5G upgrade", department="product",
                 offer="Half price for 3 months", benefit_kind="discount", target_segment="mass",
                 channel_types="own_hall,e_channel", start_month=jan, end_month=D(2024, 3, 1),
                 budget=50000.0, has_control=True),
        ],
        "campaign_member": [
            dict(campaign_id=1, subscriber_id=1001, arm="treated", cost=30.0),
            dict(campaign_id=1, subscriber_id=1004, arm="control", cost=0.0),
        ],
        "budget_line": [
            dict(budget_id=1, parent_id=None, level="company", unit_name="Concerto City",
                 period="2024-Q1", amount=1e6, spent=2e5),
            dict(budget_id=2, parent_id=1, level="department", unit_name="product", period="2024-Q1",
                 amount=3e5, spent=5e4),
            dict(budget_id=3, parent_id=2, level="person", unit_name="Zhang Wei 张伟", period="2024-Q1",
                 amount=5e4, spent=1e4),
        ],
    }


PLANTED = [dict(truth_id=1, kind="churn_spike", where_json='{"region_id": 2}', size=0.3,
                period="2024-02", detail="planted for the test")]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, D) else str(value)


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None, *,
              encoding: str = "utf-8", lineterminator: str = "\n") -> None:
    """Write rows as CSV (every value as text; None as an empty field)."""
    columns = columns or list(rows[0])
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator=lineterminator)
        writer.writerow(columns)
        writer.writerows([[_text(row.get(c)) for c in columns] for row in rows])


def write_parquet(path: Path, name: str, rows: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(schema.MART.tables[name])), path)


def write_extract(directory: Path, tables: dict[str, list[dict]] | None = None, fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (tables or valid_tables()).items():
        if fmt == "csv":
            write_csv(directory / f"{name}.csv", rows)
        else:
            write_parquet(directory / f"{name}.parquet", name, rows)
    return directory


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every mart table's rows, sorted."""
    engine = create_mart_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return {t.name: sorted(map(tuple, conn.execute(sa.select(t))), key=repr)
                    for t in schema.MART.sorted_tables}
    finally:
        engine.dispose()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


EXPECTED_ROWS = {name: len(rows) for name, rows in valid_tables().items()}


@pytest.fixture(scope="module")
def loaded_mart(tmp_path_factory) -> tuple[str, Path, dict]:
    """A DuckDB mart loaded from the valid extract, with its contents."""
    root = tmp_path_factory.mktemp("mart")
    url = f"duckdb:///{root}/m.duckdb"
    load_extract(write_extract(root / "valid"), url)
    return url, root / "m.duckdb", snapshot(url)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_valid_extract_loads_with_row_counts_and_summaries(tmp_path, engine):
    suffix = "duckdb" if engine == "duckdb" else "sqlite"
    url = f"{engine}:///{tmp_path}/m.{suffix}"
    steps = []
    rows = load_extract(write_extract(tmp_path / "x"), url, progress=lambda f, m: steps.append(f))
    assert rows == {**EXPECTED_ROWS, "planted_truth": 0, "truth_churn_prob": 0,
                    "fact_network_day": 0, "discount_term": 0, "fact_plan_change": 0,
                    "group_line": 0, "fact_group_line_month": 0}  # optional tables left out
    assert steps[-1] == 1.0 and steps == sorted(steps)
    data = snapshot(url)
    for name, count in EXPECTED_ROWS.items():
        assert len(data[name]) == count, name
    meta = dict(data["mart_meta"])
    assert meta["source"] == "loader" and meta["extract"] == str((tmp_path / "x").resolve())
    engine_ = create_mart_engine(url, read_only=True)
    with engine_.connect() as conn:
        cube = conn.execute(sa.select(sa.func.sum(schema.sum_cube_month.c.revenue),
                                      sa.func.sum(schema.sum_cube_month.c.churned_subs))).one()
        fact = conn.execute(sa.select(sa.func.sum(schema.fact_subscriber_month.c.revenue))).scalar()
        churn = conn.execute(sa.select(schema.dim_subscriber.c.churn_month)
                             .where(schema.dim_subscriber.c.subscriber_id == 1003)).scalar()
    engine_.dispose()
    assert cube[0] == pytest.approx(fact) and cube[1] == 1
    assert churn == D(2024, 2, 1)
    assert len(data["sum_channel_month"]) == 4 and len(data["sum_group_month"]) == 2


def test_parquet_extract_with_optional_table_loads(tmp_path):
    tables = {**valid_tables(), "planted_truth": PLANTED}
    url = f"duckdb:///{tmp_path}/m.duckdb"
    rows = load_extract(write_extract(tmp_path / "x", tables, fmt="parquet"), url)
    assert rows["planted_truth"] == 1 and rows["fact_subscriber_month"] == 7
    assert snapshot(url)["dim_group"][0][-1] is True


def test_lenient_spellings_are_accepted(tmp_path):
    """BOM, CRLF, any column order, boolean spellings, quoted commas and line breaks."""
    directory = write_extract(tmp_path / "x")
    tables = valid_tables()
    write_csv(directory / "dim_region.csv", tables["dim_region"], encoding="utf-8-sig")
    facts = tables["fact_subscriber_month"]
    for row, spelling in zip(facts, ["TRUE", "f", "Yes", "no", "0", "T", "False"]):
        row["is_new"] = spelling
    write_csv(directory / "fact_subscriber_month.csv", facts, list(reversed(list(facts[0]))),
              lineterminator="\r\n")
    url = f"duckdb:///{tmp_path}/m.duckdb"
    load_extract(directory, url)
    data = snapshot(url)
    expected = [True, False, True, False, False, True, False]
    assert {(row[0], row[1]): row[-1] for row in data["fact_subscriber_month"]} == \
        {(f["month"], f["subscriber_id"]): flag for f, flag in zip(valid_tables()["fact_subscriber_month"], expected)}
    assert {row[-1] for row in data["competitor_event"]} >= {'City-wide "double data",\nsecond line'}
    assert ("Xiangzhou", "香洲") in {row[1:3] for row in data["dim_region"]}


def _rewrite(name: str, change: Callable[[list[dict]], list[dict]], columns: list[str] | None = None):
    def apply(directory: Path) -> None:
        rows = change(valid_tables()[name])
        write_csv(directory / f"{name}.csv", rows, columns or list(valid_tables()[name][0]))
    return apply


def _set(index: int, **values) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[index].update(values)
        return rows
    return change


def _write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda directory: (directory / name).write_bytes(data)


def _not_utf8(directory: Path) -> None:
    rows = valid_tables()["dim_region"]
    write_csv(directory / "dim_region.csv", rows, encoding="gbk")


_GBK_OFFSET = len("region_id,branch,branch_zh,micro_region,micro_region_zh,lat,lon\n1,Xiangzhou,")
_SUB_COLUMNS = [c.name for c in schema.dim_subscriber.columns]

BROKEN = {
    "missing column": (_rewrite("dim_plan", lambda r: r, ["plan_id", "plan_name", "plan_family", "data_quota_mb"]),
                       ["dim_plan.csv, column monthly_fee: missing column"]),
    "unexpected column": (_rewrite("dim_plan", lambda r: r, [c.name for c in schema.dim_plan.columns] + ["plan_famliy"]),
                          ["dim_plan.csv, column plan_famliy: unexpected column"]),
    "not a whole number": (_rewrite("dim_subscriber", _set(1, age="abc")),
                           ["dim_subscriber.csv, line 3, column age: 'abc' is not a whole number"]),
    "bad date": (_rewrite("fact_region_day", _set(1, day="2024-02-30")),
                 ["fact_region_day.csv, line 3, column day: '2024-02-30' is not a date"]),
    "not a number": (_rewrite("dim_region", _set(0, lat="22,22")),
                     ["dim_region.csv, line 2, column lat: '22,22' is not a number"]),
    "bad boolean": (_rewrite("dim_group", _set(0, has_leased_line="maybe")),
                    ["dim_group.csv, line 2, column has_leased_line: 'maybe' is not a boolean"]),
    "too long": (_rewrite("dim_subscriber", _set(3, msisdn="138000000041")),
                 ["dim_subscriber.csv, line 5, column msisdn: '138000000041' is longer than 11"]),
    "null in not null": (_rewrite("dim_channel", _set(1, manager=None)),
                         ["dim_channel.csv, line 3, column manager: value missing"]),
    "duplicate key": (_rewrite("fact_subscriber_month", lambda r: r + [dict(r[2])]),
                      ["fact_subscriber_month.csv, line 9, column month, subscriber_id: duplicate key "
                       "month=2024-01-01, subscriber_id=1002: also on line 4"]),
    "duplicate unique": (_rewrite("dim_subscriber", _set(2, msisdn="13800000001")),
                         ["dim_subscriber.csv, line 4, column msisdn: duplicate key msisdn=13800000001: "
                          "also on line 2"]),
    "dangling reference": (_rewrite("dim_subscriber", _set(2, plan_id=99)),
                           ["dim_subscriber.csv, line 4, column plan_id: 99 is not a plan_id in dim_plan"]),
    "dangling self reference": (_rewrite("budget_line", _set(2, parent_id=7)),
                                ["budget_line.csv, line 4, column parent_id: 7 is not a budget_id"]),
    "empty file": (_write_bytes("campaign.csv", b""), ["campaign.csv: is empty"]),
    "header only": (_write_bytes("budget_line.csv", ",".join(c.name for c in schema.budget_line.columns).encode() + b"\n"),
                    ["budget_line.csv: has a header but no rows"]),
    "not utf-8": (_not_utf8, [f"dim_region.csv, line 2: is not UTF-8 text: byte 0xcf at byte offset {_GBK_OFFSET}"]),
    "bad code": (_rewrite("dim_channel", _set(0, channel_type="shop")),
                 ["dim_channel.csv, line 2, column channel_type: 'shop' is not one of own_hall"]),
    "bad arm": (_rewrite("campaign_member", _set(1, arm="holdout")),
                ["campaign_member.csv, line 3, column arm: 'holdout' is not one of treated, control"]),
    "bad code list": (_rewrite("campaign", _set(0, channel_types="own_hall,kiosk")),
                      ["campaign.csv, line 2, column channel_types: 'own_hall,kiosk' lists a code"]),
    "month not first day": (_rewrite("fact_competitor_month", _set(0, month=D(2024, 2, 15))),
                            ["fact_competitor_month.csv, line 2, column month: 2024-02-15 is not the first day"]),
    "revenue does not add up": (_rewrite("fact_subscriber_month", _set(4, revenue=99.0)),
                                ["fact_subscriber_month.csv, line 6, column revenue: revenue 99.00 is not "
                                 "rev_voice + rev_data + rev_sms + rev_vas - discount = 18.50"]),
    "missing required table": (lambda d: (d / "campaign_member.csv").unlink(),
                               ["campaign_member: required table missing"]),
    "unknown file name": (lambda d: (d / "dim_region.csv").rename(d / "dim_regoin.csv"),
                          ["dim_regoin.csv: unknown file (did you mean dim_region.csv?)",
                           "dim_region: required table missing"]),
    "csv and parquet": (lambda d: write_parquet(d / "dim_plan.parquet", "dim_plan", valid_tables()["dim_plan"]),
                        ["dim_plan.csv: both dim_plan.csv and dim_plan.parquet are present"]),
    "discount rate above one": (lambda d: write_csv(d / "discount_term.csv", [
        dict(subscriber_id=1001, rate=0.15, end_month=D(2024, 6, 1)),
        dict(subscriber_id=1002, rate=1.5, end_month=D(2024, 6, 1))],
        ["subscriber_id", "rate", "end_month"]),
        ["discount_term.csv, line 3, column rate: 1.5 is not between 0 and 1"]),
    "discount term of nobody": (lambda d: write_csv(d / "discount_term.csv", [
        dict(subscriber_id=4242, rate=0.1, end_month=D(2024, 6, 1))],
        ["subscriber_id", "rate", "end_month"]),
        ["discount_term.csv, line 2, column subscriber_id: 4242 is not a subscriber_id"]),
    "coverage above 100": (lambda d: write_csv(d / "fact_network_day.csv", [
        dict(day=D(2024, 1, 5), region_id=1, coverage_pct=101.5, call_drop_rate=0.01,
             throughput_mbps=50.0, complaints=2)],
        [c.name for c in schema.fact_network_day.columns]),
        ["fact_network_day.csv, line 2, column coverage_pct: 101.5 is not between 0 and 100"]),
    "wrong field count": (_write_bytes("dim_plan.csv", b"plan_id,plan_name,plan_family,monthly_fee,data_quota_mb\n"
                                       b"1,Basic,4G,38,1024\n2,Max,5G,128,30720,extra\n"),
                          ["dim_plan.csv, line 3: has 6 fields where the header has 5"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_extract_is_refused_and_mart_unchanged(tmp_path, loaded_mart, case):
    url, path, before = loaded_mart
    directory = write_extract(tmp_path / "x")
    breaker, expected = BROKEN[case]
    breaker(directory)
    file_digest = digest(path)
    with pytest.raises(ExtractError) as error:
        load_extract(directory, url)
    message = str(error.value)
    for text in expected:
        assert text in message, message
    assert "the mart is unchanged" in message
    assert digest(path) == file_digest
    assert snapshot(url) == before


def test_parquet_problems_name_the_row(tmp_path, loaded_mart):
    url, _, before = loaded_mart
    directory = write_extract(tmp_path / "x")
    (directory / "dim_subscriber.csv").unlink()
    rows = valid_tables()["dim_subscriber"]
    table = pa.Table.from_pylist(rows, schema=arrow_schema(schema.dim_subscriber))
    table = table.set_column(9, "age", pa.array(["34", "abc", "22", ""]))
    pq.write_table(table, directory / "dim_subscriber.parquet")
    with pytest.raises(ExtractError) as error:
        load_extract(directory, url)
    assert "dim_subscriber.parquet, row 2, column age: 'abc' is not a whole number" in str(error.value)
    assert "dim_subscriber.parquet, row 4, column age: value missing" in str(error.value)
    assert snapshot(url) == before


def test_problems_are_capped_per_file_and_sorted_by_file(tmp_path):
    directory = write_extract(tmp_path / "x")
    bad_fact = _fact(D(2024, 1, 1), 1001, 1.0, 1.0, 0.0) | {"mou": "x"}
    write_csv(directory / "fact_subscriber_month.csv", [bad_fact] * 30)  # 30 bad mou + 29 duplicates
    _rewrite("dim_channel", _set(0, channel_type="shop"))(directory)
    with pytest.raises(ExtractError) as error:
        load_extract(directory, f"duckdb:///{tmp_path}/m.duckdb")
    problems = error.value.problems
    fact_problems = [p for p in problems if p.file == "fact_subscriber_month.csv"]
    assert len(fact_problems) == 21 and fact_problems[-1].message == "... and 39 more problems"
    assert [p.file for p in problems] == sorted(p.file for p in problems)
    rows = [p.row for p in fact_problems[:-1]]
    assert rows == sorted(rows) and rows[0] == 2
    assert not (tmp_path / "m.duckdb").exists()


def test_broken_extract_leaves_sqlite_mart_unchanged(tmp_path):
    url = f"sqlite:///{tmp_path}/m.sqlite"
    load_extract(write_extract(tmp_path / "good"), url)
    before = snapshot(url)
    directory = write_extract(tmp_path / "bad")
    _rewrite("dim_subscriber", _set(2, plan_id=99))(directory)
    with pytest.raises(ExtractError, match="99 is not a plan_id"):
        load_extract(directory, url)
    assert snapshot(url) == before


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "data_access.mart.load", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_refuses_a_bad_extract_with_exit_code_2(tmp_path, loaded_mart):
    url, path, before = loaded_mart
    directory = write_extract(tmp_path / "x")
    _rewrite("dim_subscriber", _set(1, age="abc"))(directory)
    result = _run_cli(str(directory), "--url", url)
    assert result.returncode == 2
    assert "dim_subscriber.csv, line 3, column age: 'abc' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(url) == before


def test_cli_loads_and_prints_rows_per_table(tmp_path):
    result = _run_cli(str(write_extract(tmp_path / "x")), "--url", f"duckdb:///{tmp_path}/m.duckdb")
    assert result.returncode == 0, result.stderr
    assert "100%" in result.stdout
    assert any(line.split() == ["fact_subscriber_month", "7"] for line in result.stdout.splitlines())


def test_cli_check_only_writes_nothing(tmp_path):
    result = _run_cli(str(write_extract(tmp_path / "x")), "--check", "--url", f"duckdb:///{tmp_path}/m.duckdb")
    assert result.returncode == 0, result.stderr
    assert "Checked" in result.stdout and not (tmp_path / "m.duckdb").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_then_load_reproduces_the_tables(tmp_path, loaded_mart, fmt):
    url, _, before = loaded_mart
    export_mart(url, tmp_path / "out", fmt)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        sorted(f"{t.name}.{fmt}" for t in schema.EXTRACT_TABLES)
    copy = f"sqlite:///{tmp_path}/copy.sqlite"
    load_extract(tmp_path / "out", copy)
    after = snapshot(copy)
    for table in schema.EXTRACT_TABLES + schema.OPTIONAL_TABLES + schema.SUMMARY_TABLES:
        assert after[table.name] == before[table.name], table.name


def test_generated_mart_round_trips(tmp_path):
    generate = pytest.importorskip("data_access.synth.generate")
    source = f"duckdb:///{tmp_path}/generated.duckdb"
    generate.generate_mart(source, subscribers=2_000, months=13, seed=7)
    export_mart(source, tmp_path / "out")
    copy = f"duckdb:///{tmp_path}/copy.duckdb"
    load_extract(tmp_path / "out", copy)
    before, after = snapshot(source), snapshot(copy)
    for table in schema.EXTRACT_TABLES + schema.OPTIONAL_TABLES:
        assert after[table.name] == before[table.name], table.name
    for table in schema.SUMMARY_TABLES:  # sums of floats: the order of addition may differ
        keys = [c.name for c in table.primary_key.columns]
        frames = [pd.DataFrame(rows, columns=[c.name for c in table.columns])
                  .sort_values(keys).reset_index(drop=True) for rows in (before[table.name],
                                                                          after[table.name])]
        pd.testing.assert_frame_equal(*frames, check_exact=False, rtol=1e-9)


@pytest.mark.postgres
def test_postgresql_loads_and_keeps_the_mart_on_a_bad_extract(tmp_path, pg_url):
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # a database of its own: the session's pg_mart stays intact
        conn.execute(sa.text("DROP DATABASE IF EXISTS concerto_load_test"))
        conn.execute(sa.text("CREATE DATABASE concerto_load_test"))
    admin.dispose()
    url = sa.engine.make_url(pg_url).set(database="concerto_load_test").render_as_string(False)
    assert load_extract(write_extract(tmp_path / "good"), url)["fact_subscriber_month"] == 7
    before = snapshot(url)
    assert len(before["dim_subscriber"]) == 4 and before["sum_cube_month"]
    directory = write_extract(tmp_path / "bad")
    _rewrite("fact_subscriber_month", _set(4, revenue=99.0))(directory)
    with pytest.raises(ExtractError, match="line 6, column revenue"):
        load_extract(directory, url)
    assert snapshot(url) == before


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ExtractError, match="is not a folder"):
        load_extract(tmp_path / "nowhere", f"duckdb:///{tmp_path}/m.duckdb")


@pytest.mark.parametrize("column, good, bad", [
    (schema.dim_subscriber.c.age, ["-12", "1048576", "2147483647"], ["12.0", "1,024", "+5", " 5", "2147483648"]),
    (schema.dim_subscriber.c.subscriber_id, ["123456789012345678"], ["1e3", "x"]),
    (schema.dim_region.c.lat, ["12", "12.5", "-0.75", "1.5e3", ".5"], ["12,5", "NaN", "inf", "¥12"]),
    (schema.dim_channel.c.opened_on, ["2026-03-01", "1999-12-31"],
     ["2026/03/01", "2026-3-1", "2026-02-30", "20260301", " 2026-03-01"]),
    (schema.dim_group.c.has_leased_line, ["true", "FALSE", "1", "0", "t", "F", "yes", "No"], ["Y", "是", "on"]),
    (schema.dim_subscriber.c.msisdn, ["13800000000", "一二三"], ["138000000000"]),
])
def test_value_spellings_match_the_documented_format(column, good, bad):
    typed, mask, _ = parse_values(column, pa.array(good + bad + [None]))
    assert mask.tolist() == [False] * len(good) + [True] * len(bad) + [False]
    assert typed.null_count == len(bad) + 1


def test_parquet_types_are_taken_as_they_are():
    values = {
        schema.dim_subscriber.c.age: pa.array([12.0, 12.5], pa.float64()),
        schema.dim_channel.c.opened_on: pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 9)]),
        schema.dim_subscriber.c.segment: pa.array(["mass", ""]).dictionary_encode(),
    }
    results = {c.name: parse_values(c, v) for c, v in values.items()}
    assert results["age"][1].tolist() == [False, True] and results["age"][0][0].as_py() == 12
    assert results["opened_on"][1].tolist() == [False, True]
    assert results["opened_on"][0][0].as_py() == D(2024, 1, 1)
    assert results["segment"][0].to_pylist() == ["mass", None]


def test_extract_format_guide_names_every_table_and_code():
    guide = (PROJECT_ROOT / "docs" / "extract_format.md").read_text(encoding="utf-8")
    codes = {code for allowed in ALLOWED_CODES.values() for code in allowed}
    codes |= {code for allowed in CODE_LISTS.values() for code in allowed}
    names = {t.name for t in schema.EXTRACT_TABLES + schema.OPTIONAL_TABLES}
    names |= {column for _, column in ALLOWED_CODES} | {column for _, column in CODE_LISTS}
    missing = sorted(n for n in names | codes if f"`{n}`" not in guide and f".{n}`" not in guide)
    assert not missing, f"docs/extract_format.md does not mention {missing}"

"""The browser benchmarks' pure parts: bench/load.py's --sessions list and percentile
summary, reading a process tree's memory and CPU from /proc texts, the mart options
(--mart / --mart-url) and record sections of bench/marts.py, bench/clicks.py's options and
bench/postgres_app.py's options and plan (no browser, no server)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bench.load import BadInput, main, parse_sessions, percentile, summarize
from bench.marts import mart_target, postgres_url, section_name
from bench.postgres_app import parse_options as parse_app_options
from bench.proctree import parse_stat, parse_vmrss_kb, process_tree, tree_rss_kb

# /proc/<pid>/stat of a process whose name holds a space and a parenthesis; ppid 1, utime 250,
# stime 50, cutime 7, cstime 3, start time 4242
STAT = ("4321 (python (x) y) S 1 4321 4321 0 -1 4194560 1000 0 0 0 250 50 7 3 20 0 4 0 4242 "
        "1000000 2000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")
STATUS = "Name:\tpython\nVmPeak:\t  900000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t 100000 kB\n"


def test_sessions_are_parsed_and_bad_lists_refused():
    assert parse_sessions("1,5,10") == [1, 5, 10]
    assert parse_sessions(" 2 , 3") == [2, 3]
    for bad in ("", "1,,5", "1,x", "0", "11", "-1", "2.5"):
        with pytest.raises(BadInput):
            parse_sessions(bad)


def test_a_bad_sessions_list_exits_2_with_a_message(capsys):
    assert main(["--sessions", "1,five", "--no-record"]) == 2
    assert "--sessions" in capsys.readouterr().err
    assert main(["--browser-nice", "20", "--no-record"]) == 2
    assert "--browser-nice must be 0 to 19" in capsys.readouterr().err
    for bad in ("-1", "61", "nan"):
        assert main(["--think", bad, "--no-record"]) == 2
        assert "--think must be 0 to 60 seconds" in capsys.readouterr().err


def test_a_thinking_person_pauses_between_half_and_one_and_a_half_times_the_think_time():
    from bench.load_journeys import Session

    def pauses(user: str, round_: int, think: float) -> list[float]:
        session = Session(None, "http://x", 1, user, "executive", round_, 10, [], think)
        return [session.pause_s() for _ in range(200)]

    got = pauses("exec", 0, 4.0)
    assert all(2.0 <= p <= 6.0 for p in got) and max(got) - min(got) > 3.0
    assert got == pauses("exec", 0, 4.0)  # the same pauses in every run of the benchmark
    assert got != pauses("exec", 1, 4.0) and got != pauses("analyst", 0, 4.0)
    assert set(pauses("exec", 0, 0.0)) == {0.0}  # the stress test clicks at once


def test_percentiles_interpolate_between_ranks():
    values = [float(v) for v in range(1, 11)]  # 1 … 10, shuffled below
    shuffled = values[::2] + values[1::2]
    assert percentile(shuffled, 50) == pytest.approx(5.5)
    assert percentile(shuffled, 95) == pytest.approx(9.55)
    assert percentile([3.0], 95) == 3.0
    summary = summarize(shuffled)
    assert (summary.n, summary.p50, summary.max) == (10, pytest.approx(5.5), 10.0)
    assert summary.p95 == pytest.approx(9.55)
    assert summarize([]) is None


def test_memory_and_cpu_are_read_from_proc_texts():
    assert parse_vmrss_kb(STATUS) == 123456
    assert parse_vmrss_kb("Name:\tkthreadd\nState:\tS\n") == 0  # kernel threads have none
    stat = parse_stat(STAT)
    assert (stat.ppid, stat.own, stat.reaped, stat.start) == (1, 300, 10, 4242)


def _fake_proc(root: Path, processes: dict[int, tuple[int, int]]) -> Path:
    """A /proc with ``pid → (ppid, VmRSS kB)``."""
    for pid, (ppid, rss) in processes.items():
        folder = root / str(pid)
        folder.mkdir(parents=True)
        (folder / "stat").write_text(STAT.replace("S 1 4321", f"S {ppid} 4321", 1))
        (folder / "status").write_text(STATUS.replace("123456", str(rss)))
    (root / "self").mkdir()
    return root


def test_a_trees_memory_sums_the_process_and_its_descendants_only(tmp_path):
    proc = _fake_proc(tmp_path, {10: (1, 1000), 11: (10, 200), 12: (11, 30), 20: (1, 5000)})
    assert set(process_tree(10, proc)) == {10, 11, 12}
    assert tree_rss_kb(10, proc) == 1230
    assert tree_rss_kb(99, proc) == 0  # gone


def test_clicks_made_twice_are_counted_and_listed_beside_the_failed_ones():
    from bench.load import Level, level_table, problem_lines
    from bench.load_journeys import Click

    clicks = [Click(2, "exec", "executive", 0, "KPI card", 0.8, answered_seconds=0.3,
                    browser_task_seconds=0.2),
              Click(2, "analyst", "analyst", 0, "run the template", 16.4, repeated=True,
                    answered_seconds=16.1, browser_task_seconds=0.6),
              Click(2, "exec", "executive", 0, "drill: first row", None, "did not settle")]
    level = Level(2, clicks, [1.0, 1.2], 30.0, 5.0, 9.0, (0.1, 0.5), 400_000, 0)
    row = level_table([level])[2]
    assert row.startswith("| 2 | 3 | 1 / 1 |")
    assert "| 8.20 / 15.31 |" in row  # the server's answer: p50 / p95 of the two answered
    tasks = summarize([0.2, 0.6])
    assert f"| — | {tasks.p50:.2f} / {tasks.p95:.2f} |" in row  # no server runs; page tasks
    lines = problem_lines([level])
    assert len(lines) == 2
    assert "run the template: made twice" in lines[0] and "16.40 s from the first" in lines[0]
    assert lines[1].endswith("drill: first row: did not settle")


def test_the_servers_runs_are_read_from_its_log_and_summarised_per_page(tmp_path):
    from bench.load import Level, level_table, read_runs, run_table

    log = tmp_path / "runs.jsonl"
    log.write_text(
        '{"kind": "app", "page": "channels", "start": 100.0, "wall_s": 2.0, "cpu_s": 0.5}\n'
        '{"kind": "app", "page": "channels", "start": 101.0, "wall_s": 4.0, "cpu_s": 1.5}\n'
        '{"kind": "fragment", "page": "drill", "start": 102.0, "wall_s": 0.3, "cpu_s": 0.2}\n'
        '{"kind": "app", "page": "alerts", "start": 500.0, "wall_s": 9.0, "cpu_s": 9.0}\n'
        '{"kind": "app", "pa', encoding="utf-8")  # the last write cut short
    runs = read_runs(log, 99.0, 200.0)
    assert [r["page"] for r in runs] == ["channels", "channels", "drill"]  # alerts: later
    level = Level(5, [], [], 30.0, 5.0, 9.0, (0.1, 0.5), 400_000, 0, runs)
    assert "| 3, 2.00 / 3.80, 1.40 |" in level_table([level])[2]
    table = run_table([level])
    assert table[2] == "| channels | 2: 3.00 / 3.90, CPU 1.45 |"
    assert table[3] == "| drill (fragment) | 1: 0.30 / 0.30, CPU 0.20 |"
    assert read_runs(tmp_path / "absent.jsonl", 0, 1e12) == []


# ── a PostgreSQL mart for the browser benchmarks (bench/marts.py, bench/clicks.py,
#    bench/postgres_app.py) ─────────────────────────────────────────────────────────────────

PG = "postgresql+psycopg://postgres@127.0.0.1:5433/postgres"


def test_a_postgresql_url_is_read_and_given_the_projects_driver():
    assert postgres_url(PG) == PG
    assert postgres_url(" postgresql://postgres@127.0.0.1:5433/postgres ") == PG
    assert postgres_url("postgresql+psycopg://u:secret@db/mart").endswith("u:secret@db/mart")


@pytest.mark.parametrize("bad, says", [
    ("/tmp/mart.duckdb", "not a database URL"),
    ("not a url", "not a database URL"),
    ("duckdb:////tmp/mart.duckdb", "pass --mart PATH"),
    ("sqlite:////tmp/x.sqlite", "wants a PostgreSQL database"),
    ("postgresql+psycopg://postgres@127.0.0.1:5433", "names no database"),
])
def test_a_bad_mart_url_is_refused_with_a_message(bad, says):
    with pytest.raises(BadInput, match=says) as caught:
        postgres_url(bad)
    assert str(caught.value).startswith("--mart-url")
    with pytest.raises(BadInput, match=r"^--url"):
        postgres_url(bad, "--url")


def test_the_mart_is_a_file_or_a_url_never_both(tmp_path):
    file = tmp_path / "m.duckdb"
    file.write_bytes(b"")
    target = mart_target(str(file), None, tmp_path / "default.duckdb")
    assert (target.engine, target.url, target.label) == ("duckdb", f"duckdb:///{file}", "m.duckdb")
    target = mart_target(None, PG, tmp_path / "default.duckdb")
    assert (target.engine, target.url, target.path) == ("postgresql", PG, None)
    assert target.label == "PostgreSQL postgres@127.0.0.1:5433"
    with pytest.raises(BadInput, match="not both"):
        mart_target(str(file), PG, file)
    with pytest.raises(BadInput, match="no mart file"):
        mart_target(None, None, tmp_path / "absent.duckdb")


@pytest.mark.parametrize("module", ["bench.load", "bench.clicks"])
def test_both_mart_options_at_once_exit_2_with_a_message(module, capsys, tmp_path):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stopped:
        main(["--mart", str(tmp_path / "m.duckdb"), "--mart-url", PG])
    assert stopped.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["bench.load", "bench.clicks"])
def test_a_bad_mart_url_exits_2_with_a_message(module, capsys, monkeypatch):
    import tests.browser_support as support

    monkeypatch.setattr(support, "CHROMIUM", __file__)  # "installed": the URL is what is wrong
    main = importlib.import_module(module).main
    assert main(["--mart-url", "/tmp/mart.duckdb"]) == 2
    err = capsys.readouterr().err
    assert "--mart-url" in err and "not a database URL" in err and "Traceback" not in err


def test_a_server_that_does_not_answer_is_a_message_not_a_traceback(capsys):
    from bench import clicks

    free = "postgresql+psycopg://postgres@127.0.0.1:9/postgres?connect_timeout=2"
    assert clicks.main(["--mart-url", free]) == 2
    assert "cannot read a Concerto mart at PostgreSQL postgres@127.0.0.1:9" in \
        capsys.readouterr().err


def test_records_on_postgresql_go_to_their_own_sections_beside_duckdbs(tmp_path, monkeypatch):
    from bench import results

    duck = mart_target(None, None, _file(tmp_path))
    pg = mart_target(None, PG, tmp_path / "unused")
    assert (section_name("load", duck), section_name("load", pg)) == ("load", "load-postgres")
    assert section_name("clicks-1m", pg) == "clicks-1m-postgres"
    monkeypatch.setattr(results, "RESULTS", tmp_path / "RESULTS.md")
    results.RESULTS.write_text("# R\n\n## Load\n\n<!-- load:begin -->\nduck\n<!-- load:end -->\n"
                               "\n## Later\n\ntext\n", encoding="utf-8")
    results.record_section("load-postgres", "## Load", "pg 1", after="load")
    results.record_section("load-postgres", "## Load", "pg 2", after="load")
    results.record_section("load", "## Load", "duck 2", after="load")
    text = results.RESULTS.read_text(encoding="utf-8")
    assert text == ("# R\n\n## Load\n\n<!-- load:begin -->\nduck 2\n<!-- load:end -->\n\n"
                    "<!-- load-postgres:begin -->\npg 2\n<!-- load-postgres:end -->\n"
                    "\n## Later\n\ntext\n")
    results.record_section("clicks-1m-postgres", "## Clicks", "c", after="clicks-1m")
    assert results.RESULTS.read_text(encoding="utf-8").endswith(
        "## Clicks\n\n<!-- clicks-1m-postgres:begin -->\nc\n<!-- clicks-1m-postgres:end -->\n")


def _file(folder: Path) -> Path:
    path = folder / "mart.duckdb"
    path.write_bytes(b"")
    return path


def test_clicks_options_are_checked(tmp_path):
    from bench.clicks import parse_options

    args, mart, env, pages = parse_options(["--mart-url", PG, "--env", "A=1", "--pages",
                                            "microregion", "--record", "1m"])
    assert (mart.url, env, pages, args.record) == (PG, {"A": "1"}, ["microregion"], "1m")
    for bad, says in ((["--env", "A"], "NAME=VALUE"), (["--pages", "sandbox,nowhere"], "--pages"),
                      (["--runs", "0"], "--runs")):
        with pytest.raises(BadInput, match=says):
            parse_options(["--mart-url", PG, *bad])


def test_postgres_app_options_and_defaults(tmp_path):
    options = parse_app_options(["--url", "postgresql://postgres@127.0.0.1:5433/postgres"])
    assert options.url == PG
    assert (options.model_dir, options.work, options.runs, options.sessions, options.rounds,
            options.settle, options.record, options.clicks, options.load) == (
        None, None, 5, "1,5,10", 3, 180, True, True, True)
    models = tmp_path / "models"
    models.mkdir()
    (models / "live.json").write_text("{}", encoding="utf-8")
    options = parse_app_options(["--url", PG, "--model-dir", str(models), "--sessions", "1,2",
                                 "--rounds", "1", "--no-record", "--skip-clicks"])
    assert (options.model_dir, options.sessions, options.record, options.clicks) == (
        models, "1,2", False, False)


@pytest.mark.parametrize("bad, says", [
    (["--url", "/tmp/mart.duckdb"], "^--url: "),
    (["--url", PG, "--sessions", "1,99"], "--sessions"),
    (["--url", PG, "--rounds", "0"], "--rounds"),
    (["--url", PG, "--max-rows", "10"], "--max-rows"),
    (["--url", PG, "--settle", "-1"], "--settle"),
    (["--url", PG, "--model-dir", "/nonexistent"], "no live churn model"),
])
def test_postgres_app_refuses_bad_options_with_a_message(bad, says):
    with pytest.raises(BadInput, match=says):
        parse_app_options(bad)
    with pytest.raises(SystemExit):
        parse_app_options([])  # --url is required: argparse's own message, exit 2


def test_postgres_app_plans_preparation_only_when_the_store_lacks_it(tmp_path):
    from bench.postgres_app import plan, size_name

    assert [size_name(n) for n in (1_000_000, 250_000, 30_000, 1_234)] == [
        "1m", "250k", "30k", "1234"]
    options = parse_app_options(["--url", PG, "--max-rows", "50000"])
    models = tmp_path / "models"
    steps = plan(options, models, subscribers=1_000_000, has_model=False, prepared=False)
    assert [s.title for s in steps] == [
        "train the churn model", "score the latest month into the store",
        "precompute results for this mart", "sign-in and drill clicks", "the load test"]
    train, score, precompute, clicks, load = steps
    assert train.args[:3] == ["-m", "jobs.churn", "train"] and "50000" in train.args
    store = f"sqlite:///{models / 'workflow.sqlite'}"
    assert score.args[-2:] == ["--workflow", store] and PG in score.args
    assert precompute.env == {"CONCERTO_MART_URL": PG, "CONCERTO_WORKFLOW_URL": store}
    assert clicks.args[-2:] == ["--record", "1m"] and "--mart-url" in clicks.args
    assert load.args[load.args.index("--model-dir") + 1] == str(models)
    assert "--no-record" not in load.args
    again = plan(parse_app_options(["--url", PG, "--no-record", "--sessions", "1,2",
                                    "--rounds", "1"]), models, subscribers=250_000,
                 has_model=True, prepared=True)
    assert [s.title for s in again] == ["sign-in and drill clicks", "the load test"]
    assert "--record" not in again[0].args and "--no-record" in again[1].args
    assert again[1].args[again[1].args.index("--sessions") + 1] == "1,2"


def test_the_value_benchmark_times_both_ways_on_a_small_mart(any_mart, capsys):
    from bench import value as bench_value

    option = ["--mart-url", any_mart] if any_mart.startswith("postgresql") else \
        ["--mart", any_mart.removeprefix("duckdb:///")]
    assert bench_value.main([*option, "--runs", "1", "--windows", "3,2", "--no-record"]) == 0
    out = capsys.readouterr().out
    assert "| 3 (summarised) | ROI bands |" in out and "| 2 (not summarised) |" in out
    assert out.count("list: duplicate benefits") == 2 * 2 + 2  # a line per way, a row per window


class _Tab:
    def __init__(self, log: list[str], profile: int) -> None:
        self.log, self.profile = log, profile

    async def close(self) -> None:
        self.log.append(f"close tab of profile {self.profile}")


class _Profile:
    def __init__(self, log: list[str], number: int) -> None:
        self.log, self.number = log, number

    async def new_page(self) -> _Tab:
        self.log.append(f"tab in profile {self.number}")
        return _Tab(self.log, self.number)

    async def close(self) -> None:
        self.log.append(f"close profile {self.number}")


class _Browser:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.profiles = 0

    async def new_context(self, **_options) -> _Profile:
        self.profiles += 1
        return _Profile(self.log, self.profiles)


@pytest.mark.parametrize("first_visits, profiles", [(False, 1), (True, 3)])
def test_a_person_keeps_one_browser_profile_across_rounds_unless_first_visits(
        monkeypatch, first_visits, profiles):
    import asyncio

    from bench import load_journeys

    class Session:  # what a round does with its tab is not the point here
        def __init__(self, page, *args) -> None:
            self.page = page

        async def open(self) -> float:
            return 0.5

        async def sign_in(self) -> None:
            pass

    async def journey(session) -> None:
        pass

    monkeypatch.setattr(load_journeys, "Session", Session)
    monkeypatch.setitem(load_journeys.JOURNEYS, "executive", journey)
    browser, opens = _Browser(), []

    async def person() -> None:
        await load_journeys._person(browser, "http://app", 1, "exec", "executive", 3, 5.0,
                                    asyncio.Barrier(1), [], opens, 0.0, first_visits)

    asyncio.run(person())
    assert browser.profiles == profiles and opens == [0.5] * 3
    tabs = [line for line in browser.log if line.startswith("tab")]
    assert len(tabs) == 3  # a new tab, so a new Streamlit session and sign-in, every round
    assert browser.log.count("close profile 1") == 1  # nothing left open
    assert sum(line.startswith("close tab") for line in browser.log) == 3

"""bench/load.py's pure parts: the --sessions list, the percentile summary and reading a
process tree's memory and CPU from /proc texts (no browser, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import BadInput, main, parse_sessions, percentile, summarize
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

    clicks = [Click(2, "exec", "executive", 0, "KPI card", 0.8),
              Click(2, "analyst", "analyst", 0, "run the template", 16.4, repeated=True),
              Click(2, "exec", "executive", 0, "drill: first row", None, "did not settle")]
    level = Level(2, clicks, [1.0, 1.2], 30.0, 5.0, 9.0, (0.1, 0.5), 400_000, 0)
    row = level_table([level])[2]
    assert row.startswith("| 2 | 3 | 1 / 1 |")
    lines = problem_lines([level])
    assert len(lines) == 2
    assert "run the template: made twice" in lines[0] and "16.40 s from the first" in lines[0]
    assert lines[1].endswith("drill: first row: did not settle")

"""The server's own timing of script runs (pages/common/runlog.py): one JSON line per run of
the app and per fragment that reruns alone, with the page and role, when CONCERTO_RUN_LOG
names a file; nothing otherwise."""

from __future__ import annotations

import json
import time

import pytest

from pages.common import runlog


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_run_is_one_line_with_its_wall_and_cpu_time(tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(runlog.ENV, str(log))
    with runlog.timed_run("app", "sandbox") as run:
        run["role"] = "executive"
        end = time.thread_time() + 0.05
        while time.thread_time() < end:  # CPU work in this thread
            pass
        time.sleep(0.1)  # waiting: wall time, not CPU
    (only,) = _lines(log)
    assert only["kind"] == "app" and only["page"] == "sandbox" and only["role"] == "executive"
    assert only["ended"] == "done"
    assert only["cpu_s"] >= 0.04 and only["wall_s"] >= only["cpu_s"] + 0.09
    assert abs(only["start"] - time.time()) < 60


def test_a_run_cut_short_is_logged_with_how_it_ended(tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(runlog.ENV, str(log))

    class RerunException(Exception):
        pass

    with pytest.raises(RerunException), runlog.timed_run("fragment", "drill"):
        raise RerunException()
    assert [r["ended"] for r in _lines(log)] == ["RerunException"]


def test_nothing_is_written_without_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv(runlog.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with runlog.timed_run("app") as run:
        run["page"] = "x"
    assert list(tmp_path.iterdir()) == []


def test_a_log_that_cannot_be_written_never_breaks_the_run(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(runlog.ENV, str(tmp_path / "no such folder" / "runs.jsonl"))
    with runlog.timed_run("app", "sandbox") as run:
        run["role"] = "executive"
    assert "cannot be written" in caplog.text


def test_the_app_logs_each_run_with_its_page_and_role(app_as, tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(runlog.ENV, str(log))
    at = app_as("channel_mgr")
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    runs = _lines(log)
    assert runs and runs[-1]["page"] == "alerts" and runs[-1]["role"] == "channel_manager"
    assert all(r["kind"] == "app" and r["wall_s"] > 0 for r in runs)

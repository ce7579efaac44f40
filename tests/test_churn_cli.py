"""``python -m jobs.churn``: train → score → report round trip, refusals with messages,
saved artefacts, scores and group warnings written to the workflow store, regional scope on
the scores, and group alerts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from jobs.churn import run as main
from data_access.db import ConcertoError
from data_access.store import churn as store
from data_access.store import churn_scores as scores_store
from data_access.store.arsenal import ASSET, read_catalogue
from data_access.store.auth import Principal
from data_access.store.scope import acting_as
from data_access.store.workflow import alert, audit_log, create_workflow_engine

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.churn", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def models(duck_mart, tmp_path_factory) -> Path:
    """A model directory with one model trained (with baselines) on the shared test mart."""
    folder = tmp_path_factory.mktemp("models")
    assert main(["train", "--mart", duck_mart, "--model-dir", str(folder),
                 "--train-months", "3"]) == 0
    return folder


@pytest.fixture(scope="module")
def scored(duck_mart, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    workflow = f"sqlite:///{out / 'workflow.sqlite'}"
    csv = out / "gongbei.csv"
    code = main(["score", "--mart", duck_mart, "--model-dir", str(models), "--alerts",
                 "--workflow", workflow, "--csv", str(csv), "--micro-region", "Gongbei",
                 "--fading", "0.01"])  # the generator plants no fading group: a hair trigger
    assert code == 0
    return {"csv": csv, "workflow": workflow}


def test_train_saves_the_model_with_version_windows_metrics_and_features(models):
    version = store.live_version(model_dir=models)
    assert version is not None and (models / version / "model.joblib").exists()
    manifest = store.load_manifest(model_dir=models)
    assert manifest["version"] == version and manifest["horizon_months"] == 1
    assert manifest["training_window"]["snapshots"] == ["2026-06", "2026-07", "2026-08"]
    assert manifest["test_window"]["snapshots"] == ["2026-09"]
    assert {"roc_auc", "pr_auc", "top_decile_lift", "oracle_roc_auc"} <= set(manifest["metrics"])
    assert set(manifest["baselines"]) == {"onehot_logistic", "plain_boosting"}
    assert manifest["features"]["arpu_trend_3m"] == "numeric"
    assert manifest["features"]["channel_type"] == "categorical"
    listed = store.list_models(model_dir=models)
    assert listed["live"].tolist() == [True] and listed["version"].iloc[0] == version


def _all_scores(workflow_url: str) -> pd.DataFrame:
    engine = create_workflow_engine(workflow_url)
    try:
        run = scores_store.latest_run(engine)
        return scores_store.load_retention(engine, run.run_id, limit=10**7,
                                           columns=scores_store.SCORE_COLUMNS)
    finally:
        engine.dispose()


def test_score_writes_scores_to_the_store_and_exports_one_micro_region(models, scored):
    version = store.live_version(model_dir=models)
    engine = create_workflow_engine(scored["workflow"])
    assert [(r.model_version, r.month) for r in scores_store.list_runs(engine)] == [
        (version, "2026-10")]
    assert not list(models.glob(f"{version}/scores_*"))  # no score files any more
    scores = _all_scores(scored["workflow"])
    assert scores["expected_loss"].is_monotonic_decreasing
    assert scores["churn_prob"].between(0, 1).all() and scores["subscriber_id"].is_unique
    exported = pd.read_csv(scored["csv"])
    assert len(exported) > 0 and set(exported["micro_region"]) == {"Gongbei"}
    assert exported["expected_loss"].is_monotonic_decreasing
    assert {"churn_prob", "net_value", "reasons", "reason_tags", "action"} <= set(exported.columns)
    risky = exported["risk_band"].isin(["high", "elevated"])  # these are explained
    assert exported.loc[risky, "reasons"].fillna("").str.len().gt(0).mean() > 0.9
    assert exported["action"].fillna("").str.len().gt(0).any()  # the arsenal suggests tactics


def test_group_warnings_become_alerts_with_an_audit_row(models, scored):
    engine = create_workflow_engine(scored["workflow"])
    warnings = scores_store.load_group_warnings(engine, scores_store.latest_run(engine).run_id)
    with engine.connect() as conn:
        alerts = conn.execute(sa.select(alert).where(alert.c.source == "churn")).mappings().all()
        audits = conn.execute(sa.select(audit_log).where(audit_log.c.action == "alert_raise")).all()
    assert len(alerts) == len(warnings) == len(audits) and len(alerts) > 0
    assert {a["unit_level"] for a in alerts} == {"group"}
    assert {a["observed_at"] for a in alerts} == {"2026-10"}


def test_report_prints_the_live_model_card(models):
    done = _run("report", "--model-dir", str(models))
    assert done.returncode == 0, done.stderr
    assert store.live_version(model_dir=models) in done.stdout
    assert "oracle" in done.stdout and "baseline plain_boosting" in done.stdout


def test_a_model_trained_on_another_schema_is_refused_with_a_message(duck_mart, models, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    version = store.live_version(model_dir=folder)
    manifest_path = folder / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    features = manifest["features"]
    features["handset_age_months"] = features.pop("age")  # as if trained on another extract
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    done = _run("score", "--mart", duck_mart, "--model-dir", str(folder), "--workflow",
                f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    assert done.returncode == 2
    assert "trained on a different feature schema" in done.stderr
    assert "missing: handset_age_months" in done.stderr and "not known to the model: age" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_model_the_commands_say_what_to_do(tmp_path, capsys):
    assert main(["report", "--model-dir", str(tmp_path)]) == 2
    assert "No churn model has been trained yet" in capsys.readouterr().err
    (tmp_path / "churn-20260101-000000").mkdir()
    (tmp_path / "churn-20260101-000000" / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "live.json").write_text('{"version": "churn-20260101-000000"}', encoding="utf-8")
    assert main(["score", "--model-dir", str(tmp_path), "--workflow",
                 f"sqlite:///{tmp_path / 'workflow.sqlite'}"]) == 2
    assert "Retrain it with" in capsys.readouterr().err


def test_scores_are_narrowed_to_the_regional_managers_scope(models, scored):
    gongbei = Principal("rm_gongbei", "Demo Manager, Gongbei", "regional_manager", "micro_region",
                        "Gongbei")
    with acting_as(gongbei):
        mine = _all_scores(scored["workflow"])
    assert len(mine) > 0 and set(mine["micro_region"]) == {"Gongbei"}
    assert len(mine) < len(_all_scores(scored["workflow"]))


def test_group_alerts_are_raised_once_on_both_stores(workflow):
    warnings = pd.DataFrame({
        "group_id": [1, 2], "group_name": ["Hengqin Ocean Resort Group", "Jida Port"],
        "account_manager": ["Zhang Yong", "Liang Bo"], "mean_prob": [0.031, 0.02],
        "base_rate": [0.012, 0.012], "score": [0.8, 0.4],
        "message": ["Leased-line customer Hengqin Ocean Resort Group: spend down 30%",
                    "Group customer Jida Port: 4 of 20 members at high churn risk"]})
    assert store.raise_group_alerts(workflow, warnings, "2026-10") == 2
    assert store.raise_group_alerts(workflow, warnings, "2026-10") == 0  # not twice a month
    with workflow.connect() as conn:
        rows = conn.execute(sa.select(alert).order_by(alert.c.alert_id)).mappings().all()
        audit = conn.execute(sa.select(audit_log.c.entity_id, audit_log.c.after_json)
                             .where(audit_log.c.action == "alert_raise")).all()
    assert [r["unit_key"] for r in rows] == ["1", "2"] and rows[0]["expected"] == 0.012
    assert rows[0]["status"] == "open" and rows[0]["source"] == "churn"
    assert len(audit) == 2 and "Zhang Yong" in audit[0].after_json


def test_ensure_trains_and_scores_once_then_leaves_both_alone(duck_mart, tmp_path, capsys):
    folder = tmp_path / "models"
    workflow = f"sqlite:///{tmp_path / 'workflow.sqlite'}"
    assert main(["ensure", "--mart", duck_mart, "--model-dir", str(folder),
                 "--max-rows", "20000", "--workflow", workflow]) == 0
    version = store.live_version(model_dir=folder)
    assert version is not None
    engine = create_workflow_engine(workflow)
    assert [r.month for r in scores_store.list_runs(engine, version)] == ["2026-10"]
    capsys.readouterr()
    assert main(["ensure", "--mart", duck_mart, "--model-dir", str(folder),
                 "--workflow", workflow]) == 0
    again = capsys.readouterr()
    assert store.live_version(model_dir=folder) == version  # no second model
    assert "Trained" not in again.out and "Scored" not in again.out
    assert "scores for 2026-10 are ready" in again.err


def test_a_path_or_garbage_where_a_url_belongs_is_refused_with_a_message(tmp_path, capsys):
    assert main(["train", "--mart", "bench/out/mart.duckdb",
                 "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'bench/out/mart.duckdb' is not a database URL" in err and "duckdb:///" in err
    with pytest.raises(ConcertoError, match="workflow store URL 'not a url' is not a database"):
        create_workflow_engine("not a url")


def _quiet(_: str) -> None:
    pass


def test_rows_are_handed_to_the_writer_as_they_become_final_and_the_run_equals_the_table(
        duck_mart, models, tmp_path, monkeypatch):
    """score_and_write hands the writer process first the rows that get no reasons, then the
    explained rows below the tactics' head a part at a time, while the next part's reasons
    are worked out; the head (rows given a tactic) is written here. The run then holds
    exactly the returned table, reasons and tactics included."""
    from data_access.db import create_mart_engine
    from data_access.store.principal import SYSTEM
    from jobs import churn as job
    from jobs import churn_pipeline
    from jobs.churn_pipeline import scoring_month

    handed: list[pd.DataFrame] = []
    here: list[pd.DataFrame] = []

    class Noting(job.ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            if fn is scores_store.add_scores_in:
                handed.append(args[2])
            return super().submit(fn, *args, **kwargs)

    add = scores_store.add_scores

    def noting(engine, run_id, rows, **kwargs):  # in this process only
        here.append(rows)
        return add(engine, run_id, rows, **kwargs)

    monkeypatch.setattr(job, "ProcessPoolExecutor", Noting)
    monkeypatch.setattr(scores_store, "add_scores", noting)
    monkeypatch.setattr(churn_pipeline, "ACTION_ROWS", 60)
    monkeypatch.setattr(churn_pipeline, "EXPLAIN_PART", 70)
    workflow = create_workflow_engine(f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    mart = create_mart_engine(duck_mart, read_only=True)
    model, manifest = store.load_model(model_dir=models)
    with acting_as(SYSTEM):
        month, table, warnings, run = job.score_and_write(
            mart, workflow, model, manifest, scoring_month(mart), read_catalogue(ASSET),
            explain_top=200, progress=_quiet)
        back = scores_store.load_retention(workflow, run.run_id, limit=10**7,
                                           columns=scores_store.SCORE_COLUMNS)
    first, parts = handed[0], handed[1:]
    assert (first["top_reason"] == "").all() and len(first) > len(table) / 2
    assert len(parts) >= 2 and all(0 < len(p) <= 70 for p in parts)
    for part in parts:  # explained, ranked below the head, no tactic
        assert (part["top_reason"] != "").all() and (part["rank"] > 60).all()
        assert (part["action"] == "").all()
    mine = pd.concat(here)
    assert len(mine) and (mine["rank"] <= 60).all() and (mine["top_reason"] != "").all()
    assert mine["action"].str.len().gt(0).any()  # the head's tactics were chosen before
    assert sum(map(len, handed)) + len(mine) == len(table) == run.subscribers
    assert back["subscriber_id"].tolist() == table["subscriber_id"].tolist()
    for column in ("top_reason", "reasons", "reason_tags", "action"):
        assert back[column].tolist() == table[column].fillna("").tolist(), column
    explained = back["top_reason"] != ""
    assert explained.sum() == len(mine) + sum(map(len, parts))
    assert back.loc[explained, "rank"].min() == 1  # the head of the list has its reasons


def test_explaining_the_list_a_part_at_a_time_gives_what_explaining_it_at_once_gives(
        duck_mart, models, monkeypatch):
    """The reasons of parts explained one by one (the writer takes each as it is done)
    equal those of one pass over the whole list: a row's reasons depend on that row and
    the population alone."""
    from data_access.db import create_mart_engine
    from data_access.store.principal import SYSTEM
    from jobs import churn_pipeline as pipeline

    mart = create_mart_engine(duck_mart, read_only=True)
    model, manifest = store.load_model(model_dir=models)
    with acting_as(SYSTEM):
        month = pipeline.scoring_month(mart)
        snapshot = pipeline.load_snapshot(mart, month)
        groups = pipeline.reads.load_groups(mart)
        sizes = pipeline.reads.load_group_sizes(mart, month.date())
    tactics = read_catalogue(ASSET)
    monkeypatch.setattr(pipeline, "ACTION_ROWS", 50)  # the test mart's list is short
    once, _ = pipeline.score_snapshot(model, manifest, snapshot, groups, sizes, tactics,
                                      explain_top=300)
    parts: list[int] = []
    apart, _ = pipeline.score_snapshot(model, manifest, snapshot, groups, sizes, tactics,
                                       explain_top=300, explain_part=37,
                                       settled=lambda rows: parts.append(len(rows)))
    assert len(parts) > 3
    pd.testing.assert_frame_equal(apart, once)
    assert (once["top_reason"] != "").sum() > 300


def test_a_scoring_that_fails_while_the_writer_writes_leaves_no_run(
        duck_mart, models, tmp_path, monkeypatch):
    from data_access.db import create_mart_engine
    from data_access.store.principal import SYSTEM
    from jobs import churn as job
    from jobs import churn_pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("the reasons failed")

    monkeypatch.setattr(churn_pipeline, "reason_codes", broken)
    workflow = create_workflow_engine(f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    mart = create_mart_engine(duck_mart, read_only=True)
    model, manifest = store.load_model(model_dir=models)
    with acting_as(SYSTEM), pytest.raises(RuntimeError, match="the reasons failed"):
        job.score_and_write(mart, workflow, model, manifest,
                            churn_pipeline.scoring_month(mart), None, explain_top=200,
                            progress=_quiet)
    with workflow.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(scores_store.churn_run)
                            ).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(scores_store.churn_score)
                            ).scalar() == 0


def test_the_writer_process_does_not_run_the_parents_main_script(duck_mart, models, tmp_path,
                                                                  monkeypatch):
    """A spawned process runs its parent's ``__main__`` first; after a Streamlit script ran
    in this process (AppTest leaves the last page there) that would be a page that fails
    outside the app, and the pool would break. The job's writer runs without it."""
    import sys
    import types

    from data_access.db import create_mart_engine
    from data_access.store.principal import SYSTEM
    from jobs import churn as job
    from jobs.churn_pipeline import scoring_month

    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('a page script ran in the writer process')\n",
                      encoding="utf-8")
    leftover = types.ModuleType("__main__")
    leftover.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", leftover)
    workflow = create_workflow_engine(f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    mart = create_mart_engine(duck_mart, read_only=True)
    model, manifest = store.load_model(model_dir=models)
    with acting_as(SYSTEM):
        *_, run = job.score_and_write(mart, workflow, model, manifest, scoring_month(mart),
                                      None, explain_top=200, progress=_quiet)
    assert run.subscribers > 0 and sys.modules["__main__"] is leftover


def test_the_job_keeps_the_newest_runs_and_makes_room_once_it_has_rows_to_write(
        duck_mart, models, tmp_path, monkeypatch):
    """Each run beyond ``KEEP_RUNS`` deletes the oldest. The writer process deletes it after
    taking the rows without reasons (while the reasons are worked out), not while the
    features load, when it would take a core from the database's threads."""
    from data_access.db import create_mart_engine
    from data_access.store.principal import SYSTEM
    from jobs import churn as job
    from jobs.churn_pipeline import scoring_month

    tasks: list[str] = []

    class Noting(job.ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            tasks.append(fn.__name__)
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(job, "ProcessPoolExecutor", Noting)
    workflow = create_workflow_engine(f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    mart = create_mart_engine(duck_mart, read_only=True)
    model, manifest = store.load_model(model_dir=models)
    made = []
    with acting_as(SYSTEM):
        for _ in range(scores_store.KEEP_RUNS + 1):
            tasks.clear()
            *_, run = job.score_and_write(mart, workflow, model, manifest, scoring_month(mart),
                                          None, explain_top=200, progress=_quiet)
            made.append(run.run_id)
            assert tasks.index("make_room_in") > tasks.index("add_scores_in")
    with workflow.connect() as conn:
        kept = conn.execute(sa.select(scores_store.churn_run.c.run_id)
                            .where(scores_store.churn_run.c.complete.is_(True))).scalars()
        assert sorted(kept) == made[1:]
        left = conn.execute(sa.select(scores_store.churn_score.c.run_id).distinct()).scalars()
        assert sorted(left) == made[1:]

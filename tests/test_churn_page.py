"""The churn page and its reads: the page reads only what it shows from the scores table.

The reads return exactly the top N that ranking the full scores in pandas gives (filtered,
paged, on SQLite and PostgreSQL), inside a regional manager's scope; the CSV masks numbers
for a marketer and shows them to an administrator; under AppTest the page shows the model,
the list for one micro-region, one subscriber's explanation, a manager's scope, and starts
a training in the background once (a second start is refused)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.formatting import MISSING
from data_access.db import create_mart_engine
from data_access.store import churn as store
from data_access.store import churn_scores as scores
from data_access.store.arsenal import ASSET, read_catalogue
from data_access.store.auth import Forbidden, Principal
from data_access.store.churn_scores import RetentionFilter
from data_access.store.scope import acting_as
from data_access.store.workflow import create_workflow_engine
from jobs import churn as churn_job
from jobs.churn import run as main
from jobs.churn_pipeline import score_latest
from pages.sections.churn_view import retention_csv, retention_display

PAGE = "pages/churn.py"
GONGBEI = Principal("rm_gongbei", "Gongbei manager", "regional_manager", "micro_region",
                    "Gongbei")
MARKETER = Principal("mk", "Marketer", "marketer")
ADMIN = Principal("ad", "Administrator", "administrator")


@pytest.fixture(scope="module")
def scored(duck_mart, tmp_path_factory) -> dict:
    """A live model trained on the shared test mart, and its scores of the latest month."""
    folder = tmp_path_factory.mktemp("page_models")
    assert main(["train", "--mart", duck_mart, "--model-dir", str(folder), "--train-months", "3",
                 "--no-baselines"]) == 0
    model, manifest = store.load_model(model_dir=folder)
    month, frame, warnings = score_latest(create_mart_engine(duck_mart, read_only=True), model,
                                          manifest, tactics=read_catalogue(ASSET), fading=0.01)
    return {"folder": folder, "version": manifest["version"], "month": f"{month:%Y-%m}",
            "scores": frame, "warnings": warnings}


def _save(scored: dict, engine: sa.Engine) -> scores.ScoreRun:
    return scores.save_score_run(engine, scored["version"], scored["month"], scored["scores"],
                                 scored["warnings"])


def _pandas(frame: pd.DataFrame, f: RetentionFilter) -> pd.DataFrame:
    """The filtered list as pandas ranks it: by expected loss, then risk."""
    keep = frame["churn_prob"] >= f.min_prob
    for column in ("branch", "micro_region", "segment", "action"):
        if getattr(f, column) is not None:
            keep &= frame[column] == getattr(f, column)
    return frame[keep].sort_values(["expected_loss", "churn_prob"], ascending=False,
                                   kind="stable")


def _filters(frame: pd.DataFrame) -> list[RetentionFilter]:
    action = frame.loc[frame["action"] != "", "action"].value_counts().index[0]
    return [RetentionFilter(), RetentionFilter(branch="Doumen"),
            RetentionFilter(micro_region="Gongbei", min_prob=0.02),
            RetentionFilter(action=action), RetentionFilter(segment="youth", min_prob=0.01)]


def test_the_reads_give_the_same_top_n_as_ranking_every_score_in_pandas(scored, workflow):
    run = _save(scored, workflow)
    frame = scored["scores"]
    for f in _filters(frame):
        expected = _pandas(frame, f)
        assert len(expected) > 60, f
        top = scores.load_retention(workflow, run.run_id, f, limit=50)
        assert top["subscriber_id"].tolist() == expected["subscriber_id"].head(50).tolist(), f
        paged = pd.concat([scores.load_retention(workflow, run.run_id, f, limit=25, offset=o)
                           for o in range(0, 75, 25)])
        assert paged["subscriber_id"].tolist() == expected["subscriber_id"].head(75).tolist()
        streamed = pd.concat(scores.iter_retention(workflow, run.run_id, f, limit=70,
                                                   chunk_rows=20))
        assert streamed["subscriber_id"].tolist() == expected["subscriber_id"].head(70).tolist()
        assert scores.count_retention(workflow, run.run_id, f) == len(expected)
        summary = scores.load_risk_summary(workflow, run.run_id, f)
        assert summary["subscribers"].sum() == len(expected)
        bands = summary.groupby("risk_band")["subscribers"].sum().to_dict()
        assert bands == expected.groupby("risk_band").size().to_dict()
    one = frame.iloc[123]
    row = scores.load_subscriber_score(workflow, run.run_id, int(one["subscriber_id"]))
    assert row["rank"] == one["rank"] and row["reasons"] == one["reasons"]


def test_the_elevated_bands_and_the_head_of_the_list_are_explained_and_the_rest_say_why_not(
        scored, duck_mart):
    model, manifest = store.load_model(model_dir=scored["folder"])
    _, frame, _ = score_latest(create_mart_engine(duck_mart, read_only=True), model, manifest,
                               tactics=read_catalogue(ASSET), explain_top=300)
    at_risk = frame["risk_band"].isin(["high", "elevated"])
    told = frame["reasons"] != ""
    head = frame["rank"] <= 300
    assert at_risk.sum() > 300 and (~at_risk & ~head).sum() > 300
    assert told[at_risk].mean() > 0.9  # an explained row may have no driver strong enough
    assert told[head & ~at_risk].mean() > 0.5  # the head of the list, whatever its band
    assert told[~at_risk & ~head].sum() == 0, frame[~at_risk & ~head & told].head()
    shown = retention_display(frame)
    quiet = ~at_risk & ~told
    assert (shown.loc[quiet, "top_reason"] == "— risk not elevated 风险未升高").all()
    assert (shown.loc[told, "top_reason"] == frame.loc[told, "top_reason"]).all()


def test_the_reads_stay_inside_a_regional_managers_scope(scored, workflow):
    run = _save(scored, workflow)
    frame = scored["scores"]
    mine = _pandas(frame, RetentionFilter(micro_region="Gongbei"))
    outsider = int(frame.loc[frame["micro_region"] != "Gongbei", "subscriber_id"].iloc[0])
    with acting_as(GONGBEI):
        top = scores.load_retention(workflow, run.run_id, limit=10_000)
        assert top["subscriber_id"].tolist() == mine["subscriber_id"].tolist()
        assert scores.count_retention(workflow, run.run_id) == len(mine)
        assert set(scores.load_risk_summary(workflow, run.run_id)["micro_region"]) == {"Gongbei"}
        assert scores.load_subscriber_score(workflow, run.run_id, outsider) is None
        assert set(scores.load_group_warnings(workflow, run.run_id)["micro_region"]) <= {"Gongbei"}
        with pytest.raises(Forbidden):
            scores.load_retention(workflow, run.run_id, RetentionFilter(micro_region="Jida"))
    assert len(mine) < len(frame)


def test_the_retention_csv_masks_numbers_for_a_marketer_and_not_for_an_administrator(
        scored, duck_mart, tmp_path):
    workflow = create_workflow_engine(f"sqlite:///{tmp_path / 'workflow.sqlite'}")
    run = _save(scored, workflow)
    mart = create_mart_engine(duck_mart, read_only=True)
    gongbei = RetentionFilter(micro_region="Gongbei")
    tables = {who.role: pd.read_csv(io.BytesIO(retention_csv(
        workflow, mart, run.run_id, gongbei, who, limit=300)), dtype={"number": str})
        for who in (MARKETER, ADMIN)}
    expected = _pandas(scored["scores"], gongbei)["subscriber_id"].head(300).tolist()
    for table in tables.values():
        assert table["subscriber_id"].tolist() == expected  # as filtered on screen
        assert table["action"].notna().any() and "number" in table.columns
    assert tables["marketer"]["number"].str.fullmatch(r"\d{7}\*{4}").all()
    assert tables["administrator"]["number"].str.fullmatch(r"\d{11}").all()
    assert (tables["administrator"]["number"].str[:7] == tables["marketer"]["number"].str[:7]).all()


def _retention_table(at):
    return next(d.value for d in at.dataframe if "expected_loss" in d.value.columns)


def _texts(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.success] + [e.value for e in at.error]
    parts += [e.value for e in at.warning]
    return "\n".join(str(p) for p in parts)


def test_churn_page_renders(app_as, scored, monkeypatch):
    monkeypatch.setattr(store, "MODEL_DIR", scored["folder"])
    at = app_as("analyst")
    _save(scored, create_workflow_engine(app_as.workflow_url))
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert scored["version"] in _texts(at)  # which model is live
    assert len(at.get("vega_lite_chart")) >= 5  # lift, calibration, drivers, bands, the ledger
    # the models compared: the oracle has no PR-AUC or lift, shown as "—" (not "None")
    quality = next(d for d in at.dataframe if "top-decile lift" in d.value.columns)
    assert quality.value["PR-AUC"].isna().sum() == 1 and quality.proto.placeholder == MISSING
    # a new user: read why the top subscriber is at risk …
    assert "Why at risk" in _texts(at)
    top = scored["scores"].iloc[0]
    assert at.selectbox(key="churn_subscriber").value == top["subscriber_id"]
    assert top["reasons"].split("; ")[0] in _texts(at)
    assert len(_retention_table(at)) == 50
    # … open that subscriber's customer view in the same session, then come back
    at.button(key="churn_open_customer").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("sub") == str(top["subscriber_id"])
    assert "Customer view" in at.title[0].value
    assert str(top["subscriber_id"]) in _texts(at) + " ".join(str(m.value) for m in at.metric)
    at.switch_page(PAGE).run()
    # … and export the retention list for one micro-region
    at.selectbox(key="churn_micro_region").select("Gongbei").run()
    assert not at.exception, at.exception
    shown = _retention_table(at)
    expected = _pandas(scored["scores"], RetentionFilter(micro_region="Gongbei"))
    assert shown["subscriber_id"].tolist() == expected["subscriber_id"].head(50).tolist()
    at.number_input(key="churn_page").set_value(2).run()
    assert _retention_table(at)["subscriber_id"].tolist() == \
        expected["subscriber_id"].iloc[50:100].tolist()
    downloads = [d.proto.label for d in at.get("download_button")]
    assert any(label.startswith("Download the retention list (CSV") for label in downloads)
    # a minimum risk leaving fewer rows than the page shown: the riskiest, from the first
    threshold = expected["churn_prob"].nlargest(10).iloc[-1] * 100 - 1e-6
    at.number_input(key="churn_min_prob").set_value(threshold).run()
    assert not at.exception, at.exception
    riskiest = expected[expected["churn_prob"] >= threshold / 100]
    assert _retention_table(at)["subscriber_id"].tolist() == riskiest["subscriber_id"].tolist()


def test_regional_manager_sees_only_their_micro_region(app_as, scored, monkeypatch):
    monkeypatch.setattr(store, "MODEL_DIR", scored["folder"])
    at = app_as("rm_gongbei")
    _save(scored, create_workflow_engine(app_as.workflow_url))
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    shown = _retention_table(at)
    assert set(shown["micro_region"]) == {"Gongbei"}
    assert "****" in _texts(at)  # numbers stay masked for this role
    assert not [b for b in at.button if b.key == "churn_train"]  # may not train


class _FakeProcess:
    """Stands in for the training process: alive (this process's pid) until the test ends."""

    pid = os.getpid()

    def wait(self) -> int:
        return 0


def test_a_second_start_of_training_is_refused_while_one_runs(app_as, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MODEL_DIR", tmp_path / "models")
    started = []
    monkeypatch.setattr(churn_job.subprocess, "Popen",
                        lambda *a, **k: started.append(a) or _FakeProcess())
    first, second = app_as("analyst"), app_as("exec")
    for at in (first, second):
        at.run()
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
    first.button(key="churn_train").click().run()
    assert not first.exception, first.exception
    assert "is running in the background" in _texts(first)
    second.button(key="churn_train").click().run()  # its page still showed the button
    assert not second.exception, second.exception
    assert "already running" in _texts(second)
    assert len(started) == 1


def test_the_page_trains_in_the_background_and_then_shows_the_list(app_as, tmp_path,
                                                                    monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setattr(store, "MODEL_DIR", models)
    at = app_as("analyst")
    at.run()
    at.switch_page(PAGE).run()
    assert "No churn model has been trained yet" in _texts(at)
    at.button(key="churn_train").click().run()
    assert not at.exception, at.exception
    assert "is running in the background" in _texts(at)
    workflow = create_workflow_engine(app_as.workflow_url)
    deadline = time.monotonic() + 900  # a wait for the job, not a judgement of its speed
    while (record := store.current_training(workflow))["alive"] and time.monotonic() < deadline:
        time.sleep(2)
    log = Path(models / f"training-{record['training_id']}.log").read_text(encoding="utf-8")
    assert record["status"] == "done", log
    assert store.live_version(model_dir=models) == record["model_version"]
    at.run()
    assert not at.exception, at.exception
    assert "Retention list" in "\n".join(s.value for s in at.subheader)
    assert "Last training" in _texts(at)

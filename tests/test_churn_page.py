"""The churn page under AppTest: empty state → train from the page, the model card and charts,
the retention list for one micro-region with its download, one subscriber's explanation, and a
regional manager's scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.churn import run as main
from data_access.store import churn as store

PAGE = "pages/churn.py"


@pytest.fixture(scope="module")
def scored_models(duck_mart, tmp_path_factory) -> Path:
    """A model directory with a live model that scored the shared test mart's latest month."""
    folder = tmp_path_factory.mktemp("page_models")
    assert main(["train", "--mart", duck_mart, "--model-dir", str(folder), "--train-months", "3",
                 "--no-baselines"]) == 0
    assert main(["score", "--mart", duck_mart, "--model-dir", str(folder), "--fading", "0.01"]) == 0
    return folder


def _retention_table(at):
    return next(d.value for d in at.dataframe if "expected_loss" in d.value.columns)


def _texts(at) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.success] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_churn_page_renders(app_as, scored_models, monkeypatch):
    monkeypatch.setattr(store, "MODEL_DIR", scored_models)
    at = app_as("analyst")
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    version = store.live_version(model_dir=scored_models)
    assert version in _texts(at)  # which model is live
    assert len(at.get("vega_lite_chart")) >= 4  # lift, calibration, drivers, the ledger
    # a new user: read why the top subscriber is at risk …
    assert "Why at risk" in _texts(at)
    top = store.load_scores(model_dir=scored_models).iloc[0]
    assert at.selectbox(key="churn_subscriber").value == top["subscriber_id"]
    assert top["reasons"].split("; ")[0] in _texts(at)
    # … and export the retention list for one micro-region
    at.selectbox(key="churn_micro_region").select("Gongbei").run()
    assert not at.exception, at.exception
    shown = _retention_table(at)
    assert len(shown) > 0 and set(shown["micro_region"]) == {"Gongbei"}
    downloads = [d.proto.label for d in at.get("download_button")]
    assert "Download the retention list (CSV)" in downloads


def test_churn_page_trains_from_the_empty_state(app_as, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MODEL_DIR", tmp_path / "models")
    at = app_as("analyst")
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert "No churn model has been trained yet" in _texts(at)
    at.button(key="churn_train").click().run()
    assert not at.exception, at.exception
    assert store.live_version(model_dir=tmp_path / "models") is not None
    assert "Retention list" in "\n".join(s.value for s in at.subheader)


def test_regional_manager_sees_only_their_micro_region(app_as, scored_models, monkeypatch):
    monkeypatch.setattr(store, "MODEL_DIR", scored_models)
    at = app_as("rm_gongbei")
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    shown = _retention_table(at)
    assert set(shown["micro_region"]) == {"Gongbei"}
    assert "****" in _texts(at)  # numbers stay masked for this role

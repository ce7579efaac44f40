"""Churn model artefacts on disk, their scores, and the group warnings raised as alerts.

Layout under ``.data/models/churn/`` (or any ``model_dir``)::

    live.json                      {"version": "churn-20261123-101500"} — the live model
    churn-20261123-101500/
        model.joblib               the fitted ChurnModel
        manifest.json              version, windows, metrics, drivers, feature list
        scores_2026-10.parquet     one row per subscriber scored for that month
        groups_2026-10.parquet     the group warnings of that month

A model goes live when it is saved (``make_live``); the page reads ``live.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sqlalchemy as sa

from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM_ACTOR
from data_access.db import DATA_DIR, ConcertoError
from data_access.mart.queries import Slice
from data_access.store.scope import scoped
from data_access.store.workflow import alert, write_transaction
from analytics.churn.model import MODEL_FORMAT
from data_access.db import read_frame
from data_access.store.arsenal import tactic
from data_access.store.scope import require

MODEL_DIR = DATA_DIR / "models" / "churn"
LIVE_FILE = "live.json"
_VERSION = re.compile(r"churn-\d{8}-\d{6}(-\d+)?")
ALERT_SOURCE, ALERT_METRIC = "churn", "group_churn_risk"


def _root(model_dir: Path | str | None) -> Path:
    return Path(model_dir) if model_dir is not None else MODEL_DIR


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    """Write JSON atomically: readers see the old file or the new one, never half of one."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, ensure_ascii=False, indent=1, default=str),
                         encoding="utf-8")
    os.replace(temporary, path)


def save_model(model: object, manifest: Mapping[str, Any], *,
               model_dir: Path | str | None = None, make_live: bool = True) -> str:
    """Save a fitted model with its manifest as a new version; returns the version."""
    root = _root(model_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = f"churn-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
    version, n = base, 1
    while (root / version).exists():
        n += 1
        version = f"{base}-{n}"
    folder = root / version
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib", compress=3)
    _write_json(folder / "manifest.json", {**manifest, "version": version})
    if make_live:
        set_live(version, model_dir=root)
    return version


def set_live(version: str, *, model_dir: Path | str | None = None) -> None:
    """Make ``version`` the live model."""
    root = _root(model_dir)
    if not (root / version / "manifest.json").exists():
        raise ConcertoError(f"No churn model {version} in {root}")
    _write_json(root / LIVE_FILE, {"version": version,
                                   "since": dt.datetime.now(dt.UTC).isoformat()})


def live_version(*, model_dir: Path | str | None = None) -> str | None:
    """The live model's version, or None when no model was trained yet."""
    path = _root(model_dir) / LIVE_FILE
    if not path.exists():
        return None
    version = json.loads(path.read_text(encoding="utf-8")).get("version")
    return version if isinstance(version, str) and _VERSION.fullmatch(version) else None


def _folder(version: str | None, model_dir: Path | str | None) -> Path:
    root = _root(model_dir)
    version = version or live_version(model_dir=root)
    if version is None:
        raise ConcertoError(f"No churn model has been trained yet (none live in {root}). "
                            "Train one with `python -m jobs.churn train`.")
    if not _VERSION.fullmatch(version) or not (root / version / "manifest.json").exists():
        raise ConcertoError(f"No churn model {version} in {root}")
    return root / version


def load_manifest(version: str | None = None, *,
                  model_dir: Path | str | None = None) -> dict[str, Any]:
    """The manifest of ``version`` (default: the live model)."""
    path = _folder(version, model_dir) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConcertoError(f"{path} is not valid JSON ({exc}); retrain the model") from None


def load_model(version: str | None = None, *,
               model_dir: Path | str | None = None) -> tuple[Any, dict[str, Any]]:
    """The fitted model and its manifest (default: the live model)."""

    folder = _folder(version, model_dir)
    manifest = load_manifest(folder.name, model_dir=folder.parent)
    if manifest.get("model_format") != MODEL_FORMAT:
        raise ConcertoError(f"The churn model {folder.name} was saved by another version of "
                            "Concerto's ChurnModel and cannot be used. Retrain it with "
                            "`python -m jobs.churn train`.")
    try:
        model = joblib.load(folder / "model.joblib")
    except (OSError, EOFError, ValueError, AttributeError, ModuleNotFoundError) as exc:
        raise ConcertoError(f"The churn model {folder.name} cannot be read ({exc}); it was "
                            "probably saved by another version of Concerto or scikit-learn. "
                            "Retrain it with `python -m jobs.churn train`.") from None
    return model, manifest


def list_models(*, model_dir: Path | str | None = None) -> pd.DataFrame:
    """Every saved model, newest first, with its headline metrics and whether it is live."""
    root = _root(model_dir)
    live = live_version(model_dir=root)
    rows = []
    for path in sorted(root.glob("churn-*/manifest.json"), reverse=True):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        metrics = manifest.get("metrics", {})
        rows.append({"version": manifest.get("version", path.parent.name),
                     "created_at": manifest.get("created_at"),
                     "horizon_months": manifest.get("horizon_months"),
                     "trained_on": ", ".join(manifest.get("training_window", {})
                                             .get("snapshots", [])),
                     "roc_auc": metrics.get("roc_auc"), "pr_auc": metrics.get("pr_auc"),
                     "live": path.parent.name == live})
    return pd.DataFrame(rows, columns=["version", "created_at", "horizon_months", "trained_on",
                                       "roc_auc", "pr_auc", "live"])


def save_scores(version: str, month: str, scores: pd.DataFrame, warnings: pd.DataFrame, *,
                model_dir: Path | str | None = None) -> Path:
    """Write a month's scores and group warnings next to the model; returns the scores file."""
    folder = _folder(version, model_dir)
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ConcertoError(f"month must be YYYY-MM, got {month!r}")
    path = folder / f"scores_{month}.parquet"
    scores.to_parquet(path.with_suffix(".tmp"), index=False)
    os.replace(path.with_suffix(".tmp"), path)
    warnings.to_parquet(folder / f"groups_{month}.parquet", index=False)
    return path


def scored_months(version: str | None = None, *,
                  model_dir: Path | str | None = None) -> list[str]:
    """Months scored with ``version`` (default: live), newest first."""
    folder = _folder(version, model_dir)
    return sorted((p.stem.removeprefix("scores_") for p in folder.glob("scores_*.parquet")),
                  reverse=True)


def load_scores(version: str | None = None, month: str | None = None, *,
                model_dir: Path | str | None = None) -> pd.DataFrame:
    """A month's retention list (default: the live model's latest), inside the acting scope.

    A regional manager gets their branch or micro-region only.
    """
    folder = _folder(version, model_dir)
    months = scored_months(folder.name, model_dir=folder.parent)
    month = month or (months[0] if months else None)
    if month is None or month not in months:
        raise ConcertoError(f"The churn model {folder.name} has not scored "
                            f"{month or 'any month'} yet. Run `python -m jobs.churn score`.")
    scores = pd.read_parquet(folder / f"scores_{month}.parquet")
    return _in_scope(scores)


def load_group_warnings(version: str | None = None, month: str | None = None, *,
                        model_dir: Path | str | None = None) -> pd.DataFrame:
    """A month's group warnings (default: the live model's latest), inside the acting scope."""
    folder = _folder(version, model_dir)
    months = scored_months(folder.name, model_dir=folder.parent)
    month = month or (months[0] if months else None)
    path = folder / f"groups_{month}.parquet"
    if month is None or not path.exists():
        return pd.DataFrame()
    return _in_scope(pd.read_parquet(path))


def _in_scope(frame: pd.DataFrame) -> pd.DataFrame:
    allowed = scoped(Slice())
    keep = pd.Series(True, index=frame.index)
    if allowed.branch is not None and "branch" in frame:
        keep &= frame["branch"] == allowed.branch
    if allowed.micro_region is not None and "micro_region" in frame:
        keep &= frame["micro_region"] == allowed.micro_region
    return frame[keep].reset_index(drop=True)


def load_tactics(engine: sa.Engine) -> pd.DataFrame:
    """The marketing arsenal's active tactics in the workflow store (empty without any)."""

    return read_frame(engine, sa.select(tactic).where(tactic.c.active.is_(True))
                      .order_by(tactic.c.code))


def raise_group_alerts(engine: sa.Engine, warnings: pd.DataFrame, month: str, *,
                       actor: str = SYSTEM_ACTOR) -> int:
    """Raise each group warning as an open alert for its account manager (one transaction).

    A group already alerted for the month is skipped; every new alert gets an audit row.
    Returns how many alerts were new. Refused with nobody acting (a job acts as the system).
    """

    require("view_dashboards", "raise churn alerts")
    raised = 0
    with write_transaction(engine) as conn:
        for row in warnings.itertuples(index=False):
            key = {"source": ALERT_SOURCE, "metric": ALERT_METRIC, "unit_level": "group",
                   "unit_key": str(int(row.group_id)), "observed_at": month}
            if conn.execute(sa.select(alert.c.alert_id).where(
                    *[alert.c[k] == v for k, v in key.items()])).first() is not None:
                continue
            values = {**key, "unit_label": str(row.group_name)[:120], "score": float(row.score),
                      "actual": round(float(row.mean_prob), 5),
                      "expected": round(float(row.base_rate), 5),
                      "message": str(row.message)[:400], "status": "open",
                      "raised_at": dt.datetime.now(dt.UTC), "run_id": None}
            alert_id = conn.execute(sa.insert(alert).values(**values)).inserted_primary_key[0]
            record_audit(conn, actor, "alert_raise", "alert", alert_id, None,
                         {**values, "account_manager": row.account_manager})
            raised += 1
    return raised

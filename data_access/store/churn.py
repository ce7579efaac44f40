"""Churn model artefacts on disk, trainings started from the page, and group alerts.

Layout under ``.data/models/churn/`` (or any ``model_dir``)::

    live.json                      {"version": "churn-20261123-101500"} — the live model
    churn-20261123-101500/
        model.joblib               the fitted ChurnModel
        manifest.json              version, windows, metrics, drivers, feature list

A model goes live when it is saved (``make_live``); the page reads ``live.json``. Its scores
are data in the workflow store (``data_access.store.churn_scores``). ``churn_training`` is
the progress record of a training started from the page: its ``running`` column is unique,
so only one training runs at a time, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sqlalchemy as sa

from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM_ACTOR
from data_access.db import DATA_DIR, ConcertoError
from data_access.store.workflow import WORKFLOW, alert, write_transaction
from analytics.churn.model import MODEL_FORMAT
from data_access.db import read_frame
from data_access.store.arsenal import tactic
from data_access.store.scope import acting_principal, require

MODEL_DIR = DATA_DIR / "models" / "churn"
LIVE_FILE = "live.json"
_VERSION = re.compile(r"churn-\d{8}-\d{6}(-\d+)?")
ALERT_SOURCE, ALERT_METRIC = "churn", "group_churn_risk"
#: A training whose record has not moved for this long is taken as dead.
STALE_AFTER = dt.timedelta(minutes=30)

churn_training = sa.Table(
    "churn_training", WORKFLOW,
    sa.Column("training_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_by", sa.String(40), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),  # running, done, failed
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("message", sa.String(400), nullable=True),
    sa.Column("model_version", sa.String(40), nullable=True),
    sa.Column("host", sa.String(80), nullable=False),
    sa.Column("pid", sa.Integer, nullable=True),
    # "churn" while running, NULL after: unique, so a second start cannot insert its row
    sa.Column("running", sa.String(10), nullable=True, unique=True),
    comment="Churn trainings started from the page: who, progress, outcome; one at a time.",
)


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


def _alive(row: Any) -> bool:
    """Whether a running training's record still describes a live process."""
    updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=dt.UTC)
    if dt.datetime.now(dt.UTC) - updated > STALE_AFTER:
        return False
    if row.pid is None or row.host != socket.gethostname():
        return True
    try:
        os.kill(int(row.pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def current_training(workflow: sa.Engine) -> dict[str, Any] | None:
    """The newest training record (running, done or failed), or None."""
    with workflow.connect() as conn:
        row = conn.execute(sa.select(churn_training)
                           .order_by(churn_training.c.training_id.desc()).limit(1)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["alive"] = row.status == "running" and _alive(row)
    return out


def claim_training(workflow: sa.Engine) -> int:
    """Record that a training starts; its id. Needs ``view_mart_admin``.

    Refused (``ConcertoError`` naming who started it and what it is doing) while another
    training runs; a record whose process died is closed as failed first.
    """
    require("view_mart_admin", "train the churn model")
    who = acting_principal("train the churn model")
    now = dt.datetime.now(dt.UTC)
    with write_transaction(workflow) as conn:
        row = conn.execute(sa.select(churn_training)
                           .where(churn_training.c.running.is_not(None))).first()
        if row is not None and _alive(row):
            raise ConcertoError(f"A churn training is already running (started by "
                                f"{row.started_by} at {row.started_at:%H:%M} UTC; now: "
                                f"{row.step}). Wait for it to finish.")
        if row is not None:
            _close(conn, row.training_id, who.username, "failed",
                   "stopped without finishing (its process is gone)")
        try:
            training_id = int(conn.execute(sa.insert(churn_training).values(
                started_by=who.username[:40], started_at=now, updated_at=now, status="running",
                step="starting", host=socket.gethostname()[:80], running="churn"))
                .inserted_primary_key[0])
        except sa.exc.IntegrityError:  # another session claimed it in between
            raise ConcertoError("A churn training is already running: wait for it to "
                                "finish.") from None
        record_audit(conn, who.username, "churn_training_start", "churn_training",
                     training_id, None, {"by": who.username})
    return training_id


def record_training_step(workflow: sa.Engine, training_id: int, step: str, *,
                         pid: int | None = None) -> None:
    """Note what a running training is doing now (the page polls it)."""
    require("view_mart_admin", "train the churn model")
    values: dict[str, Any] = {"step": step[:200], "updated_at": dt.datetime.now(dt.UTC)}
    if pid is not None:
        values["pid"] = int(pid)
    with write_transaction(workflow) as conn:
        conn.execute(sa.update(churn_training)
                     .where(churn_training.c.training_id == int(training_id)).values(**values))
        record_audit(conn, acting_principal().username, "churn_training_step", "churn_training",
                     training_id, None, {"step": step[:200], **({"pid": pid} if pid else {})})


def finish_training(workflow: sa.Engine, training_id: int, status: str, message: str, *,
                    model_version: str | None = None) -> None:
    """Close a training as ``done`` or ``failed`` with a message (and the model it made)."""
    require("view_mart_admin", "train the churn model")
    if status not in ("done", "failed"):
        raise ValueError(f"status must be done or failed, not {status!r}")
    with write_transaction(workflow) as conn:
        _close(conn, training_id, acting_principal().username, status, message, model_version)


def _close(conn: sa.Connection, training_id: int, actor: str, status: str, message: str,
           model_version: str | None = None) -> None:
    now = dt.datetime.now(dt.UTC)
    values = {"status": status, "message": message[:400], "finished_at": now, "updated_at": now,
              "running": None, "model_version": model_version}
    conn.execute(sa.update(churn_training)
                 .where(churn_training.c.training_id == int(training_id)).values(**values))
    record_audit(conn, actor or SYSTEM_ACTOR, "churn_training_finish", "churn_training",
                 training_id, None, {k: v for k, v in values.items() if k != "running"})

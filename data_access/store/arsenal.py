"""The marketing arsenal 营销武器库: the tactic catalogue, who may see it, and managing it.

A tactic carries an authorisation level (1 front line, 2 manager, 3 executive; see
``auth.AUTH_LEVEL``): people see and pick tactics up to their level, while managers of the
arsenal see every tactic. The catalogue starts from ``assets/arsenal.csv``; a broken file
loads nothing. Edits are versioned like work orders: two people saving the same tactic from
the same version cannot both win, the second gets ``StaleWrite``. Picks live in
``data_access.store.arsenal_picks``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics.ops import arsenal as rules
from data_access.store import workorders# noqa: F401  (declares work_order, which picks reference)
from data_access.store.audit import record_audit
from data_access.store.auth import SYSTEM_ACTOR, Principal
from data_access.db import PROJECT_ROOT, ConcertoError, read_frame
from data_access.store.workflow import Money, WORKFLOW, StaleWrite, update_versioned, write_transaction
from data_access.store.scope import require

ASSET = PROJECT_ROOT / "assets" / "arsenal.csv"

tactic = sa.Table(
    "tactic", WORKFLOW,
    sa.Column("tactic_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(30), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # offer, gift, promotion, retention_call…
    sa.Column("description", sa.String(400), nullable=False, server_default=""),
    sa.Column("unit_cost", Money, nullable=False),  # yuan
    sa.Column("auth_level", sa.Integer, nullable=False),  # 1 front line, 2 manager, 3 executive
    sa.Column("segments", sa.String(200), nullable=False, server_default=""),  # "a;b", "" any
    sa.Column("min_arpu", Money, nullable=True),
    sa.Column("max_arpu", Money, nullable=True),
    sa.Column("min_tenure_months", sa.Integer, nullable=False, server_default="0"),
    sa.Column("plan_families", sa.String(200), nullable=False, server_default=""),
    sa.Column("target", sa.String(12), nullable=False),  # subscriber, group, channel
    sa.Column("max_per_customer", sa.Integer, nullable=False, server_default="1"),
    sa.Column("addresses", sa.String(300), nullable=False, server_default=""),  # reason tags
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Marketing tactics with cost, eligibility and the authorisation level to pick them.",
)

tactic_pick = sa.Table(
    "tactic_pick", WORKFLOW,
    sa.Column("pick_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tactic_id", sa.Integer, sa.ForeignKey("tactic.tactic_id"), nullable=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("work_order.order_id"), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_cost", Money, nullable=False),  # the tactic's cost when picked
    sa.Column("total_cost", Money, nullable=False),
    sa.Column("target_key", sa.String(80), nullable=True),  # subscriber, group or channel id
    sa.Column("picked_by", sa.String(40), nullable=False),
    sa.Column("picked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # picked, cancelled
    sa.Column("note", sa.String(400), nullable=False, server_default=""),
    sa.Column("cancelled_by", sa.String(40), nullable=True),
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_tactic_pick_order", "order_id", "pick_id"),
    sa.Index("ix_tactic_pick_target", "tactic_id", "target_key"),
    comment="Tactics picked for work orders, with the cost at the time of the pick.",
)

_AUDITED = (*rules.COLUMNS, "version")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_tactic(values: Mapping[str, Any]) -> dict[str, Any]:
    """``analytics.ops.arsenal.check_tactic`` with its error as a ``ConcertoError``."""
    try:
        return rules.check_tactic(values)
    except rules.TacticError as exc:
        raise ConcertoError(str(exc)) from None


def read_catalogue(path: Path | str) -> pd.DataFrame:
    """Read and validate a catalogue CSV (UTF-8, the columns of ``analytics.ops.arsenal.COLUMNS``).

    Raises
    ------
    ConcertoError
        Naming the file, and each bad line with its column; nothing is returned then.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConcertoError(f"{path}: there is no such catalogue file.") from None
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConcertoError(f"{path.name}: not a readable UTF-8 CSV file ({exc}).") from None
    try:
        return rules.check_catalogue(frame)
    except rules.TacticError as exc:
        raise ConcertoError(f"{path.name}: {exc}.") from None


def load_catalogue(engine: sa.Engine, path: Path | str = ASSET, *,
                   actor: str = SYSTEM_ACTOR) -> int:
    """Add the tactics of a catalogue file whose codes the store lacks; returns how many.

    The whole file is validated first, and a broken file loads nothing. Tactics already in
    the store keep their edits (and their deactivation): the file never overwrites them.
    One transaction with one audit row; safe to run again, and from two processes at once.
    Refused unless the acting principal holds ``manage_arsenal``.
    """

    require("manage_arsenal", "load the marketing arsenal")
    catalogue = read_catalogue(path)
    try:
        with write_transaction(engine) as conn:
            present = set(conn.execute(sa.select(tactic.c.code)).scalars())
            fresh = catalogue[~catalogue["code"].isin(present)]
            if fresh.empty:
                return 0
            now = _now()
            rows = [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                    | dict(version=1, updated_by=actor, updated_at=now)
                    for row in fresh.to_dict("records")]
            conn.execute(sa.insert(tactic), rows)
            record_audit(conn, actor, "arsenal_load", "tactic", Path(path).name, None,
                         {"codes": fresh["code"].tolist()})
    except sa.exc.IntegrityError:  # another process loaded the same codes meanwhile
        return 0
    return len(rows)


def seed_arsenal(engine: sa.Engine) -> int:
    """Demo seeder: load the starter catalogue ``assets/arsenal.csv`` (idempotent)."""
    return load_catalogue(engine, ASSET, actor=SYSTEM_ACTOR)


def load_starter_catalogue(engine: sa.Engine, principal: Principal) -> int:
    """Load ``assets/arsenal.csv`` on behalf of a manager of the arsenal (``Forbidden``
    otherwise); returns how many tactics were added."""
    principal.require("manage_arsenal", "load the marketing arsenal")
    return load_catalogue(engine, ASSET, actor=principal.username)


def list_tactics(engine: sa.Engine, principal: Principal, *,
                 include_inactive: bool = False) -> pd.DataFrame:
    """The tactics ``principal`` may see, by level, kind and code.

    Everyone sees the tactics up to their authorisation level; holders of
    ``manage_arsenal`` see all of them. The column ``may_pick`` says whether the principal
    may pick each one (role allowed to pick, level high enough, tactic active).
    """
    t = tactic.c
    query = sa.select(tactic).order_by(t.auth_level, t.kind, t.code)
    if not principal.can("manage_arsenal"):
        query = query.where(t.auth_level <= principal.auth_level)
    if not include_inactive:
        query = query.where(t.active.is_(True))
    frame = read_frame(engine, query)
    for column in ("min_arpu", "max_arpu", "unit_cost"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    frame["active"] = frame["active"].astype(bool)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    frame["may_pick"] = (principal.can("pick_tactics") & frame["active"]
                         & (frame["auth_level"] <= principal.auth_level)).astype(bool)
    return frame


def tactic_row(conn: sa.Connection, tactic_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One tactic read on the caller's connection (locked for update when ``lock``)."""
    query = sa.select(tactic).where(tactic.c.tactic_id == int(tactic_id))
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise ConcertoError(f"tactic_id: there is no tactic #{tactic_id}.")
    return dict(row)


def load_tactic(engine: sa.Engine, tactic_id: int) -> dict[str, Any]:
    """One tactic as a dict (``ConcertoError`` when there is none)."""
    with engine.connect() as conn:
        return tactic_row(conn, tactic_id)


def save_tactic(engine: sa.Engine, principal: Principal, values: Mapping[str, Any], *,
                tactic_id: int | None = None, version: int | None = None) -> int:
    """Create a tactic (no ``tactic_id``) or update one from the ``version`` it was read at.

    ``values`` holds the catalogue columns (``analytics.ops.arsenal.COLUMNS``); a tactic's code
    cannot change once created. Returns the tactic id.

    Raises
    ------
    Forbidden
        Without the ``manage_arsenal`` permission.
    ConcertoError
        Naming the field at fault, a code already used, or an unknown tactic.
    StaleWrite
        When someone saved the tactic since ``version`` was read; nothing is written.
    """
    principal.require("manage_arsenal", "edit the marketing arsenal")
    checked = check_tactic(values)
    stamp = dict(updated_by=principal.username, updated_at=_now())
    if tactic_id is None:
        return _create(engine, principal.username, checked, stamp)
    if version is None:
        raise ConcertoError("version: give the version the tactic was read at.")
    with write_transaction(engine) as conn:
        before = tactic_row(conn, tactic_id)
        if checked["code"] != before["code"]:
            raise ConcertoError(f"code: a tactic's code cannot change ({before['code']!r} "
                                f"to {checked['code']!r}); create a new tactic instead.")
        _versioned(conn, principal.username, "tactic_update", before, int(version),
                   {**checked, **stamp})
    return int(tactic_id)


def _create(engine: sa.Engine, actor: str, checked: dict[str, Any],
            stamp: dict[str, Any]) -> int:
    taken = ConcertoError(f"code: {checked['code']!r} is already used by another tactic.")
    try:
        with write_transaction(engine) as conn:
            if conn.execute(sa.select(tactic.c.tactic_id)
                            .where(tactic.c.code == checked["code"])).first():
                raise taken
            new_id = conn.execute(sa.insert(tactic).values(**checked, version=1, **stamp)
                                  ).inserted_primary_key[0]
            record_audit(conn, actor, "tactic_create", "tactic", new_id, None,
                         {**checked, "version": 1})
    except sa.exc.IntegrityError:  # a concurrent create of the same code won
        raise taken from None
    return int(new_id)


def _versioned(conn: sa.Connection, actor: str, action: str, before: Mapping[str, Any],
               version: int, values: dict[str, Any]) -> int:
    """The conditional write every change goes through; StaleWrite when the version moved."""
    new = update_versioned(conn, tactic, {"tactic_id": before["tactic_id"]}, version, values,
                           what=f"Tactic {before['code']}")
    after = {**before, **values, "version": new}
    record_audit(conn, actor, action, "tactic", before["tactic_id"],
                 {k: before[k] for k in _AUDITED}, {k: after[k] for k in _AUDITED})
    return new


def set_active(engine: sa.Engine, principal: Principal, tactic_id: int, active: bool, *,
               version: int) -> int:
    """Deactivate a tactic (no new picks; old ones stay) or bring it back; returns the new
    version. Needs ``manage_arsenal``; ``StaleWrite`` when ``version`` moved."""
    principal.require("manage_arsenal", "edit the marketing arsenal")
    with write_transaction(engine) as conn:
        before = tactic_row(conn, tactic_id)
        return _versioned(conn, principal.username,
                          "tactic_activate" if active else "tactic_deactivate", before,
                          int(version), dict(active=bool(active), updated_by=principal.username,
                                             updated_at=_now()))

"""Front-line intelligence: reports on rivals from the field, searchable, tagged and linked.

A form carries a client-generated submission token; the token is unique in the store, so a
double click, a rerun or a second session replaying the same form stores the report once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.store.audit import record_audit
from data_access.store.auth import Forbidden, Principal
from data_access.db import ConcertoError, check_text, optional_id, read_frame
from data_access.mart.geography import load_regions
from data_access.store.workflow import WORKFLOW, alert, write_transaction
from data_access.store.workorders import work_order
from data_access.store.workflow import update_versioned

#: Operators a report may be about (code → label).
OPERATORS: dict[str, str] = {"rival_a": "Rival A 竞争对手A", "rival_b": "Rival B 竞争对手B",
                             "other": "other 其他"}
#: What a report is about (code → label).
CATEGORIES: dict[str, str] = {
    "tariff": "tariff 资费", "promotion": "promotion 促销", "handset": "handset 终端补贴",
    "channel": "channel 渠道", "network": "network 网络", "enterprise": "enterprise 政企",
    "other": "other 其他",
}
TEXT_LIMIT, TAG_LIMIT, MAX_TAGS, MAX_FIGURES, FIGURE_NAME_LIMIT = 2000, 30, 8, 10, 40
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")

intel_report = sa.Table(
    "intel_report", WORKFLOW,
    sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_token", sa.String(64), nullable=False, unique=True),
    sa.Column("operator", sa.String(10), nullable=False),
    sa.Column("branch", sa.String(40), nullable=False),
    sa.Column("micro_region", sa.String(40), nullable=True),  # None: the whole branch
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("text", sa.String(TEXT_LIMIT), nullable=False),
    sa.Column("figures_json", sa.Text, nullable=True),  # {"name": number, …}
    sa.Column("tags", sa.String(300), nullable=False, server_default=""),  # ",a,b," for search
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alert.alert_id"), nullable=True),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("work_order.order_id"), nullable=True),
    sa.Column("submitted_by", sa.String(40), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_intel_report_place", "micro_region", "submitted_at"),
    comment="Front-line reports on rivals; the submission token stores a form once.",
)


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit_report` did: the report's id, and whether this call stored it."""

    report_id: int
    created: bool


def parse_tags(tags: str | Iterable[str] | None) -> list[str]:
    """Tags from a comma-separated string or a list: trimmed, lower-case, without ``#``,
    de-duplicated in order; ``ConcertoError`` naming ``tags`` when one is too long or
    there are too many.

    >>> parse_tags("#Jida, 5G ,jida,,door-to-door")
    ['jida', '5g', 'door-to-door']
    """
    items = tags.split(",") if isinstance(tags, str) else list(tags or [])
    out: list[str] = []
    for item in items:
        tag = str(item).strip().lstrip("#").strip().lower()
        if not tag or tag in out:
            continue
        if len(tag) > TAG_LIMIT or "," in tag:
            raise ConcertoError(f"tags: {tag[:40]!r} is too long (at most {TAG_LIMIT} characters).")
        out.append(tag)
    if len(out) > MAX_TAGS:
        raise ConcertoError(f"tags: at most {MAX_TAGS} tags, not {len(out)}.")
    return out


def check_figures(figures: Mapping[str, Any] | None) -> dict[str, float]:
    """Optional named numbers (e.g. ``{"monthly fee": 99}``), checked; ``ConcertoError``
    naming ``figures`` and the entry at fault."""
    out: dict[str, float] = {}
    for name, value in (figures or {}).items():
        label = check_text("figures: a figure's name", name, FIGURE_NAME_LIMIT)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConcertoError(f"figures: {label!r} must be a number, not {value!r}.") from None
        if not math.isfinite(number):
            raise ConcertoError(f"figures: {label!r} must be a finite number.")
        out[label] = number
    if len(out) > MAX_FIGURES:
        raise ConcertoError(f"figures: at most {MAX_FIGURES} figures, not {len(out)}.")
    return out


def _place(principal: Principal, branch: str | None, micro_region: str | None
           ) -> tuple[str, str | None]:
    regions = load_regions()
    micro = (micro_region or "").strip() or None
    if micro is not None:
        match = regions[regions["micro_region"] == micro]
        if match.empty:
            raise ConcertoError(f"micro_region: unknown micro-region {micro!r}.")
        branch = str(match["branch"].iloc[0])
    branch = (branch or "").strip() or None
    if branch is None:
        raise ConcertoError("branch: choose the branch or micro-region the report is about.")
    if branch not in set(regions["branch"]):
        raise ConcertoError(f"branch: unknown branch {branch!r}.")
    level = principal.scope_level
    where = {"branch": branch, "micro_region": micro}
    if level is not None and where[level] != principal.scope_value:
        raise Forbidden(f"{principal.display_name} may report on {principal.scope_value} only.")
    return branch, micro


def _check_link(conn: sa.Connection, field: str, value: Any) -> int | None:
    number = optional_id(field, value)
    if number is None:
        return None
    table, column = (alert, alert.c.alert_id) if field == "alert_id" else (work_order,
                                                                        work_order.c.order_id)
    if conn.execute(sa.select(column).where(column == number)).first() is None:
        raise ConcertoError(f"{field}: there is no {table.name.replace('_', ' ')} #{number}.")
    return number


def submit_report(engine: sa.Engine, principal: Principal, *, token: str, operator: str,
                  category: str, text: str, branch: str | None = None,
                  micro_region: str | None = None, figures: Mapping[str, Any] | None = None,
                  tags: str | Iterable[str] | None = None, alert_id: int | None = None,
                  order_id: int | None = None) -> Submitted:
    """Store one intelligence report, exactly once per submission ``token``.

    Parameters
    ----------
    token : str
        Generated by the form (8-64 letters, digits, ``-`` or ``_``); submitting the same
        token again returns the first report with ``created=False``.
    operator, category : str
        Keys of :data:`OPERATORS` and :data:`CATEGORIES`.
    text : str
        What was seen (1 to 2,000 characters).
    branch, micro_region : str, optional
        Where; a micro-region implies its branch. Inside the principal's scope.
    figures : mapping, optional
        Named numbers (at most 10).
    tags : str or iterable of str, optional
        Comma-separated or a list (at most 8, each at most 30 characters).
    alert_id, order_id : int, optional
        An alert or work order the report explains (must exist).

    Raises
    ------
    ConcertoError
        Naming the field at fault; nothing is stored.
    Forbidden
        When the role may not report, or the place lies outside the principal's scope.
    """
    principal.require("act_on_alerts", "submit intelligence reports")
    token = check_text("submission token", token, 64)
    if not _TOKEN.fullmatch(token):
        raise ConcertoError("submission token: 8-64 letters, digits, '-' or '_'.")
    if operator not in OPERATORS:
        raise ConcertoError(f"operator: choose one of {', '.join(OPERATORS)}, not {operator!r}.")
    if category not in CATEGORIES:
        raise ConcertoError(f"category: choose one of {', '.join(CATEGORIES)}, not {category!r}.")
    body = check_text("text", text, TEXT_LIMIT)
    where = _place(principal, branch, micro_region)
    numbers, labels = check_figures(figures), parse_tags(tags)
    values = {"submission_token": token, "operator": operator, "branch": where[0],
              "micro_region": where[1], "category": category, "text": body,
              "figures_json": json.dumps(numbers, ensure_ascii=False) if numbers else None,
              "tags": f",{','.join(labels)}," if labels else "",
              "submitted_by": principal.username, "version": 1}
    try:
        with write_transaction(engine) as conn:
            found = _by_token(conn, token)
            if found is not None:
                return Submitted(found, False)
            values["alert_id"] = _check_link(conn, "alert_id", alert_id)
            values["order_id"] = _check_link(conn, "order_id", order_id)
            values["submitted_at"] = dt.datetime.now(dt.UTC)
            report_id = conn.execute(sa.insert(intel_report).values(**values)
                                     ).inserted_primary_key[0]
            record_audit(conn, principal.username, "intel_submit", "intel_report", report_id,
                         None, values)
            return Submitted(int(report_id), True)
    except sa.exc.IntegrityError:  # a concurrent submit of the same token won
        with engine.connect() as conn:
            found = _by_token(conn, token)
        if found is None:
            raise
        return Submitted(found, False)


def form_token(username: str, day: dt.date, fields: Mapping[str, Any]) -> str:
    """The submission token of a form: the same person sending the same content on the same
    day (a double click, a second tab) gets the same token, so the report is stored once.

    >>> a = form_token("ann", dt.date(2026, 1, 5), {"text": "x", "tags": ["a"]})
    >>> a == form_token("ann", dt.date(2026, 1, 5), {"tags": ["a"], "text": "x"}), len(a)
    (True, 44)
    """
    content = json.dumps([username, day.isoformat(), dict(fields)], sort_keys=True,
                         ensure_ascii=False, default=str)
    return "web-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:40]


def _by_token(conn: sa.Connection, token: str) -> int | None:
    found = conn.execute(sa.select(intel_report.c.report_id)
                         .where(intel_report.c.submission_token == token)).scalar()
    return None if found is None else int(found)


def _visible(principal: Principal) -> list[sa.ColumnElement[bool]]:
    r = intel_report.c
    if principal.scope_level is None:
        return []
    return [sa.or_(r[principal.scope_level] == principal.scope_value,
                   r.submitted_by == principal.username)]


def search_reports(engine: sa.Engine, principal: Principal, *, text: str | None = None,
                   tags: Iterable[str] = (), operator: str | None = None,
                   micro_region: str | None = None, alert_id: int | None = None,
                   limit: int = 200) -> pd.DataFrame:
    """Reports ``principal`` may see, newest first, filtered by words, tags and place.

    A regional manager sees reports on their branch or micro-region (and their own).
    ``text`` matches the report text case-insensitively; every tag in ``tags`` must be on it.

    Returns
    -------
    DataFrame
        The ``intel_report`` columns, with ``tags`` as a list and ``figures`` as a dict.
    """
    r = intel_report.c
    conditions = _visible(principal)
    words = (text or "").strip().lower()
    if words:
        conditions.append(sa.func.lower(r.text).contains(words, autoescape=True))
    for tag in parse_tags(list(tags)):
        conditions.append(r.tags.contains(f",{tag},", autoescape=True))
    if operator:
        conditions.append(r.operator == operator)
    if micro_region:
        conditions.append(r.micro_region == micro_region)
    if alert_id is not None:
        conditions.append(r.alert_id == int(alert_id))
    statement = (sa.select(intel_report).where(*conditions)
                 .order_by(r.submitted_at.desc(), r.report_id.desc()).limit(int(limit)))
    frame = read_frame(engine, statement)
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
    frame["tags"] = [[t for t in str(v).split(",") if t] for v in frame["tags"]]
    frame["figures"] = [json.loads(v) if isinstance(v, str) and v else {}
                        for v in frame["figures_json"]]
    return frame.drop(columns=["figures_json", "submission_token"])


def link_report(engine: sa.Engine, principal: Principal, report_id: int, *, version: int,
                alert_id: int | None = None, order_id: int | None = None) -> int:
    """Link a report to an alert and/or a work order (None leaves a link as it is).

    Returns the new version; ``StaleWrite`` when the report changed since ``version`` was
    read, ``ConcertoError`` naming ``alert_id`` or ``order_id`` when it does not exist.
    """

    principal.require("act_on_alerts", "link intelligence reports")
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(intel_report).where(
            intel_report.c.report_id == int(report_id), *_visible(principal))).mappings().first()
        if row is None:
            raise ConcertoError(f"report_id: there is no report #{report_id} you may see.")
        change = {k: v for k, v in (("alert_id", _check_link(conn, "alert_id", alert_id)),
                                    ("order_id", _check_link(conn, "order_id", order_id)))
                  if v is not None}
        if not change:
            raise ConcertoError("alert_id: give an alert or a work order to link to.")
        new = update_versioned(conn, intel_report, {"report_id": int(report_id)}, version,
                               change, what=f"Report #{report_id}")
        before = {k: row[k] for k in change} | {"version": row["version"]}
        record_audit(conn, principal.username, "intel_link", "intel_report", report_id, before,
                     change | {"version": new})
        return new


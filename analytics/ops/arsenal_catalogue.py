"""The marketing-arsenal catalogue without a database: its vocabulary (kinds, targets, levels,
reason tags) and the checks every tactic row passes, from the CSV file or from the editor."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

KINDS: dict[str, str] = {
    "offer": "offer 优惠",
    "gift": "gift 礼品",
    "promotion": "promotion 促销",
    "retention_call": "retention call 挽留外呼",
    "channel_support": "channel support 渠道支撑",
}
TARGETS: dict[str, str] = {
    "subscriber": "subscriber 个人客户",
    "group": "enterprise group 集团客户",
    "channel": "channel 渠道",
}
LEVELS: dict[int, str] = {1: "front line 一线", 2: "manager 经理", 3: "executive 高管"}
#: Reason tags a tactic may answer: churn reasons for subscribers and groups (the tags of
#: ``analytics.churn.reasons`` among them), then the problems of a channel.
REASONS: dict[str, str] = {
    "arpu_drop": "ARPU falling 收入下滑",
    "usage_fading": "usage fading 使用量下滑",
    "low_usage": "low usage 低使用量",
    "discount_ending": "discount ends soon 优惠到期",
    "data_near_quota": "data usage near quota 流量临近上限",
    "competitor_pressure": "competitor pressure 竞对策反",
    "tenure_short": "joined less than 6 months ago 新入网",
    "prepaid_plan": "prepaid, no contract 预付费无合约",
    "no_group": "no group or family ties 未融合",
    "service_complaint": "service complaint 服务投诉",
    "network_trouble": "poor network in the area 网络质量差",
    "low_footfall": "low footfall 客流不足",
    "stock_shortage": "stock shortage 缺货",
    "rival_products": "outlet sells rival products 代销竞品",
    "goods_moved": "goods moved out of the channel 窜货",
}
#: Subscriber segments of the mart (kept in step with ``data_access.mart.schema.SEGMENTS`` by a test).
SEGMENTS = ("high_end", "mass", "youth", "enterprise")
#: The catalogue's columns, in the order of assets/arsenal.csv.
COLUMNS = ("code", "name", "kind", "description", "unit_cost", "auth_level", "segments",
           "min_arpu", "max_arpu", "min_tenure_months", "plan_families", "target",
           "max_per_customer", "addresses", "active")

_CODE = re.compile(r"[A-Z0-9_]{2,30}")
_TOKEN = re.compile(r"[a-z0-9_]{1,20}")
_TRUE, _FALSE = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}
_MAX_SHOWN = 12


class TacticError(ValueError):
    """A tactic or catalogue is malformed; the message names the row and the column."""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _number(field: str, value: Any, *, whole: bool = False, low: float = 0,
            high: float = 1e8) -> float:
    try:
        number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise TacticError(f"{field}: {value!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise TacticError(f"{field}: {value!r} must lie between {low:,.0f} and {high:,.0f}")
    if whole and number != int(number):
        raise TacticError(f"{field}: {value!r} must be a whole number")
    return number


def _text(field: str, value: Any, limit: int, *, required: bool) -> str:
    text = "" if _blank(value) else str(value).strip()
    if required and not text:
        raise TacticError(f"{field}: must not be empty")
    if len(text) > limit:
        raise TacticError(f"{field}: must be at most {limit} characters (it has {len(text)})")
    return text


def _tags(field: str, value: Any, known: tuple[str, ...] | None) -> str:
    """A semicolon list, stripped and deduplicated in order; each tag known or a token."""
    tags = [t.strip() for t in ("" if _blank(value) else str(value)).split(";") if t.strip()]
    for tag in tags:
        if known is not None and tag not in known:
            raise TacticError(f"{field}: {tag!r} is not one of {', '.join(known)}")
        if known is None and not _TOKEN.fullmatch(tag):
            raise TacticError(f"{field}: {tag!r} must be 1–20 of a–z, 0–9 and _")
    return ";".join(dict.fromkeys(tags))


def _flag(field: str, value: Any) -> bool:
    if _blank(value):
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise TacticError(f"{field}: {value!r} must be true or false")
    return text in _TRUE


def check_tactic(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one tactic (CSV text or form values) and return it normalised.

    Blank ``min_arpu`` / ``max_arpu`` mean no bound, blank ``min_tenure_months`` 0, blank
    ``max_per_customer`` 1, blank ``active`` true; empty ``segments`` / ``plan_families``
    mean any. A channel tactic may not restrict segment, ARPU, tenure or plan.

    Raises
    ------
    TacticError
        Naming the first column at fault.

    Examples
    --------
    >>> check_tactic({"code": "BILLCR30", "name": "Bill credit ¥30 话费返还", "kind": "offer",
    ...               "unit_cost": "30", "auth_level": "1", "target": "subscriber",
    ...               "addresses": "arpu_drop"})["unit_cost"]
    30.0
    """
    code = _text("code", raw.get("code"), 30, required=True)
    if not _CODE.fullmatch(code):
        raise TacticError(f"code: {code!r} must be 2–30 of A–Z, 0–9 and _")
    kind = _text("kind", raw.get("kind"), 20, required=True)
    if kind not in KINDS:
        raise TacticError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    target = _text("target", raw.get("target"), 12, required=True)
    if target not in TARGETS:
        raise TacticError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
    level = raw.get("auth_level")
    if _blank(level) or _number("auth_level", level, whole=True, low=-1e9, high=1e9) not in LEVELS:
        raise TacticError(f"auth_level: {level!r} is not one of 1 (front line), 2 (manager), "
                          "3 (executive)")
    if _blank(raw.get("unit_cost")):
        raise TacticError("unit_cost: must not be empty")
    bounds = {}
    for field in ("min_arpu", "max_arpu"):
        value = raw.get(field)
        bounds[field] = None if _blank(value) else round(_number(field, value, high=1e5), 2)
    if None not in bounds.values() and bounds["min_arpu"] > bounds["max_arpu"]:
        raise TacticError(f"max_arpu: {bounds['max_arpu']:g} is below min_arpu "
                          f"{bounds['min_arpu']:g}")
    tenure, most = raw.get("min_tenure_months"), raw.get("max_per_customer")
    tactic = dict(
        code=code, name=_text("name", raw.get("name"), 120, required=True), kind=kind,
        description=_text("description", raw.get("description"), 400, required=False),
        unit_cost=round(_number("unit_cost", raw.get("unit_cost"), high=1e7), 2),
        auth_level=int(float(level)), segments=_tags("segments", raw.get("segments"), SEGMENTS),
        **bounds, min_tenure_months=0 if _blank(tenure) else int(
            _number("min_tenure_months", tenure, whole=True, high=600)),
        plan_families=_tags("plan_families", raw.get("plan_families"), None), target=target,
        max_per_customer=1 if _blank(most) else int(
            _number("max_per_customer", most, whole=True, low=1, high=10_000)),
        addresses=_tags("addresses", raw.get("addresses"), tuple(REASONS)),
        active=_flag("active", raw.get("active")))
    if target == "channel":
        for field in ("segments", "min_arpu", "max_arpu", "plan_families"):
            if tactic[field] not in ("", None):
                raise TacticError(f"{field}: a channel tactic cannot restrict {field}")
        if tactic["min_tenure_months"]:
            raise TacticError("min_tenure_months: a channel tactic cannot restrict tenure")
    return tactic


def check_catalogue(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a whole catalogue (read from CSV as text) and return it normalised.

    Line numbers are the file's (the header is line 1, the first tactic line 2) as long as
    no quoted field spans lines.

    Raises
    ------
    TacticError
        Listing every bad line with its column (the first dozen), missing or unknown
        columns, and codes used twice; nothing is returned then.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in COLUMNS]
    if missing or unknown:
        raise TacticError("; ".join([f"column {c}: missing" for c in missing]
                                    + [f"column {c}: not a catalogue column" for c in unknown]))
    if frame.empty:
        raise TacticError("the catalogue has no tactics")
    problems, rows, first_line = [], [], {}
    for position, raw in enumerate(frame.to_dict("records")):
        line = position + 2
        try:
            tactic = check_tactic(raw)
        except TacticError as exc:
            problems.append(f"line {line} (code {str(raw.get('code', '')).strip() or '?'}), {exc}")
            continue
        if tactic["code"] in first_line:
            problems.append(f"line {line}, code: {tactic['code']!r} is used twice (also on "
                            f"line {first_line[tactic['code']]})")
        first_line.setdefault(tactic["code"], line)
        rows.append(tactic)
    if problems:
        more = len(problems) - _MAX_SHOWN
        raise TacticError("; ".join(problems[:_MAX_SHOWN])
                          + (f"; and {more} more problem(s)" if more > 0 else ""))
    return pd.DataFrame(rows, columns=list(COLUMNS))

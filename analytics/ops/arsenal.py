"""The marketing arsenal without a database: who may see a tactic, whom it suits, and which
one to suggest for a customer at risk (the catalogue's vocabulary and checks live in
``analytics.ops.arsenal_catalogue`` and are re-exported here)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analytics.ops.arsenal_catalogue import (COLUMNS, KINDS, LEVELS, REASONS,  # noqa: F401
                                         SEGMENTS, TARGETS, TacticError, check_catalogue,
                                         check_tactic)

#: The keys of a customer profile that ``eligible`` reads; other keys are ignored.
PROFILE_KEYS = ("segment", "arpu", "tenure_months", "plan_family", "target")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _split(column: pd.Series) -> pd.Series:
    return column.fillna("").astype(str).map(lambda s: {t for t in s.split(";") if t})


def visible_for_level(tactics: pd.DataFrame, level: int) -> pd.DataFrame:
    """The tactics a person of authorisation ``level`` may see and pick (``auth_level ≤ level``).

    Examples
    --------
    >>> t = pd.DataFrame({"code": ["A1", "B3"], "auth_level": [1, 3]})
    >>> visible_for_level(t, 2)["code"].tolist()
    ['A1']
    """
    return tactics[pd.to_numeric(tactics["auth_level"]) <= int(level)]


def eligible(tactics: pd.DataFrame, profile: Mapping[str, Any]) -> pd.DataFrame:
    """The tactics whose eligibility rules a customer (or channel) profile meets.

    Parameters
    ----------
    tactics : DataFrame
        Catalogue rows (``COLUMNS``); ``active`` and ``auth_level`` are not looked at here.
    profile : Mapping
        ``segment``, ``arpu`` (yuan a month), ``tenure_months``, ``plan_family`` and
        ``target`` (default ``"subscriber"``); other keys are ignored. A rule the tactic sets
        but the profile cannot answer (no ARPU given for a tactic with an ARPU band) counts as
        not met. ARPU bounds are inclusive.

    Examples
    --------
    >>> t = pd.DataFrame({"code": ["ANY", "HIGH"], "segments": ["", "high_end"],
    ...                   "min_arpu": [None, 150.0], "max_arpu": [None, None],
    ...                   "min_tenure_months": [0, 12], "plan_families": ["", ""],
    ...                   "target": ["subscriber", "subscriber"]})
    >>> eligible(t, {"segment": "mass", "arpu": 60, "tenure_months": 30})["code"].tolist()
    ['ANY']
    """
    return tactics[_Rules(tactics).meets(profile)]


class _Rules:
    """A catalogue's eligibility columns parsed once, so that many profiles can be checked."""

    def __init__(self, tactics: pd.DataFrame) -> None:
        self.target = tactics["target"].astype(object).to_numpy()
        self.segments = _split(tactics["segments"]).tolist()
        self.families = _split(tactics["plan_families"]).tolist()
        self.min_arpu = pd.to_numeric(tactics["min_arpu"], errors="coerce").to_numpy(dtype=float)
        self.max_arpu = pd.to_numeric(tactics["max_arpu"], errors="coerce").to_numpy(dtype=float)
        self.need = pd.to_numeric(tactics["min_tenure_months"], errors="coerce").fillna(0) \
            .to_numpy(dtype=float)

    def meets(self, profile: Mapping[str, Any]) -> np.ndarray:
        """One boolean per tactic: does ``profile`` meet its rules (see ``eligible``)."""
        keep = self.target == (profile.get("target") or "subscriber")
        segment, family = profile.get("segment"), profile.get("plan_family")
        keep &= np.fromiter((not allowed or segment in allowed for allowed in self.segments),
                            dtype=bool, count=len(self.segments))
        keep &= np.fromiter((not allowed or family in allowed for allowed in self.families),
                            dtype=bool, count=len(self.families))
        arpu = None if _blank(profile.get("arpu")) else float(profile["arpu"])
        for bound, inside in ((self.min_arpu, lambda b: arpu >= b),
                              (self.max_arpu, lambda b: arpu <= b)):
            keep &= np.isnan(bound) | (inside(bound) if arpu is not None else False)
        tenure = profile.get("tenure_months")
        keep &= (self.need <= 0) | ((self.need <= float(tenure)) if not _blank(tenure) else False)
        return keep.astype(bool)


def answering(tactics: pd.DataFrame, reasons: list[str]) -> pd.DataFrame:
    """The tactics answering at least one of ``reasons`` (all tactics when none are given)."""
    if not reasons:
        return tactics
    wanted = set(reasons)
    return tactics[_split(tactics["addresses"]).map(lambda tags: bool(tags & wanted))]


def suggest_retention(tactics: pd.DataFrame, reasons: list[str], profile: Mapping[str, Any],
                      level: int = 1) -> pd.Series | None:
    """The tactic to suggest for a customer at risk, or None when nothing fits.

    Among active tactics visible at ``level`` and ``eligible`` for ``profile``, keep those
    answering at least one reason; prefer the one answering the most reasons, then the
    cheapest (``unit_cost``), then the lower ``auth_level`` (less sign-off), then the code
    alphabetically, so the same inputs always give the same suggestion.

    Reasons are tags of ``REASONS``; other tags (a churn model may give reasons no tactic
    answers, such as ``social_outlet``) are ignored, as if unanswered.

    Returns
    -------
    Series or None
        The catalogue row with ``answered`` (how many reasons it answers) and ``answers``
        (those reasons, semicolon-separated, in the order given).

    Examples
    --------
    >>> t = pd.DataFrame({"code": ["CALL", "DATA"], "unit_cost": [8.0, 15.0],
    ...     "auth_level": [1, 1], "active": [True, True], "segments": ["", ""],
    ...     "min_arpu": [None, None], "max_arpu": [None, None], "min_tenure_months": [0, 0],
    ...     "plan_families": ["", ""], "target": ["subscriber", "subscriber"],
    ...     "addresses": ["arpu_drop", "arpu_drop;data_near_quota"]})
    >>> suggest_retention(t, ["arpu_drop", "data_near_quota"], {})["code"]
    'DATA'
    >>> suggest_retention(t, ["arpu_drop"], {})["code"]
    'CALL'
    """
    return RetentionChooser(tactics, level).choose(reasons, profile)


class RetentionChooser:
    """``suggest_retention`` for many customers against one catalogue and level.

    The active, visible tactics are settled once; the tactics a profile is eligible for are
    settled once per ``profile_key`` (a caller whose customers share eligibility, e.g. the
    same segment, plan family and ARPU and tenure bands, passes the same key), and kept in
    the order that breaks ties (cheapest, then lower ``auth_level``, then code). Choosing is
    then a count of answered reasons over that short list.
    """

    def __init__(self, tactics: pd.DataFrame, level: int = 1) -> None:
        pool = visible_for_level(tactics[tactics["active"].astype(bool)], level)
        self._pool = pool.reset_index(drop=True)
        self._rules = _Rules(self._pool)
        self._tags = _split(self._pool["addresses"]).tolist()
        cost = pd.to_numeric(self._pool["unit_cost"]).to_numpy(dtype=float)
        level_ = pd.to_numeric(self._pool["auth_level"]).to_numpy(dtype=float)
        codes = self._pool["code"].astype(str).tolist()
        # The tie-breaking order of the whole pool (NaN last, as sort_values puts it).
        self._order = sorted(range(len(self._pool)), key=lambda i: (
            math.isnan(cost[i]), 0.0 if math.isnan(cost[i]) else cost[i],
            math.isnan(level_[i]), 0.0 if math.isnan(level_[i]) else level_[i], codes[i]))
        self._eligible: dict[object, list[int]] = {}

    def _ranked(self, profile: Mapping[str, Any], profile_key: object) -> list[int]:
        key = profile_key if profile_key is not None else tuple(
            str(profile.get(k)) for k in PROFILE_KEYS)
        if key not in self._eligible:
            meets = self._rules.meets(profile)
            self._eligible[key] = [i for i in self._order if meets[i]]
        return self._eligible[key]

    def pick(self, reasons: list[str], profile: Mapping[str, Any],
             profile_key: object = None) -> tuple[int, list[str]] | None:
        """The chosen tactic's row position in ``pool`` and the reasons it answers, or None."""
        wanted = [r for r in dict.fromkeys(reasons) if r in REASONS]
        if not wanted:
            return None
        best, most = None, 0
        for position in self._ranked(profile, profile_key):
            answered = sum(r in self._tags[position] for r in wanted)
            if answered > most:  # strictly more: the earlier (cheaper) one wins ties
                best, most = position, answered
        if best is None:
            return None
        return best, [r for r in wanted if r in self._tags[best]]

    @property
    def pool(self) -> pd.DataFrame:
        """The active tactics visible at the level, positioned as ``pick`` answers."""
        return self._pool

    def choose(self, reasons: list[str], profile: Mapping[str, Any],
               profile_key: object = None) -> pd.Series | None:
        """The tactic to suggest (as ``suggest_retention`` returns it), or None."""
        picked = self.pick(reasons, profile, profile_key)
        if picked is None:
            return None
        position, answers = picked
        return pd.Series({**self._pool.iloc[position].to_dict(), "answered": len(answers),
                          "answers": ";".join(answers)}, name=position)


def describe_tactics(tactics: pd.DataFrame) -> pd.DataFrame:
    """The catalogue for the reader: labels for kind, level and target, and one line saying
    who is eligible (no money formatting; pages format the cost)."""
    def rule(row: Mapping[str, Any]) -> str:
        parts = []
        if row["segments"]:
            parts.append("segments " + ", ".join(str(row["segments"]).split(";")))
        low, high = (None if _blank(row[c]) else float(row[c]) for c in ("min_arpu", "max_arpu"))
        if low is not None or high is not None:
            parts.append(f"ARPU ¥{low or 0:,.0f}–" + ("" if high is None else f"¥{high:,.0f}"))
        if not _blank(row["min_tenure_months"]) and int(row["min_tenure_months"]) > 0:
            parts.append(f"tenure ≥ {int(row['min_tenure_months'])} months")
        if row["plan_families"]:
            parts.append("plans " + ", ".join(str(row["plan_families"]).split(";")))
        return "; ".join(parts) or {"subscriber": "anyone"}.get(row["target"], f"any {row['target']}")

    if tactics.empty:
        return tactics.assign(kind_label=[], level_label=[], target_label=[], eligibility=[],
                              answers_label=[])
    return tactics.assign(
        kind_label=tactics["kind"].map(KINDS), target_label=tactics["target"].map(TARGETS),
        level_label=pd.to_numeric(tactics["auth_level"]).map(
            lambda level: f"{int(level)} {LEVELS[int(level)]}"),
        eligibility=[rule(r) for r in tactics.to_dict("records")],
        answers_label=tactics["addresses"].fillna("").astype(str).str.replace(";", ", "))

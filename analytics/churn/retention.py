"""Whom it pays to keep: the retention list ranked by expected loss, and group warnings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from analytics.ops.arsenal import RetentionChooser

#: Columns of a scored subscriber row, in display order.
SCORE_COLUMNS = ("rank", "subscriber_id", "branch", "micro_region", "segment", "group_id",
                 "group_name", "plan_family", "channel_type", "tenure_months", "arpu",
                 "churn_prob", "net_value", "expected_loss", "top_reason", "reasons",
                 "reason_tags", "action", "risk_band")
#: Filters a retention list accepts (column names of the scores).
FILTERS = ("branch", "micro_region", "segment", "group_id")
GROUP_FADING = 0.10  # a leased-line group whose members' usage fell by this share is warned
GROUP_RISK_RATIO = 2.0  # … and any group whose members' mean risk is this many times the base
#: Risk bands by churn probability over the base rate (the run's mean), highest first.
#: Rows at the head of the ranked list that get a suggested tactic (the rest are asked on
#: the page).
ACTION_ROWS = 20_000
RISK_BANDS = (("high", 3.0), ("elevated", 1.5), ("average", 0.75), ("low", 0.0))


def risk_band(prob: pd.Series, base_rate: float) -> pd.Series:
    """Each probability's band: ``high`` at three times the base rate or more, ``elevated``
    from 1.5 times, ``average`` from 0.75 times, else ``low``.

    >>> risk_band(pd.Series([0.01, 0.02, 0.04, 0.10]), 0.02).tolist()
    ['low', 'average', 'elevated', 'high']
    """
    ratio = prob.to_numpy(dtype=float) / max(float(base_rate), 1e-12)
    names = [name for name, _ in RISK_BANDS]
    floors = [floor for _, floor in RISK_BANDS]
    return pd.Series(np.select([ratio >= f for f in floors], names, default="low"),
                     index=prob.index, name="risk_band")


def expected_loss(prob: pd.Series, net_value: pd.Series) -> pd.Series:
    """Churn probability × net value (yuan, rounded to the fen), indexed like ``prob``."""
    return (prob * net_value.reindex(prob.index).fillna(0.0).round(2)).round(2)


def list_ranks(prob: pd.Series, net_value: pd.Series) -> pd.Series:
    """Each subscriber's place in the retention list, indexed like ``prob``: 1 is the
    largest expected loss; equal losses put the higher risk first, then keep their order."""
    order = (pd.DataFrame({"loss": expected_loss(prob, net_value), "prob": prob})
             .sort_values(["loss", "prob"], ascending=False, kind="stable").index)
    return pd.Series(np.arange(1, len(order) + 1), index=order).reindex(prob.index)


def retention_table(prob: pd.Series, net_value: pd.Series, context: pd.DataFrame,
                    reasons: pd.DataFrame) -> pd.DataFrame:
    """Every scored subscriber ranked by expected loss = churn probability × net value.

    A subscriber with a negative net value has a negative expected loss: losing them costs
    nothing, so they sink to the bottom of the list.
    """
    table = context.join(reasons, how="left")
    table["churn_prob"] = prob.reindex(table.index).to_numpy()
    table["net_value"] = net_value.reindex(table.index).fillna(0.0).round(2).to_numpy()
    table["expected_loss"] = expected_loss(prob, net_value).reindex(table.index).to_numpy()
    table["rank"] = list_ranks(prob, net_value).reindex(table.index).to_numpy()
    table = table.sort_values("rank")
    table = table.rename_axis("subscriber_id").reset_index()
    for column in ("top_reason", "reasons", "reason_tags"):
        table[column] = table[column].fillna("") if column in table else ""
    extra = [c for c in table.columns if c not in SCORE_COLUMNS]
    return table[[c for c in SCORE_COLUMNS if c in table.columns] + extra]


def filter_retention(scores: pd.DataFrame, filters: Mapping[str, object] | None = None, *,
                     min_prob: float = 0.0, limit: int | None = None) -> pd.DataFrame:
    """The list narrowed by branch, micro-region, segment and group (None or absent = all).

    Raises
    ------
    ValueError
        For a filter other than ``FILTERS``.
    """
    filters = {k: v for k, v in (filters or {}).items() if v is not None}
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValueError(f"Cannot filter the retention list by {', '.join(unknown)}; "
                         f"use {', '.join(FILTERS)}")
    keep = scores["churn_prob"] >= min_prob
    for column, value in filters.items():
        keep &= scores[column] == value
    out = scores[keep]
    return out.head(limit) if limit is not None else out


def _interval(values: pd.Series, column: pd.Series | None, side: str) -> np.ndarray:
    """Which gap between a catalogue column's distinct bounds each value falls in."""
    if column is None:
        return np.zeros(len(values), dtype=int)
    bounds = np.unique(pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float))
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    # A missing value meets no bound: its own gap (-1), not the one past the largest bound.
    return np.where(np.isnan(numbers), -1, np.searchsorted(bounds, numbers, side=side))


def suggest_actions(scores: pd.DataFrame, tactics: pd.DataFrame, *, level: int = 1,
                    rows: int | None = ACTION_ROWS) -> pd.Series:
    """A suggested retention tactic for the first ``rows`` rows ("" where none fits).

    Answers as ``analytics.ops.arsenal.suggest_retention(tactics, reasons, profile, level)``
    would for each row's reason tags and profile (segment, ARPU, tenure, plan family). Rows
    that agree on the tags some tactic answers, on segment and plan family, and on where their
    ARPU and tenure fall between the catalogue's bounds get the same answer, so each such key
    is asked once; the tactics a profile is eligible for are settled once per profile part of
    the key (``RetentionChooser``).
    The list is ranked by expected loss: rows further down are left for the page to ask about.
    """

    out = pd.Series("", index=scores.index, name="action", dtype=object)
    chosen = scores if rows is None else scores.head(rows)
    if chosen.empty or tactics.empty:
        return out
    answered = {t for text in tactics["addresses"].fillna("").astype(str)
                for t in text.split(";") if t}
    key = pd.DataFrame({
        "tags": chosen["reason_tags"].astype(str).map(
            lambda text: ",".join(sorted(set(text.split(",")) & answered))),
        "segment": chosen["segment"].astype(str), "plan": chosen["plan_family"].astype(str),
        "low": _interval(chosen["arpu"], tactics.get("min_arpu"), "right"),
        "high": _interval(chosen["arpu"], tactics.get("max_arpu"), "left"),
        "tenure": _interval(chosen["tenure_months"], tactics.get("min_tenure_months"), "right"),
    }, index=chosen.index)
    chooser = RetentionChooser(tactics, level)
    texts = [_action_text(row) for row in chooser.pool.to_dict("records")]
    keys = list(key.itertuples(index=False, name=None))
    columns = {c: chosen[c].to_numpy() for c in ("segment", "arpu", "tenure_months", "plan_family")}
    answers: dict[tuple, str] = {}
    for position in np.flatnonzero(~key.duplicated().to_numpy()):
        full = keys[position]
        tags = [t for t in full[0].split(",") if t]
        profile = {name: values[position] for name, values in columns.items()} | {
            "target": "subscriber"}
        # Eligibility depends on the profile part of the key only (not on the tags).
        picked = chooser.pick(tags, profile, profile_key=full[1:]) if tags else None
        answers[full] = "" if picked is None else texts[picked[0]]
    out.loc[chosen.index] = [answers[k] for k in keys]
    return out


def _action_text(suggestion: object) -> str:
    if suggestion is None:
        return ""
    if isinstance(suggestion, str):
        return suggestion
    if isinstance(suggestion, pd.DataFrame):
        return "" if suggestion.empty else _action_text(suggestion.iloc[0].to_dict())
    if isinstance(suggestion, pd.Series):
        return _action_text(suggestion.to_dict())
    if isinstance(suggestion, Mapping):
        if suggestion.get("code") and suggestion.get("name"):
            return f"{suggestion['name']} [{suggestion['code']}]"
        for key in ("name", "code", "tactic"):
            if suggestion.get(key):
                return str(suggestion[key])
    if isinstance(suggestion, list | tuple):
        return _action_text(suggestion[0]) if suggestion else ""
    return str(suggestion)


def group_warnings(scores: pd.DataFrame, groups: pd.DataFrame, trends: pd.DataFrame, *,
                   base_rate: float, fading: float = GROUP_FADING,
                   risk_ratio: float = GROUP_RISK_RATIO, min_members: int = 3) -> pd.DataFrame:
    """Enterprise groups whose account manager should act, most urgent first.

    A group is warned when it has a leased line and its members' usage (minutes and data)
    fell by ``fading`` or more over three months, or when its members' mean churn probability
    is ``risk_ratio`` times the base rate. ``trends`` holds group_id, group_size,
    group_spend_trend and group_usage_trend (log ratios, from
    ``analytics.churn.features.group_figures``); ``groups`` the group's name, account manager,
    leased line, branch and micro-region.

    Returns
    -------
    DataFrame
        group_id, group_name, account_manager, branch, micro_region, has_leased_line,
        members, at_risk (members above three times the base rate), mean_prob, base_rate,
        usage_change, spend_change, expected_loss, score (0–1), reason_tags and message.
    """
    members = scores.dropna(subset=["group_id"])
    per = members.groupby("group_id").agg(
        scored=("churn_prob", "size"), mean_prob=("churn_prob", "mean"),
        at_risk=("churn_prob", lambda p: int((p >= 3 * base_rate).sum())),
        expected_loss=("expected_loss", "sum"))
    table = groups.set_index("group_id").join(per, how="inner").join(
        trends.set_index("group_id") if "group_id" in trends else trends, how="left")
    table["spend_change"] = np.expm1(table["group_spend_trend"].fillna(0.0))
    table["usage_change"] = np.expm1(table["group_usage_trend"].fillna(0.0))
    table["members"] = table["group_size"].fillna(table["scored"]).astype(int)
    fell = table["has_leased_line"].astype(bool) & (table["usage_change"] <= -fading)
    risky = table["mean_prob"] >= risk_ratio * base_rate
    warned = table[(fell | risky) & (table["members"] >= min_members)].copy()
    ratio = warned["mean_prob"] / max(base_rate, 1e-9)
    warned["score"] = np.clip(np.maximum(-warned["usage_change"] / (3 * fading),
                                         (ratio - 1) / (3 * risk_ratio)), 0.0, 1.0).round(3)
    warned["reason_tags"] = np.where(warned["has_leased_line"].astype(bool),
                                     "group_leased_line,usage_fading", "usage_fading")
    warned["message"] = [_group_message(row, base_rate) for row in warned.itertuples()]
    warned["base_rate"] = base_rate
    warned = warned.sort_values(["score", "expected_loss"], ascending=False).reset_index()
    return warned[["group_id", "group_name", "account_manager", "branch", "micro_region",
                   "has_leased_line", "members", "at_risk", "mean_prob", "base_rate",
                   "usage_change", "spend_change", "expected_loss", "score", "reason_tags",
                   "message"]]


def _group_message(row, base_rate: float) -> str:
    kind = "Leased-line customer" if row.has_leased_line else "Group customer"
    change = row.usage_change
    trend = (f"members' usage (minutes and data) down {-change:.0%} over 3 months"
             if change < 0 else f"members' usage (minutes and data) up {change:.0%} over 3 months")
    trend += f", spend {row.spend_change:+.0%}"
    text = (f"{kind} {row.group_name}: {trend}; {row.at_risk} of {row.members} members at high "
            f"churn risk (mean {row.mean_prob:.1%} against {base_rate:.1%} overall). "
            f"Account manager {row.account_manager}: call on the customer.")
    return text[:400]

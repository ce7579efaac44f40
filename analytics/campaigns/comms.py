"""Communications planning: budget and overdue alerts, and a media mix from similar campaigns."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel
from sklearn.utils.validation import check_is_fitted

WARN_SHARE = 0.8  # budget share committed from which a department is warned
_LEAD_DAYS = 3  # a request needs a decision this many days before it starts


def budget_status(requests: pd.DataFrame, budgets: pd.DataFrame, *,
                  warn: float = WARN_SHARE) -> pd.DataFrame:
    """Committed cost against each department's budget for a year, with an alert level.

    Parameters
    ----------
    requests : DataFrame
        department, year, status, cost (rejected requests do not count).
    budgets : DataFrame
        department, year, amount.

    Returns
    -------
    DataFrame
        department, year, amount, committed, share, remaining, level ('ok', 'warn', 'over',
        or 'no budget' when requests exist without one).

    Examples
    --------
    >>> r = pd.DataFrame({"department": ["product"] * 2, "year": 2026,
    ...                   "status": ["approved", "rejected"], "cost": [90.0, 50.0]})
    >>> b = pd.DataFrame({"department": ["product"], "year": [2026], "amount": [100.0]})
    >>> budget_status(r, b)[["committed", "level"]].values.tolist()
    [[90.0, 'warn']]
    """
    live = requests[requests["status"] != "rejected"]
    committed = live.groupby(["department", "year"], as_index=False)["cost"].sum().rename(
        columns={"cost": "committed"})
    out = budgets[["department", "year", "amount"]].merge(committed, how="outer",
                                                          on=["department", "year"])
    out["committed"] = out["committed"].fillna(0.0).round(2)
    out["share"] = np.where(out["amount"] > 0, out["committed"] / out["amount"], np.nan)
    out["remaining"] = (out["amount"] - out["committed"]).round(2)
    out["level"] = np.select(
        [out["amount"].isna(), out["committed"] > out["amount"], out["share"] >= warn],
        ["no budget", "over", "warn"], "ok")
    return out.sort_values(["year", "department"], ignore_index=True)


def overdue_requests(requests: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Requests that need someone now, with the reason.

    - still ``requested`` less than three days before it starts (or after): needs a decision;
    - ``approved`` but not booked once it has started;
    - ``booked`` but not marked done after it ended.
    """
    start = pd.to_datetime(requests["start_day"]).dt.date
    end = pd.to_datetime(requests["end_day"]).dt.date
    lead = today + dt.timedelta(days=_LEAD_DAYS)
    reasons = np.select(
        [(requests["status"] == "requested") & (start <= lead),
         (requests["status"] == "approved") & (start <= today),
         (requests["status"] == "booked") & (end < today)],
        ["awaiting a decision, starts " + start.astype(str),
         "approved but not booked, started " + start.astype(str),
         "ended " + end.astype(str) + " but not closed"], "")
    return requests.assign(reason=reasons)[reasons != ""].reset_index(drop=True)


_WORD = re.compile(r"\w+")


def theme_ngrams(text: str, ngram_range: tuple[int, int] = (1, 3)) -> list[str]:
    """Character n-grams of each word, padded with spaces like ``char_wb``; single characters
    only for non-ASCII (Chinese) text, where one character can carry a word.

    >>> theme_ngrams("5G流量", (1, 2))
    ['流', '量', ' 5', '5g', 'g流', '流量', '量 ']
    """
    low, high = ngram_range
    out: list[str] = []
    for word in _WORD.findall(str(text).lower()):
        if low <= 1:
            out.extend(ch for ch in word if not ch.isascii())
        padded = f" {word} "
        for n in range(max(low, 2), high + 1):
            out.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return out


class ThemeMatcher(BaseEstimator):
    """Find the past campaigns whose theme reads most like a new one (TF-IDF, cosine).

    Character n-grams within words (:func:`theme_ngrams`) read mixed Chinese and English
    alike: "5G流量" shares n-grams with "5G升级" and with "流量包" without a Chinese word
    segmenter.

    Parameters
    ----------
    ngram_range : tuple of int
        Character n-gram lengths.
    top : int
        How many campaigns :meth:`similar` returns at most.

    Examples
    --------
    >>> m = ThemeMatcher(top=1).fit(pd.Series({1: "summer data gift 暑期流量", 2: "group V-net 集团V网"}))
    >>> m.similar("流量 gift for students")["campaign_id"].tolist()
    [1]
    """

    def __init__(self, *, ngram_range: tuple[int, int] = (1, 3), top: int = 3) -> None:
        self.ngram_range = ngram_range
        self.top = top

    def fit(self, texts: pd.Series, y: object = None) -> ThemeMatcher:
        """Learn the vocabulary of past campaigns' texts (indexed by campaign id)."""
        if self.top < 1:
            raise ValueError(f"top must be at least 1, not {self.top!r}")
        texts = texts.fillna("").astype(str)
        if texts.empty or not texts.str.strip().any():
            raise ValueError("texts: no past campaign has any text to compare with")
        ngrams = self.ngram_range
        self.vectorizer_ = TfidfVectorizer(analyzer=lambda text: theme_ngrams(text, ngrams),
                                           sublinear_tf=True)
        self.matrix_ = self.vectorizer_.fit_transform(texts.to_numpy())
        self.ids_ = texts.index.to_numpy()
        return self

    def similar(self, theme: str) -> pd.DataFrame:
        """campaign_id and similarity in [0, 1], most similar first; no zero similarities."""
        check_is_fitted(self, "matrix_")
        query = self.vectorizer_.transform([str(theme)])
        scores = linear_kernel(query, self.matrix_).ravel()  # rows are l2-normalised: cosine
        order = np.argsort(-scores, kind="stable")[: self.top]
        order = order[scores[order] > 0]
        return pd.DataFrame({"campaign_id": self.ids_[order], "similarity": scores[order]})


@dataclass(frozen=True)
class Recommendation:
    """The media mix proposed for a theme, and the campaigns it comes from."""

    campaigns: pd.DataFrame  # campaign_id, name, similarity, effect columns, media
    mix: pd.DataFrame  # medium, weight (shares summing to 1), cost of the past placements
    note: str  # where the mix and the effect come from


def media_mix(similar: pd.DataFrame, placements: pd.DataFrame) -> pd.DataFrame:
    """Blend the similar campaigns' media: each campaign's cost shares by medium, weighted by
    its similarity; weights sum to 1 (empty when none of them has placements).

    >>> sim = pd.DataFrame({"campaign_name": ["a", "b"], "similarity": [0.75, 0.25]})
    >>> p = pd.DataFrame({"campaign_name": ["a", "a", "b"], "medium": ["sms", "douyin", "sms"],
    ...                   "cost": [100.0, 300.0, 50.0]})
    >>> media_mix(sim, p).set_index("medium")["weight"].round(4).to_dict()
    {'douyin': 0.5625, 'sms': 0.4375}
    """
    used = placements[placements["campaign_name"].isin(similar["campaign_name"])]
    if used.empty:
        return pd.DataFrame(columns=["medium", "weight", "cost"])
    cost = used.groupby(["campaign_name", "medium"])["cost"].sum()
    total = cost.groupby(level=0).transform("sum")
    share = (cost / total.where(total > 0)).fillna(1 / cost.groupby(level=0).transform("size"))
    weight = similar.set_index("campaign_name")["similarity"]
    blended = (share * weight.reindex(share.index.get_level_values(0)).to_numpy()).groupby(
        level=1).sum()
    mix = pd.DataFrame({"weight": blended / blended.sum(), "cost": cost.groupby(level=1).sum()})
    return mix.reset_index().sort_values("weight", ascending=False, ignore_index=True)


def recommend_mix(theme: str, campaigns: pd.DataFrame, placements: pd.DataFrame,
                  effects: pd.DataFrame, *, top: int = 3) -> Recommendation:
    """The media mix of the past campaigns most similar to ``theme``, with their effect.

    Parameters
    ----------
    theme : str
        The new campaign's theme or offer, in Chinese, English or both.
    campaigns : DataFrame
        Past campaigns: campaign_id, campaign_name, offer, department (text compared).
    placements : DataFrame
        campaign_name, medium, cost of past communication placements.
    effects : DataFrame
        campaign_id and measured-effect columns (joined as they are).
    """
    if not str(theme).strip():
        raise ValueError("theme: describe the new campaign's theme")
    texts = (campaigns["campaign_name"] + " " + campaigns["offer"] + " "
             + campaigns["department"]).set_axis(campaigns["campaign_id"])
    found = ThemeMatcher(top=top).fit(texts).similar(theme)
    chosen = found.merge(campaigns, on="campaign_id").merge(effects, on="campaign_id", how="left")
    media = placements.groupby("campaign_name")["medium"].agg(lambda m: ", ".join(sorted(set(m))))
    chosen["media"] = chosen["campaign_name"].map(media).fillna("")
    mix = media_mix(chosen, placements)
    with_media = int((chosen["media"] != "").sum())
    note = (f"Mix blended from {with_media} of the {len(chosen)} most similar past campaigns "
            "(weights: their communication spend by medium × text similarity)."
            if with_media else "None of the similar campaigns has communication placements on "
            "record; their sales channels are shown instead.")
    return Recommendation(chosen, mix, note)

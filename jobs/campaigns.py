"""Campaign effects: the mart's panels around a campaign, put through the estimator.

Participants are compared with the randomised hold-out when at least :data:`MIN_HOLDOUT`
controls are in scope, else with matched non-participants
(:func:`analytics.campaigns.matching.match_controls`); the effect comes from
:func:`analytics.campaigns.effect.estimate_effect`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from analytics.campaigns.effect import (BREAKDOWNS, CampaignEffect, estimate_effect,
                                        participant_breakdown, uplift_by)
from analytics.campaigns.matching import NEAREST, match_controls, matching_method
from data_access.db import ConcertoError
from data_access.mart.campaigns import (MEASURES, CampaignWindow, load_campaign_panel,
                                        load_campaign_spend, load_campaign_window,
                                        load_matching_pool)

#: Fewest hold-out controls in scope for the randomised comparison (else matched controls).
MIN_HOLDOUT = 30


@dataclass(frozen=True)
class CampaignEvaluation:
    """A campaign's window, the subscribers compared and the estimated effect."""

    window: CampaignWindow
    panel: pd.DataFrame  # participants and controls (with ``pair`` when matched)
    effect: CampaignEffect


def evaluate_campaign(engine: sa.Engine, campaign_id: int, *, pool_limit: int = 200_000
                      ) -> CampaignEvaluation:
    """Participants against the randomised hold-out (at least 30 controls in scope), else
    against matched non-participants; the effect on ARPU, MOU, DOU, churn rate and ROI.

    Raises
    ------
    ConcertoError
        When the campaign does not exist, has not started, or has no participants in scope.
    """
    window = load_campaign_window(engine, campaign_id)
    panel = load_campaign_panel(engine, window)
    treated = panel[panel["arm"].eq("treated")]
    if treated.empty:
        raise ConcertoError(f"campaign_id: campaign {campaign_id} has no participants in your scope.")
    controls = int(panel["arm"].eq("control").sum())
    baseline = (f"per-subscriber changes against the {len(window.pre)} month(s) before the start"
                if window.pre else "no month before the start in the mart: campaign-period "
                "levels compared (no before-and-after)")
    if window.has_control and controls >= MIN_HOLDOUT:
        method = f"randomised hold-out of {controls:,} members kept out of the offer; {baseline}"
        compared = _levels_only(panel) if not window.pre else panel
    else:
        pool = load_matching_pool(engine, window, pool_limit)
        nearest = NEAREST if window.pre else ("tenure",)
        compared = match_controls(treated, pool, nearest=nearest)
        compared = _levels_only(compared) if not window.pre else compared
        method = f"{matching_method(nearest=nearest)} ({len(pool):,} candidates); {baseline}"
    effect = estimate_effect(compared, months=len(window.post), participants=len(treated),
                             cost=float(treated["cost"].sum()), method=method)
    return CampaignEvaluation(window, compared, effect)


@dataclass(frozen=True)
class CampaignSummary:
    """What the campaign page shows of an evaluation, without its panel: the window, the
    effect, the ARPU uplift and the participants per breakdown (``BREAKDOWNS``' columns), and
    the spend booked per month (``load_campaign_spend``; None: not read yet)."""

    window: CampaignWindow
    effect: CampaignEffect
    uplift: dict[str, pd.DataFrame]
    participants: dict[str, pd.DataFrame]
    spend: pd.DataFrame | None = None


def summarize_campaign(engine: sa.Engine, campaign_id: int) -> CampaignSummary:
    """:func:`evaluate_campaign`, reduced to what is shown. A page keeps this in its cache
    rather than the panel (tens of thousands of rows at 1M subscribers, unpickled again on
    every rerun) and does not work out the breakdowns again on every rerun."""
    evaluation = evaluate_campaign(engine, campaign_id)
    panel = evaluation.panel
    return CampaignSummary(evaluation.window, evaluation.effect,
                           {column: uplift_by(panel, column) for column in BREAKDOWNS},
                           {column: participant_breakdown(panel, column) for column in BREAKDOWNS},
                           load_campaign_spend(engine, evaluation.window))


def _levels_only(panel: pd.DataFrame) -> pd.DataFrame:
    """Zero pre-period means, so a DiD compares campaign-period levels (no pre-period)."""
    return panel.assign(**{f"pre_{stem}": 0.0 for stem in MEASURES})

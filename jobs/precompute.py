"""Compute campaign effects (with the campaign page's breakdowns), rival series scores and
channel values once per mart version and store them: ``python -m jobs.precompute [--if-stale]``.

``make run`` calls it after the mart is built and the nightly scan (``python -m
jobs.scheduler scan``) after its alerts, so no page click waits for these estimates. Each
kind is computed exactly as the pages compute it on a click; campaign effects and channel
values for the whole city and for every scope a user of the workflow store holds, rival series
once, city-wide (readers apply scope, ``data_access.store.precomputed``). Everything is
written in one transaction under the mart's fingerprint; nothing is written on any error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterable

import pandas as pd
import sqlalchemy as sa

from analytics import channels as channel_eval
from analytics import competitors as ac
from analytics.campaigns.effect import BREAKDOWNS, CampaignEffect, Estimate
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart import campaigns as mart_campaigns
from data_access.mart.campaigns import CampaignWindow
from data_access.mart import channels as mart_channels
from data_access.mart import competitors as mart_competitors
from data_access.mart.queries import available_months, load_mart_fingerprint, load_region_table
from data_access.store import precomputed as store
from data_access.store.auth import list_users
from data_access.store.demo import demo_enabled, seed_demo
from data_access.store.principal import SYSTEM
from data_access.store.scope import acting_as, as_system
from data_access.store.workflow import create_workflow_engine
from jobs import campaigns as campaign_jobs

#: The channel page's window slider: every span it offers is stored.
CHANNEL_SPANS = tuple(range(3, 13))
Progress = Callable[[str], None]


def user_scopes(workflow: sa.Engine) -> list[tuple[str, str]]:
    """The city and every scope an active user of the store holds, as stored scope units."""
    users = list_users(workflow)
    users = users[users["active"].astype(bool) & users["scope_level"].notna()]
    held = sorted({(str(l), str(v)) for l, v in zip(users["scope_level"], users["scope_value"],
                                                    strict=True)})
    return [store.scope_unit(None, None), *held]


def _as_scope(level: str, value: str):
    """Act as the system narrowed to one scope unit (reads then see what that unit's people see)."""
    if level == store.CITY:
        return acting_as(SYSTEM)
    return acting_as(dataclasses.replace(SYSTEM, scope_level=level, scope_value=value))


def compute_campaign_results(mart: sa.Engine, scopes: Iterable[tuple[str, str]],
                             progress: Progress = print) -> dict[str, pd.DataFrame]:
    """What the campaign page shows of every started campaign, per scope unit, by table:
    ``pre_campaign_effect``, one row per campaign and measure with
    ``jobs.campaigns.summarize_campaign``'s effect (or one row with ``error`` when it has
    none: not started, nobody in scope), and ``pre_campaign_breakdown``, its ARPU uplift and
    participants per breakdown (:func:`breakdown_rows`)."""
    rows, parts = [], []
    for level, value in scopes:
        with _as_scope(level, value):
            listing = mart_campaigns.load_campaign_list(mart)
            for campaign_id, status in zip(listing["campaign_id"], listing["status"], strict=True):
                if status == "planned":  # the page estimates started campaigns only
                    continue
                key = {"scope_level": level, "scope_value": value,
                       "campaign_id": int(campaign_id)}
                try:
                    summary = campaign_jobs.summarize_campaign(mart, int(campaign_id))
                except ConcertoError as exc:
                    rows.append({**key, "metric": "", "position": 0, "error": str(exc)[:400],
                                 "method": ""})
                    continue
                effect = summary.effect
                whole = {"participants": effect.participants, "months": effect.months,
                         "cost": effect.cost, "incremental_revenue": effect.incremental_revenue,
                         "incremental_low": effect.incremental_low,
                         "incremental_high": effect.incremental_high,
                         "net_effect": effect.net_effect, "roi": effect.roi,
                         "method": effect.method[:400], "error": ""}
                for position, e in enumerate(effect.effects):
                    rows.append({**key, **dataclasses.asdict(e), "position": position, **whole})
                parts += [{**key, **part} for part in breakdown_rows(summary)]
        progress(f"  campaign effects: {level} {value or ''}".rstrip())
    return {"pre_campaign_effect": pd.DataFrame(rows, columns=list(store.EFFECT_COLUMNS)),
            "pre_campaign_breakdown": pd.DataFrame(parts, columns=list(store.BREAKDOWN_COLUMNS))}


#: The columns of a summary's breakdown tables beside the breakdown's own, by part.
_PART_COLUMNS = {"uplift": ("estimate", "low", "high", "n_treated", "n_control"),
                 "participants": ("arm", "subscribers", "cost")}
_WHOLE_NUMBERS = ("n_treated", "n_control", "subscribers")
#: The stored part that holds a campaign's spend per month (the budget burn's input).
SPEND = "spend"


def breakdown_rows(summary: campaign_jobs.CampaignSummary) -> list[dict]:
    """A summary's uplift and participants tables as stored rows (part, breakdown, position,
    the breakdown's value and the table's columns), and its spend per month (part
    ``spend``, the month as the value, the spend as the cost)."""
    out = []
    for part, tables in (("uplift", summary.uplift), ("participants", summary.participants)):
        for column, frame in tables.items():
            for position, row in enumerate(frame.to_dict("records")):
                out.append({"part": part, "breakdown": column, "position": position,
                            "value": str(row[column]),
                            **{c: row[c] for c in _PART_COLUMNS[part]}})
    if summary.spend is not None:
        for position, (month, spend) in enumerate(zip(summary.spend["month"],
                                                      summary.spend["spend"], strict=True)):
            out.append({"part": SPEND, "breakdown": "month", "position": position,
                        "value": f"{pd.Timestamp(month):%Y-%m-%d}", "cost": float(spend)})
    return out


def summary_from_rows(window: CampaignWindow, effect_rows: pd.DataFrame,
                      breakdown_rows: pd.DataFrame) -> campaign_jobs.CampaignSummary | None:
    """One campaign's stored rows back into the summary the page shows (the window read
    anew); None when they hold no breakdowns (stored by an older job: work it out instead).

    Raises
    ------
    ConcertoError
        The campaign was stored without an effect (the reason the click would have given).
    """
    if effect_rows.empty:
        return None
    error = str(effect_rows["error"].iloc[0] or "")
    if error:
        raise ConcertoError(error)
    if breakdown_rows.empty:
        return None
    effect = effects_from_rows(effect_rows)[int(effect_rows["campaign_id"].iloc[0])]
    tables: dict[str, dict[str, pd.DataFrame]] = {"uplift": {}, "participants": {}}
    for part, columns in _PART_COLUMNS.items():
        for column in BREAKDOWNS:
            rows = breakdown_rows[(breakdown_rows["part"] == part)
                                  & (breakdown_rows["breakdown"] == column)]
            frame = rows.sort_values("position")[["value", *columns]].rename(
                columns={"value": column}).reset_index(drop=True)
            for name in columns:
                if name in _WHOLE_NUMBERS:
                    frame[name] = pd.to_numeric(frame[name]).astype(int)
                elif name != "arm":
                    frame[name] = pd.to_numeric(frame[name]).astype(float)
            tables[part][column] = frame
    spent = breakdown_rows[breakdown_rows["part"] == SPEND].sort_values("position")
    spend = None if spent.empty else pd.DataFrame(  # None: stored by an older job
        {"month": pd.to_datetime(spent["value"]).to_numpy(),
         "spend": pd.to_numeric(spent["cost"]).astype(float).to_numpy()})
    return campaign_jobs.CampaignSummary(window, effect, tables["uplift"],
                                         tables["participants"], spend)


def compute_rival_scores(mart: sa.Engine, progress: Progress = print) -> pd.DataFrame:
    """Every rival series point at every level, scored city-wide as the competitor page
    scores it (``analytics.competitors.flag_series``), with the unit's branch and
    micro-region for scope."""
    with acting_as(SYSTEM):
        regions = load_region_table(mart)[["branch", "micro_region"]].drop_duplicates()
        parts = []
        for level in mart_competitors.UNIT_LEVELS:
            flags = ac.flag_series(mart_competitors.load_competitor_months(mart, level))
            if level == "micro_region":
                flags = flags.merge(regions.rename(columns={"micro_region": "unit"}),
                                    on="unit", how="left").assign(micro_region=lambda f: f["unit"])
            else:
                flags = flags.assign(branch=flags["unit"] if level == "branch" else None,
                                     micro_region=None)
            parts.append(flags.assign(level=level, position=range(len(flags))))
            progress(f"  rival scores: {level}, {len(flags):,} points")
    columns = [c.name for c in store.pre_rival_score.columns if c.name != "run_id"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def compute_channel_values(mart: sa.Engine, scopes: Iterable[tuple[str, str]],
                           spans: Iterable[int] = CHANNEL_SPANS, progress: Progress = print
                           ) -> dict[str, pd.DataFrame]:
    """The channel page's evaluation and alerts (``analytics.channels.judge_channels``) for
    every window span and scope unit, and the low-use lines it draws new numbers against
    (each window's, and those of every month of the mart under ``store.EVERY_MONTH``): rows
    by table name."""
    values, alerts, cutoffs = [], [], []
    for level, value in scopes:
        with _as_scope(level, value):
            stock, seen = mart_channels.load_stock_summary(mart), False
            for span in spans:
                months = mart_channels.window_months(mart, span)
                metrics = mart_channels.load_channel_metrics(mart, months)
                if metrics.empty:
                    continue
                seen = True
                ranked, by_kind = channel_eval.judge_channels(metrics, stock)
                key = {"scope_level": level, "scope_value": value, "span": int(span)}
                values.append(ranked[list(store.CHANNEL_COLUMNS)].assign(
                    **key, position=range(len(ranked))))
                every = pd.concat(by_kind.values(), ignore_index=True)
                alerts.append(every[list(store.ALERT_COLUMNS)].assign(
                    **key, position=range(len(every))))
                lines = metrics.iloc[0]  # the window's lines, the same on every row
                cutoffs.append({**key, "mou": lines["low_mou_cut"],
                                "data_mb": lines["low_data_cut"],
                                "revenue": lines["low_revenue_cut"]})
            if seen:  # a channel in the scope
                every_month = mart_channels.load_low_use_cutoffs(
                    mart, available_months(mart))
                cutoffs.append({"scope_level": level, "scope_value": value,
                                "span": store.EVERY_MONTH, **every_month})
        progress(f"  channel values: {level} {value or ''}".rstrip())
    found = {store.pre_channel_value: pd.concat(values, ignore_index=True) if values else None,
             store.pre_channel_alert: pd.concat(alerts, ignore_index=True) if alerts else None,
             store.pre_channel_cutoff: pd.DataFrame(cutoffs) if cutoffs else None}
    frames = {}
    for table, frame in found.items():
        columns = [c.name for c in table.columns if c.name != "run_id"]
        frames[table.name] = pd.DataFrame(columns=columns) if frame is None else frame[columns]
    return frames


def effects_from_rows(rows: pd.DataFrame) -> dict[int, CampaignEffect | None]:
    """Stored effect rows (one scope unit) back into each campaign's ``CampaignEffect``, or
    None for a campaign stored with an error (as a click's ``ConcertoError``)."""
    out: dict[int, CampaignEffect | None] = {}
    for campaign_id, group in rows.groupby("campaign_id", sort=True):
        group = group.sort_values("position")
        first = group.iloc[0]
        if first["error"]:
            out[int(campaign_id)] = None
            continue

        def number(value: object) -> float:
            return float("nan") if value is None or pd.isna(value) else float(value)

        effects = tuple(Estimate(r.metric, number(r.estimate), number(r.se), number(r.low),
                                 number(r.high), int(r.n_treated), int(r.n_control))
                        for r in group.itertuples(index=False))
        out[int(campaign_id)] = CampaignEffect(
            effects, int(first["participants"]), int(first["months"]), number(first["cost"]),
            number(first["incremental_revenue"]), number(first["incremental_low"]),
            number(first["incremental_high"]), number(first["net_effect"]),
            None if pd.isna(first["roi"]) else float(first["roi"]), str(first["method"]))
    return out


def precompute(mart: sa.Engine, workflow: sa.Engine, *, if_stale: bool = False,
               kinds: Iterable[str] = store.KINDS, progress: Progress = print) -> dict[str, int]:
    """Compute the kinds not yet stored for the current mart (all of them unless
    ``if_stale``) and store them in one transaction; the run id per kind written."""
    version = load_mart_fingerprint(mart)
    wanted = [k for k in kinds if not (if_stale and
                                       store.stored_run(workflow, k, version).state == "current")]
    if not wanted:
        progress(f"precomputed results are up to date for mart {version}")
        return {}
    scopes = user_scopes(workflow)
    progress(f"precomputing {', '.join(wanted)} for mart {version} "
             f"({len(scopes)} scope unit(s))")
    results, seconds = {}, {}
    for kind in wanted:
        started = time.perf_counter()
        if kind == "campaign_effect":
            results[kind] = compute_campaign_results(mart, scopes, progress)
        elif kind == "rival_score":
            results[kind] = {"pre_rival_score": compute_rival_scores(mart, progress)}
        else:
            results[kind] = compute_channel_values(mart, scopes, progress=progress)
        seconds[kind] = time.perf_counter() - started
        progress(f"{kind}: {sum(len(f) for f in results[kind].values()):,} rows "
                 f"in {seconds[kind]:.1f}s")
    runs = store.save_precomputed(workflow, version, results, seconds=seconds,
                                  scopes=",".join(f"{l}:{v}" for l, v in scopes))
    progress(f"stored {len(runs)} kind(s) for mart {version}")
    return runs


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.precompute",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--if-stale", action="store_true",
                        help="compute only what is not stored for the current mart yet")
    args = parser.parse_args(argv)
    try:
        mart = create_mart_engine(read_only=True)
        workflow = create_workflow_engine()
        if demo_enabled(workflow):  # the demo users whose scopes are computed, as the app seeds them
            seed_demo(workflow)
        precompute(mart, workflow, if_stale=args.if_stale,
                   progress=lambda line: print(line, flush=True))
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

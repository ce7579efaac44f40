"""Benchmark: campaign-effect computation on the 1M-subscriber mart.

    python -m bench.campaigns [--runs 3]

Needs the mart built by ``python -m bench.sandbox``. Times, for the planted campaign (about
100,000 participants and as many hold-out controls at 1M subscribers) and for one campaign
without a hold-out (matched controls), each step the campaign page runs: the per-subscriber
panel (aggregated in SQL), the matching pool, the estimate, the monthly spend and the masked
participant list. Prints the medians and writes a section in bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable

from analytics.campaigns.effect import estimate_effect
from bench.results import mart_benchmark, record_section
from data_access.mart import campaigns
from jobs import campaigns as campaign_jobs
from data_access.mart import queries


def _time(runs: int, step: Callable[[], object]) -> tuple[list[float], object]:
    samples, result = [], None
    for i in range(runs + 1):  # the first run warms DuckDB's caches
        started = time.perf_counter()
        result = step()
        if i:
            samples.append(time.perf_counter() - started)
    return samples, result


def main() -> int:
    args, engine = mart_benchmark(__doc__.splitlines()[0], 3)
    truths = queries.load_planted_truths(engine)
    planted = truths[truths["kind"] == "campaign_uplift"].iloc[0]
    planted_id = int(json.loads(planted["where_json"])["campaign_id"])
    listing = campaigns.load_campaign_list(engine)
    matched_id = int(listing[~listing["has_control"] & (listing["status"] != "planned")]
                     ["campaign_id"].iloc[0])
    rows = ["| campaign | participants | controls | step | min s | median s | max s |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    notes = []

    def report(name: str, n_t: int, n_c: int, step: str, samples: list[float]) -> None:
        rows.append(f"| {name} | {n_t:,} | {n_c:,} | {step} | {min(samples):.2f} | "
                    f"**{statistics.median(samples):.2f}** | {max(samples):.2f} |")
        print(rows[-1], flush=True)

    samples, _ = _time(args.runs, lambda: campaigns.load_campaign_list(engine))
    report("all", int(listing["participants"].sum()), int(listing["controls"].sum()),
           "campaign list", samples)
    started = listing.loc[listing["status"] != "planned", "campaign_id"].astype(int).tolist()
    samples, _ = _time(1, lambda: [campaign_jobs.evaluate_campaign(engine, c) for c in started])
    report(f"all {len(started)} evaluations (the list's ROI column)",
           int(listing["participants"].sum()), int(listing["controls"].sum()), "one pass", samples)
    for campaign_id in (planted_id, matched_id):
        window = campaigns.load_campaign_window(engine, campaign_id)
        samples, panel = _time(args.runs, lambda w=window: campaigns.load_campaign_panel(engine, w))
        n_t, n_c = int((panel["arm"] == "treated").sum()), int((panel["arm"] == "control").sum())
        name = f"{campaign_id} {window.name.split(' ')[0]}…"
        report(name, n_t, n_c, "member panel (SQL)", samples)
        if campaign_id == planted_id:
            samples, _ = _time(args.runs,
                               lambda p=panel, w=window: estimate_effect(p, months=len(w.post)))
            report(name, n_t, n_c, "DiD estimate (pandas)", samples)
        else:
            samples, pool = _time(args.runs, lambda w=window: campaigns.load_matching_pool(engine, w))
            report(name, n_t, len(pool), "matching pool (SQL)", samples)
        samples, evaluation = _time(args.runs, lambda c=campaign_id: campaign_jobs.evaluate_campaign(engine, c))
        report(name, n_t, n_c, "**whole evaluation**", samples)
        samples, _ = _time(args.runs, lambda w=window: campaigns.load_campaign_spend(engine, w))
        report(name, n_t, n_c, "monthly spend (SQL)", samples)
        samples, _ = _time(args.runs, lambda c=campaign_id: campaigns.load_participants(engine, c))
        report(name, n_t, n_c, "participant list, 5,000 masked", samples)
        effect = evaluation.effect
        arpu, roi = effect.effect("arpu"), effect.roi
        notes.append(f"- campaign {campaign_id}: ARPU uplift {arpu.estimate:.2f} yuan "
                     f"(95% {arpu.low:.2f} to {arpu.high:.2f}), ROI "
                     f"{'–' if roi is None else f'{roi:.0%}'}; control: {effect.method.split(';')[0]}")
    notes.insert(0, f"- planted uplift {planted['size']:.2f} yuan per participant-month "
                    f"(campaign {planted_id})")
    n_rows = queries.load_table_counts(engine).set_index("table")["rows"]["fact_subscriber_month"]
    body = "\n".join([f"Measured {dt.date.today()} on {os.cpu_count()} cores, {n_rows:,} monthly "
                      f"rows; {args.runs} runs after a warm-up.", "", *rows, "", *notes])
    record_section("campaigns", "## Campaign effect (issue 7)", body,
                   "Run `python -m bench.campaigns` (after `make bench` built the mart).")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

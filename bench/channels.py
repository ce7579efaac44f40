"""Benchmark: the channel value evaluator and the three channel alerts over every channel.

    python -m bench.channels [--runs 3]

Reads the 1M-subscriber mart (read-only), times each step (median of ``--runs`` runs after a
warm-up), checks the planted SIM-farming and stock-shortage channels are found, reports the
false-alarm rates on the other channels and writes a section in bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable

from analytics import channels as ce
from bench.results import mart_benchmark, record_section
from data_access.mart import channels
from data_access.mart import queries


def _timed(step: Callable[[], object], runs: int) -> tuple[float, object]:
    result, samples = step(), []
    for _ in range(runs):
        started = time.perf_counter()
        result = step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def main() -> int:
    args, engine = mart_benchmark(__doc__.splitlines()[0], 3)
    months = channels.window_months(engine)
    truths = queries.load_planted_truths(engine).set_index("kind")
    farm = json.loads(truths.at["sim_farming", "where_json"])["channel_id"]
    drop = json.loads(truths.at["activation_drop", "where_json"])["channel_id"]

    t_metrics, metrics = _timed(lambda: channels.load_channel_metrics(engine, months), args.runs)
    t_eval, evaluated = _timed(lambda: ce.evaluate_channels(metrics), args.runs)
    t_stock, stock = _timed(lambda: channels.load_stock_summary(engine), args.runs)
    t_farm, farming = _timed(lambda: ce.detect_sim_farming(metrics), args.runs)
    t_cross, cross = _timed(lambda: ce.detect_cross_region(metrics), args.runs)
    t_short, short = _timed(lambda: ce.detect_stock_shortage(stock), args.runs)
    ids = metrics["channel_id"]
    rows = [
        "| step | median s | result |", "| --- | ---: | --- |",
        f"| per-channel metrics (SQL, {len(months)} months) | {t_metrics:.2f} | "
        f"{len(metrics):,} channels |",
        f"| evaluator (types, actions) | {t_eval:.3f} | " + ", ".join(
            f"{k} {v}" for k, v in evaluated["behaviour"].value_counts().items()) + " |",
        f"| stock summary (SQL, 14 + 56 days) | {t_stock:.2f} | {len(stock):,} channels |",
        f"| SIM-farming alert | {t_farm:.3f} | {len(farming)} fired; planted channel {farm} "
        f"{'found' if farm in set(farming['channel_id']) else 'MISSED'}; false-alarm rate on "
        f"the other {len(ids) - 1:,}: {ce.false_alarm_rate(farming, ids, {farm}):.3%} |",
        f"| cross-region alert | {t_cross:.3f} | {len(cross)} fired (none planted); "
        f"false-alarm rate {ce.false_alarm_rate(cross, ids, set()):.3%} |",
        f"| stock-shortage alert | {t_short:.3f} | {len(short)} fired; planted channel {drop} "
        f"{'found' if drop in set(short['channel_id']) else 'MISSED'}; false-alarm rate on "
        f"the other {len(stock) - 1:,}: "
        f"{ce.false_alarm_rate(short, stock['channel_id'], {drop}):.3%} |",
    ]
    print("\n".join(rows), flush=True)
    actions = ", ".join(f"{k} {v}" for k, v in evaluated["action"].value_counts().items())
    body = "\n".join([
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, window "
        f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}; median of {args.runs} runs after a warm-up.",
        "", *rows, "", f"Recommended actions: {actions}."])
    record_section("channels", "## Channel evaluator and alerts (issue 8)", body,
                   "Run `python -m bench.channels` (after `make bench` built the mart).")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

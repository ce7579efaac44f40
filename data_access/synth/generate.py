"""Build a synthetic mart with planted, recorded truths (the demo mart).

Usage: ``python -m data_access.synth.generate [--subscribers N] [--months M] [--seed S]
[--end-month YYYY-MM] [--variant a|b] [--url URL] [--if-absent]``

Variant ``a`` (the default) is the demo mart; variant ``b`` plants the same kinds of truths
with other formulas, cells and magnitudes (``docs/generator.md``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access.mart import schema
from data_access.mart.build import MartWriter, open_mart_writer
from data_access.synth.actions import ActionEffects, plant_actions
from data_access.db import ConcertoError, duckdb_path, mart_url
from data_access.synth.behaviour import Behaviour, simulate_behaviour
from data_access.synth.billing import Billing, RevenueDrop, Uplift, bill_month
from data_access.synth.calendar import NEVER, Calendar, month_label, parse_month
from data_access.synth.campaigns import (CampaignSpec, Enrolment, build_budget_lines,
                                         plan_campaigns)
from data_access.synth.daily import DailyFacts
from data_access.synth.group_lines import plant_group_lines
from data_access.synth.dims import (FRANCHISE, HIGH_END, SEGMENT_CODES, SOCIAL, YOUTH, Dimensions,
                                   build_dimensions)
from data_access.synth.leakage import plan_leakage, term_frame
from data_access.synth.market import build_competitor_month, build_events
from data_access.synth.network import Network, network_days, plan_network
from data_access.synth.network import truth_rows as network_truths
from data_access.synth.population import ArrivalTruths, Population, build_population
from data_access.synth.plans import plan_history
from data_access.synth.truths import add_truths, planted_truths
from data_access.store.scope import as_system
from data_access.synth.variants import VARIANT_A, VARIANTS, Variant, get_variant

Progress = Callable[[float, str], None]
MIN_SUBSCRIBERS, MAX_SUBSCRIBERS = 100, 5_000_000
MIN_MONTHS, MAX_MONTHS = 13, 120
#: Independent random streams, one per part of the simulation (numbers are part of the seed).
_STREAMS = {"dims": 1, "population": 2, "events": 3, "behaviour": 4, "campaigns": 5,
            "billing": 6, "daily": 7, "market": 8, "budget": 9, "cross": 10, "leakage": 11,
            "network": 12, "actions": 13,
            "plans": 14, "group_lines": 15}


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[part]])


def check_arguments(subscribers: int, months: int, seed: int, end_month: str,
                    variant: str = "a") -> Calendar:
    """The window to generate, or a :class:`ConcertoError` naming the bad argument."""
    if str(variant).lower() not in VARIANTS:
        raise ConcertoError(f"variant must be one of {', '.join(VARIANTS)} (got {variant!r})")
    if not MIN_SUBSCRIBERS <= subscribers <= MAX_SUBSCRIBERS:
        raise ConcertoError(f"subscribers must be between {MIN_SUBSCRIBERS:,} and "
                            f"{MAX_SUBSCRIBERS:,} (got {subscribers:,})")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise ConcertoError(f"months must be between {MIN_MONTHS} and {MAX_MONTHS} (got {months}): "
                            "at least a year of history is needed for year-on-year comparisons")
    if seed < 0:
        raise ConcertoError(f"seed must be zero or a positive whole number (got {seed})")
    parse_month(end_month)
    return Calendar.ending(end_month, months)


def generate_mart(url: str | None = None, *, subscribers: int = 30_000, months: int = 24,
                  seed: int = 7, end_month: str = "2026-10", variant: str = "a",
                  progress: Progress | None = None) -> dict[str, int]:
    """Build a whole mart at ``url`` (default :func:`data_access.db.mart_url`).

    Subscribers are simulated month by month over numpy arrays; each month's fact rows are
    written as they are made. The same arguments always give the same tables.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL of the mart; an embedded DuckDB file is replaced atomically.
    subscribers : int
        Size of the base at the start of the window (100 to 5,000,000).
    months : int
        Length of the window (13 to 120), ending with ``end_month``.
    seed : int
        Seed of every random draw.
    end_month : str
        The latest month, 'YYYY-MM'.
    variant : {"a", "b"}
        Which planted truths: "a" the demo mart, "b" the same kinds planted differently.
    progress : callable, optional
        Called as ``progress(fraction, message)`` while building.

    Returns
    -------
    dict
        Rows written per table (summaries excluded).

    Examples
    --------
    >>> rows = generate_mart("duckdb:////tmp/tiny.duckdb", subscribers=500, months=13)  # doctest: +SKIP
    """
    cal = check_arguments(subscribers, months, seed, end_month, variant)
    var = get_variant(variant)

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(round(fraction, 4), message)

    report(0.0, "dimensions and subscribers")
    dims = build_dimensions(_rng(seed, "dims"), subscribers, cal, var)
    pop, arrivals = build_population(_rng(seed, "population"), dims, cal, subscribers, var,
                                     _rng(seed, "cross"))
    events = build_events(_rng(seed, "events"), cal, dims, var)
    actions = plant_actions(_rng(seed, "actions"), cal, dims, pop, arrivals, var)
    specs = plan_campaigns(cal, subscribers, var)
    net_rng = _rng(seed, "network")
    network = plan_network(net_rng, cal, dims, var)
    meta = {"source": "generator", "seed": str(seed), "subscribers": str(subscribers),
            "months": str(months), "end_month": month_label(cal.last)}
    if var.name != "a":
        meta["variant"] = var.name
    with open_mart_writer(url, meta) as writer:
        _write_dimensions(writer, dims)
        # Pass one decides who churns when (and who joins which campaign); referenced rows
        # are then written before the facts that point at them (PostgreSQL checks keys).
        enrolment = Enrolment(_rng(seed, "campaigns"), specs, dims, pop)

        def sink(t: int, billed: np.ndarray, prob: np.ndarray) -> None:
            writer.write(schema.truth_churn_prob, pd.DataFrame({
                "month": np.full(billed.size, _month_date(t)), "subscriber_id": billed + 1,
                "prob": prob}))
            enrolment.enrol(t, billed)

        behaviour = simulate_behaviour(
            _rng(seed, "behaviour"), cal, dims, pop, events.pressure, sink,
            lambda k: report(0.03 + 0.22 * (k + 1) / len(cal),
                             f"behaviour month {month_label(cal.first + k)}"), var,
            network.extra_logit)
        # Plan history is drawn back from the current plan, once churn is known (it gives the
        # launch plan's holders who left before the launch another plan: before dim_subscriber).
        plans = plan_history(_rng(seed, "plans"), cal, dims, pop, var)
        writer.write(schema.dim_subscriber, _subscriber_frame(dims, pop))
        writer.write(schema.fact_plan_change, plans.frame())
        members = enrolment.member_frame()
        writer.write(schema.campaign, enrolment.campaign_frame())
        writer.write(schema.campaign_member, members)
        # Pass two bills every month and writes it at once.
        billing = _plant_billing(cal, dims, pop, specs, members, var)
        # leaks stay off the revenue drops' cells and both arms of the campaign that works
        in_effect_campaign = np.zeros(pop.n, dtype=bool)
        effect_ids = [s.campaign_id for s in specs if s.effect]
        in_effect_campaign[members.loc[members["campaign_id"].isin(effect_ids),
                                       "subscriber_id"].to_numpy() - 1] = True
        planted = np.logical_or.reduce([d.mask for d in billing.drops] + [in_effect_campaign])
        billing.leaks = plan_leakage(_rng(seed, "leakage"), cal, pop, var, exclude=planted)
        actions.spare_plants(billing, members, [s.campaign_id for s in specs if s.effect])
        writer.write(schema.discount_term, term_frame(cal, pop))
        us = _bill_window(cal, dims, pop, behaviour, billing, arrivals, writer, seed, report,
                          var.drop_stock, (net_rng, network), actions)
        mean_prob = behaviour.mean_prob
        del behaviour  # the largest arrays; the summaries need the memory more
        report(0.90, "competitors, budgets and planted truths")
        market, jump = build_competitor_month(_rng(seed, "market"), cal, dims, events, us, var)
        writer.write(schema.competitor_event, events.frame)
        writer.write(schema.fact_competitor_month, market)
        writer.write(schema.budget_line, build_budget_lines(_rng(seed, "budget"), cal, subscribers))
        truths = planted_truths(cal, dims, pop, arrivals, billing, mean_prob, specs, members, jump,
                                events.jump_event_id, var)
        lines = plant_group_lines(_rng(seed, "group_lines"), cal, dims, var)  # 集团专线
        writer.write(schema.group_line, lines.lines)
        writer.write(schema.fact_group_line_month, lines.months)
        writer.write(schema.planted_truth, add_truths(
            truths, billing.leaks.truth_rows(cal) + network_truths(cal, dims, network)
            + actions.truth_rows() + plans.truth_rows(cal, dims) + lines.truths))
        report(0.93, "building summaries")
    report(1.0, "done")
    return dict(writer.rows)


def _month_date(t: int) -> np.datetime64:
    return np.datetime64(f"{month_label(t)}-01", "D")


def _months_to_dates(months: np.ndarray) -> np.ndarray:
    return (months.astype(np.int64) - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")


def _write_dimensions(writer: MartWriter, dims: Dimensions) -> None:
    writer.write(schema.dim_region, dims.regions[[c.name for c in schema.dim_region.columns]])
    writer.write(schema.dim_plan, dims.plans[[c.name for c in schema.dim_plan.columns]])
    writer.write(schema.dim_channel, dims.channels[[c.name for c in schema.dim_channel.columns]])
    writer.write(schema.dim_group, dims.groups[[c.name for c in schema.dim_group.columns]])


def _subscriber_frame(dims: Dimensions, pop: Population) -> pd.DataFrame:
    churn = _months_to_dates(np.where(pop.churn == NEVER, 0, pop.churn))
    return pd.DataFrame({
        "subscriber_id": np.arange(1, pop.n + 1, dtype=np.int64),
        "msisdn": pop.msisdn,
        "join_month": _months_to_dates(pop.join),
        "churn_month": np.where(pop.churn == NEVER, np.datetime64("NaT"), churn),
        "plan_id": pop.plan.astype(np.int64),
        "region_id": dims.regions["region_id"].to_numpy()[pop.region],
        "channel_id": pop.channel.astype(np.int64) + 1,
        "group_id": pd.Series(pop.group, dtype="Int64").where(pop.group > 0),
        "segment": np.array(SEGMENT_CODES)[pop.segment],
        "age": pop.age.astype(np.int64),
    })


def _plant_billing(cal: Calendar, dims: Dimensions, pop: Population, specs: list[CampaignSpec],
                   members: pd.DataFrame, variant: Variant = VARIANT_A) -> Billing:
    """The two revenue drops of the latest month and the one campaign that works."""
    if variant.name != "a":
        return _plant_billing_b(cal, dims, pop, specs, members, variant)
    kind = dims.channels["type_code"].to_numpy()[pop.channel]
    gongbei = (pop.region == dims.region_pos("Gongbei")) & (kind == SOCIAL)
    jinwan = (dims.region_branch[pop.region] == dims.branch_no("Jinwan")) & (pop.segment == YOUTH)
    spec = next(s for s in specs if s.effect)
    treated = np.zeros(pop.n, dtype=bool)
    arm = members[(members["campaign_id"] == spec.campaign_id) & (members["arm"] == "treated")]
    treated[arm["subscriber_id"].to_numpy() - 1] = True
    drops = [RevenueDrop({"micro_region": "Gongbei", "channel_type": "social_outlet"}, gongbei,
                         0.70, cal.last),
             RevenueDrop({"branch": "Jinwan", "segment": "youth"}, jinwan, 0.75, cal.last)]
    return Billing(drops=drops,
                   uplift=Uplift(treated, tuple(range(spec.start, spec.end + 1)), spec.effect),
                   value_from=cal.last - 2, revenue3=np.zeros(pop.n), service3=np.zeros(pop.n),
                   serve=(variant.serve_fixed, variant.serve_per_min, variant.serve_per_gb))


def _treated(pop: Population, specs: list[CampaignSpec], members: pd.DataFrame
             ) -> tuple[CampaignSpec, np.ndarray]:
    spec = next(s for s in specs if s.effect)
    treated = np.zeros(pop.n, dtype=bool)
    arm = members[(members["campaign_id"] == spec.campaign_id) & (members["arm"] == "treated")]
    treated[arm["subscriber_id"].to_numpy() - 1] = True
    return spec, treated


_COMPONENTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas")


def _plant_billing_b(cal: Calendar, dims: Dimensions, pop: Population,
                     specs: list[CampaignSpec], members: pd.DataFrame, variant: Variant) -> Billing:
    """Variant b: a gradual three-month fall for the franchise customers of the Xiangzhou
    micro-region (Gongbei and Jida aside) with the most of them (to 94%, 88%, then 72% of
    their revenue; the latest month 18% below the month before), a one-month step to 84% for
    Doumen's high-end customers, and the youth voice pack's uplift on voice revenue."""
    kind = dims.channels["type_code"].to_numpy()[pop.channel]
    names = dims.regions["micro_region"].to_numpy()
    xiangzhou = (dims.region_branch == dims.branch_no("Xiangzhou")) & ~np.isin(names,
                                                                               ["Gongbei", "Jida"])
    counts = np.bincount(pop.region[(kind == FRANCHISE) & ~pop.farmed],
                         minlength=len(names)) * xiangzhou
    place = int(np.argmax(counts))
    first = (pop.region == place) & (kind == FRANCHISE)
    doumen = (dims.region_branch[pop.region] == dims.branch_no("Doumen")) & (pop.segment == HIGH_END)
    spec, treated = _treated(pop, specs, members)
    drops = [RevenueDrop({"micro_region": str(names[place]), "channel_type": "franchise"}, first,
                         0.72, cal.last, ramp=((cal.last - 2, 0.94), (cal.last - 1, 0.88))),
             RevenueDrop({"branch": "Doumen", "segment": "high_end"}, doumen, 0.84, cal.last)]
    uplift = Uplift(treated, tuple(range(spec.start, spec.end + 1)), spec.effect,
                    component=_COMPONENTS.index(variant.uplift_component))
    return Billing(drops=drops, uplift=uplift, value_from=cal.last - 2,
                   revenue3=np.zeros(pop.n), service3=np.zeros(pop.n), farm_usage="b",
                   serve=(variant.serve_fixed, variant.serve_per_min, variant.serve_per_gb))


def _bill_window(cal: Calendar, dims: Dimensions, pop: Population, behaviour: Behaviour,
                 billing: Billing, arrivals: ArrivalTruths, writer: MartWriter, seed: int,
                 report: Progress, drop_stock: tuple[int, int] = (0, 2),
                 network: tuple[np.random.Generator, Network] | None = None,
                 actions: ActionEffects | None = None) -> dict[str, np.ndarray]:
    """Write every month's fact and daily rows; our own figures per month and region."""
    rng = _rng(seed, "billing")
    daily = DailyFacts(_rng(seed, "daily"), cal, dims, pop, arrivals, drop_stock, actions)
    shape = (len(cal), len(dims.regions))
    us = {key: np.zeros(shape) for key in ("billed", "new", "churned", "revenue")}
    for k, t in enumerate(cal.months):
        frame, totals = bill_month(rng, cal, dims, pop, behaviour, billing, t)
        if actions is not None:  # the planted actions' revenue effects (效果跟踪)
            actions.apply(t, frame, totals, billing)
        writer.write(schema.fact_subscriber_month, frame)
        del frame
        region_day, channel_day = daily.month(t, totals)
        writer.write(schema.fact_region_day, region_day)
        writer.write(schema.fact_channel_day, channel_day)
        if network is not None:
            writer.write(schema.fact_network_day, network_days(network[0], cal, dims, network[1],
                                                               t, totals.billed))
        for key in us:
            us[key][k] = getattr(totals, key)
        report(0.25 + 0.65 * (k + 1) / len(cal), f"usage month {month_label(t)}")
    return {key: (value if key == "revenue" else value.astype(np.int64)) for key, value in us.items()}


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    """Command line: build the mart; exit code 2 with a message on bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m data_access.synth.generate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=30_000, help="base size (default 30,000)")
    parser.add_argument("--months", type=int, default=24, help="months of history (default 24)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--end-month", default="2026-10", help="latest month YYYY-MM (default 2026-10)")
    parser.add_argument("--variant", default="a", choices=VARIANTS,
                        help="a: the demo mart (default); b: the same kinds of truths planted "
                             "with other formulas")
    parser.add_argument("--url", default=None,
                        help="mart URL (default: CONCERTO_MART_URL, secrets, or the embedded file)")
    parser.add_argument("--if-absent", action="store_true",
                        help="do nothing when the embedded DuckDB mart file already exists")
    args = parser.parse_args(argv)
    try:
        check_arguments(args.subscribers, args.months, args.seed, args.end_month, args.variant)
        url = args.url or mart_url()
        path = duckdb_path(url)
        if args.if_absent and path is not None and path.exists():
            print(f"The mart already exists at {path}: nothing to do (--if-absent).")
            return 0
        started = time.perf_counter()
        rows = generate_mart(url, subscribers=args.subscribers, months=args.months, seed=args.seed,
                             end_month=args.end_month, variant=args.variant,
                             progress=_print_progress)
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = path or sa.engine.make_url(url).render_as_string(hide_password=True)
    print(f"Built the mart at {where} in {time.perf_counter() - started:.1f}s: "
          f"{rows.get('fact_subscriber_month', 0):,} subscriber-months, "
          f"{rows.get('dim_subscriber', 0):,} subscribers.")
    return 0


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{round(100 * fraction):3d}%] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())

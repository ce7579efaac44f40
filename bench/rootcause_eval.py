"""Root-cause localisation on the labelled development cases: ours, a greedy baseline, the previous method.

    python -m bench.rootcause_eval [--devdata PATH] [--sets S_dev,L_dev,B4_dev,H6_dev]
                                   [--runs 3] [--suite 200] [--no-ratio] [--no-record]

``--devdata`` defaults to ``../shared/devdata`` relative to the project root; when it is
absent the script says so and exits 0. A set is ``rca/<set>/all/``: one ``<id>.csv.gz``
per case, labels in ``injection_info.csv``. The script runs

* **ours**: ``analytics.rootcause.localiser.localize`` (``localize_ratio`` on ratio cases), defaults;
* **greedy**: ``bench.rootcause_greedy`` (Adtributor-like, extended greedily);
* **previous**: ``bench.rootcause_previous``, the localiser before the rewrite;

on every development set, on ratio cases built from them (below), and on ``--suite``
cases of the project's generated suite (``analytics.rootcause.cases.suite``, seed 1: small
additive cases with 1–3 causes of 1–3 attributes), and scores them: a reported cause
counts only when it equals a labelled element exactly (same attributes, same values);
precision, recall and F1 pool TP/FP/FN over the cases of a set. Timings are per case, wall (``time.perf_counter``) and CPU (``time.process_time``);
the table gives the median and the max over the cases, and with ``--runs N`` each method
is timed N times (the accuracy is the same every run; the run-to-run spread of the median
is reported as min–max).

**Ratio cases** (``R-<set>``), built from the additive cases since no labelled ratio set is
available: case *i* of a set supplies the planted rate changes, case *i+1* (cyclically,
same cube) the base.

* denominator expected = case *i+1*'s ``predict``, denominator actual = its ``real`` (the
  base itself moves where case *i+1* has anomalies: a change of volume and mix, which is
  **not** a rate cause);
* expected rate per leaf = 50 × lognormal(0, 0.3), drawn with the case id as seed, and 0
  where case *i*'s leaf is empty (zero on both sides: a base with no numerator);
* actual rate = expected rate × ``(real_i + p) / (predict_i + p)``, p = 0.001 × the median
  positive ``predict_i`` (a leaf whose forecast was pushed to 0 keeps a large, finite
  change), so the rate changes exactly where case *i* planted its anomalies, with case
  *i*'s noise;
* numerator expected = expected rate × denominator expected, numerator actual = actual
  rate × denominator actual; negative values are set to 0 first;
* the labels are case *i*'s.

Every method gets the four columns: ours and the previous method through their ratio mode,
the greedy baseline on the same reduction (actual numerator against actual denominator ×
expected rate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DEVDATA = ROOT.parent / "shared" / "devdata"
SETS = ("S_dev", "L_dev", "B4_dev", "H6_dev")
HEADING = "## Root-cause localisation on the labelled development cases"


@dataclass
class Case:
    case_id: str
    frame: pd.DataFrame
    dimensions: list[str]
    truth: set[str]
    ratio: bool = False


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def element(cause: dict[str, str]) -> str:
    """A cause in the labels' form: ``attr=value`` pairs sorted and joined by ``&``."""
    return "&".join(f"{k}={v}" for k, v in sorted(cause.items()))


def load_set(folder: Path) -> list[Case]:
    info = pd.read_csv(folder / "injection_info.csv", dtype={"timestamp": str})
    cases = []
    for _, row in info.iterrows():
        frame = pd.read_csv(folder / f"{row['timestamp']}.csv.gz")
        dims = [c for c in frame.columns if c not in ("real", "predict")]
        for d in dims:
            frame[d] = frame[d].astype(str)
        cases.append(Case(str(row["timestamp"]), frame, dims, set(str(row["set"]).split(";"))))
    return cases


def generated_cases(n_cases: int, seed: int = 1) -> list[Case]:
    """The project's generated suite (``analytics.rootcause.cases.suite``): small additive
    cases, 4–5 dimensions, 1–3 causes of 1–3 attributes, noise 0–5%, changes of 10–60%."""
    from analytics.rootcause.cases import suite

    out = []
    for k, case in enumerate(suite(seed=seed, n_cases=n_cases)):
        frame = case.frame.rename(columns={"actual": "real", "expected": "predict"})
        out.append(Case(f"suite-{k}", frame, case.dimensions, {element(c) for c in case.causes}))
    return out


def ratio_cases(cases: list[Case]) -> list[Case]:
    """The ratio cases built from a set's additive cases (see the module docstring)."""
    out = []
    for i, case in enumerate(cases):
        base = cases[(i + 1) % len(cases)]
        if list(base.frame[base.dimensions].itertuples(index=False)) != \
                list(case.frame[case.dimensions].itertuples(index=False)):
            raise ValueError(f"cases {case.case_id} and {base.case_id} do not share their leaves")
        rng = np.random.default_rng(int(case.case_id))
        real = np.clip(case.frame["real"].to_numpy(float), 0, None)
        predict = np.clip(case.frame["predict"].to_numpy(float), 0, None)
        pad = 1e-3 * float(np.median(predict[predict > 0]))
        change = (real + pad) / (predict + pad)
        # A leaf empty in case i (zero on both sides) has no numerator: rate 0 throughout.
        rate_e = 50 * rng.lognormal(0.0, 0.3, len(real)) * ((real > 0) | (predict > 0))
        den_e = np.clip(base.frame["predict"].to_numpy(float), 0, None)
        den_a = np.clip(base.frame["real"].to_numpy(float), 0, None)
        frame = case.frame[case.dimensions].assign(
            num_a=rate_e * change * den_a, num_e=rate_e * den_e, den_a=den_a, den_e=den_e)
        out.append(Case(case.case_id, frame, case.dimensions, case.truth, ratio=True))
    return out


def methods() -> dict[str, tuple[Callable, Callable]]:
    """(additive, ratio) entry points of each method."""
    import analytics.rootcause.localiser as ours
    import bench.rootcause_greedy as greedy
    import bench.rootcause_previous as previous

    return {
        "ours": (ours.localize, ours.localize_ratio),
        "greedy": (greedy.localize_greedy, greedy.localize_greedy_ratio),
        "previous": (previous.localize, previous.localize_ratio),
    }


def run_case(case: Case, additive: Callable, ratio: Callable) -> tuple[set[str], float, float, bool]:
    wall, cpu = time.perf_counter(), time.process_time()
    failed = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if case.ratio:
                answer = ratio(case.frame, case.dimensions, "num_a", "num_e", "den_a", "den_e")
            else:
                answer = additive(case.frame, case.dimensions, "real", "predict")
    except ValueError:  # the previous method rejects some cases (negative values)
        answer, failed = [], True
    return ({element(c) for c in answer}, time.perf_counter() - wall,
            time.process_time() - cpu, failed)


def evaluate(named_sets: dict[str, list[Case]], runs: int) -> dict[str, dict[str, list[Tally]]]:
    """Per set and method, one tally per run."""
    table: dict[str, dict[str, list[Tally]]] = {}
    entry = methods()
    for name, cases in named_sets.items():
        table[name] = {}
        for method, (additive, ratio) in entry.items():
            tallies = []
            for _ in range(runs):
                tally = Tally()
                for case in cases:
                    got, wall, cpu, failed = run_case(case, additive, ratio)
                    tally.tp += len(got & case.truth)
                    tally.fp += len(got - case.truth)
                    tally.fn += len(case.truth - got)
                    tally.wall.append(wall)
                    tally.cpu.append(cpu)
                    tally.errors += failed
                tallies.append(tally)
            table[name][method] = tallies
            t = tallies[0]
            print(f"{name:10s} {method:9s} P {t.precision:.3f} R {t.recall:.3f} F1 {t.f1:.3f}  "
                  f"median {statistics.median(t.wall):.3f} s  max {max(t.wall):.3f} s"
                  + (f"  ({t.errors} cases rejected)" if t.errors else ""), flush=True)
    return table


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def markdown(table: dict[str, dict[str, list[Tally]]], counts: dict[str, tuple[int, int]],
             runs: int, load_before: str, load_after: str) -> str:
    lines = [
        f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, `python -m bench.rootcause_eval` (defaults of every "
        f"method; {runs} timing run(s)). Machine load (`uptime`, 1/5/15 min): {load_before} "
        f"before, {load_after} after — the machine is shared, so timings are upper bounds.",
        "",
        "F1 counts a cause only when it equals a labelled element exactly (pooled TP/FP/FN "
        "over the set's cases). Seconds are per case; median (and max) over the cases, wall "
        "clock and CPU; with several runs, the median of the runs' medians and their range.",
        "",
        "| set | cases / causes | ours P / R | **ours F1** | greedy F1 | previous F1 | ours s median (runs) | "
        "ours s max | ours CPU s median / max | greedy s median / max | previous s median / max |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- | --- |",
    ]
    for name, by_method in table.items():
        ours, greedy, previous = (by_method[m] for m in ("ours", "greedy", "previous"))
        o = ours[0]
        rejected = f" ({previous[0].errors} rejected)" if previous[0].errors else ""
        lines.append(
            f"| {name} | {counts[name][0]} / {counts[name][1]} | {o.precision:.3f} / {o.recall:.3f} "
            f"| **{o.f1:.3f}** | {greedy[0].f1:.3f} | {previous[0].f1:.3f}{rejected} "
            f"| {_spread([statistics.median(t.wall) for t in ours])} "
            f"| {max(max(t.wall) for t in ours):.3f} "
            f"| {statistics.median(o.cpu):.3f} / {max(o.cpu):.3f} "
            f"| {statistics.median(greedy[0].wall):.3f} / {max(greedy[0].wall):.3f} "
            f"| {statistics.median(previous[0].wall):.3f} / {max(previous[0].wall):.3f} |")
    return "\n".join(lines)


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", default=str(DEFAULT_DEVDATA))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-ratio", action="store_true", help="skip the ratio cases")
    parser.add_argument("--suite", type=int, default=200,
                        help="also this many cases of the generated suite (0: none)")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args(argv)
    rca = Path(args.devdata) / "rca"
    if not rca.is_dir():
        print(f"No development data at {rca}: nothing to evaluate (see the devdata README).")
        return 0
    named: dict[str, list[Case]] = {}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        folder = rca / name / "all"
        if not folder.is_dir():
            print(f"no set {name} under {rca}; skipped")
            continue
        named[name] = load_set(folder)
    if not args.no_ratio:
        for name in list(named):
            named[f"R-{name}"] = ratio_cases(named[name])
    if args.suite > 0:
        named["generated suite"] = generated_cases(args.suite)
    counts = {n: (len(c), sum(len(x.truth) for x in c)) for n, c in named.items()}
    load_before = _load()
    table = evaluate(named, max(1, args.runs))
    body = markdown(table, counts, max(1, args.runs), load_before, _load())
    print(body)
    if not args.no_record:
        from bench.results import record_section

        record_section("rootcause_eval", HEADING, body,
                       "Run `python -m bench.rootcause_eval` (development data in "
                       "`../shared/devdata`; ratio cases built from them as described in "
                       "the script and in docs/rootcause.md).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

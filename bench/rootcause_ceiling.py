"""How many labelled root causes can any method tell from noise? A ceiling for F1.

    python -m bench.rootcause_ceiling [--devdata PATH] [--sets S_dev,L_dev,B4_dev,H6_dev]
                                      [--no-record]

For each labelled cause of each development case, the script looks at the cause's own
cuboid (the leaves grouped by the cause's attributes) and asks whether the cause stands out
there at all. Every element of the cuboid gets three statistics of its change, each the
usual basis of a localiser's ranking:

* the absolute change ``real − predict``;
* the relative change ``(real − predict) / predict``;
* a noise-scaled change ``(real − predict) / sqrt(predict)`` (counts-like noise).

*Clean* elements are those that share no leaf with any labelled cause of the case (their
change is noise alone). A cause is **separable** when, on at least one statistic, no clean
element of its cuboid changed as much as it did (in absolute value). A cause that is not
separable is out-ranked by clean elements on every statistic: a method that reports it
from these figures reports at least as many pure-noise elements with it, so neither
precision nor recall can both be kept. The **F1 ceiling** assumes a method that reports
every separable cause and nothing else: recall = separable / labelled, precision = 1.

The labels are read only to score; nothing here feeds back into the localiser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench.rootcause_eval import DEFAULT_DEVDATA, SETS, Case, load_set

HEADING = "## Root-cause localisation: how many labelled causes stand out from noise"


def _parse(cause: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in cause.split("&"))


def _overlaps(frame: pd.DataFrame, cause: dict[str, str]) -> np.ndarray:
    """Which leaves lie inside ``cause``."""
    inside = np.ones(len(frame), dtype=bool)
    for attr, value in cause.items():
        inside &= frame[attr].to_numpy() == value
    return inside


def outranked(case: Case, cause: str) -> int:
    """How many clean elements of the cause's cuboid changed at least as much as the cause,
    on the statistic where the cause does best (0: separable)."""
    frame = case.frame
    labelled = [_parse(c) for c in case.truth]
    tainted = np.zeros(len(frame), dtype=bool)
    for other in labelled:
        tainted |= _overlaps(frame, other)
    target = _parse(cause)
    attrs = sorted(target)
    work = frame.assign(_tainted=tainted)
    cube = work.groupby(attrs, sort=False).agg(real=("real", "sum"), predict=("predict", "sum"),
                                                tainted=("_tainted", "any"))
    key = tuple(target[a] for a in attrs) if len(attrs) > 1 else target[attrs[0]]
    if key not in cube.index:
        return len(cube)
    change = cube["real"] - cube["predict"]
    base = cube["predict"].clip(lower=1e-9)
    stats = (change.abs(), (change / base).abs(), (change / np.sqrt(base)).abs())
    clean = ~cube["tainted"].to_numpy()
    return int(min((s.to_numpy()[clean] >= s.loc[key]).sum() for s in stats))


def ceiling(cases: list[Case]) -> dict[str, float]:
    counts = [outranked(case, cause) for case in cases for cause in sorted(case.truth)]
    labelled = len(counts)
    separable = sum(1 for n in counts if n == 0)
    recall = separable / labelled if labelled else 1.0
    return {"cases": len(cases), "labelled": labelled, "separable": separable,
            "buried_10": sum(1 for n in counts if n >= 10),
            "median_outranked": float(np.median([n for n in counts if n > 0]))
            if separable < labelled else 0.0,
            "recall": recall, "f1": 2 * recall / (1 + recall) if recall else 0.0}


def markdown(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| set | cases / labelled causes | separable | out-ranked by ≥ 10 clean elements "
             "| median out-ranking of the rest | recall ceiling | **F1 ceiling** |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['cases']} / {r['labelled']} | {r['separable']} "
                     f"| {r['buried_10']} | {r['median_outranked']:.0f} | {r['recall']:.3f} "
                     f"| **{r['f1']:.3f}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", default=str(DEFAULT_DEVDATA))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args(argv)
    rca = Path(args.devdata) / "rca"
    if not rca.is_dir():
        print(f"No development data at {rca}: nothing to measure (see the devdata README).")
        return 0
    rows = {}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        folder = rca / name / "all"
        if folder.is_dir():
            rows[name] = ceiling(load_set(folder))
        else:
            print(f"no set {name} under {rca}; skipped")
    body = markdown(rows)
    print(body)
    if not args.no_record:
        from bench.results import record_section

        record_section("rootcause_ceiling", HEADING, body,
                       "Run `python -m bench.rootcause_ceiling`. A labelled cause is "
                       "*separable* when some clean element of its cuboid (one sharing no "
                       "leaf with any labelled cause) does not change as much as it does on "
                       "at least one of three statistics (absolute, relative, noise-scaled "
                       "change); the F1 ceiling is that of a method reporting every "
                       "separable cause and nothing else (see the script's docstring).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

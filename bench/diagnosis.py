"""Benchmark: each starter diagnosis template run in full on the 1M-subscriber mart.

    python -m bench.diagnosis [--runs 5]

Needs the mart built by ``python -m bench.sandbox``. Prints each template's median time over
``--runs`` runs (after a warm-up) and writes a section in bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time

import pandas as pd

from analytics.diagnosis.runs import run_template
from analytics.diagnosis.templates import parse_template
from bench.results import mart_benchmark, record_section
from data_access.mart import queries
from data_access.db import PROJECT_ROOT
from data_access.store.diagnosis import MartDiagnosisData



def main() -> int:
    args, engine = mart_benchmark(__doc__.splitlines()[0], 5)
    month = pd.Timestamp(queries.available_months(engine)[-1])
    rows = ["| template | nodes | min s | median s | max s | breached | findings at the root |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for path in sorted((PROJECT_ROOT / "assets" / "templates").glob("*.json")):
        template = parse_template(path.read_text(encoding="utf-8"))
        samples, result = [], None
        for i in range(args.runs + 1):
            data = MartDiagnosisData(engine)  # a fresh adapter: nothing cached between runs
            started = time.perf_counter()
            result = run_template(template, data, month)
            if i:
                samples.append(time.perf_counter() - started)
        found = "; ".join(", ".join(f"{k}={v}" for k, v in f["attributes"].items())
                          for f in result.nodes[0].findings) or "none"
        rows.append(f"| {template.name} | {len(template.nodes())} | {min(samples):.2f} | "
                    f"**{statistics.median(samples):.2f}** | {max(samples):.2f} | "
                    f"{len(result.breaches)} | {found} |")
        print(rows[-1], flush=True)
    n_rows = queries.load_table_counts(engine).set_index("table")["rows"]["fact_subscriber_month"]
    body = "\n".join([f"Measured {dt.date.today()} on {os.cpu_count()} cores, "
                      f"{n_rows:,} monthly rows, period {month:%Y-%m} against each template's "
                      f"default comparison; {args.runs} runs after a warm-up.", "", *rows])
    record_section("diagnosis", "## Diagnosis template runs (issue 4)", body,
                   "Run `python -m bench.diagnosis` (after `make bench` built the mart).")
    return 0


if __name__ == "__main__":
    from data_access.store.scope import as_system  # a command-line tool: the system acts

    raise SystemExit(as_system(main)())

"""Checks across the enterprise-group line tables of an extract: a line's months lie inside its
life, and its dates are in order (the loader runs them after the key and reference checks)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from data_access.mart import schema
from data_access.mart.checks.validation import MAX_PER_FILE, Problem


def _frame(data: pa.Table, names: list[str]) -> pd.DataFrame:
    return data.select(names).to_pandas(date_as_object=False)


def _limited(problems: list[Problem], file: str, count: int) -> list[Problem]:
    if count > MAX_PER_FILE:
        problems = problems[:MAX_PER_FILE] + [Problem(file, f"... and {count - MAX_PER_FILE} "
                                                      "more problems")]
    return problems


def line_problems(extract: Mapping[str, pa.Table], files: Mapping[str, str]) -> list[Problem]:
    """Problems with ``group_line`` dates and with ``fact_group_line_month`` rows outside their
    line's life (before ``start_month`` or from ``cancel_month`` on).

    ``files`` names each table's file (for the messages); tables absent from ``extract``
    (missing or unreadable, reported on their own) are skipped.
    """
    lines = extract.get(schema.group_line.name)
    if lines is None or lines.num_rows == 0:
        return []
    problems: list[Problem] = []
    file = files.get(schema.group_line.name, "group_line")
    first = 2 if file.lower().endswith(".csv") else 1
    frame = _frame(lines, ["line_id", "start_month", "contract_end", "cancel_month"])
    bad_end = (frame["contract_end"] < frame["start_month"]).to_numpy()
    bad_cancel = (frame["cancel_month"].notna()
                  & (frame["cancel_month"] <= frame["start_month"])).to_numpy()
    found = []
    for i in np.flatnonzero(bad_end | bad_cancel):
        column = "contract_end" if bad_end[i] else "cancel_month"
        found.append(Problem(file, f"line {frame.at[i, 'line_id']}: {column} "
                             f"{frame.at[i, column]:%Y-%m-%d} is not after start_month "
                             f"{frame.at[i, 'start_month']:%Y-%m-%d}", first + int(i), column))
    problems += _limited(found, file, len(found))
    months = extract.get(schema.fact_group_line_month.name)
    if months is None or months.num_rows == 0:
        return problems
    fact_file = files.get(schema.fact_group_line_month.name, "fact_group_line_month")
    fact_first = 2 if fact_file.lower().endswith(".csv") else 1
    facts = _frame(months, ["month", "line_id"]).reset_index(names="row")
    life = frame.drop_duplicates("line_id").set_index("line_id")
    joined = facts.join(life, on="line_id", how="inner")  # unknown lines: a reference problem
    before = joined["month"] < joined["start_month"]
    after = joined["cancel_month"].notna() & (joined["month"] >= joined["cancel_month"])
    outside = joined[before | after].sort_values("row")
    found = [Problem(fact_file, f"line {r.line_id} was not billed in {r.month:%Y-%m}: "
                     + (f"it starts in {r.start_month:%Y-%m}" if r.month < r.start_month
                        else f"it was cancelled from {r.cancel_month:%Y-%m}"),
                     fact_first + int(r.row), "month")
             for r in outside.head(MAX_PER_FILE).itertuples()]
    problems += _limited(found, fact_file, len(outside))
    return problems


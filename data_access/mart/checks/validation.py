"""Checks of an extract's tables, pure over Arrow: header, types, NULLs, codes, keys, references."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from data_access.mart import schema

#: Problems reported per file; further ones are only counted.
MAX_PER_FILE = 20
#: Accepted spellings of booleans (compared case-insensitively).
TRUE_WORDS = ("true", "t", "yes", "1")
FALSE_WORDS = ("false", "f", "no", "0")
#: Code columns and the values they may hold.
ALLOWED_CODES: dict[tuple[str, str], tuple[str, ...]] = {
    ("dim_channel", "channel_type"): tuple(schema.CHANNEL_TYPES),
    ("dim_subscriber", "segment"): tuple(schema.SEGMENTS),
    ("fact_competitor_month", "operator"): tuple(schema.OPERATORS),
    ("competitor_event", "operator"): tuple(schema.OPERATORS),
    ("campaign", "department"): tuple(schema.DEPARTMENTS),
    ("campaign", "target_segment"): tuple(schema.SEGMENTS),
    ("campaign_member", "arm"): ("treated", "control"),
    ("group_line", "product"): tuple(schema.GROUP_PRODUCTS),
}
#: Columns holding a comma-separated list of codes.
CODE_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("campaign", "channel_types"): tuple(schema.CHANNEL_TYPES),
}
#: Number columns that must lie in a closed range.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("discount_term", "rate"): (0.0, 1.0),  # a share of the gross bill
    ("fact_network_day", "coverage_pct"): (0.0, 100.0),
    ("fact_network_day", "call_drop_rate"): (0.0, 1.0),  # a fraction of calls
    ("fact_network_day", "throughput_mbps"): (0.0, 1e6),
    ("fact_network_day", "complaints"): (0.0, 1e9),
    ("group_line", "monthly_fee"): (0.0, 1e9),  # yuan a month
    ("fact_group_line_month", "traffic"): (0.0, 1e12),  # the product's own unit
    ("fact_group_line_month", "revenue"): (0.0, 1e9),
}
REVENUE_PARTS = ("rev_voice", "rev_data", "rev_sms", "rev_vas")
REVENUE_TOLERANCE = 0.01
_INT32 = (-(2**31), 2**31 - 1)
_INTEGER_TEXT = r"^-?[0-9]{1,18}$"  # the subset of Arrow's integer syntax that always fits int64
_NUMBER_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ARROW_TYPES = ((sa.Integer, pa.int64()), (sa.Float, pa.float64()), (sa.Date, pa.date32()),
                (sa.Boolean, pa.bool_()), (sa.String, pa.string()))


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an extract; ``row`` is a CSV line number or a 1-based Parquet row."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"{row_word(self.file)} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


def row_word(file: str) -> str:
    """How rows are counted in ``file``: CSV lines (header = line 1) or Parquet rows."""
    return "line" if file.lower().endswith(".csv") else "row"


def arrow_type(column: sa.Column) -> pa.DataType:
    """The Arrow type a column's values are parsed into."""
    for kind, arrow in _ARROW_TYPES:
        if isinstance(column.type, kind):
            return arrow
    raise TypeError(f"{column.table.name}.{column.name}: no extract format for {column.type!r}")


def arrow_schema(table: sa.Table) -> pa.Schema:
    """The Arrow schema of a table's parsed values (also the Parquet schema of an export)."""
    return pa.schema([pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in table.columns])


def is_month_column(column: sa.Column) -> bool:
    """Whether a column holds months, written as their first day."""
    named = column.name == "month" or column.name.endswith("_month")
    return named and isinstance(column.type, sa.Date)


def check_header(table: sa.Table, names: list[str], file: str) -> list[Problem]:
    """Missing, unexpected and repeated columns of a file's header (order is free)."""
    expected = [c.name for c in table.columns]
    missing = [n for n in expected if n not in names]
    problems = [Problem(file, f"column {n!r} appears more than once in the header")
                for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [Problem(file, "missing column", column=n) for n in missing]
    for name in names:
        if name not in expected:
            close = difflib.get_close_matches(name, missing or expected, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if len(names) == 1 and (";" in name or "\t" in name):
                hint = " (columns must be separated by commas)"
            problems.append(Problem(file, f"unexpected column{hint}", column=name))
    return problems


def _mask(condition: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean condition as a numpy mask, NULL counting as False."""
    return np.asarray(pc.fill_null(condition, False).to_numpy(zero_copy_only=False), dtype=bool)


def _not_in(values: pa.Array | pa.ChunkedArray, allowed: pa.Array) -> np.ndarray:
    """Mask of the present values that are not in ``allowed``."""
    return _mask(pc.and_kleene(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed))))


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(values: pa.Array) -> pa.Array:
    return values if values.type == pa.string() else pc.cast(values, pa.string())


def blank_to_null(values: pa.Array) -> pa.Array:
    """Text values (also large or dictionary-encoded) as strings, empty text counting as NULL."""
    kind = values.type.value_type if pa.types.is_dictionary(values.type) else values.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return values
    values = _text(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _cast_or_match(text: pa.Array, target: pa.DataType, pattern: str) -> tuple[pa.Array, pa.Array]:
    """Cast text, or (when some value fails) cast only the values matching ``pattern``."""
    try:
        return pc.cast(text, target), pc.is_valid(text)
    except pa.ArrowInvalid:
        ok = pc.match_substring_regex(text, pattern)
        return pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), target), ok


def _parse_dates(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    if pa.types.is_date(values.type):
        return pc.cast(values, pa.date32()), pc.is_valid(values)
    if pa.types.is_timestamp(values.type):  # Parquet written from pandas; midnight only
        days = pc.cast(values, pa.date32(), safe=False)
        return days, pc.equal(pc.cast(days, values.type), values)
    text = _text(values)
    try:
        return pc.cast(text, pa.date32()), pc.is_valid(text)
    except pa.ArrowInvalid:
        stamps = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
        ok = pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), text)  # rejects 2024-02-30, 2024-1-5
        return pc.cast(pc.if_else(ok, stamps, pa.scalar(None, stamps.type)), pa.date32()), ok


def parse_values(column: sa.Column, values: pa.Array) -> tuple[pa.Array, np.ndarray, str]:
    """Parse a file's values for ``column``.

    Returns the typed values (NULL where unparsable), a mask of the values that could not
    be parsed, and how to complain about them ("is not a date (YYYY-MM-DD)").
    """
    kind, values = column.type, blank_to_null(values)
    if isinstance(kind, sa.Boolean) and pa.types.is_boolean(values.type):
        return values, np.zeros(len(values), dtype=bool), ""
    if isinstance(kind, sa.Boolean):
        text = pc.utf8_lower(_text(values))
        true, false = pc.is_in(text, pa.array(TRUE_WORDS)), pc.is_in(text, pa.array(FALSE_WORDS))
        typed = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
        ok, complaint = pc.or_(true, false), "is not a boolean (true/false, 1/0, t/f, yes/no)"
    elif isinstance(kind, sa.Date):
        typed, ok = _parse_dates(values)
        complaint = "is not a date written YYYY-MM-DD"
    elif isinstance(kind, sa.Integer):
        if pa.types.is_integer(values.type):
            typed, ok = pc.cast(values, pa.int64()), pc.is_valid(values)
        else:
            typed, ok = _cast_or_match(_text(values), pa.int64(), _INTEGER_TEXT)
        complaint = "is not a whole number"
        if not isinstance(kind, sa.BigInteger):
            fits = pc.and_kleene(pc.greater_equal(typed, _INT32[0]), pc.less_equal(typed, _INT32[1]))
            ok = pc.and_kleene(ok, fits)
            complaint = f"is not a whole number from {_INT32[0]} to {_INT32[1]}"
    elif isinstance(kind, sa.Float):
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            typed, ok = pc.cast(values, pa.float64()), pc.is_valid(values)
        else:
            typed, ok = _cast_or_match(_text(values), pa.float64(), _NUMBER_TEXT)
        ok, complaint = pc.and_kleene(ok, pc.is_finite(typed)), "is not a number"
    else:
        typed = _text(values)
        ok = pc.less_equal(pc.utf8_length(typed), kind.length or 2**31)
        complaint = f"is longer than {kind.length} characters"
    bad = _mask(pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(ok, False))))
    if bad.any():
        typed = pc.if_else(pa.array(bad), pa.scalar(None, typed.type), typed)
    return typed, bad, complaint


class TableCheck:
    """Parses and checks one table's file, batch by batch, collecting its problems.

    ``first_row`` is the number of the file's first data row: 2 in a CSV file (the header
    is line 1), 1 in a Parquet file.
    """

    def __init__(self, table: sa.Table, file: str, first_row: int):
        self.table, self.file, self.first_row = table, file, first_row
        self.problems: list[Problem] = []
        self.count = 0
        self.rows = 0

    def flag(self, mask: np.ndarray, column: str | None, describe: Callable[[int], str],
             offset: int = 0) -> None:
        """Record a problem for every row in ``mask`` (indices relative to ``offset``)."""
        self.flag_rows(np.flatnonzero(mask), column, describe, offset)

    def flag_rows(self, found: np.ndarray, column: str | None, describe: Callable[[int], str],
                  offset: int = 0) -> None:
        """Record a problem for each of the (ascending) row indices ``found``."""
        self.count += len(found)
        for i in found[:MAX_PER_FILE]:
            row = self.first_row + offset + int(i)
            self.problems.append(Problem(self.file, describe(int(i)), row, column))

    def add(self, problem: Problem) -> None:
        self.count += 1
        self.problems.append(problem)

    def report(self) -> list[Problem]:
        """The first problems by row, with a note of how many more were found."""
        notes = [p for p in self.problems if p.message.startswith("...")]
        ordered = sorted((p for p in self.problems if p not in notes),
                         key=lambda p: (p.row or 0, p.column or ""))[:MAX_PER_FILE]
        if self.count > len(ordered) + len(notes):
            notes.append(Problem(self.file, f"... and {self.count - len(ordered) - len(notes)} "
                                 "more problems"))
        return ordered + notes

    def parse_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Typed values of a batch of rows; types, NULLs, codes, months and revenue are checked."""
        arrays = []
        for column in self.table.columns:
            raw = batch.column(column.name)
            typed, bad, complaint = parse_values(column, raw)
            self.flag(bad, column.name, lambda i: f"{_show(raw[i].as_py())} {complaint}", self.rows)
            if not column.nullable:
                self.flag(_mask(pc.is_null(typed)) & ~bad, column.name,
                          lambda i: "value missing (this column may not be empty)", self.rows)
            arrays.append(typed)
        typed_batch = pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(self.table))
        self._check_rows(typed_batch)
        self.rows += batch.num_rows
        return typed_batch

    def _check_rows(self, batch: pa.RecordBatch) -> None:
        name = self.table.name
        for column in self.table.columns:
            values = batch.column(column.name)
            allowed = ALLOWED_CODES.get((name, column.name))
            if allowed:
                self.flag(_not_in(values, pa.array(allowed)), column.name,
                          lambda i, v=values, a=allowed: f"{_show(v[i].as_py())} is not one of "
                          f"{', '.join(a)}", self.rows)
            if (name, column.name) in RANGES:
                low, high = RANGES[(name, column.name)]
                numbers = values.to_numpy(zero_copy_only=False).astype(float)
                with np.errstate(invalid="ignore"):
                    outside = (numbers < low) | (numbers > high)
                self.flag(outside, column.name, lambda i, v=numbers, lo=low, hi=high:
                          f"{v[i]:g} is not between {lo:g} and {hi:g}", self.rows)
            if (name, column.name) in CODE_LISTS:
                self._check_code_list(values, column.name, CODE_LISTS[(name, column.name)])
            if is_month_column(column):
                self.flag(_mask(pc.not_equal(pc.day(values), 1)), column.name,
                          lambda i, v=values: f"{v[i].as_py()} is not the first day of a month",
                          self.rows)
        if {*REVENUE_PARTS, "discount", "revenue"} <= set(batch.schema.names):
            self._check_revenue(batch)

    def _check_code_list(self, values: pa.Array, column: str, allowed: tuple[str, ...]) -> None:
        items = pc.split_pattern_regex(values, r"\s*,\s*")
        unknown = _not_in(pc.list_flatten(items), pa.array(allowed))
        mask = np.zeros(len(values), dtype=bool)
        mask[pc.list_parent_indices(items).to_numpy()[unknown]] = True
        self.flag(mask, column, lambda i: f"{_show(values[i].as_py())} lists a code that is not "
                  f"one of {', '.join(allowed)}", self.rows)

    def _check_revenue(self, batch: pa.RecordBatch) -> None:
        def numbers(col: str) -> np.ndarray:
            return batch.column(col).to_numpy(zero_copy_only=False)

        expected = sum(numbers(c) for c in REVENUE_PARTS) - numbers("discount")
        revenue = numbers("revenue")
        with np.errstate(invalid="ignore"):
            bad = np.abs(revenue - expected) > REVENUE_TOLERANCE + 1e-9
        self.flag(bad, "revenue", lambda i: f"revenue {revenue[i]:.2f} is not rev_voice + rev_data "
                  f"+ rev_sms + rev_vas - discount = {expected[i]:.2f}", self.rows)

    def check_keys(self, data: pa.Table) -> None:
        """Primary keys and unique columns must not repeat (rows with missing keys are skipped)."""
        keys = {tuple(c.name for c in self.table.primary_key.columns): None}
        keys |= {(c.name,): None for c in self.table.columns if c.unique}
        keys |= {tuple(c.name for c in k.columns): None for k in self.table.constraints
                 if isinstance(k, sa.UniqueConstraint)}
        for names in map(list, keys):
            counts = data.select(names).group_by(names).aggregate([([], "count_all")])
            if (pc.max(counts["count_all"]).as_py() or 0) > 1:
                self._report_duplicates(data.select(names).to_pandas(), names)

    def _report_duplicates(self, frame: pd.DataFrame, names: list[str]) -> None:
        frame = frame.dropna()
        frame = frame[frame.duplicated(keep=False)]
        rows = frame.index.to_series()  # positions in the file's rows
        first = rows.groupby([frame[n] for n in names], sort=False).transform("min")
        word = row_word(self.file)

        def describe(i: int) -> str:
            key = ", ".join(f"{n}={frame.at[i, n]}" for n in names)
            return f"duplicate key {key}: also on {word} {self.first_row + int(first[i])}"
        self.flag_rows(rows[rows != first].to_numpy(), ", ".join(names), describe)

    def check_references(self, data: pa.Table, extract: Mapping[str, pa.Table]) -> None:
        """Foreign keys must name a row of the referenced table in the same extract."""
        for fk in self.table.foreign_keys:
            parent = extract.get(fk.column.table.name)
            if parent is None:  # missing or unreadable: reported on its own
                continue
            values, known = data.column(fk.parent.name), parent.column(fk.column.name)
            dangling = _not_in(values, known.combine_chunks())
            self.flag(dangling, fk.parent.name,
                      lambda i, v=values, fk=fk: f"{_show(v[i].as_py())} is not a "
                      f"{fk.column.name} in {fk.column.table.name}")


def check_plan_chain(check: TableCheck, changes: pa.Table, subscribers: pa.Table) -> None:
    """``fact_plan_change`` against ``dim_subscriber``: a change moves to another plan, lies
    after the join month and before the churn month, each change starts from the plan the
    previous one moved to, and the last one ends on the current plan (``plan_id``)."""
    frame = changes.select(["subscriber_id", "month", "from_plan_id", "to_plan_id"]).to_pandas()
    if frame.empty:
        return
    people = subscribers.select(["subscriber_id", "join_month", "churn_month", "plan_id"]
                                ).to_pandas().set_index("subscriber_id")
    frame["row"] = np.arange(len(frame))
    frame = frame.dropna(subset=["subscriber_id", "month"]).sort_values(["subscriber_id", "month"])
    same = frame["from_plan_id"] == frame["to_plan_id"]
    check.flag_rows(np.sort(frame.loc[same, "row"].to_numpy()), "to_plan_id",
                    lambda i: "the change moves to the plan it comes from")
    known = frame[frame["subscriber_id"].isin(people.index)]
    who = people.reindex(known["subscriber_id"])
    month = pd.to_datetime(known["month"]).to_numpy()
    joined = pd.to_datetime(who["join_month"]).to_numpy()
    left = pd.to_datetime(who["churn_month"]).to_numpy()
    early = known.loc[month <= joined, "row"].to_numpy()
    check.flag_rows(np.sort(early), "month", lambda i: "the change is not after the subscriber's "
                    "join_month (a line joins on one plan; a change shows from a later month)")
    late = known.loc[~pd.isna(left) & (month >= left), "row"].to_numpy()
    check.flag_rows(np.sort(late), "month", lambda i: "the change is not before the "
                    "subscriber's churn_month")
    previous = frame.groupby("subscriber_id")["to_plan_id"].shift()
    before_row = frame.groupby("subscriber_id")["row"].shift()
    broken = previous.notna() & (previous != frame["from_plan_id"])
    word, first = row_word(check.file), check.first_row
    to_of = dict(zip(frame.loc[broken, "row"], previous[broken], strict=True))
    at = dict(zip(frame.loc[broken, "row"], before_row[broken], strict=True))
    check.flag_rows(np.sort(frame.loc[broken, "row"].to_numpy()), "from_plan_id",
                    lambda i: f"from_plan_id is not {int(to_of[i])}, the plan the subscriber's "
                    f"previous change moved to ({word} {first + int(at[i])})")
    last = known.groupby("subscriber_id").tail(1)
    current = people["plan_id"].reindex(last["subscriber_id"]).to_numpy()
    wrong = last[last["to_plan_id"].to_numpy() != current]
    plan_of = dict(zip(wrong["row"], people["plan_id"].reindex(wrong["subscriber_id"]),
                       strict=True))
    check.flag_rows(np.sort(wrong["row"].to_numpy()), "to_plan_id",
                    lambda i: f"the subscriber's last change must end on the current plan, "
                    f"dim_subscriber.plan_id {int(plan_of[i])}")

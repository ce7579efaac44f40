"""Loading a real extract (a CSV or Parquet file per table) into the mart, all checked first.

Usage: ``python -m data_access.mart.load DIR [--url URL] [--check]``; see docs/extract_format.md.
"""

from __future__ import annotations

import argparse
import codecs
import difflib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import sqlalchemy as sa

from data_access.mart import schema
from data_access.mart.build import open_mart_writer
from data_access.db import ConcertoError, create_mart_engine
from data_access.mart.checks.group_lines import line_problems
from data_access.mart.checks.load_guards import total_problems
from data_access.mart.checks.validation import (MAX_PER_FILE, Problem, TableCheck, arrow_schema,
                                                check_header, check_plan_chain)
from data_access.store.scope import as_system

#: Every table an extract may hold, in load order (referenced tables first).
TABLES: tuple[sa.Table, ...] = schema.EXTRACT_TABLES + schema.OPTIONAL_TABLES
FORMATS = (".csv", ".parquet")
_BLOCK_BYTES = 1 << 25  # CSV bytes parsed per batch (about 300,000 fact rows)
_BATCH_ROWS = 1 << 20  # rows per Parquet batch, per write to the mart and per export batch
Progress = Callable[[float, str], None]


class ExtractError(ConcertoError):
    """An extract that cannot be loaded; ``problems`` lists what is wrong, file by file."""

    def __init__(self, directory: Path, problems: list[Problem]):
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"The extract in {directory} was not loaded (the mart is unchanged):\n{listing}")


class _Unreadable(Exception):
    """A file that cannot be read past its first problem."""


def find_extract_files(directory: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Each table's file in ``directory``, and the problems with the folder's contents.

    Hidden files (starting with a dot) are ignored; any other file must be a table's.
    """
    names = [t.name for t in TABLES]
    found: dict[str, list[Path]] = {}
    problems = []
    for path in sorted(directory.iterdir()):
        stem, suffix = path.stem, path.suffix.lower()
        if path.name.startswith("."):
            continue
        if path.is_file() and suffix in FORMATS and stem in names:
            found.setdefault(stem, []).append(path)
            continue
        close = difflib.get_close_matches(stem.lower(), names, n=1, cutoff=0.6)
        if stem in names:
            hint = f"save it as {stem}.csv or {stem}.parquet"
        elif close:
            hint = f"did you mean {close[0]}{suffix if suffix in FORMATS else '.csv'}?"
        else:
            hint = f"not one of the extract's tables: {', '.join(names)}"
        kind = "file" if path.is_file() else "entry"
        problems.append(Problem(path.name, f"unknown {kind} ({hint})"))
    for table in TABLES:
        paths = found.get(table.name, [])
        if len(paths) > 1:
            problems.append(Problem(paths[0].name, f"both {paths[0].name} and {paths[1].name} "
                                    "are present; keep exactly one file per table"))
        elif not paths and table in schema.EXTRACT_TABLES:
            problems.append(Problem(table.name, f"required table missing: add {table.name}.csv "
                                    f"or {table.name}.parquet"))
    return {name: paths[0] for name, paths in found.items() if len(paths) == 1}, problems


def _find_non_utf8(path: Path) -> Problem | None:
    """The first byte that is not UTF-8 (a leading BOM is fine), named by offset and line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_BLOCK_BYTES)
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines + exc.object[:exc.start].count(b"\n") + 1
                byte, position = exc.object[exc.start], offset - pending + exc.start
                return Problem(path.name, f"is not UTF-8 text: byte 0x{byte:02x} at byte offset "
                               f"{position}; save the file as UTF-8", row=line)
            if not chunk:
                return None
            offset, lines = offset + len(chunk), lines + chunk.count(b"\n")


def _open_csv(path: Path, table: sa.Table, invalid: list[pv.InvalidRow]
              ) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The header and batches of text; rows with the wrong number of fields go to ``invalid``."""

    def skip_invalid(row: pv.InvalidRow) -> str:
        invalid.append(row)
        return "skip" if len(invalid) <= MAX_PER_FILE else "error"  # enough to report

    reader = pv.open_csv(
        path,
        read_options=pv.ReadOptions(block_size=_BLOCK_BYTES),
        parse_options=pv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip_invalid),
        convert_options=pv.ConvertOptions(
            column_types={c.name: pa.string() for c in table.columns},
            null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True),
    )
    return reader.schema.names, iter(reader)


def _open_parquet(path: Path, table: sa.Table, invalid: list
                  ) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The column names and batches of a Parquet file (``invalid`` is for CSV files only)."""
    file = pq.ParquetFile(path)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from file.iter_batches(_BATCH_ROWS, columns=[c.name for c in table.columns])
    return file.schema_arrow.names, batches()


def _invalid_row_problems(path: Path, invalid: list[pv.InvalidRow]) -> list[Problem]:
    """Rows with the wrong number of fields, located by a scan of the file (an error path only)."""
    wanted = Counter(row.text for row in invalid[:MAX_PER_FILE])
    lines: dict[str, list[int]] = {text: [] for text in wanted}
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(lines.get(text, ())) < wanted[text]:
                lines[text].append(number)
                if sum(map(len, lines.values())) == sum(wanted.values()):
                    break
    problems = [Problem(path.name, f"has {row.actual_columns} fields where the header has "
                        f"{row.expected_columns}: {row.text[:80]!r}",
                        row=lines[row.text].pop(0) if lines[row.text] else None)
                for row in invalid[:MAX_PER_FILE]]
    if len(invalid) > MAX_PER_FILE:
        problems.append(Problem(path.name, "... and more rows with the wrong number of fields "
                                "(reading stopped)"))
    return problems


def _read_table(table: sa.Table, path: Path) -> tuple[pa.Table | None, TableCheck]:
    """Parse and check one file; the typed table, or None when it cannot be used."""
    csv = path.suffix.lower() == ".csv"
    check = TableCheck(table, path.name, first_row=2 if csv else 1)
    required, invalid = table in schema.EXTRACT_TABLES, []  # rows with the wrong number of fields
    try:
        if path.stat().st_size == 0:
            if required:
                raise _Unreadable(Problem(path.name, "is empty (no header, no rows)"))
            return arrow_schema(table).empty_table(), check
        names, batches = (_open_csv if csv else _open_parquet)(path, table, invalid)
        if header := check_header(table, names, path.name):
            raise _Unreadable(*header)
        typed = [check.parse_batch(batch) for batch in batches]
    except _Unreadable as exc:
        for problem in exc.args:
            check.add(problem)
        return None, check
    except (OSError, pa.ArrowException) as exc:
        if not invalid:  # Arrow checks UTF-8 but does not say where: only then scan the file
            kind = "CSV" if csv else "Parquet"
            check.add((csv and _find_non_utf8(path))
                      or Problem(path.name, f"cannot be read as {kind}: {exc}"))
            return None, check
    if invalid:  # skipped rows shift every later row number: report only these
        check.problems, check.count = [], 0
        for problem in _invalid_row_problems(path, invalid):
            check.add(problem)
        return None, check
    data = pa.Table.from_batches(typed, schema=arrow_schema(table))
    if data.num_rows == 0 and required:
        check.add(Problem(path.name, "has a header but no rows"))
        return None, check
    check.check_keys(data)
    for problem in total_problems(table, data, path.name):  # finite values, infinite totals
        check.add(problem)
    return data, check


def check_extract(directory: str | Path, progress: Progress | None = None) -> dict[str, pa.Table]:
    """Read and check every file of an extract; its tables' parsed values, by table name.

    Raises
    ------
    ExtractError
        Listing every problem found (up to 20 per file), sorted by file, then row.
    """
    directory, progress = Path(directory), progress or (lambda fraction, message: None)
    if not directory.is_dir():
        raise ExtractError(directory, [Problem(str(directory), "is not a folder")])
    files, problems = find_extract_files(directory)
    total = sum(path.stat().st_size for path in files.values()) or 1
    present = {path.name.split(".")[0] for path in directory.iterdir()}
    done, data, checks = 0, {}, []
    for table in TABLES:
        if (path := files.get(table.name)) is None:
            if table in schema.OPTIONAL_TABLES and table.name not in present:
                data[table.name] = arrow_schema(table).empty_table()  # absent means empty
            continue
        progress(done / total, f"checking {path.name}")
        typed, check = _read_table(table, path)
        checks.append(check)
        if typed is not None:
            data[table.name] = typed
        done += path.stat().st_size
    for check in checks:
        if check.table.name in data:
            check.check_references(data[check.table.name], data)
            if check.table is schema.fact_plan_change and "dim_subscriber" in data:
                check_plan_chain(check, data[check.table.name], data["dim_subscriber"])
        problems += check.report()
    problems += line_problems(data, {name: path.name for name, path in files.items()})
    if problems:
        raise ExtractError(directory, sorted(problems, key=lambda p: p.file))
    progress(1.0, f"checked {len(files)} files")
    return data


def to_frame(table: sa.Table, data: pa.Table) -> pd.DataFrame:
    """Parsed values with the mart's dtypes: datetime64 dates, Int64 where NULLs are allowed."""
    columns = {}
    for column in table.columns:
        values = data.column(column.name)
        if isinstance(column.type, sa.Integer) and column.nullable:
            columns[column.name] = values.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        else:
            columns[column.name] = values.to_pandas(date_as_object=False)
    return pd.DataFrame(columns)


def load_extract(directory: str | Path, url: str | None = None, *,
                 progress: Progress | None = None) -> dict[str, int]:
    """Validate every file in ``directory``, then replace the mart at ``url`` with it.

    Parameters
    ----------
    directory : str or Path
        A folder with one ``<table>.csv`` or ``<table>.parquet`` per table (docs/extract_format.md).
    url : str, optional
        The mart's SQLAlchemy URL; defaults to :func:`data_access.db.mart_url`.
    progress : callable, optional
        Called as ``progress(fraction, message)`` while checking and writing.

    Returns
    -------
    dict
        Rows loaded per table (optional tables absent from the extract count 0).

    Raises
    ------
    ExtractError
        Listing every problem found; on any error nothing is written.
    """
    directory, report = Path(directory), progress or (lambda fraction, message: None)
    data = check_extract(directory, lambda f, m: report(0.5 * f, m))
    total, written = sum(t.num_rows for t in data.values()) or 1, 0
    meta = {"source": "loader", "extract": str(directory.resolve())}
    counts = {name: rows.num_rows for name, rows in data.items()}
    with open_mart_writer(url, meta=meta) as writer:
        for table in TABLES:
            rows = data.pop(table.name)  # release each table once written
            for start in range(0, rows.num_rows, _BATCH_ROWS):
                written += writer.write(table, to_frame(table, rows.slice(start, _BATCH_ROWS)))
                report(0.5 + 0.45 * written / total, f"writing {table.name}")
            del rows
        pa.default_memory_pool().release_unused()  # leave the memory to the summaries' queries
        report(0.95, "building summary tables")
    report(1.0, "done")
    return {table.name: counts[table.name] for table in TABLES}


def export_mart(url: str | None, directory: Path, fmt: Literal["csv", "parquet"] = "csv") -> None:
    """Write every extract table of the mart at ``url`` as files :func:`load_extract` reads.

    Each table's earlier file in ``directory`` (either format) is replaced; optional tables
    without rows are left out, as an extract may do.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    engine = create_mart_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            for table in TABLES:
                for suffix in FORMATS:
                    (directory / f"{table.name}{suffix}").unlink(missing_ok=True)
                count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                if count or table in schema.EXTRACT_TABLES:
                    _export_table(conn, table, directory / f"{table.name}.{fmt}")
    finally:
        engine.dispose()


def _export_table(conn: sa.Connection, table: sa.Table, path: Path) -> None:
    arrow = arrow_schema(table)
    statement = sa.select(table).order_by(*table.primary_key.columns)
    if path.suffix == ".csv":
        writer = pv.CSVWriter(path, arrow, write_options=pv.WriteOptions(quoting_header="none"))
    else:
        writer = pq.ParquetWriter(path, arrow)
    with writer:
        result = conn.execution_options(yield_per=_BATCH_ROWS).execute(statement)
        for rows in result.partitions():
            columns = list(zip(*rows))
            writer.write_batch(pa.record_batch(
                [pa.array(values, type=field.type) for values, field in zip(columns, arrow)],
                schema=arrow))


@as_system  # a job with no user: it acts as the system principal, explicitly
def main(argv: list[str] | None = None) -> int:
    """The command line: load an extract, print progress and rows per table; 2 on a bad extract."""
    parser = argparse.ArgumentParser(prog="python -m data_access.mart.load",
                                     description="Check an extract and load it into the mart.")
    parser.add_argument("directory", type=Path, help="folder with a CSV or Parquet file per table")
    parser.add_argument("--url", help="mart URL (default: CONCERTO_MART_URL or .data/mart.duckdb)")
    parser.add_argument("--check", action="store_true", help="only check the extract, write nothing")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def show(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", flush=True)
    try:
        if args.check:
            tables = check_extract(args.directory, show)
            rows = {table.name: tables[table.name].num_rows for table in TABLES}
        else:
            rows = load_extract(args.directory, args.url, progress=show)
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: the mart could not be written (it is unchanged): {exc}", file=sys.stderr)
        return 1
    width = max(len(name) for name in rows)
    done = "Checked" if args.check else "Loaded"
    print(f"{done} {args.directory} in {time.perf_counter() - start:.1f} s:")
    for name, count in rows.items():
        print(f"  {name:<{width}}  {count:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Renders the mart's data dictionary (docs/data_dictionary.md) from the table metadata.

Run ``python -m data_access.mart.dictionary`` after changing ``schema.py``; a test fails while
the committed file and the metadata disagree.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa

from data_access.mart import schema
from data_access.db import PROJECT_ROOT

DICTIONARY_PATH = PROJECT_ROOT / "docs" / "data_dictionary.md"


def _role(table: sa.Table) -> str:
    if table in schema.SUMMARY_TABLES:
        return "summary (built with the mart)"
    if table in schema.OPTIONAL_TABLES:
        return "optional in an extract"
    if table in schema.EXTRACT_TABLES:
        return "required in an extract"
    return "written by the mart build"


def _keys(column: sa.Column) -> str:
    marks = []
    if column.primary_key:
        marks.append("PK")
    marks.extend(f"→ {fk.target_fullname}" for fk in column.foreign_keys)
    return " ".join(marks)


def render_dictionary() -> str:
    """The data dictionary as Markdown, one section per table in dependency order."""
    lines = [
        "# Mart data dictionary",
        "",
        "Generated from `data_access/mart/schema.py` by `python -m data_access.mart.dictionary`; "
        "a test keeps the two in step. Money is in yuan; months are first days of months.",
        "",
    ]
    for table in schema.MART.sorted_tables:
        lines += [f"## `{table.name}`", "", f"{table.comment or ''} *({_role(table)})*", "",
                  "| column | type | null | keys |", "| --- | --- | --- | --- |"]
        for column in table.columns:
            null = "yes" if column.nullable and not column.primary_key else "no"
            lines.append(f"| `{column.name}` | {column.type} | {null} | {_keys(column)} |")
        lines.append("")
    codes = [("channel_type", schema.CHANNEL_TYPES), ("segment", schema.SEGMENTS),
             ("operator", schema.OPERATORS), ("department", schema.DEPARTMENTS)]
    lines += ["## Codes", ""]
    for name, mapping in codes:
        lines.append(f"- `{name}`: " + ", ".join(f"`{k}` ({v})" for k, v in mapping.items()))
    return "\n".join(lines) + "\n"


def main() -> int:
    DICTIONARY_PATH.write_text(render_dictionary(), encoding="utf-8")
    print(f"wrote {DICTIONARY_PATH.relative_to(PROJECT_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What reaches the reader on the Locate/Act/Track pages: no snake_case header, no "None",
no raw float and no midnight time in any table or text (AppTest, one check per page)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

_SNAKE = re.compile(r"[a-z0-9]_[a-z0-9]")
_RAW_FLOAT = re.compile(r"^-?\d+\.\d{3,}$")
_MIDNIGHT = re.compile(r"\d{4}-\d\d-\d\d[ T]00:00:00")


def unreadable(at: AppTest) -> list[str]:
    """Every way a table or text on the page would show a reader machine output."""
    problems = []
    for i, element in enumerate(at.dataframe):
        if element.editing_mode != "read_only":
            continue  # a form's input grid (empty rows to fill in), not output
        frame = element.value
        config = json.loads(element.proto.columns or "{}")
        for column in frame.columns:
            conf = config.get(str(column), {})
            header = conf.get("label") or str(column)
            if conf.get("hidden"):
                continue
            if _SNAKE.search(header):
                problems.append(f"table {i}: header {header!r}")
            values = frame[column]
            if values.isna().any() and element.proto.placeholder != "—":
                problems.append(f"table {i}: {header!r} shows missing values as None")
            formatted = bool(conf.get("type_config", {}).get("format"))
            if pd.api.types.is_float_dtype(values) and not formatted:
                problems.append(f"table {i}: {header!r} shows raw floats")
            if pd.api.types.is_datetime64_any_dtype(values) and not formatted:
                problems.append(f"table {i}: {header!r} shows raw timestamps")
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                text = values.dropna().astype(str)
                if text.isin(["None", "nan", "NaN", "NaT", "<NA>"]).any():
                    problems.append(f"table {i}: {header!r} holds the text None/nan")
                if text.str.fullmatch(_RAW_FLOAT).any():
                    problems.append(f"table {i}: {header!r} holds raw float text")
                if text.str.contains(_MIDNIGHT).any():
                    problems.append(f"table {i}: {header!r} holds dates with 00:00:00")
    texts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in getattr(at, kind)]
    texts += [f"{m.label} {m.value}" for m in at.metric]
    for text in map(str, texts):
        if re.search(r"\bNone\b|\bnan\b", text):
            problems.append(f"text shows None/nan: {text[:80]!r}")
        if _MIDNIGHT.search(text):
            problems.append(f"text shows 00:00:00: {text[:80]!r}")
    return problems


def test_the_checker_notices_each_kind_of_unreadable_output(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text(
        "import streamlit as st, pandas as pd\n"
        "st.dataframe(pd.DataFrame({'rev_voice': [2646771.32, None], 'note': ['None', 'x'],"
        " 'day': pd.to_datetime(['2024-11-01', '2024-11-02'])}))\n"
        "st.caption('vs expected None')\n")
    found = " | ".join(unreadable(AppTest.from_file(str(script)).run()))
    for problem in ("header 'rev_voice'", "shows missing values as None", "shows raw floats",
                    "shows raw timestamps", "holds the text None", "text shows None"):
        assert problem in found, found


def test_diagnosis_run_reads_as_words_and_units(app_as):
    at = app_as("analyst")
    at.switch_page("pages/diagnosis.py").run()
    names = at.selectbox(key="diagnosis_template").options
    at.selectbox(key="diagnosis_template").set_value(
        next(n for n in names if "Revenue anomaly" in n)).run()
    at.button(key="diagnosis_run").click().run()
    assert not at.exception, at.exception
    assert at.dataframe, "the node table is shown"
    assert unreadable(at) == []
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "fontsize=14" in dot and "Legend" in " ".join(m.value for m in at.markdown)

"""Property-based tests (Hypothesis): whatever a user can send gets a message, never a
traceback or a half-written store. Example counts are kept small so the file runs in about a
minute; ``HYPOTHESIS_PROFILE=thorough`` runs more."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics.diagnosis.templates import Template, TemplateError, parse_template

settings.register_profile("default", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# --- template JSON ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=30)
NODE_KEYS = st.sampled_from(["id", "metric", "filters", "breakdown", "alert_change", "children"])
NODE = st.recursive(
    st.fixed_dictionaries({"id": st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                           "metric": st.sampled_from(["revenue", "arpu", "new_subs", "profit"])}),
    lambda inner: st.dictionaries(NODE_KEYS, inner | JSON | st.lists(inner, max_size=3),
                                  max_size=6),
    max_leaves=20)
TEMPLATE = st.fixed_dictionaries({"name": st.text(max_size=30) | JSON, "root": NODE | JSON},
                                 optional={"schedule": JSON | st.sampled_from(["daily", "none"]),
                                           "compare_to": JSON, "version": JSON,
                                           "description": JSON})


@given(TEMPLATE | JSON)
@example({"name": "x", "root": {"id": "r", "metric": {"a": 1}}})  # was a TypeError
@example({"name": "x", "root": {"id": "r", "metric": "revenue", "children": "abc"}})
@settings(max_examples=300)
def test_any_json_is_a_template_or_a_clear_template_error(data):
    for given_as in (data, json.dumps(data)):
        try:
            template = parse_template(given_as)
        except TemplateError as exc:
            assert str(exc) and "Traceback" not in str(exc)
        else:
            assert isinstance(template, Template)
            assert parse_template(json.dumps({"name": template.name,
                                              "root": {"id": "r", "metric": "revenue"}}))


@given(st.integers(min_value=1, max_value=200_000), st.sampled_from(["[", "{\"a\":", "[{\"x\":"]))
@settings(max_examples=20)
def test_deeply_nested_json_is_refused_with_a_message(depth, opener):
    with pytest.raises(TemplateError) as error:
        parse_template(opener * depth)
    assert str(error.value).startswith("template:")  # too deep, too long or not an object


def test_deep_values_inside_a_template_object_get_a_short_message():
    deep: object = "x"
    for _ in range(20_000):
        deep = {"a": deep}
    for node in ({"id": "r", "metric": deep}, {"id": "r", "metric": "revenue",
                                              "filters": {"branch": deep}},
                 {"id": deep, "metric": "revenue"}):
        with pytest.raises(TemplateError) as error:
            parse_template({"name": "Deep", "root": node})
        assert len(str(error.value)) < 400


# --- URL parameters on every page -----------------------------------------------------------

PAGES = ["pages/sandbox.py", "pages/diagnosis.py", "pages/microregion.py", "pages/alerts.py",
         "pages/channels.py", "pages/competitors.py", "pages/workorders.py", "pages/arsenal.py",
         "pages/budgets.py", "pages/comms.py", "pages/campaigns.py", "pages/churn.py",
         "pages/value.py", "pages/calendar.py", "pages/mart.py", "pages/admin.py",
         "pages/assurance.py", "pages/customer.py", "pages/groups.py"]
PARAM_NAMES = ["month", "branch", "region", "kpi", "drill", "order", "campaign", "channel",
               "tab", "sub"]
VALUES = (st.text(max_size=40)
          | st.sampled_from(["Jida", "Sanzao", "Doumen", "Gongbei", "2026-10", "1999-01",
                             "micro_region:Sanzao", "channel:1/channel:99999",
                             "branch:Doumen/micro_region:Jida", "[x](https://evil.example)",
                             "arpu", "market_share", "-1", "1e309", "0", "9" * 30])
          | st.lists(st.sampled_from(["micro_region:Jida", "channel:7", "segment:mass", "x:"]),
                     max_size=4).map("/".join))


@pytest.mark.usefixtures("fresh_streamlit_caches")
@given(page=st.sampled_from(PAGES),
       user=st.sampled_from(["rm_gongbei", "rm_doumen", "analyst", "channel_mgr"]),
       params=st.dictionaries(st.sampled_from(PARAM_NAMES) | st.text(min_size=1, max_size=8),
                              VALUES, max_size=3))
@example(page="pages/microregion.py", user="rm_gongbei",
         params={"drill": "micro_region:Sanzao"})  # was an exception box
@example(page="pages/sandbox.py", user="rm_doumen", params={"drill": "branch:Xiangzhou"})
@settings(max_examples=12)
def test_any_url_parameters_get_a_page_or_a_message_never_a_traceback(app_as, page, user,
                                                                      params):
    at = app_as(user)
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(page).run()
    assert not at.exception, (page, user, params, at.exception)


# --- loader inputs ------------------------------------------------------------------------------

CELLS = (st.text(max_size=12) | st.floats(allow_nan=True, allow_infinity=True).map(repr)
         | st.sampled_from(["1e308", "-1e308", "1.7976931348623157e308", "9" * 400, "",
                            "2024-13-01", "2024-02-30", "NaN", "inf", "=1+1", "0x10", "1,5",
                            "true", "13800000001"]))


@given(table=st.sampled_from(["fact_subscriber_month", "dim_subscriber", "fact_channel_day",
                              "campaign_member", "dim_region"]),
       row=st.integers(min_value=0, max_value=1), column_pick=st.integers(min_value=0),
       value=CELLS)
@settings(max_examples=20)
def test_any_cell_value_is_loaded_or_refused_never_half_written(tmp_path_factory, table, row,
                                                                column_pick, value):
    from data_access.db import ConcertoError
    from data_access.mart.load import load_extract
    from tests.test_load import snapshot, valid_tables, write_extract

    folder = tmp_path_factory.mktemp("prop")
    url = f"duckdb:///{folder / 'mart.duckdb'}"
    load_extract(write_extract(folder / "good"), url)
    before = snapshot(url)
    tables = valid_tables()
    rows = tables[table]
    columns = list(rows[0])
    rows[row % len(rows)][columns[column_pick % len(columns)]] = value
    try:
        counts = load_extract(write_extract(folder / "bad", tables), url)
    except ConcertoError as exc:
        assert str(exc)  # a message naming what is wrong
        assert snapshot(url) == before  # and the mart exactly as it was
    else:
        assert counts[table] == len(rows)
    assert not list(folder.glob(".mart.duckdb.*.building*"))

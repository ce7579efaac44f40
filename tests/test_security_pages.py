"""Security behaviour of the pages under AppTest: stale sessions end, user text stays text,
out-of-scope links get a message, nothing shows a traceback."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from data_access.store import auth
from data_access.store.workflow import create_workflow_engine

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_a_demoted_user_is_signed_out_on_the_next_run(app_as):
    at = app_as("rm_gongbei")
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["principal"].scope_value == "Gongbei"
    store = create_workflow_engine(app_as.workflow_url)
    auth.change_role(store, "rm_gongbei", "regional_manager", scope_level="branch",
                     scope_value="Doumen", actor="admin")
    at.run()
    assert not at.exception, at.exception
    assert "principal" not in at.session_state
    assert any("signed out" in e for e in _errors(at))
    assert not at.metric  # the sign-in form, nothing of the mart
    store.dispose()


def test_a_deactivated_user_is_signed_out_on_the_next_run(app_as):
    at = app_as("marketer")
    at.run()
    store = create_workflow_engine(app_as.workflow_url)
    auth.set_active(store, "marketer", False, actor="admin")
    at.run()
    assert not at.exception, at.exception
    assert "principal" not in at.session_state
    assert any("disabled" in e for e in _errors(at))
    store.dispose()


EVIL = "[click me](https://evil.example/steal) ![pixel](https://evil.example/p.png)"


def _rendered(at: AppTest) -> list[str]:
    """The Markdown source of every element that Streamlit renders as Markdown."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.warning]
    parts += [e.value for e in at.error] + [e.value for e in at.success]
    parts += [e.value for e in at.subheader] + [e.value for e in at.toast]
    parts += [e.value for e in at.sidebar.warning]
    return [str(p) for p in parts]


def _no_live_markdown(texts: list[str]) -> None:
    for text in texts:
        assert "](" not in text.replace("\\](", ""), text  # no link or image syntax left
        assert "https://" not in text, text  # no bare autolink either


def test_a_crafted_work_order_title_and_detail_stay_plain_text(app_as):
    from data_access.store import workorders
    from data_access.store.auth import Principal
    from data_access.store.scope import acting_as
    from pages.common.plaintext import plain

    at = app_as("analyst")
    at.switch_page("pages/workorders.py").run()
    store = create_workflow_engine(app_as.workflow_url)
    admin = Principal("admin", "Admin", "administrator")
    import datetime as dt

    with acting_as(admin):
        order_id = workorders.create_order(
            store, admin, kind="task", title=EVIL[:100], detail=f"**see** {EVIL}",
            unit_level="city", unit_key="all", unit_label="City", owner_role="analyst",
            assignee="analyst", due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=8))
    store.dispose()
    at.query_params["order"] = str(order_id)
    at.run()
    assert not at.exception, at.exception
    texts = _rendered(at)
    assert any(plain(EVIL[:100]) in t for t in texts)  # shown, escaped
    _no_live_markdown(texts)


def test_a_crafted_url_parameter_is_named_in_a_plain_message(app_as):
    at = app_as("analyst")
    at.query_params["order"] = EVIL
    at.switch_page("pages/workorders.py").run()
    assert not at.exception, at.exception
    assert any("URL parameter order=" in w.value for w in at.warning)
    _no_live_markdown(_rendered(at))


def test_an_out_of_scope_drill_link_is_refused_with_a_message(app_as):
    at = app_as("rm_gongbei")
    at.query_params["drill"] = "micro_region:Sanzao"
    at.switch_page("pages/microregion.py").run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("URL parameter drill=" in w and "Sanzao" in w for w in warnings), warnings


@pytest.mark.parametrize("name,value", [("region", "Jida"), ("branch", "Doumen")])
def test_an_out_of_scope_region_in_the_url_is_named_not_dropped(app_as, name, value):
    at = app_as("rm_gongbei")
    at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.sidebar.warning]
    assert any(f"URL parameter {name}=" in w and "outside what you may see" in w
               for w in warnings), warnings

"""Sections that rerun alone (``st.fragment``) yet read data as the signed-in person.

A widget inside a fragment reruns that fragment only: app.py does not run, so nobody would
declare who is acting (``data_access.store.scope``) and every read would be refused ("Nobody
is signed in"). :func:`section` makes a fragment that, on its own reruns, re-reads the
signed-in person from the store and declares them, as app.py does on a whole run (a user
disabled or moved since is signed out: the whole app reruns to the sign-in form).

Give a section a ``key`` when a widget callback elsewhere must rerun it too
(``st.rerun(scope=[keys])``, see :func:`rerun`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from data_access.db import ConcertoError
from data_access.store import scope
from pages.common import runlog
from pages.common.login import refresh_signed_in
from pages.common.plaintext import plain

_F = TypeVar("_F", bound=Callable[..., Any])


def in_partial_rerun() -> bool:
    """True while only fragments run (a widget inside one was used), not the whole app."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def section(key: str | None = None) -> Callable[[_F], _F]:
    """Decorator: ``func`` becomes a fragment that acts as the signed-in person on its reruns.

    Examples
    --------
    >>> @section(key="sandbox_drill")          # doctest: +SKIP
    ... def drill(kpi: str) -> None: ...
    """

    def wrap(func: _F) -> _F:
        @functools.wraps(func)
        def body(*args: Any, **kwargs: Any) -> Any:
            if not in_partial_rerun():
                return _told(func, *args, **kwargs)  # part of the app's run, timed with it
            with runlog.timed_run("fragment", func.__name__) as run:
                who = refresh_signed_in()
                if who is None:  # signed out meanwhile: the whole app shows the form
                    st.rerun()
                scope.act_as(who)
                run["role"] = who.role
                return _told(func, *args, **kwargs)

        return st.fragment(body, key=key)  # type: ignore[return-value]

    return wrap


def _told(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func``'s result; a :class:`ConcertoError` becomes its message in the section.

    Streamlit draws an exception inside a fragment as an exception box, on the app's run as
    on the fragment's own (app.py's handler never sees it): the person gets the message
    that says what is wrong instead, and the rest of the page stays.
    """
    try:
        return func(*args, **kwargs)
    except ConcertoError as exc:
        st.error(plain(exc))
        return None


def rerun(keys: Sequence[str]) -> None:
    """From a widget callback: rerun the fragments named ``keys`` (no-op when empty, so the
    interaction's default rerun happens: its own fragment, or the whole app outside one).

    Streamlit stops the callback's run, finishes it (with a full garbage collection) and
    then runs the fragments: call this only when a fragment besides the widget's own must
    rerun."""
    if keys:
        st.rerun(scope=list(dict.fromkeys(keys)))

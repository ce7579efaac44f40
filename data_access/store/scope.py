"""Who is acting, and the slice of the mart they may read.

The app declares the signed-in person once per script run with :func:`act_as`; every read
in ``data_access`` then narrows its filter with :func:`scoped` and masks numbers unless
:func:`reveal_numbers` says otherwise. Pages cannot widen a scope: a regional manager's
query for another region is refused, and a query for "everything" returns their region.
Tools run from the command line act as nobody in particular (full scope, masked numbers)
unless they call :func:`act_as` themselves.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

from data_access.store.principal import Forbidden, Principal

#: A mart filter (``data_access.mart.queries.Slice``): a dataclass with branch and micro_region.
Slice = TypeVar("Slice")

_ACTING: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "concerto_acting", default=None)


def act_as(principal: Principal | None) -> None:
    """Declare who is acting in this thread (the app calls this on every script run)."""
    _ACTING.set(principal)


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Act as ``principal`` inside a ``with`` block, then restore whoever acted before."""
    token = _ACTING.set(principal)
    try:
        yield
    finally:
        _ACTING.reset(token)


def acting() -> Principal | None:
    return _ACTING.get()


def scope_key() -> tuple[str | None, str | None, bool]:
    """What a cached read depends on: the scope and whether numbers show (for cache keys)."""
    who = _ACTING.get()
    if who is None:
        return (None, None, False)
    return (who.scope_level, who.scope_value, who.sees_full_numbers)


def reveal_numbers() -> bool:
    """Whether the acting person may see full subscriber numbers."""
    who = _ACTING.get()
    return who is not None and who.sees_full_numbers


def in_scope(branch: str | None, micro_region: str | None) -> bool:
    """Whether a unit in ``branch`` / ``micro_region`` lies inside the acting scope."""
    who = _ACTING.get()
    if who is None or who.scope_level is None:
        return True
    if who.scope_level == "branch":
        return branch == who.scope_value
    return micro_region == who.scope_value


def scoped(slice_: Slice) -> Slice:
    """``slice_`` narrowed to the acting scope.

    Raises
    ------
    Forbidden
        When the slice names a branch or micro-region outside the scope.
    """
    who = _ACTING.get()
    if who is None or who.scope_level is None:
        return slice_
    field = who.scope_level  # "branch" or "micro_region", a Slice field either way
    asked = getattr(slice_, field)
    if asked is not None and asked != who.scope_value:
        raise Forbidden(f"{who.display_name} may see {field.replace('_', '-')} "
                        f"{who.scope_value} only, not {asked}.")
    return replace(slice_, **{field: who.scope_value})


def require(permission: str, doing: str) -> None:
    """Refuse (``Forbidden``) unless the acting person holds ``permission``; tools acting as
    nobody in particular may."""
    who = _ACTING.get()
    if who is not None:
        who.require(permission, doing)

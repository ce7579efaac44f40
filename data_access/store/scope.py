"""Who is acting, and the slice of the mart they may read.

The app declares the signed-in person once per script run with :func:`act_as`; every read
in ``data_access`` then narrows its filter with :func:`scoped` and masks numbers unless
:func:`reveal_numbers` says otherwise. Pages cannot widen a scope: a regional manager's
query for another region is refused, and a query for "everything" returns their region.
Scope fails closed: with nobody acting, reads and permission checks are refused
(:class:`NoPrincipal`), never answered with everything. Jobs that legitimately run without a
user (the scheduler, the command-line tools) act as the explicit system principal
``data_access.store.auth.SYSTEM`` (every permission, no scope, masked numbers), e.g. through
:func:`as_system`.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

from data_access.store.principal import SYSTEM, Forbidden, Principal

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


class NoPrincipal(Forbidden):
    """Nobody is acting: a read or write of data was attempted without a principal."""


def acting_principal(doing: str = "read data") -> Principal:
    """Who is acting, or ``NoPrincipal`` (scope fails closed: nobody sees nothing)."""
    who = _ACTING.get()
    if who is None:
        raise NoPrincipal(f"Nobody is signed in, so Concerto may not {doing}; sign in first "
                          "(jobs act as the system principal).")
    return who


_F = TypeVar("_F", bound=Callable[..., object])


def as_system(func: _F) -> _F:
    """Run ``func`` as the system principal (for scheduled jobs and command-line tools)."""

    @functools.wraps(func)
    def run(*args: object, **kwargs: object) -> object:
        with acting_as(SYSTEM):
            return func(*args, **kwargs)

    return run  # type: ignore[return-value]


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
    who = acting_principal()
    if who.scope_level is None:
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
    NoPrincipal
        When nobody is acting.
    """
    who = acting_principal()
    if who.scope_level is None:
        return slice_
    field = who.scope_level  # "branch" or "micro_region", a Slice field either way
    asked = getattr(slice_, field)
    if asked is not None and asked != who.scope_value:
        raise Forbidden(f"{who.display_name} may see {field.replace('_', '-')} "
                        f"{who.scope_value} only, not {asked}.")
    return replace(slice_, **{field: who.scope_value})


def require(permission: str, doing: str) -> None:
    """Refuse (``Forbidden``) unless the acting person holds ``permission``; with nobody
    acting, refuse (``NoPrincipal``)."""
    acting_principal(doing).require(permission, doing)

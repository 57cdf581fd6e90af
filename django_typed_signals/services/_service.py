"""``@service``: business logic in one transaction, its signals after the commit.

The pattern of teams that moved logic out of receivers: a service validates
and writes inside ``transaction.atomic``; what it sends with
``send_on_commit`` goes out once the outermost transaction commits (in send
order, not at all after a rollback), so receivers only see committed data
and are left to log, broadcast and clean caches. Nested services share the
outer transaction (Django's savepoints) and its one commit.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar, cast, overload

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .._audit import audit, checked_tags
from .._observe import committing_on
from .._receivers import describe_callable

__all__ = ["service"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


@overload
def service(func: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def service(
    *, using: str | None = None, tags: Iterable[str] = ()
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]: ...
def service(
    func: Callable[_P, _R] | None = None,
    /,
    *,
    using: str | None = None,
    tags: Iterable[str] = (),
) -> Callable[_P, _R] | Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Run ``func`` in ``transaction.atomic(using=using)``, under ``tags``.

    ``func`` takes keyword-only arguments (callers name what they pass),
    besides ``self``/``cls`` for a method of a service class. Sync
    or async: an async service runs its body in one transaction too, its ORM
    calls on the connection that holds it. ``tags`` join the audit context
    (``current_context().tags``) for everything the service does and sends.
    Signals sent with ``send_on_commit`` (and ``on_commit``/``run="celery"``
    receivers) wait for the commit of the service's database.
    """
    tag_set = checked_tags(tags, where="service()")
    if using is not None and not isinstance(using, str):
        raise TypeError(f"service(): using= must be a database alias, got {using!r}")

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        _check_function(function, using)
        if iscoroutinefunction(function):
            return cast(
                "Callable[_P, _R]",
                _async_service(
                    cast("Callable[..., Awaitable[Any]]", function), using, tag_set
                ),
            )
        return _sync_service(function, using, tag_set)

    return decorate if func is None else decorate(func)


def _check_function(function: object, using: str | None) -> None:
    if not callable(function):
        raise TypeError(f"@service decorates a function, got {function!r}")
    name = describe_callable(function)[0]
    if using is not None and using not in connections:
        raise ValueError(
            f"@service {name}: using={using!r} is not a database in DATABASES "
            f"(known: {', '.join(sorted(connections))})"
        )
    parameters = list(inspect.signature(function).parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]  # a method of a service class
    positional = [
        p.name
        for p in parameters
        if p.kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.VAR_POSITIONAL,
        )
    ]
    if positional:
        raise TypeError(
            f"@service {name} must take keyword-only arguments; make "
            f"{', '.join(positional)} keyword-only (def {function.__name__}(*, ...))"  # type: ignore[attr-defined]
        )


def _sync_service(
    function: Callable[_P, _R], using: str | None, tags: frozenset[str]
) -> Callable[_P, _R]:
    alias = using or DEFAULT_DB_ALIAS

    @functools.wraps(function)
    def run_service(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with audit(tags=tags), committing_on(alias), transaction.atomic(using=alias):
            return function(*args, **kwargs)

    return run_service


def _async_service(
    function: Callable[..., Awaitable[Any]], using: str | None, tags: frozenset[str]
) -> Callable[..., Awaitable[Any]]:
    """The body runs on the event loop; the transaction in the thread that
    Django's async ORM calls go to (``sync_to_async(thread_sensitive=True)``),
    which the body's own ORM calls then share: one connection, one atomic block.
    """
    alias = using or DEFAULT_DB_ALIAS

    @functools.wraps(function)
    async def run_service(*args: Any, **kwargs: Any) -> Any:
        def in_transaction() -> Any:
            with committing_on(alias), transaction.atomic(using=alias):
                return async_to_sync(function)(*args, **kwargs)

        with audit(tags=tags):
            return await sync_to_async(in_transaction, thread_sensitive=True)()

    return run_service

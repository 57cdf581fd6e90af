"""Who is acting, for whom, and why: the audit context receivers can read.

A context variable, so it follows the code that set it into ``await``s,
``sync_to_async`` threads and the ``on_commit`` callbacks scheduled under it
(the core carries it there), and never leaks across threads, asyncio tasks
or requests. The Celery bridge stores it with each delivery and restores it
in the worker. ``services`` re-exports these names; this module sits at the
bottom so that the dispatcher and the bridge can carry the context without
importing the layers above them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "AuditContext",
    "audit",
    "audit_var",
    "carrying_audit",
    "checked_tags",
    "current_context",
    "using_audit",
]

_R = TypeVar("_R")


def _empty() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AuditContext:
    """The actor (a user, as a model instance), organization, tags, trace id.

    ``extra`` holds anything else a project wants receivers to see (plain
    values: it travels to Celery workers with the delivery).
    """

    actor: Any = None
    organization: Any = None
    tags: frozenset[str] = frozenset()
    trace_id: str | None = None
    extra: Mapping[str, object] = field(default_factory=_empty)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", checked_tags(self.tags, where="AuditContext"))
        if self.trace_id is not None and not isinstance(self.trace_id, str):
            raise TypeError(
                "AuditContext: trace_id must be a string or None, "
                f"got {self.trace_id!r}"
            )
        if not isinstance(self.extra, Mapping):
            raise TypeError(
                f"AuditContext: extra must be a mapping, got {self.extra!r}"
            )
        bad = [key for key in self.extra if not isinstance(key, str)]
        if bad:
            raise TypeError(f"AuditContext: extra keys must be strings, got {bad[0]!r}")
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __bool__(self) -> bool:
        """False for the empty context (nothing set)."""
        return self != EMPTY


def checked_tags(tags: Iterable[str], *, where: str) -> frozenset[str]:
    """``tags`` as a frozenset of strings; a bare string or a non-string
    refused with a ``TypeError`` naming ``where``."""
    if isinstance(tags, str):
        raise TypeError(
            f"{where}: tags must be an iterable of strings, got the string {tags!r} "
            f"(write tags=({tags!r},))"
        )
    found = frozenset(tags)
    bad = sorted(repr(tag) for tag in found if not isinstance(tag, str))
    if bad:
        raise TypeError(f"{where}: tags must be strings, got {', '.join(bad)}")
    return found


EMPTY = AuditContext()

audit_var: ContextVar[AuditContext] = ContextVar("typed_signals_audit", default=EMPTY)
_get = audit_var.get


def current_context() -> AuditContext:
    """The audit context in effect here (an empty one when none was set)."""
    return _get()


_UNSET: Any = object()


@contextmanager
def audit(
    *,
    actor: Any = _UNSET,
    organization: Any = _UNSET,
    tags: Iterable[str] = (),
    trace_id: str | None = _UNSET,
    **extra: object,
) -> Generator[AuditContext, None, None]:
    """Set the audit context for the block; nested blocks refine it.

    What a nested block gives replaces the outer value; its ``tags`` and
    ``extra`` are merged into the outer ones. On exit the outer context is
    back, whatever the block raised.
    """
    outer = _get()
    context = AuditContext(
        actor=outer.actor if actor is _UNSET else actor,
        organization=outer.organization if organization is _UNSET else organization,
        tags=outer.tags | checked_tags(tags, where="audit()"),
        trace_id=outer.trace_id if trace_id is _UNSET else trace_id,
        extra={**outer.extra, **extra},
    )
    token = audit_var.set(context)
    try:
        yield context
    finally:
        audit_var.reset(token)


def using_audit(context: AuditContext, call: Callable[[], _R]) -> _R:
    """``call()`` with ``context`` in effect (a restored, stored context)."""
    token = audit_var.set(context)
    try:
        return call()
    finally:
        audit_var.reset(token)


def carrying_audit(call: Callable[[], _R]) -> Callable[[], _R]:
    """``call``, to be run later (after a commit) under today's audit context.

    Returns ``call`` itself when no context is set: the common case costs
    one context-variable read.
    """
    context = _get()
    if context is EMPTY:
        return call

    def with_context() -> _R:
        return using_audit(context, call)

    with_context.__qualname__ = getattr(call, "__qualname__", "with_context")
    return with_context

"""Side-effect-only receivers: they may read the database, never write to it.

Receivers that log, broadcast or clean caches are declared read-only, with
``receiver(..., read_only=True)`` or by their signal's group being listed in
``TYPED_SIGNALS["READ_ONLY_GROUPS"]``. A connect hook gives each such
connection a guard; during the call, Django's ``connection.execute_wrapper``
mechanism sees every statement on every database, and a write (INSERT,
UPDATE, DELETE, DDL, through the ORM or raw SQL) is refused, or logged, as
``TYPED_SIGNALS["READ_ONLY_RECEIVERS"]`` says. Writes to the table of a
``DatabaseCache`` are not writes here: cleaning a cache is a receiver's job.
Receivers that are not read-only get no guard, so they cost nothing more.

The check lives in a context variable, so it follows an async receiver into
the ``sync_to_async`` thread its queries run in: once an async read-only
receiver is connected, each database connection opened from then on checks
the variable (one lookup per statement).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings as django_settings
from django.core import mail
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.test.signals import setting_changed

from .._groups import note_group_references
from .._receivers import describe_callable
from .._registry import ConnectRequest, register_connect_hook
from ..conf import get_settings

__all__ = [
    "ReadOnlyReceiverError",
    "install",
    "is_write",
    "note_read_only_groups",
    "read_only_mode",
    "stop_guarding_every_connection",
    "writes_only_to",
]

logger = logging.getLogger("django_typed_signals.services")


class ReadOnlyReceiverError(RuntimeError):
    """A read-only receiver ran a statement that writes; it did not run."""

    def __init__(self, *, receiver: str, signal: str, statement: str, using: str):
        self.receiver = receiver
        self.signal = signal
        self.statement = statement
        self.using = using
        super().__init__(
            f"{receiver}, a read-only receiver of {signal}, tried to write to "
            f"database {using!r}: {statement!r}. Move the write into a service "
            "(or connect the receiver with read_only=False)"
        )


# -- which statements write -------------------------------------------------

_LEADING = re.compile(r"(?:\s+|\(|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
_READS = frozenset(
    {
        "SELECT",
        "SHOW",
        "VALUES",
        "TABLE",
        # transaction control, which atomic() blocks in a receiver issue
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        # session state, cursors
        "SET",
        "RESET",
        "PRAGMA",
        "DECLARE",
        "FETCH",
        "MOVE",
        "CLOSE",
    }
)
_MAY_WRAP_A_WRITE = frozenset({"WITH", "EXPLAIN"})
_WRITE_WORDS = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def _statement(sql: object) -> tuple[str, int]:
    """``sql`` as text, and where its first word starts (after blanks,
    comments and opening parentheses)."""
    text = sql if isinstance(sql, str) else str(sql)
    leading = _LEADING.match(text)  # matches the empty string at least
    return text, leading.end() if leading else 0


def is_write(sql: object) -> bool:
    """Whether ``sql`` may change data or schema: anything but a known read.

    ``WITH`` and ``EXPLAIN`` count as writes when they hold INSERT, UPDATE,
    DELETE or MERGE (a data-modifying CTE, ``EXPLAIN ANALYZE``). Not a
    parser: a statement it does not know is a write.
    """
    text, start = _statement(sql)
    word = _FIRST_WORD.match(text, start)
    if word is None:
        return bool(text.strip())
    first = word.group().upper()
    if first in _READS:
        return False
    if first in _MAY_WRAP_A_WRITE:
        return _WRITE_WORDS.search(text, word.end()) is not None
    return True


def _cache_tables() -> frozenset[str]:
    """The tables of the ``DatabaseCache`` backends in ``CACHES``."""
    caches: dict[str, dict[str, Any]] = getattr(django_settings, "CACHES", {})
    return frozenset(
        str(config.get("LOCATION", "")).lower()
        for config in caches.values()
        if str(config.get("BACKEND", "")).endswith(".DatabaseCache")
    )


_TARGET = re.compile(
    r"(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+[\"`\[]?([\w.]+)", re.IGNORECASE
)


def writes_only_to(sql: object, tables: frozenset[str]) -> bool:
    """Whether ``sql`` is an INSERT, UPDATE or DELETE of one of ``tables``."""
    if not tables:
        return False
    text, start = _statement(sql)
    found = _TARGET.match(text, start)
    return found is not None and found.group(1).lower() in tables


def _first_words(sql: object, limit: int = 60) -> str:
    text = " ".join((sql if isinstance(sql, str) else str(sql)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the mode -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Configured:
    mode: str | None  # READ_ONLY_RECEIVERS
    debug: bool
    groups: frozenset[str]  # READ_ONLY_GROUPS
    cache_tables: frozenset[str]  # DatabaseCache tables: cleaning a cache is no write


_configured: _Configured | None = None


def _settings() -> _Configured:
    """The settings read here, kept until a ``setting_changed`` says otherwise
    (read on every guarded call and every connection)."""
    global _configured
    configured = _configured
    if configured is None:
        found = get_settings()
        configured = _configured = _Configured(
            found.read_only_receivers,
            bool(django_settings.DEBUG),
            found.read_only_groups,
            _cache_tables(),
        )
    return configured


def read_only_mode() -> str:
    """``READ_ONLY_RECEIVERS``; unset: "raise" under DEBUG or tests, else "warn".

    "Under tests" is Django's test environment (``setup_test_environment()``,
    which Django's runner and pytest-django call; it sets ``mail.outbox``).
    """
    configured = _settings()
    if configured.mode is not None:
        return configured.mode
    if configured.debug or getattr(mail, "outbox", None) is not None:
        return "raise"
    return "warn"


@receiver(setting_changed, dispatch_uid="django_typed_signals.read_only_mode")
def _forget_mode(*, setting: str, **kwargs: object) -> None:
    global _configured
    if setting in ("TYPED_SIGNALS", "DEBUG", "CACHES"):
        _configured = None


# -- the guard ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scope:
    receiver: str
    signal: str
    raises: bool

    def caught(self, sql: object, using: str) -> None:
        if self.raises:
            raise ReadOnlyReceiverError(
                receiver=self.receiver,
                signal=self.signal,
                statement=_first_words(sql),
                using=using,
            )
        logger.warning(
            "%s, a read-only receiver of %s, wrote to database %r: %r",
            self.receiver,
            self.signal,
            using,
            _first_words(sql),
        )


_scope: ContextVar[_Scope | None] = ContextVar("typed_signals_read_only", default=None)


def _check_statement(
    execute: Callable[..., Any],
    sql: Any,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    """The execute wrapper: refuse (or report) a write inside a scope."""
    scope = _scope.get()
    if (
        scope is not None
        and is_write(sql)
        and not writes_only_to(sql, _settings().cache_tables)
    ):
        scope.caught(sql, context["connection"].alias)
    return execute(sql, params, many, context)


def _add_to(connection: BaseDatabaseWrapper) -> bool:
    """Wrap ``connection``'s statements; False if they were already."""
    wrappers: list[Any] = connection.execute_wrappers
    if _check_statement in wrappers:
        return False
    wrappers.insert(0, _check_statement)  # outermost: sees what others pass on
    return True


class _Guarding:
    """One guarded call: the scope set, the statement check on every connection."""

    __slots__ = ("_added", "_scopes", "_token")

    def __init__(self, scopes: tuple[_Scope, _Scope]) -> None:
        self._scopes = scopes  # (warning, raising)
        self._token: Token[_Scope | None] | None = None
        self._added: list[BaseDatabaseWrapper] = []

    def __enter__(self) -> None:
        mode = read_only_mode()
        if mode == "off":
            return
        self._token = _scope.set(self._scopes[mode == "raise"])
        self._added = [c for c in connections.all() if _add_to(c)]

    def __exit__(self, *exc_info: object) -> None:
        token = self._token
        if token is None:
            return
        for connection in self._added:
            connection.execute_wrappers.remove(_check_statement)
        _scope.reset(token)


def _on_connection_created(
    *, connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    _add_to(connection)


_everywhere = False


def _guard_every_connection() -> None:
    """For async receivers, whose queries run on connections of other threads.

    Connections opened from now on (``connection_created``), and the open ones
    of this thread; one that another thread holds open already is checked
    from its next connect. Receivers connected at startup (``signals``
    modules) come before any request's connection.
    """
    global _everywhere
    if _everywhere:
        return
    _everywhere = True
    connection_created.connect(
        _on_connection_created, dispatch_uid="django_typed_signals.read_only"
    )
    for connection in connections.all(initialized_only=True):
        _add_to(connection)


def stop_guarding_every_connection() -> None:
    """Undo ``_guard_every_connection`` (for tests), in this thread."""
    global _everywhere
    _everywhere = False
    connection_created.disconnect(dispatch_uid="django_typed_signals.read_only")
    for connection in connections.all(initialized_only=True):
        if _check_statement in connection.execute_wrappers:
            connection.execute_wrappers.remove(_check_statement)


# -- the connect hook -------------------------------------------------------


def _read_only_hook(request: ConnectRequest) -> None:
    """Take ``read_only=``; give read-only connections their guard."""
    declared = request.options.pop("read_only", None)
    if declared is not None and not isinstance(declared, bool):
        raise TypeError(
            f"{request.signal.name}: read_only= must be True or False, got {declared!r}"
        )
    if declared is None:
        signal_groups = request.signal.groups
        if not signal_groups or not django_settings.configured:
            return
        declared = not _settings().groups.isdisjoint(signal_groups)
    if not declared:
        return
    receiver_name = describe_callable(request.receiver)[0]
    scopes = (
        _Scope(receiver_name, request.signal.name, raises=False),
        _Scope(receiver_name, request.signal.name, raises=True),
    )

    def guard() -> AbstractContextManager[None]:
        return _Guarding(scopes)

    request.guards.append(guard)
    if iscoroutinefunction(request.receiver):
        request.on_connected.append(_guard_every_connection)


_installed = False


def install() -> None:
    """Register the connect hook (``services`` does, when imported)."""
    global _installed
    if _installed:
        return
    _installed = True
    register_connect_hook(_read_only_hook)


def note_read_only_groups() -> None:
    """Let the system checks report ``READ_ONLY_GROUPS`` names no signal has."""
    note_group_references(
        sorted(_settings().groups),
        where="TYPED_SIGNALS['READ_ONLY_GROUPS']",
    )

"""The options a receiver is connected with, declared once.

``ConnectOptions`` lists them for the type checkers: ``Signal.connect()``,
``TypedSignal.connect()`` and ``receiver()`` take
``**options: Unpack[ConnectOptions]``, so a new option is one line here (and
its handling). ``read_options()`` checks them at run time, with the errors
users see. Options that belong to an executor (``run="celery"`` takes
``queue=``) are handed to it; options that belong to a connect hook are taken
by the hook before they get here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from ._receivers import describe_callable
from ._registry import Executor, executor_for, known_executors

if TYPE_CHECKING:
    from ._signal import Signal

__all__ = [
    "CORE_OPTIONS",
    "EXECUTOR_OPTIONS",
    "HOOK_OPTIONS",
    "AllConnectOptions",
    "BridgedReceiverOptions",
    "ConnectOptions",
    "ExecutorOptions",
    "ReadOptions",
    "ReceiverOptions",
    "read_options",
]


class _CallOptions(TypedDict, total=False):
    priority: int
    """Lower runs first; equal priorities keep the order of connection."""
    match_subclasses: bool
    """Also receive sends from subclasses (and proxies) of ``sender``."""
    timeout: float | None
    """Seconds an async receiver may take before it fails with ``TimeoutError``."""
    on_commit: bool
    """Call after the current transaction commits: ``run="on_commit"``."""
    read_only: bool
    """Side-effect-only: a database write inside the call is refused or
    logged (``services``; ``False`` opts out of ``READ_ONLY_GROUPS``)."""


class ConnectOptions(_CallOptions, total=False):
    """Keyword options of ``connect()`` and ``receiver()``."""

    run: str
    """Who calls the receiver: ``"inline"`` (the default), ``"on_commit"``,
    or an executor another layer registered (``"celery"``)."""


class ExecutorOptions(TypedDict, total=False):
    """Options that the executor named by ``run=`` takes (the Celery bridge's).

    Declared here so that type checkers know them; at run time the core
    hands them to the executor, which refuses them when it does not take them.
    """

    queue: str
    """The Celery queue the delivery goes to (default: Celery's default)."""
    atomic: bool
    """Run the receiver and mark its delivery done in one transaction."""
    max_attempts: int
    """Attempts before the delivery is marked dead (default 8)."""
    lease: float
    """Seconds a worker holds a delivery before another may take it."""


class AllConnectOptions(ConnectOptions, ExecutorOptions, total=False):
    """Everything ``connect()`` takes by keyword besides ``when=``."""


class ReceiverOptions(AllConnectOptions, total=False):
    """``receiver()`` also takes ``connect()``'s positional arguments by name."""

    weak: bool
    dispatch_uid: object


class BridgedReceiverOptions(_CallOptions, ExecutorOptions, total=False):
    """``receiver(..., run="celery", ...)``: the others, ``run`` given apart."""

    weak: bool
    dispatch_uid: object


HOOK_OPTIONS = frozenset({"read_only"})
"""Declared here for the type checkers, taken by a connect hook (``services``)."""
CORE_OPTIONS = frozenset(ConnectOptions.__optional_keys__) - HOOK_OPTIONS
EXECUTOR_OPTIONS = frozenset(ExecutorOptions.__optional_keys__)


def _options_of(run: str) -> frozenset[str]:
    executor = executor_for(run)
    return executor.options if executor is not None else frozenset()


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Checked options, ready to be kept with the connection."""

    priority: int
    match_subclasses: bool
    timeout: float | None
    run: str
    executor: Executor | None  # None for "inline": the plain call
    run_options: Mapping[str, object]


def read_options(
    signal: Signal,
    receiver: Callable[..., Any],
    sender: object,
    is_async: bool,
    options: Mapping[str, Any],
    *,
    method: str,
) -> ReadOptions:
    """Check ``options`` for ``receiver``; raise what Python or we would."""
    if not options:
        return _DEFAULTS
    on_commit = options.get("on_commit", False)
    run = options.get("run")
    if run is None:
        run = "on_commit" if on_commit else "inline"
    elif not isinstance(run, str):
        raise TypeError(f"{signal.name}: run= must be a string, got {run!r}")
    elif on_commit and run != "on_commit":
        raise ValueError(
            f"{signal.name}: on_commit=True means run='on_commit', which contradicts "
            f"run={run!r}"
        )
    executor = executor_for(run)
    if executor is None:
        known = ", ".join(repr(each) for each in known_executors())
        raise ValueError(
            f"{signal.name}: receiver {describe_callable(receiver)[0]} has "
            f"run={run!r}, which no executor handles; known values: {known}"
        )
    run_options = {k: v for k, v in options.items() if k not in CORE_OPTIONS}
    for key in run_options:
        if key in executor.options:
            continue
        if key in HOOK_OPTIONS:
            raise ValueError(
                f"{signal.name}: {key}= is taken by django_typed_signals.services, "
                "which is not loaded: add 'django_typed_signals' to INSTALLED_APPS "
                "(or import django_typed_signals.services) before connecting"
            )
        if key not in EXECUTOR_OPTIONS:
            raise TypeError(f"{method}() got an unexpected keyword argument {key!r}")
        takers = [n for n in known_executors() if key in _options_of(n)]
        raise ValueError(
            f"{signal.name}: {key}= is an option of "
            f"{' or '.join(f'run={n!r}' for n in takers) or 'another executor'} "
            f"receivers; {describe_callable(receiver)[0]} has run={run!r}"
        )

    priority = options.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"{signal.name}: priority must be an int, got {priority!r}")
    timeout = options.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(
                f"{signal.name}: timeout must be a number of seconds, got {timeout!r}"
            )
        if timeout <= 0:
            raise ValueError(f"{signal.name}: timeout must be > 0, got {timeout!r}")
        if not is_async:
            raise ValueError(
                f"{signal.name}: timeout= applies to async receivers; "
                f"{describe_callable(receiver)[0]} is synchronous"
            )
    match_subclasses = bool(options.get("match_subclasses", False))
    if match_subclasses and not isinstance(sender, type):
        raise TypeError(
            f"{signal.name}: match_subclasses=True needs a class as sender, "
            f"got {sender!r}"
        )
    executor.check(signal, receiver, is_async, run_options)
    return ReadOptions(
        priority=priority,
        match_subclasses=match_subclasses,
        timeout=timeout,
        run=run,
        executor=None if run == "inline" else executor,
        run_options=run_options,
    )


_DEFAULTS = ReadOptions(
    priority=0,
    match_subclasses=False,
    timeout=None,
    run="inline",
    executor=None,
    run_options={},
)

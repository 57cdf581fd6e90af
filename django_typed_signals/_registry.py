"""Process-wide registries that the dispatcher reads and other layers fill.

A leaf module, so that every layer can import it and the dispatcher never
imports the layers that extend it (httpx's transports, Django's check
registry):

* the signals alive in the process;
* executors, by the ``run=`` name a receiver is connected with: ``"inline"``
  and ``"on_commit"`` come with the core, the Celery bridge adds ``"celery"``;
* connect hooks, which see every connection before it is made and may reject
  it, take options of their own, or add guards around each call;
* event families: payload classes that stand for a signal in ``receiver()``
  (``lifecycle``'s ``PostSave`` and the others);
* ``CHECKS_TAG``, the tag every layer's system checks register under.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._signal import Signal

__all__ = [
    "CHECKS_TAG",
    "ConnectHook",
    "ConnectRequest",
    "EventFamily",
    "Executor",
    "PendingCall",
    "all_signals",
    "connect_hooks",
    "event_family",
    "executor_for",
    "known_executors",
    "register_connect_hook",
    "register_event_family",
    "register_executor",
    "register_signal",
    "remove_connect_hook",
]

CHECKS_TAG = "typed_signals"
"""The tag of every system check of this package (``checks.TAG``)."""

_lock = threading.Lock()
_all_signals: weakref.WeakSet[Signal] = weakref.WeakSet()


def register_signal(signal: Signal) -> None:
    """Called by every ``Signal.__init__``."""
    _all_signals.add(signal)


def all_signals() -> list[Signal]:
    """Every live ``django_typed_signals`` signal in the process."""
    return list(_all_signals)


# -- executors ------------------------------------------------------------


class PendingCall(Protocol):
    """One receiver call that an executor runs now, later or elsewhere."""

    @property
    def signal(self) -> Signal: ...
    @property
    def receiver(self) -> Callable[..., Any]: ...
    @property
    def sender(self) -> object: ...
    @property
    def named(self) -> Mapping[str, Any]:
        """The send's keyword arguments (``payload=`` for typed signals)."""
        ...

    @property
    def run_options(self) -> Mapping[str, object]:
        """The connect options the executor took (``queue=``...)."""
        ...

    def __call__(self) -> object:
        """Call the receiver now, reporting to observers and ``on_error``."""
        ...


class Executor(Protocol):
    """Runs receivers connected with ``run=<its name>``."""

    @property
    def options(self) -> frozenset[str]:
        """Connect options it takes besides the core's (``queue``...)."""
        ...

    @property
    def passes(self) -> frozenset[str]:
        """Keyword arguments it passes to receivers besides the send's
        (``delivery``), which typed receivers may therefore require."""
        ...

    def check(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        is_async: bool,
        run_options: Mapping[str, object],
    ) -> None:
        """Refuse, at connect time, what it cannot run (raise)."""
        ...

    def submit(self, call: PendingCall) -> object:
        """Run ``call``, or arrange for it to run; the result is the response."""
        ...


_executors: dict[str, Executor] = {}


def register_executor(name: str, executor: Executor) -> None:
    """Make ``run=name`` available to every signal (one executor per name)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_executor(): name must be a string, got {name!r}")
    with _lock:
        current = _executors.get(name)
        if current is not None and current is not executor:
            raise ValueError(f"register_executor(): {name!r} is already registered")
        _executors[name] = executor


def executor_for(name: str) -> Executor | None:
    return _executors.get(name)


def known_executors() -> list[str]:
    """The ``run=`` values registered so far, sorted."""
    return sorted(_executors)


# -- connect hooks --------------------------------------------------------


@dataclass
class ConnectRequest:
    """A connection about to be made, as connect hooks see it.

    A hook may raise to refuse it, take (``pop``) options of its own from
    ``options`` (whatever is left must be an option the core or the executor
    knows), append guards (context manager factories entered around each
    call of the receiver), and append ``on_connected`` callbacks, called once
    the connection is made (not when the core refuses it after the hooks).
    """

    signal: Signal
    receiver: Callable[..., Any]
    sender: object
    when: Callable[[Any], bool] | None
    options: dict[str, Any]
    guards: list[Callable[[], AbstractContextManager[object]]] = field(
        default_factory=list[Callable[[], AbstractContextManager[object]]]
    )
    on_connected: list[Callable[[], None]] = field(
        default_factory=list[Callable[[], None]]
    )


ConnectHook = Callable[[ConnectRequest], None]
_connect_hooks: tuple[ConnectHook, ...] = ()


def register_connect_hook(hook: ConnectHook) -> None:
    """Call ``hook`` for every connection to any of this package's signals."""
    global _connect_hooks
    with _lock:
        if hook not in _connect_hooks:
            _connect_hooks = (*_connect_hooks, hook)


def remove_connect_hook(hook: ConnectHook) -> None:
    """Stop calling ``hook``; connections it already saw stay as they are."""
    global _connect_hooks
    with _lock:
        _connect_hooks = tuple(h for h in _connect_hooks if h != hook)


def connect_hooks() -> tuple[ConnectHook, ...]:
    return _connect_hooks


# -- event families -------------------------------------------------------


class EventFamily(Protocol):
    """Payload classes that ``receiver()`` accepts in place of a signal."""

    def signal_for(self, event: type[Any]) -> Signal:
        """The signal that carries ``event`` payloads."""
        ...

    def check(
        self,
        event: type[Any],
        receiver: Callable[..., Any],
        *,
        sender: object,
        when: Callable[[Any], bool] | None,
    ) -> None:
        """Refuse a receiver before anything of its list is connected."""
        ...


_families: dict[type[Any], EventFamily] = {}


def register_event_family(base: type[Any], family: EventFamily) -> None:
    """Let ``receiver()`` take ``base`` and its subclasses as signals."""
    with _lock:
        _families[base] = family


def event_family(value: object) -> EventFamily | None:
    """The family ``value`` (a class) belongs to, if any."""
    if not isinstance(value, type):
        return None
    for base in value.__mro__:
        family = _families.get(base)
        if family is not None:
            return family
    return None

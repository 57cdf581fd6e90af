"""Calling receivers: observers, conditions, timeouts, guards and executors.

Signals without observers, an error handler, or receivers with ``when=``,
``timeout=``, guards or another ``run=`` than ``"inline"`` never reach this
module at send time: they use Django's dispatch path unchanged. The others
hand each receiver to a small wrapper that checks its condition, hands it to
its executor (``"on_commit"`` here; others registered by other layers) or
calls it inside its guards, times the call and reports a ``ReceiverCall``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from asgiref.sync import iscoroutinefunction

from ._audit import carrying_audit
from ._receivers import describe_callable
from ._registry import PendingCall, all_signals, register_executor

if TYPE_CHECKING:
    from ._registry import Executor
    from ._signal import Signal

__all__ = [
    "Observer",
    "ReceiverCall",
    "add_observer",
    "commit_alias",
    "committing_on",
    "observers",
    "remove_observer",
    "schedule_send",
    "unwrapping",
]

logger = logging.getLogger("django_typed_signals")


@dataclass(slots=True)
class ReceiverCall:
    """What an observer learns about one receiver call.

    Built once per call while observers are registered (a slots class, not a
    frozen dataclass, because it is on that path); treat it as read-only.
    """

    signal: Signal
    receiver: Callable[..., object]
    sender: object
    duration: float
    """Seconds spent in the receiver (wall clock)."""
    exception: BaseException | None

    @property
    def ok(self) -> bool:
        """Whether the receiver returned without raising."""
        return self.exception is None


Observer = Callable[[ReceiverCall], object]

_observers_lock = threading.Lock()
_observers: tuple[Observer, ...] = ()


def observers() -> tuple[Observer, ...]:
    """The observers called after every receiver call of every signal."""
    return _observers


def add_observer(observer: Observer) -> Observer:
    """Call ``observer(ReceiverCall)`` after every receiver call; returns it.

    An observer that raises is logged and ignored: observing never changes
    what a send does.
    """
    global _observers
    if not callable(observer):
        raise TypeError(f"add_observer() takes a callable, got {observer!r}")
    with _observers_lock:
        if observer not in _observers:
            _observers = (*_observers, observer)
    _refresh_all_signals()
    return observer


def remove_observer(observer: Observer) -> None:
    """Stop calling ``observer``; raises ``ValueError`` if it was not added."""
    global _observers
    with _observers_lock:
        if observer not in _observers:
            raise ValueError(f"remove_observer(): {observer!r} is not an observer")
        _observers = tuple(o for o in _observers if o != observer)
    _refresh_all_signals()


def _refresh_all_signals() -> None:
    for signal in all_signals():
        signal._refresh_dispatch_path()  # pyright: ignore[reportPrivateUsage]


def report(
    signal: Signal,
    receiver: Callable[..., object],
    sender: object,
    started: float,
    exception: BaseException | None,
) -> None:
    """Tell the error handler and the observers about one finished call."""
    handle_error(signal, receiver, exception)
    if _observers:
        tell_observers(
            ReceiverCall(signal, receiver, sender, perf_counter() - started, exception)
        )


def handle_error(
    signal: Signal, receiver: Callable[..., object], exception: BaseException | None
) -> None:
    """Hand a receiver's exception to the signal's ``on_error`` handler, if any."""
    if signal.on_error is not None and isinstance(exception, Exception):
        try:
            signal.on_error(signal, receiver, exception)
        except Exception:
            logger.exception("Error handler of signal %s failed", signal.name)


def tell_observers(call: ReceiverCall) -> None:
    """Call every observer with ``call``; one that raises is logged, not raised."""
    for observer in _observers:
        try:
            observer(call)
        except Exception:
            logger.exception(
                "Observer %r of signal %s failed", observer, call.signal.name
            )


class CallOptions(Protocol):
    """How ``connect`` asked for one receiver to be called."""

    @property
    def timeout(self) -> float | None: ...
    @property
    def when(self) -> Callable[[Any], bool] | None: ...
    @property
    def executor(self) -> Executor | None: ...
    @property
    def run_options(self) -> Mapping[str, object]: ...
    @property
    def guards(self) -> tuple[Callable[[], AbstractContextManager[object]], ...]: ...


@dataclass(frozen=True, slots=True)
class _PendingCall:
    """A call handed to an executor; calling it runs the receiver now."""

    signal: Signal
    receiver: Callable[..., Any]
    sender: object
    named: Mapping[str, Any]
    options: CallOptions
    signal_argument: object  # what the receiver gets as signal=

    @property
    def run_options(self) -> Mapping[str, object]:
        return self.options.run_options

    def __call__(self) -> object:
        wrapper = ObservedReceiver(self.signal, self.receiver, self.options)
        return wrapper.call_now(self.signal_argument, self.sender, dict(self.named))


class ObservedReceiver:
    """Stands in for a synchronous receiver during one send."""

    __slots__ = ("options", "receiver", "signal")

    def __init__(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        options: CallOptions | None,
    ) -> None:
        self.signal = signal
        self.receiver = receiver
        self.options = options

    def __call__(self, *, signal: object, sender: object, **named: Any) -> Any:
        options = self.options
        if options is not None:
            if options.when is not None and not options.when(named.get("payload")):
                return None
            if options.executor is not None:
                call = _PendingCall(
                    self.signal, self.receiver, sender, named, options, signal
                )
                return options.executor.submit(call)
        return self.call_now(signal, sender, named)

    def call_now(self, signal: object, sender: object, named: dict[str, Any]) -> Any:
        """Call the receiver here and now, inside its guards, and report it."""
        guards = self.options.guards if self.options is not None else ()
        started = perf_counter()
        try:
            if guards:
                with ExitStack() as stack:
                    for guard in guards:
                        stack.enter_context(guard())
                    result = self.receiver(signal=signal, sender=sender, **named)
            else:
                result = self.receiver(signal=signal, sender=sender, **named)
        except BaseException as exc:
            report(self.signal, self.receiver, sender, started, exc)
            raise
        report(self.signal, self.receiver, sender, started, None)
        return result


class ObservedAsyncReceiver:
    """Stands in for an asynchronous receiver, adding its optional timeout."""

    __slots__ = ("options", "receiver", "signal", "timeout")

    def __init__(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        options: CallOptions | None,
    ) -> None:
        self.signal = signal
        self.receiver = receiver
        self.options = options
        self.timeout = options.timeout if options is not None else None

    async def __call__(self, *, signal: object, sender: object, **named: Any) -> Any:
        options = self.options
        if options is not None:
            if options.when is not None and not options.when(named.get("payload")):
                return None
            if options.executor is not None:
                call = _PendingCall(
                    self.signal, self.receiver, sender, named, options, signal
                )
                return options.executor.submit(call)
        guards = options.guards if options is not None else ()
        started = perf_counter()
        try:
            with ExitStack() as stack:
                for guard in guards:
                    stack.enter_context(guard())
                awaitable = self.receiver(signal=signal, sender=sender, **named)
                if self.timeout is None:
                    result = await awaitable
                else:
                    try:
                        result = await asyncio.wait_for(awaitable, self.timeout)
                    except asyncio.TimeoutError as exc:
                        raise TimeoutError(
                            f"{self.signal.name}: receiver "
                            f"{describe_callable(self.receiver)[0]} did not finish "
                            f"within {self.timeout}s"
                        ) from exc
        except BaseException as exc:
            report(self.signal, self.receiver, sender, started, exc)
            raise
        report(self.signal, self.receiver, sender, started, None)
        return result


class _Inline:
    """``run="inline"``, the default: the receiver is called during the send."""

    options: frozenset[str] = frozenset()
    passes: frozenset[str] = frozenset()

    def check(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        is_async: bool,
        run_options: Mapping[str, object],
    ) -> None:
        pass

    def submit(self, call: PendingCall) -> object:
        return call()


class _OnCommit:
    """``run="on_commit"`` (``on_commit=True``): after the transaction commits.

    Robust: the caller's data is committed already, so a failing receiver is
    logged (and reported) instead of raising from the commit. Model payloads
    name their database, and the call waits for that one's commit.
    """

    options: frozenset[str] = frozenset()
    passes: frozenset[str] = frozenset()

    def check(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        is_async: bool,
        run_options: Mapping[str, object],
    ) -> None:
        if is_async:
            raise ValueError(
                f"{signal.name}: on_commit=True needs a synchronous receiver; "
                f"{describe_callable(receiver)[0]} is async"
            )

    def submit(self, call: PendingCall) -> object:
        from django.db import transaction

        def call_after_commit() -> None:
            call()

        # Django logs a robust callback's __qualname__: name the receiver.
        call_after_commit.__qualname__ = describe_callable(call.receiver)[0]
        transaction.on_commit(
            carrying_audit(call_after_commit),
            using=commit_alias(database_of(call.named.get("payload"))),
            robust=True,
        )
        return None


register_executor("inline", _Inline())
register_executor("on_commit", _OnCommit())


_commit_alias: ContextVar[str | None] = ContextVar(
    "typed_signals_commit_alias", default=None
)


def commit_alias(using: str | None) -> str | None:
    """``using``, else the database of the enclosing ``@service``, if any.

    After-commit work that names no database waits for the service's own
    commit, not for the default database's (which may have no transaction
    open, and would run it at once).
    """
    return using if using is not None else _commit_alias.get()


@contextmanager
def committing_on(using: str | None) -> Generator[None, None, None]:
    """Make ``using`` the database after-commit work waits for, in the block."""
    token = _commit_alias.set(using)
    try:
        yield
    finally:
        _commit_alias.reset(token)


def database_of(payload: object) -> str | None:
    """The alias whose commit an ``on_commit`` receiver waits for.

    Only payload classes that name the attribute holding their alias in
    ``__typed_signals_using__`` (the model and migrate payloads) choose it; a
    user's payload field that happens to be called ``using`` is just data.
    """
    attribute = getattr(type(payload), "__typed_signals_using__", None)
    if attribute is None:
        return None
    using = getattr(payload, attribute, None)
    return using if isinstance(using, str) else None


def unwrap(receiver: object) -> Any:
    """The user's receiver behind an observing wrapper (or the object itself)."""
    if isinstance(receiver, (ObservedReceiver, ObservedAsyncReceiver)):
        return receiver.receiver
    return receiver


def schedule_send(
    signal: Signal, method_name: str, using: str | None, *args: Any, **named: Any
) -> None:
    """Call ``signal.<method_name>`` after the commit on ``using``.

    The method is looked up at commit time, so the taps present then (a
    ``capture()`` opened after the send but before the commit) hear it.
    """
    from django.db import transaction

    def send_after_commit() -> None:
        getattr(signal, method_name)(*args, **named)

    transaction.on_commit(carrying_audit(send_after_commit), using=commit_alias(using))


def unwrapping(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a bound send method) returning the users' receivers."""
    if iscoroutinefunction(method):

        async def asend_unwrapped(*args: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
            responses: Sequence[tuple[Any, Any]] = await method(*args, **kwargs)
            return [(unwrap(r), response) for r, response in responses]

        return asend_unwrapped

    def send_unwrapped(*args: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
        responses: Sequence[tuple[Any, Any]] = method(*args, **kwargs)
        return [(unwrap(r), response) for r, response in responses]

    return send_unwrapped

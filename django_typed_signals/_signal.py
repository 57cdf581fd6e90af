"""The dispatcher: ``Signal``, a drop-in ``django.dispatch.Signal``, and
``TypedSignal[P]``, which sends one payload dataclass.

Django's own send methods do the dispatching. This class keeps Django's
``receivers`` list (and its tuple layout, which differs between Django
versions) and only adds work where it cannot be avoided:

* at connect time: validation, metadata, and priority order (the list is kept
  sorted, so sending pays nothing for it);
* in ``_live_receivers``: one context-variable read for muting, and, only for
  signals that need it (observers, error handler, ``on_commit``/``timeout``
  receivers, subclass sender matching), a slower path.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import iscoroutinefunction

from ._connections import (
    Connection,
    RejectedConnection,
    SenderCache,
    deref,
    entry_key,
    make_id,
    new_entry,
    receiver_infos,
    reference,
)
from ._groups import declare_groups
from ._observe import (
    observers,
    unwrapping,
)
from ._options import AllConnectOptions, read_options
from ._receivers import (
    ReceiverInfo,
    check_receiver,
    describe_callable,
)
from ._registry import (
    ConnectHook,
    ConnectRequest,
    Executor,
    all_signals,
    connect_hooks,
    register_signal,
)
from ._sending import Responses, Sending
from ._taps import SEND_METHODS, Taps, tapped

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ErrorHandler",
    "RejectedConnection",
    "Responses",
    "Signal",
    "all_signals",
]


_R = TypeVar("_R", bound=Callable[..., Any])

ErrorHandler = Callable[["Signal", Callable[..., Any], Exception], object]
"""``on_error(signal, receiver, exception)``: called for every receiver error."""


class Signal(Taps, Sending):
    """A ``django.dispatch.Signal`` with names, groups, priorities and muting.

    :param use_caching: as in Django; also works when the sender is ``None``.
    :param name: shown in errors and tooling; defaults to ``module.variable``.
    :param groups: group names that ``mute()`` can silence together.
    :param on_error: ``on_error(signal, receiver, exception)`` is called for
        each receiver that raises, under ``send`` (which then re-raises) and
        ``send_robust`` (which returns the exception), e.g. to report to Sentry.
    """

    _dead_receivers: bool  # set by Django's __init__
    # Reentrant, so that connect() can keep the lock while Django's connect()
    # takes it too: a send never sees the list before it is sorted.
    lock: threading.RLock  # type: ignore[assignment]
    sender_receivers_cache: MutableMapping[Any, Any]
    groups: frozenset[str]
    """Group names that ``mute()`` can silence this signal by."""

    def __init__(
        self,
        use_caching: bool = False,
        *,
        name: str | None = None,
        groups: Iterable[str] = (),
        on_error: ErrorHandler | None = None,
    ) -> None:
        super().__init__(use_caching=use_caching)
        self.lock = threading.RLock()  # pyright: ignore[reportIncompatibleVariableOverride]
        if use_caching:
            self.sender_receivers_cache = SenderCache()
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"Signal name must be a non-empty string, got {name!r}")
        if on_error is not None and not callable(on_error):
            raise TypeError(f"Signal on_error must be callable, got {on_error!r}")
        self._name = name
        self._defined_in = _caller_module(self)
        self.groups = declare_groups(groups, owner=f"Signal {name or ''}".strip())
        self.on_error = on_error
        self._mute_keys: frozenset[object] = frozenset((self, *self.groups))
        self._connections: dict[object, Connection] = {}
        self._rejected: list[RejectedConnection] = []
        self._has_priorities = False
        self._call_options: dict[object, Connection] = {}
        self._options_per_connection = False
        self._match_subclasses = False
        self._wraps_receivers = False
        # Send methods shadowed on the instance: name -> (unwraps, taps).
        self._twins: dict[str, tuple[bool, bool]] = {}
        self._observing = False
        self._whens: dict[object, Callable[[Any], bool]] = {}
        self._slow_path = False
        self._connect_hooks: tuple[ConnectHook, ...] = ()
        register_signal(self)
        self._refresh_dispatch_path()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    def name(self) -> str:
        """The signal's name: given, or ``module.variable`` where it is defined."""
        if self._name is None:
            module = sys.modules.get(self._defined_in or "")
            for attr, value in vars(module).items() if module else ():
                if value is self:
                    self._name = f"{self._defined_in}.{attr}"
                    break
            else:
                return f"{self._defined_in}.<signal at {id(self):#x}>"
        return self._name

    # -- connecting -------------------------------------------------------

    def connect(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]  # returns the receiver
        self,
        receiver: _R,
        sender: object | None = None,
        weak: bool = True,
        dispatch_uid: object | None = None,
        **options: Unpack[AllConnectOptions],
    ) -> _R:
        """Connect ``receiver``; return it, so this works as a decorator.

        A second receiver with a ``dispatch_uid`` already taken for the same
        sender is ignored, as in Django; ``rejected_connections()`` lists it.

        :param priority: lower runs first; equal priorities keep the order of
            connection.
        :param match_subclasses: also receive sends whose sender is a subclass
            (or proxy model) of ``sender``; Django matches senders by identity.
        :param timeout: seconds an async receiver may take before it fails with
            ``TimeoutError``.
        :param on_commit: call a sync receiver after the current transaction
            commits (at once in autocommit), never after a rollback.
        :param run: who calls the receiver: ``"inline"`` (the default),
            ``"on_commit"`` (as ``on_commit=True``), or an executor another
            layer registered; an unknown name is an error here.
        """
        self._connect_checked(
            receiver, sender, weak, dispatch_uid, None, options, "Signal.connect"
        )
        return receiver

    def _add_connect_hook(self, hook: ConnectHook) -> None:
        """Call ``hook`` for every connection to this signal; see ``_registry``."""
        with self.lock:
            self._connect_hooks = (*self._connect_hooks, hook)

    def _connect_checked(
        self,
        receiver: Callable[..., Any],
        sender: object,
        weak: bool,
        dispatch_uid: object,
        when: Callable[[Any], bool] | None,
        options: Mapping[str, Any],
        method: str,
    ) -> None:
        self._check_receiver(receiver)
        guards: tuple[Callable[[], AbstractContextManager[object]], ...] = ()
        request: ConnectRequest | None = None
        hooks = connect_hooks() + self._connect_hooks
        if hooks:  # each may refuse, take options of its own, add guards
            request = ConnectRequest(self, receiver, sender, when, dict(options))
            for hook in hooks:
                hook(request)
            options, guards = request.options, tuple(request.guards)
        is_async = iscoroutinefunction(receiver)
        read = read_options(self, receiver, sender, is_async, options, method=method)
        self._check_arguments(receiver, read.executor)
        if when is not None and not callable(when):
            raise TypeError(f"{self.name}: when= must be callable, got {when!r}")
        self._connect(
            receiver,
            sender,
            weak,
            dispatch_uid,
            is_async,
            Connection(
                receiver_id=make_id(receiver),
                receiver=reference(receiver) if weak else receiver,
                sender=reference(sender),
                priority=read.priority,
                dispatch_uid=dispatch_uid,
                weak=weak,
                timeout=read.timeout,
                match_subclasses=read.match_subclasses,
                when=when,
                run=read.run,
                executor=read.executor,
                run_options=read.run_options,
                guards=guards,
            ),
        )
        for connected in request.on_connected if request is not None else ():
            connected()

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object,
        weak: bool,
        dispatch_uid: object,
        is_async: bool,
        connection: Connection,
    ) -> None:
        # Django's connect(), done here once: its entry, its dedupe by key.
        key = entry_key(receiver, sender, dispatch_uid)
        entry = new_entry(self, key, receiver, sender, weak=weak, is_async=is_async)
        with self.lock:
            # Dead entries first: a new receiver may reuse a collected one's id.
            self._clear_dead_receivers()
            kept = next((e for e in self.receivers if e[0] == key), None)
            if kept is None:
                self.receivers.append(entry)
            self.sender_receivers_cache.clear()
            if kept is not None:
                kept_receiver = deref(kept[1])
                if dispatch_uid and make_id(kept_receiver) != connection.receiver_id:
                    self._rejected.append(
                        RejectedConnection(
                            dispatch_uid,
                            sender,
                            describe_callable(receiver)[0],
                            describe_callable(kept_receiver)[0],
                        )
                    )
                return
            self._connections[key] = connection
            self._has_priorities = self._has_priorities or connection.priority != 0
            if self._has_priorities:
                self.receivers.sort(key=self._priority_of)
            if self._changes_dispatch_path(connection):
                self._refresh_dispatch_path()

    def _taps_changed(self) -> None:
        self._refresh_dispatch_path()

    def rejected_connections(self) -> list[RejectedConnection]:
        """Receivers ignored because their ``dispatch_uid`` was already taken."""
        with self.lock:
            return list(self._rejected)

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object | None = None,
        dispatch_uid: object | None = None,
    ) -> bool:
        """Disconnect as Django does; return whether a receiver was removed."""
        key = entry_key(receiver, sender, dispatch_uid)
        disconnected = False
        with self.lock:  # Django's disconnect(), and our record with it
            self._clear_dead_receivers()
            receivers = self.receivers
            for index in range(len(receivers)):
                if receivers[index][0] == key:
                    del receivers[index]
                    disconnected = True
                    break
            self.sender_receivers_cache.clear()
            connection = self._connections.pop(key, None)
            if connection is not None and self._changes_dispatch_path(connection):
                self._refresh_dispatch_path()
        return disconnected

    def _changes_dispatch_path(self, connection: Connection) -> bool:
        """Whether adding or removing ``connection`` may change how sends go.

        A plain receiver (no options, exact sender matching, not connected
        elsewhere with options) leaves every flag as it was, so connect and
        disconnect skip the recomputation, which walks every connection.
        """
        return (
            connection.has_call_options
            or connection.match_subclasses
            or connection.receiver_id in self._call_options
        )

    def _check_receiver(self, receiver: object) -> None:
        check_receiver(self, receiver)

    def _check_arguments(self, receiver: object, executor: Executor | None) -> None:
        """Refuse receivers that require arguments no one passes (typed signals)."""

    def _priority_of(self, entry: tuple[Any, ...]) -> int:
        connection = self._connections.get(entry[0])
        return 0 if connection is None else connection.priority

    def _clear_dead_receivers(self) -> None:
        # Caller holds self.lock. Keeps Django's cheap flag test on the hot path.
        if self._dead_receivers:
            super()._clear_dead_receivers()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
            dead = [k for k, c in self._connections.items() if c.is_dead()]
            for key in dead:
                del self._connections[key]
            if dead:
                self._refresh_dispatch_path()

    def _refresh_dispatch_path(self) -> None:
        """Choose, per send method, Django's plain path or the wrapping one.

        Receivers are wrapped (``ObservedReceiver``) while observers, an
        error handler, or ``on_commit``/``timeout``/``when`` receivers need it.
        ``TypedSignal.send`` checks ``when`` conditions itself, so conditions
        alone keep the plain path for it.
        """
        connections = list(self._connections.values())
        with_options = [c for c in connections if c.has_call_options]
        self._call_options = {c.receiver_id: c for c in with_options}
        # One receiver connected several times (stacked @receiver decorators)
        # with options: each connection keeps its own, found by its key.
        self._options_per_connection = len(self._call_options) < len(
            with_options
        ) or any(
            c.receiver_id in self._call_options
            for c in connections
            if not c.has_call_options
        )
        self._whens = {c.receiver_id: c.when for c in connections if c.when}
        self._match_subclasses = any(c.match_subclasses for c in connections)
        self._observing = bool(
            observers()
            or self.on_error is not None
            or self._options_per_connection
            or any(c.executor or c.timeout or c.guards for c in connections)
        )
        self._wraps_receivers = self._observing or bool(self._whens)
        self._slow_path = self._wraps_receivers or self._match_subclasses
        tapping = bool(self._tap_receivers)
        for name in SEND_METHODS:
            # Wrapped receivers must not leak into the (receiver, response)
            # pairs: methods that may meet them unwrap their results. Taps
            # are called by the twin before the send. Instance attributes
            # keep the other paths free of this cost. Never touch
            # self.__dict__ here: on CPython 3.11 that turns off the fast
            # attribute loads that every send relies on.
            unwraps = self._observing if name == "send" else self._wraps_receivers
            kind = (unwraps, tapping)
            if self._twins.get(name, (False, False)) == kind:
                continue
            if kind == (False, False):
                delattr(self, name)
                del self._twins[name]
                continue
            method: Callable[..., Any] = getattr(type(self), name).__get__(self)
            if unwraps:
                method = unwrapping(method)
            if tapping:
                method = tapped(method, self._call_taps)
            setattr(self, name, method)
            self._twins[name] = kind

    # -- introspection ----------------------------------------------------

    def receivers_info(self) -> list[ReceiverInfo]:
        """One record per live receiver, in call order."""
        with self.lock:
            self._clear_dead_receivers()
            entries = list(self.receivers)
            connections = dict(self._connections)
        return receiver_infos(self.name, self.groups, entries, connections)


def _caller_module(signal: Signal) -> str | None:
    """The module whose code created ``signal`` (past subclass ``__init__``s)."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None
    while frame is not None and (
        frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is signal
    ):
        frame = frame.f_back
    return frame.f_globals.get("__name__") if frame is not None else None

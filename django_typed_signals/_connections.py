"""What this package keeps about each entry of Django's ``Signal.receivers``.

Django's receiver list is private state whose tuple layout changed in 6.0
(a weak reference to the sender at index 2). It is read here and nowhere
else in the dispatcher, beside the records kept per connection.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from django.dispatch import Signal as DjangoSignal
from django.dispatch import dispatcher as django_dispatcher
from django.dispatch.dispatcher import NO_RECEIVERS, NONE_ID

from ._receivers import ReceiverInfo, describe_callable

if TYPE_CHECKING:
    from ._registry import Executor

__all__ = [
    "NONE_ID",
    "NO_RECEIVERS",
    "Connection",
    "RejectedConnection",
    "SenderCache",
    "deref",
    "entry_key",
    "make_id",
    "matching_entries",
    "new_entry",
    "receiver_infos",
    "reference",
]

_NO_OPTIONS: Mapping[str, object] = MappingProxyType({})

# Django's receiver/sender ids: reused so that our keys match its keys exactly.
make_id: Callable[[object], object] = django_dispatcher._make_id  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]


def entry_key(
    receiver: object, sender: object, dispatch_uid: object
) -> tuple[object, object]:
    """The key Django's ``connect`` and ``disconnect`` would use.

    Looks ``_make_id`` up on every call, as Django does, so that code (and
    Django's own tests) patching it see the same keys from our signals.
    """
    ids = django_dispatcher._make_id  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]
    return (dispatch_uid or ids(receiver), ids(sender))  # pyright: ignore[reportUnknownVariableType]


# Django 6.0 keeps a weak reference to the sender in each entry, and names the
# callback that flags dead entries ``_flag_dead_receivers`` (5.2:
# ``_remove_receiver``, called through ``weakref.finalize``).
_SENDER_IN_ENTRY = hasattr(DjangoSignal, "_flag_dead_receivers")


def new_entry(
    signal: DjangoSignal,
    key: tuple[object, object],
    receiver: Callable[..., Any],
    sender: object,
    *,
    weak: bool,
    is_async: bool,
) -> tuple[Any, ...]:
    """The entry ``Signal.connect`` of this Django version would append.

    Built here so that ``connect`` does Django's work once instead of calling
    it and then redoing part of it. Weak references flag the signal when
    their object dies, as Django's do (a weak reference callback instead of
    5.2's ``weakref.finalize``, which costs several times more).
    """
    on_dead = cast(
        "Callable[..., None]",
        getattr(
            signal, "_flag_dead_receivers" if _SENDER_IN_ENTRY else "_remove_receiver"
        ),
    )
    receiver_ref: object = receiver
    if weak:
        if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
            receiver_ref = weakref.WeakMethod(receiver, on_dead)
        else:
            receiver_ref = weakref.ref(receiver, on_dead)
    if not _SENDER_IN_ENTRY:
        return (key, receiver_ref, is_async)
    sender_ref = None
    if sender is not None:
        with suppress(TypeError):
            sender_ref = weakref.ref(sender, on_dead)
    return (key, receiver_ref, sender_ref, is_async)


class Connection:
    """What ``connect`` was told about one entry of ``Signal.receivers``.

    Kept by key, with its own references to receiver and sender, so that it
    lives exactly as long as they do, even when a tool swaps the whole
    ``receivers`` list for a while (factory_boy's ``mute_signals`` does).
    Never changed once made. A plain class with ``__slots__``: every
    ``connect`` makes one, and a dataclass ``__init__`` costs several times
    more.
    """

    __slots__ = (
        "dispatch_uid",
        "executor",
        "guards",
        "has_call_options",
        "match_subclasses",
        "priority",
        "receiver",
        "receiver_id",
        "run",
        "run_options",
        "sender",
        "timeout",
        "weak",
        "when",
    )

    def __init__(
        self,
        receiver_id: object,
        receiver: object,
        sender: object,
        priority: int,
        dispatch_uid: object | None,
        weak: bool,
        timeout: float | None,
        match_subclasses: bool,
        when: Callable[[Any], bool] | None = None,
        run: str = "inline",
        executor: Executor | None = None,
        run_options: Mapping[str, object] = _NO_OPTIONS,
        guards: tuple[Callable[[], AbstractContextManager[object]], ...] = (),
    ) -> None:
        self.receiver_id = receiver_id
        self.receiver = receiver  # the receiver, or a weak reference to it
        self.sender = sender  # the sender, or a weak reference to it
        self.priority = priority
        self.dispatch_uid = dispatch_uid
        self.weak = weak
        self.timeout = timeout
        self.match_subclasses = match_subclasses
        self.when = when
        self.run = run
        self.executor = executor
        """Who runs the receiver when it is not called inline (``run=``)."""
        self.run_options = run_options
        self.guards = guards
        """Entered around each call, from connect hooks."""
        self.has_call_options = bool(
            executor is not None or timeout or when is not None or guards
        )
        """Whether calling the receiver needs a wrapper or a condition."""

    def __repr__(self) -> str:
        return f"<Connection {self.receiver_id!r} run={self.run!r}>"

    @property
    def on_commit(self) -> bool:
        return self.run == "on_commit"

    def sender_object(self) -> object:
        return deref(self.sender)

    def is_dead(self) -> bool:
        sender_gone = self.sender is not None and deref(self.sender) is None
        return sender_gone or deref(self.receiver) is None


@dataclass(frozen=True)
class RejectedConnection:
    """A ``connect`` that Django ignored: its ``dispatch_uid`` was taken."""

    dispatch_uid: object
    sender: object | None
    receiver_path: str
    kept_receiver_path: str


class SenderCache(weakref.WeakKeyDictionary[Any, Any]):
    """Django's per-sender receiver cache, also for senders such as ``None``.

    ``WeakKeyDictionary`` raises ``TypeError`` for objects that cannot be
    weakly referenced (``None``, strings, numbers). Those are kept in a plain
    dict of at most ``strong_limit`` entries, dropping the oldest first:
    senders made at run time (an id, a tenant name) must not grow it forever.
    """

    strong_limit = 1024

    def __init__(self) -> None:
        super().__init__()
        self._strong: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self.data.get(weakref.ref(key), default)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]
        except TypeError:
            return self._strong.get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        try:
            super().__setitem__(key, value)
        except TypeError:
            strong = self._strong
            if len(strong) >= self.strong_limit and key not in strong:
                del strong[next(iter(strong))]
            strong[key] = value

    def clear(self) -> None:
        super().clear()
        self._strong.clear()

    def __len__(self) -> int:
        return super().__len__() + len(self._strong)


def matching_entries(
    entries: Sequence[tuple[Any, ...]],
    connections: Mapping[object, Connection],
    sender: Any,
    *,
    match_subclasses: bool,
) -> list[tuple[object, Callable[..., Any], bool]]:
    """``(key, receiver, is_async)`` for each live receiver of ``sender``.

    Like Django's lookup, but keeping each entry's key and, when some
    connection has ``match_subclasses``, accepting subclasses of the sender
    for those connections. The caller holds the signal's lock.
    """
    sender_id = make_id(sender)
    base_ids = (
        {make_id(base) for base in sender.__mro__[1:]}
        if match_subclasses and isinstance(sender, type)
        else set[object]()
    )
    found: list[tuple[object, Callable[..., Any], bool]] = []
    for entry in entries:
        key = entry[0]
        r_sender = key[1]
        if r_sender not in (NONE_ID, sender_id) and not (
            r_sender in base_ids
            and (c := connections.get(key)) is not None
            and c.match_subclasses
        ):
            continue
        receiver: Callable[..., Any] | None = deref(entry[1])
        if receiver is None:
            continue
        # Django >= 6.0 keeps a weak reference to the sender at [2].
        if len(entry) == 4 and entry[2] is not None and entry[2]() is None:
            continue
        found.append((key, receiver, bool(entry[-1])))
    return found


def reference(target: object) -> object:
    """A weak reference to ``target`` where possible, else ``target`` itself."""
    if target is None:
        return None
    try:
        if hasattr(target, "__self__") and hasattr(target, "__func__"):
            return weakref.WeakMethod(cast("Callable[..., Any]", target))
        return weakref.ref(target)
    except TypeError:
        return target


def deref(reference: Any) -> Any:
    """The object behind a weak reference; other objects are returned as is."""
    if isinstance(reference, weakref.ReferenceType):
        # The cast is for pyright, which keeps the reference's type unknown.
        return cast("weakref.ReferenceType[Any]", reference)()  # type: ignore[redundant-cast]
    return reference


def receiver_infos(
    signal_name: str,
    groups: frozenset[str],
    entries: Sequence[tuple[Any, ...]],
    connections: Mapping[object, Connection],
) -> list[ReceiverInfo]:
    """One ``ReceiverInfo`` per live entry, in call order."""
    infos: list[ReceiverInfo] = []
    for entry in entries:
        key, ref, is_async = entry[0], entry[1], entry[-1]
        receiver: object = deref(ref)
        if receiver is None:
            continue
        connection = connections.get(key)
        path, file, line = describe_callable(receiver)
        infos.append(
            ReceiverInfo(
                signal_name=signal_name,
                receiver=receiver,
                path=path,
                file=file,
                line=line,
                sender=connection.sender_object() if connection else None,
                priority=connection.priority if connection else 0,
                groups=groups,
                dispatch_uid=connection.dispatch_uid if connection else None,
                is_async=bool(is_async),
                weak=isinstance(ref, weakref.ReferenceType),
                on_commit=bool(connection and connection.on_commit),
                run=connection.run if connection else "inline",
            )
        )
    return infos

"""Finding every signal in the process and describing its receivers.

For tooling (``manage.py list_receivers``) and system checks. Nothing here
changes a signal: receivers lists are read under the signal's lock and copied.
"""

from __future__ import annotations

import functools
import re
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from django.apps import apps
from django.db import models
from django.dispatch import Signal as DjangoSignal
from django.dispatch.dispatcher import NONE_ID

from ._groups import muted_keys
from ._receivers import describe_callable, format_location
from ._signal import Signal, all_signals
from ._typed_signal import TypedSignal

__all__ = [
    "Mode",
    "ReceiverRow",
    "SignalDescription",
    "describe_receivers",
    "describe_signals",
    "discover_signals",
    "is_internal",
    "is_typed",
]

Mode = Literal["sync", "async", "on_commit", "celery"]
"""How a receiver runs: in the send, awaited, after commit, or in a worker."""

# Shown for a sender that is gone from memory except for its id: Django 5.2
# keeps only ``id(sender)`` for plain signals.
UNKNOWN_SENDER = "?"

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_REPR = 60


@dataclass(frozen=True)
class ReceiverRow:
    """One live receiver of one signal, as plain data for display."""

    signal: str
    """Name of the signal the receiver is connected to."""
    path: str
    """Dotted path, e.g. ``shop.signals.record_revenue``, ``partial(...)``."""
    module: str | None
    """Module that defines the receiver (of the function under a partial)."""
    file: str | None
    line: int | None
    sender: str
    """``app_label.ModelName`` for models, a short repr otherwise, ``"any"``."""
    sender_model: str | None
    """``app_label.ModelName`` when the sender is a model class, else ``None``."""
    priority: int | None
    """``None`` on plain Django signals, which call in connection order."""
    groups: tuple[str, ...]
    dispatch_uid: str | None
    is_async: bool
    mode: Mode
    weak: bool
    muted: bool
    """Whether the signal is muted in the current context."""

    @property
    def location(self) -> str:
        """``file:line`` where the receiver is defined, or ``"?"``."""
        return format_location(self.file, self.line)


@dataclass(frozen=True)
class SignalDescription:
    """A signal with its receivers, in call order."""

    name: str
    typed: bool
    """Whether it is a ``django_typed_signals`` signal (see ``is_typed``)."""
    payload_type: str | None
    """Dotted path of a ``TypedSignal``'s payload class, else ``None``."""
    groups: tuple[str, ...]
    muted: bool
    receivers: tuple[ReceiverRow, ...]


# Where Django defines its signals: their names win over any module that
# imports them (``shop/signals.py`` importing ``post_save``, say).
_DJANGO_HOMES = frozenset(
    {
        "django.contrib.auth.signals",
        "django.core.signals",
        "django.db.backends.signals",
        "django.db.models.signals",
        "django.test.signals",
        "django.utils.autoreload",
    }
)


def discover_signals() -> list[tuple[str, DjangoSignal]]:
    """Every signal reachable from a loaded module, with its dotted name.

    Module-level ``django.dispatch.Signal`` instances (Django's built-ins and
    custom ones) are found by scanning ``sys.modules``; signals of this package
    are found even where no module attribute holds them, and go by ``.name``.
    A signal imported into several modules is named after the most likely
    home: the Django module that defines it, a module called ``signals``,
    else the shortest module path.
    """
    found: dict[int, tuple[tuple[bool, bool, int, str], str, DjangoSignal]] = {}
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attr, value in list(namespace.items()):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            # type(), not isinstance(): isinstance() reads __class__, which
            # makes Django's lazy objects (staticfiles_storage...) set up.
            if not issubclass(type(value), DjangoSignal):  # pyright: ignore[reportUnknownArgumentType]
                continue
            signal = cast(DjangoSignal, value)
            rank = (
                module_name not in _DJANGO_HOMES,
                module_name.rpartition(".")[2] != "signals",
                module_name.count("."),
                module_name,
            )
            known = found.get(id(signal))
            if known is None or rank < known[0]:
                found[id(signal)] = (rank, f"{module_name}.{attr}", signal)
    named = {key: (name, signal) for key, (_, name, signal) in found.items()}
    for signal in all_signals():
        named[id(signal)] = (signal.name, signal)
    return sorted(named.values(), key=lambda item: item[0])


def is_typed(signal: DjangoSignal) -> bool:
    """Whether ``signal`` is one of this package's signals."""
    return isinstance(signal, Signal)


# This package's top-level name: receivers defined under it are its plumbing.
_PACKAGE = __name__.partition(".")[0]


def is_internal(row: ReceiverRow) -> bool:
    """Whether ``row``'s receiver is this package's own plumbing.

    The bridges that forward Django's signals to the typed twins
    (``builtin``) and to the lifecycle signals are implementation details;
    tooling hides them unless asked. The rule is where the receiver is
    defined (``row.module``, the wrapped function's for a ``partial``), so
    a project's receiver connected through ``@receiver`` is never internal,
    nor is one from a package that merely starts with the same name.
    """
    module = row.module
    return module is not None and (
        module == _PACKAGE or module.startswith(f"{_PACKAGE}.")
    )


def describe_signals() -> list[SignalDescription]:
    """Every signal of ``discover_signals()`` with its live receivers."""
    senders = _SenderNames()
    return [
        SignalDescription(
            name=name,
            typed=is_typed(signal),
            payload_type=_payload_type(signal),
            groups=_groups_of(signal),
            muted=_is_muted(signal),
            receivers=tuple(_rows(signal, name, senders)),
        )
        for name, signal in discover_signals()
    ]


def describe_receivers(
    signal: DjangoSignal, name: str | None = None
) -> list[ReceiverRow]:
    """One row per live receiver of ``signal``, in call order.

    Dead weak references (receiver or sender garbage-collected, not yet
    cleared by the signal) are left out: the signal will never call them.
    ``name`` defaults to the signal's ``.name``, or for a plain Django signal
    to the name ``discover_signals()`` gives it.
    """
    if name is None:
        name = _name_of(signal)
    return _rows(signal, name, _SenderNames())


def _rows(signal: DjangoSignal, name: str, senders: _SenderNames) -> list[ReceiverRow]:
    if isinstance(signal, Signal):
        return _typed_rows(signal, name, senders)
    return _plain_rows(signal, name, senders)


def _typed_rows(signal: Signal, name: str, senders: _SenderNames) -> list[ReceiverRow]:
    groups = _groups_of(signal)
    muted = _is_muted(signal)
    rows: list[ReceiverRow] = []
    for info in signal.receivers_info():
        rows.append(
            ReceiverRow(
                signal=name,
                path=info.path,
                module=_module_of(info.receiver),
                file=info.file,
                line=info.line,
                sender=senders.describe(info.sender),
                sender_model=_model_label(info.sender),
                priority=info.priority,
                groups=groups,
                dispatch_uid=_show_uid(info.dispatch_uid),
                is_async=info.is_async,
                mode=_mode(is_async=info.is_async, run=info.run),
                weak=info.weak,
                muted=muted,
            )
        )
    return rows


def _plain_rows(
    signal: DjangoSignal, name: str, senders: _SenderNames
) -> list[ReceiverRow]:
    # Entries are ((receiver id or dispatch_uid, sender id), receiver ref,
    # is_async) in Django 5.2 and (key, receiver ref, sender ref, is_async)
    # in Django 6.x. A ref is a weak reference, or the receiver if weak=False.
    with signal.lock:
        entries: list[tuple[Any, ...]] = list(signal.receivers)
    groups = _groups_of(signal)
    muted = _is_muted(signal)
    rows: list[ReceiverRow] = []
    for entry in entries:
        (lookup_id, sender_id), ref, is_async = entry[0], entry[1], bool(entry[-1])
        weak = isinstance(ref, weakref.ReferenceType)
        receiver: object = _deref(ref)
        if receiver is None:
            continue
        sender: object = None
        if sender_id != NONE_ID:
            sender_ref: object = entry[2] if len(entry) == 4 else None
            if sender_ref is not None:  # Django 6.x, weakly referenced sender
                sender = _deref(sender_ref)
                if sender is None:
                    continue
            else:
                sender = senders.by_id(sender_id)
        path, file, line = describe_callable(receiver)
        rows.append(
            ReceiverRow(
                signal=name,
                path=path,
                module=_module_of(receiver),
                file=file,
                line=line,
                sender=senders.describe(sender, sender_id),
                sender_model=_model_label(sender),
                priority=None,
                groups=groups,
                dispatch_uid=(
                    None
                    if lookup_id == _receiver_id(receiver)
                    else _show_uid(lookup_id)
                ),
                is_async=is_async,
                mode=_mode(is_async=is_async, run="inline"),
                weak=weak,
                muted=muted,
            )
        )
    return rows


class _SenderNames:
    """Names senders; finds models and app configs that are known only by id.

    Django 5.2 keeps ``id(sender)`` without a reference for plain signals
    (and 6.x does for senders that cannot be weakly referenced).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, object] | None = None

    def by_id(self, sender_id: object) -> object:
        if self._by_id is None:
            self._by_id = _registered_senders()
        return self._by_id.get(sender_id) if isinstance(sender_id, int) else None

    def describe(self, sender: object, sender_id: object = None) -> str:
        if sender is None:
            return "any" if sender_id in (None, NONE_ID) else UNKNOWN_SENDER
        return _describe_sender(sender)


def _registered_senders() -> dict[int, object]:
    if not apps.ready:
        return {}
    found: dict[int, object] = {id(config): config for config in apps.get_app_configs()}
    for model in apps.get_models(include_auto_created=True, include_swapped=True):
        found[id(model)] = model
    return found


def _describe_sender(sender: object) -> str:
    label = _model_label(sender)
    if label is not None:
        return label
    if isinstance(sender, type):
        return f"{sender.__module__}.{sender.__qualname__}"
    return _short_repr(sender)


def _model_label(sender: object) -> str | None:
    if isinstance(sender, type) and issubclass(sender, models.Model):
        label: str = sender._meta.label  # pyright: ignore[reportUnknownMemberType]
        return label
    return None


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break a listing
        text = f"<{type(value).__name__} object>"
    # Memory addresses change from run to run; they identify nothing here.
    text = _ADDRESS.sub("", text)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _show_uid(uid: object) -> str | None:
    if uid is None:
        return None
    return uid if isinstance(uid, str) else _short_repr(uid)


def _mode(*, is_async: bool, run: str) -> Mode:
    if run == "on_commit":
        return "on_commit"
    if run == "celery":
        return "celery"
    return "async" if is_async else "sync"


def _module_of(receiver: object) -> str | None:
    """The module that defines ``receiver`` (or the function it wraps)."""
    target: Any = receiver
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # bound methods
    if not hasattr(target, "__qualname__"):  # callable instances
        module = getattr(type(cast(object, target)), "__module__", None)
    else:
        module = getattr(target, "__module__", None)
    return module if isinstance(module, str) else None


def _receiver_id(receiver: object) -> object:
    # As django.dispatch.dispatcher._make_id, which keys the receivers list.
    if hasattr(receiver, "__func__"):
        func: object = getattr(receiver, "__func__", None)
        return (id(getattr(receiver, "__self__", None)), id(func))
    return id(receiver)


def _deref(reference: object) -> object:
    if isinstance(reference, weakref.ReferenceType):
        return cast("Callable[[], object]", reference)()
    return reference


def _groups_of(signal: DjangoSignal) -> tuple[str, ...]:
    if isinstance(signal, Signal):
        return tuple(sorted(signal.groups))
    # A Django signal adopted into groups keeps their names in its mute keys.
    keys: object = getattr(signal, "_mute_keys", None)
    if not isinstance(keys, frozenset):
        return ()
    names = cast("frozenset[object]", keys)
    return tuple(sorted(key for key in names if isinstance(key, str)))


def _is_muted(signal: DjangoSignal) -> bool:
    # Plain Django signals have no mute keys, so they are never muted.
    keys: object = getattr(signal, "_mute_keys", None)
    if not isinstance(keys, frozenset):
        return False
    muted = muted_keys()
    return bool(muted) and not muted.isdisjoint(keys)  # pyright: ignore[reportUnknownArgumentType]


def _payload_type(signal: DjangoSignal) -> str | None:
    if not isinstance(signal, TypedSignal):
        return None
    payload = cast("TypedSignal[object]", signal).payload_type
    return f"{payload.__module__}.{payload.__qualname__}"


def _name_of(signal: DjangoSignal) -> str:
    if isinstance(signal, Signal):
        return signal.name
    names: Mapping[int, str] = {id(s): n for n, s in discover_signals()}
    return names.get(id(signal), f"<unnamed {type(signal).__qualname__}>")

"""Typed Django signals with priorities, muting, on-commit sending and observers."""

from contextlib import suppress

from ._groups import SignalGroup, known_groups, mute
from ._observe import Observer, ReceiverCall, add_observer, remove_observer
from ._receivers import ReceiverInfo, TypedReceiver, receiver
from ._signal import ErrorHandler, RejectedConnection, Signal, TypedSignal

__all__ = [
    "ErrorHandler",
    "Observer",
    "ReceiverCall",
    "ReceiverInfo",
    "RejectedConnection",
    "Signal",
    "SignalGroup",
    "TypedReceiver",
    "TypedSignal",
    "add_observer",
    "known_groups",
    "mute",
    "receiver",
    "remove_observer",
]


def _show_public_module() -> None:
    """Reprs and docs show ``django_typed_signals.X``, not the private module."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(f"{__name__}._"):
            with suppress(AttributeError, TypeError):  # aliases: ErrorHandler
                obj.__module__ = __name__


_show_public_module()

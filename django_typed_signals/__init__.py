"""Typed Django signals with priorities, muting, on-commit sending and observers."""

from ._api import receiver
from ._exports import show_public_module
from ._groups import SignalGroup, known_groups, mute
from ._observe import Observer, ReceiverCall, add_observer, remove_observer
from ._receivers import ReceiverInfo, TypedReceiver
from ._signal import ErrorHandler, RejectedConnection, Signal
from ._typed_signal import TypedSignal

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


show_public_module(__name__, __all__, globals())

"""Typed, prioritised, mutable and observable Django signals."""

from ._groups import SignalGroup, known_groups, mute
from ._observe import Observer, ReceiverCall, add_observer, remove_observer
from ._receivers import ReceiverInfo, TypedReceiver, receiver
from ._signal import ErrorHandler, Signal, TypedSignal

__all__ = [
    "ErrorHandler",
    "Observer",
    "ReceiverCall",
    "ReceiverInfo",
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

# Reprs and docs show the public location, not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("django_typed_signals._"):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass
del _name, _obj

"""Process-wide registries that the dispatcher reads and other layers fill.

Kept in a leaf module so that every layer can import it without importing
the dispatcher: the signals alive in the process, for now.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._signal import Signal

__all__ = ["all_signals", "register_signal"]

_all_signals: weakref.WeakSet[Signal] = weakref.WeakSet()


def register_signal(signal: Signal) -> None:
    """Called by every ``Signal.__init__``."""
    _all_signals.add(signal)


def all_signals() -> list[Signal]:
    """Every live ``django_typed_signals`` signal in the process."""
    return list(_all_signals)

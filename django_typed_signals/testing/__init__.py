"""Test support: mute signals for a test class, record and assert sends.

The pytest fixtures and marker live in ``django_typed_signals.testing.
pytest_plugin``, which pytest loads by itself; this package imports no pytest.
"""

from contextlib import suppress

from .._exports import show_public_module
from ._capture import Captured, CaptureSignal, assert_not_sent, assert_sent, capture
from ._drain import Drained, drain
from ._mixins import MuteSignals, MuteSignalsMixin

__all__ = [
    "CaptureSignal",
    "Captured",
    "Drained",
    "MuteSignals",
    "MuteSignalsMixin",
    "assert_not_sent",
    "assert_sent",
    "capture",
    "drain",
]


def _show_public_module() -> None:
    """Reprs and docs show ``django_typed_signals.testing.X``."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(f"{__name__}._"):
            with suppress(AttributeError, TypeError):
                obj.__module__ = __name__


_show_public_module()

show_public_module(__name__, __all__, globals())

"""Taps: listeners that hear every send first, muted or not, and are never
part of what the send returns.

``testing.capture()`` records with them. They are kept apart from the
signal's receivers: while a signal has taps, its send methods are shadowed
on the instance by twins that call the taps and then the class's method, so
a signal without taps pays nothing for them and a signal with taps returns
exactly what it would return without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from asgiref.sync import iscoroutinefunction

__all__ = ["SEND_METHODS", "TapCaller", "Tappable", "tapped"]

SEND_METHODS = ("send", "send_robust", "asend", "asend_robust")

TapCaller = Callable[[object, tuple[Any, ...], dict[str, Any]], None]
"""``call_taps(sender, args, named)``: the send's arguments, before it runs."""


class Tappable(Protocol):
    """A signal that takes taps: ours, and Django's once adopted."""

    def _add_tap(self, tap: Callable[..., Any]) -> None: ...
    def _remove_tap(self, tap: Callable[..., Any]) -> None: ...


def tapped(method: Callable[..., Any], call_taps: TapCaller) -> Callable[..., Any]:
    """``method`` (a bound send method) that calls the taps before it runs."""
    if iscoroutinefunction(method):

        async def asend_tapped(sender: object, *args: Any, **named: Any) -> Any:
            call_taps(sender, args, named)
            return await method(sender, *args, **named)

        return asend_tapped

    def send_tapped(sender: object, *args: Any, **named: Any) -> Any:
        call_taps(sender, args, named)
        return method(sender, *args, **named)

    return send_tapped

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
from typing import Any, Protocol, cast

from asgiref.sync import iscoroutinefunction

__all__ = ["SEND_METHODS", "TapCaller", "Tappable", "Taps", "tapped"]

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


class Taps:
    """Mixed into a signal class: its taps, and the feeders that need them.

    The class provides ``lock`` and ``_taps_changed()``, called under the
    lock when the first tap comes or the last one goes.
    """

    lock: Any  # threading.Lock (Django) or RLock (ours)
    _tap_receivers: tuple[Callable[..., Any], ...] = ()
    _feeders: tuple[tuple[Tappable, Callable[..., Any]], ...] = ()

    def _taps_changed(self) -> None:
        raise NotImplementedError

    def _add_tap(self, tap: Callable[..., Any]) -> None:
        """Call ``tap`` first on every send, also while muted."""
        with self.lock:
            if tap in self._tap_receivers:
                return
            self._tap_receivers = (*self._tap_receivers, tap)
            if len(self._tap_receivers) == 1:
                for upstream, feed in self._feeders:
                    upstream._add_tap(feed)  # pyright: ignore[reportPrivateUsage]
                self._taps_changed()

    def _remove_tap(self, tap: Callable[..., Any]) -> None:
        with self.lock:
            if tap not in self._tap_receivers:
                return
            self._tap_receivers = tuple(t for t in self._tap_receivers if t != tap)
            if not self._tap_receivers:
                for upstream, feed in self._feeders:
                    upstream._remove_tap(feed)  # pyright: ignore[reportPrivateUsage]
                self._taps_changed()

    def _add_feeder(self, upstream: object, feed: Callable[..., Any]) -> None:
        """``feed`` re-sends ``upstream``'s sends as this signal's sends.

        While this signal has taps, ``feed`` is a tap of ``upstream`` too, so
        it hears sends that muting ``upstream`` hides from its receivers: a
        capture of a bridged signal sees what happened. ``feed`` decides
        itself when it must send (it also runs for unmuted sends). Django's
        signals take taps once adopted, in the app's ``ready()``.
        """
        tappable = cast(Tappable, upstream)
        with self.lock:
            self._feeders = (*self._feeders, (tappable, feed))
            if self._tap_receivers:
                tappable._add_tap(feed)  # pyright: ignore[reportPrivateUsage]

    def _call_taps(
        self, sender: object, args: tuple[Any, ...], named: dict[str, Any]
    ) -> None:
        for tap in self._tap_receivers:
            tap(signal=self, sender=sender, **named)

"""How a send picks its receivers and calls them: ``Signal``'s send side.

Django's own send methods do the dispatching; these add only what cannot be
avoided: one context-variable read for muting, and, for signals that need it
(observers, an error handler, receivers with options, subclass sender
matching), a slower path that wraps receivers. ``Signal`` keeps the flags it
reads (``_slow_path`` and the others) up to date at connect time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.dispatch import Signal as DjangoSignal
from django.dispatch.dispatcher import NO_RECEIVERS
from django.dispatch.dispatcher import logger as django_dispatch_logger

from ._connections import Connection, make_id, matching_entries
from ._groups import muted_var
from ._observe import ObservedAsyncReceiver, ObservedReceiver, schedule_send, unwrap
from ._receivers import describe_callable

if TYPE_CHECKING:
    from ._signal import Signal

__all__ = ["Responses", "Sending"]

Responses = list[tuple[Callable[..., Any], Any]]
"""``(receiver, result)`` pairs; ``*_robust`` puts the exception as result."""
_Receivers = tuple[list[Callable[..., Any]], list[Callable[..., Any]]]

_get_muted = muted_var.get


class Sending(DjangoSignal):
    """The send methods of ``Signal``; it sets the attributes read here."""

    _mute_keys: frozenset[object]
    _tap_receivers: tuple[Callable[..., Any], ...]
    _connections: dict[object, Connection]
    _call_options: dict[object, Connection]
    _options_per_connection: bool
    _match_subclasses: bool
    _wraps_receivers: bool
    _slow_path: bool

    @property
    def _signal(self) -> Signal:
        """``self``, typed as the ``Signal`` this is mixed into."""
        return cast("Signal", self)

    def _is_muted(self) -> bool:
        muted = muted_var.get()
        return bool(muted) and not muted.isdisjoint(self._mute_keys)

    def _has_receivers_to_call(self, sender: Any) -> bool:
        """Whether a send would call anyone: the other send methods ask first,
        so a muted or receiver-less send returns without entering Django's."""
        if not self.receivers:
            return False
        muted = _get_muted()
        if muted and not muted.isdisjoint(self._mute_keys):
            return False
        if self.sender_receivers_cache.get(sender) is NO_RECEIVERS:
            return False
        sync, async_ = self._live_receivers(sender)
        return bool(sync or async_)

    def send(self, sender: Any, **named: Any) -> Responses:
        """Send to all receivers; the first error stops the send and is raised.

        Async receivers make the send go through Django's own ``send``, which
        runs them concurrently (``asyncio.TaskGroup`` on Django 6.x).
        """
        # _live_receivers(), inlined: a call costs as much as Django's empty send.
        if not self.receivers:
            return []
        muted = _get_muted()
        if muted and not muted.isdisjoint(self._mute_keys):
            return []
        if self.sender_receivers_cache.get(sender) is NO_RECEIVERS:
            return []
        elif self._slow_path:
            sync, async_ = self._live_receivers_slow(sender)
        else:
            sync, async_ = DjangoSignal._live_receivers(self, sender)
        if async_:
            return super().send(sender, **named)
        responses: Responses = []  # a loop, not a comprehension: no frame on 3.11
        for receiver in sync:
            responses.append((receiver, receiver(signal=self, sender=sender, **named)))
        return responses

    def send_robust(self, sender: Any, **named: Any) -> Responses:
        """As Django's: errors are logged and returned in place of results."""
        if not self._has_receivers_to_call(sender):
            return []
        return super().send_robust(sender, **named)

    async def asend(self, sender: Any, **named: Any) -> Responses:
        """As Django's ``asend``: sync receivers in a thread, async ones together."""
        if not self._has_receivers_to_call(sender):
            return []
        return await super().asend(sender, **named)

    async def asend_robust(self, sender: Any, **named: Any) -> Responses:
        """As Django's ``asend_robust``."""
        if not self._has_receivers_to_call(sender):
            return []
        return await super().asend_robust(sender, **named)

    def _live_receivers(self, sender: Any) -> _Receivers:
        muted = muted_var.get()
        if muted and not muted.isdisjoint(self._mute_keys):
            return [], []
        if self._slow_path:
            return self._live_receivers_slow(sender)
        return DjangoSignal._live_receivers(self, sender)

    def _live_receivers_slow(self, sender: Any) -> _Receivers:
        if self._options_per_connection:
            return self._receivers_with_own_options(sender)
        if self._match_subclasses and isinstance(sender, type):
            sync, async_ = self._receivers_for_class(sender)
        else:
            sync, async_ = DjangoSignal._live_receivers(self, sender)
        if not self._wraps_receivers:
            return sync, async_
        options = self._call_options
        return (
            [ObservedReceiver(self._signal, r, options.get(make_id(r))) for r in sync],
            [
                ObservedAsyncReceiver(self._signal, r, options.get(make_id(r)))
                for r in async_
            ],
        )

    def _receivers_for_class(self, sender: type) -> _Receivers:
        sync: list[Callable[..., Any]] = []
        async_: list[Callable[..., Any]] = []
        for _, receiver, is_async in self._matching_entries(sender):
            (async_ if is_async else sync).append(receiver)
        return sync, async_

    def _receivers_with_own_options(self, sender: Any) -> _Receivers:
        """Wrapped receivers, each with the options of its own connection."""
        sync: list[Callable[..., Any]] = []
        async_: list[Callable[..., Any]] = []
        connections = self._connections
        for key, receiver, is_async in self._matching_entries(sender):
            connection = connections.get(key)
            options = connection if connection and connection.has_call_options else None
            if is_async:
                async_.append(ObservedAsyncReceiver(self._signal, receiver, options))
            else:
                sync.append(ObservedReceiver(self._signal, receiver, options))
        return sync, async_

    def _matching_entries(
        self, sender: Any
    ) -> list[tuple[object, Callable[..., Any], bool]]:
        with self.lock:
            self._signal._clear_dead_receivers()  # pyright: ignore[reportPrivateUsage]
            return matching_entries(
                self.receivers,
                self._connections,
                sender,
                match_subclasses=self._match_subclasses,
            )

    def _log_robust_failure(self, receiver: object, err: Exception) -> None:
        receiver = unwrap(receiver)
        name = getattr(receiver, "__qualname__", None) or describe_callable(receiver)[0]
        django_dispatch_logger.error(
            "Error calling %s in Signal.send_robust() (%s)", name, err, exc_info=err
        )

    def send_on_commit(
        self,
        sender: object,
        *,
        using: str | None = None,
        robust: bool = False,
        **named: Any,
    ) -> None:
        """Send after the current transaction on ``using`` commits.

        Outside a transaction this sends at once; after a rollback it never
        sends. Nothing is scheduled while the signal is muted. With
        ``robust=True`` receivers' errors are logged, as ``send_robust`` does,
        instead of raising from the commit.
        """
        if self._is_muted():
            if self._tap_receivers:  # taps hear muted sends, these at commit
                schedule_send(self._signal, "_call_taps", using, sender, (), named)
            return
        schedule_send(
            self._signal, "send_robust" if robust else "send", using, sender, **named
        )

    async def asend_on_commit(
        self,
        sender: object,
        *,
        using: str | None = None,
        robust: bool = False,
        **named: Any,
    ) -> None:
        """``send_on_commit`` from async code.

        Scheduled from the thread Django's async ORM calls run in, so that it
        waits for the transaction those calls are in (an async ``@service``'s),
        and keeps its place among their own after-commit work.
        """
        await sync_to_async(self.send_on_commit, thread_sensitive=True)(
            sender, using=using, robust=robust, **named
        )

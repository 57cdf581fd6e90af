"""``TypedSignal[P]``: a ``Signal`` that sends one payload dataclass.

Receivers are checked against the payload type by mypy and pyright at
``connect``/``receiver()`` and at run time (a receiver requiring arguments the
signal never passes is refused); each send checks the payload's type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.dispatch import Signal as DjangoSignal

from ._connections import NO_RECEIVERS, make_id
from ._groups import muted_var
from ._observe import schedule_send, unwrap
from ._receivers import TypedReceiver, check_typed_receiver
from ._signal import ErrorHandler, Responses, Signal

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._options import AllConnectOptions
    from ._registry import Executor

__all__ = ["TypedSignal"]

P = TypeVar("P")
_get_muted = muted_var.get


class TypedSignal(Signal, Generic[P]):
    """A signal that sends one payload of type ``P`` to typed receivers.

    Receivers are called ``receiver(signal=..., sender=..., payload=...)``::

        order_paid = TypedSignal(OrderPaid, name="shop.order_paid")

        @receiver(order_paid)
        def log_payment(sender: object, *, payload: OrderPaid, **kwargs: object):
            ...

        order_paid.send(Order, OrderPaid(order=order, amount=order.amount))
    """

    def __init__(
        self,
        payload_type: type[P],
        *,
        name: str | None = None,
        groups: Iterable[str] = (),
        use_caching: bool = False,
        on_error: ErrorHandler | None = None,
    ) -> None:
        if not isinstance(payload_type, type):
            raise TypeError(
                f"TypedSignal payload_type must be a class, got {payload_type!r}"
            )
        self.payload_type: type[P] = payload_type
        super().__init__(use_caching, name=name, groups=groups, on_error=on_error)

    def _check_arguments(self, receiver: object, executor: Executor | None) -> None:
        passes: frozenset[str] = getattr(executor, "passes", frozenset())
        check_typed_receiver(self, receiver, passes)

    def _wrong_payload(self, payload: object) -> TypeError:
        expected = self.payload_type
        given = type(payload)
        return TypeError(
            f"{self.name} sends {expected.__module__}.{expected.__qualname__} "
            f"payloads, got {given.__module__}.{given.__qualname__}: {payload!r:.200}"
        )

    def _call_taps(
        self, sender: object, args: tuple[Any, ...], named: dict[str, Any]
    ) -> None:
        payload = args[0] if args else named.get("payload")
        if type(payload) is not self.payload_type and not isinstance(
            payload, self.payload_type
        ):
            return  # the send itself raises, naming the payload
        for tap in self._tap_receivers:
            tap(signal=self, sender=sender, payload=payload)

    def connect(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]  # typed receivers only
        self,
        receiver: TypedReceiver[P],
        sender: object | None = None,
        weak: bool = True,
        dispatch_uid: object | None = None,
        *,
        when: Callable[[P], bool] | None = None,
        **options: Unpack[AllConnectOptions],
    ) -> TypedReceiver[P]:
        """Connect a typed receiver; see ``Signal.connect``.

        :param when: called with the payload before the receiver; when it
            returns false the receiver is not called (its response is
            ``None``). Conditions from ``lifecycle`` (``changed(...)``) fit.
        """
        self._connect_checked(
            receiver, sender, weak, dispatch_uid, when, options, "TypedSignal.connect"
        )
        return receiver

    def send(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]  # one payload instead of **named
        self, sender: object, payload: P
    ) -> Responses:
        """Call every receiver; the first error stops the send and is raised."""
        if type(payload) is not self.payload_type and not isinstance(
            payload, self.payload_type
        ):
            raise self._wrong_payload(payload)
        # _live_receivers(), inlined: a call costs as much as Django's empty send.
        if not self.receivers:
            return []
        muted = _get_muted()
        if muted and not muted.isdisjoint(self._mute_keys):
            return []
        if self.sender_receivers_cache.get(sender) is NO_RECEIVERS:
            return []
        elif self._observing:  # wrappers; this method's instance twin unwraps
            sync, async_ = self._live_receivers_slow(sender)
        elif self._match_subclasses and isinstance(sender, type):
            sync, async_ = self._receivers_for_class(sender)
        else:
            sync, async_ = DjangoSignal._live_receivers(self, sender)
        if async_:
            sent = super().send(sender, payload=payload)
            return [(unwrap(r), response) for r, response in sent]
        whens = self._whens  # checked here, without wrappers
        responses: Responses = []
        for receiver in sync:
            if whens:
                when = whens.get(make_id(receiver))
                if when is not None and not when(payload):
                    responses.append((receiver, None))
                    continue
            responses.append(
                (receiver, receiver(signal=self, sender=sender, payload=payload))
            )
        return responses

    def send_robust(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        self, sender: object, payload: P
    ) -> Responses:
        """Call every receiver; errors are logged and returned in place of results."""
        if type(payload) is not self.payload_type and not isinstance(
            payload, self.payload_type
        ):
            raise self._wrong_payload(payload)
        return super().send_robust(sender, payload=payload)

    async def asend(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        self, sender: object, payload: P
    ) -> Responses:
        """Like ``send``, awaiting async receivers concurrently."""
        if type(payload) is not self.payload_type and not isinstance(
            payload, self.payload_type
        ):
            raise self._wrong_payload(payload)
        return await super().asend(sender, payload=payload)

    async def asend_robust(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        self, sender: object, payload: P
    ) -> Responses:
        """Like ``send_robust``, awaiting async receivers concurrently."""
        if type(payload) is not self.payload_type and not isinstance(
            payload, self.payload_type
        ):
            raise self._wrong_payload(payload)
        return await super().asend_robust(sender, payload=payload)

    def send_on_commit(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        self,
        sender: object,
        payload: P,
        *,
        using: str | None = None,
        robust: bool = False,
    ) -> None:
        """Send after the current transaction commits; see ``Signal.send_on_commit``.

        The payload is checked now, so a wrong type fails where it was sent.
        """
        if type(payload) is not self.payload_type and not isinstance(
            payload, self.payload_type
        ):
            raise self._wrong_payload(payload)
        if self._is_muted():
            if self._tap_receivers:
                schedule_send(self, "_call_taps", using, sender, (payload,), {})
            return
        schedule_send(self, "send_robust" if robust else "send", using, sender, payload)

    async def asend_on_commit(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        self,
        sender: object,
        payload: P,
        *,
        using: str | None = None,
        robust: bool = False,
    ) -> None:
        """``send_on_commit`` from async code; see ``Signal.asend_on_commit``.

        ``send_on_commit`` checks the payload: a wrong type raises here.
        """
        await sync_to_async(self.send_on_commit, thread_sensitive=True)(
            sender, payload, using=using, robust=robust
        )

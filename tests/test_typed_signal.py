from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import pytest

from django_typed_signals import TypedSignal, mute, receiver


@dataclass(frozen=True)
class OrderPaid:
    order_id: int
    amount: Decimal


@dataclass(frozen=True)
class ExpressOrderPaid(OrderPaid):
    courier: str = "bike"


@dataclass(frozen=True)
class Refund:
    order_id: int


def test_receivers_get_signal_sender_and_payload() -> None:
    signal = TypedSignal(OrderPaid, name="shop.order_paid")
    seen: list[tuple[object, object, OrderPaid]] = []

    @receiver(signal)
    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> str:
        seen.append((kwargs["signal"], sender, payload))
        return "ok"

    payload = OrderPaid(1, Decimal("9.99"))
    assert signal.send(OrderPaid, payload) == [(on_paid, "ok")]
    assert seen == [(signal, OrderPaid, payload)]


def test_payload_subclasses_are_accepted() -> None:
    signal = TypedSignal(OrderPaid)
    seen: list[OrderPaid] = []

    @receiver(signal)
    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
        seen.append(payload)

    signal.send(None, ExpressOrderPaid(2, Decimal(1)))
    assert seen == [ExpressOrderPaid(2, Decimal(1))]


@pytest.mark.parametrize(
    "method",
    [
        "send",
        "send_robust",
        "asend",
        "asend_robust",
        "send_on_commit",
        "asend_on_commit",
    ],
)
def test_wrong_payload_type_names_signal_expected_and_given(method: str) -> None:
    signal = TypedSignal(OrderPaid, name="shop.order_paid")
    called: list[object] = []

    @receiver(signal)
    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
        called.append(payload)

    with pytest.raises(TypeError) as info:
        result = getattr(signal, method)(None, Refund(1))
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    message = str(info.value)
    assert "shop.order_paid" in message
    assert f"{__name__}.OrderPaid" in message
    assert f"{__name__}.Refund" in message
    assert called == []


def test_wrong_payload_type_is_reported_even_without_receivers() -> None:
    signal = TypedSignal(OrderPaid, name="shop.order_paid")
    with pytest.raises(TypeError, match=r"shop\.order_paid sends"):
        signal.send(None, "not a payload")  # type: ignore[arg-type]


def test_payload_type_must_be_a_class() -> None:
    with pytest.raises(TypeError, match="payload_type must be a class"):
        TypedSignal("OrderPaid")  # type: ignore[arg-type]


def test_receiver_requiring_an_argument_never_passed_is_rejected() -> None:
    signal = TypedSignal(OrderPaid, name="shop.order_paid")

    def misnamed(sender: object, *, data: OrderPaid, **kwargs: object) -> None: ...

    with pytest.raises(ValueError, match=r"shop\.order_paid: .*misnamed.*'data'"):
        signal.connect(misnamed)  # type: ignore[arg-type]


def test_receiver_without_kwargs_is_rejected() -> None:
    signal = TypedSignal(OrderPaid, name="shop.order_paid")

    def no_kwargs(sender: object, *, payload: OrderPaid) -> None: ...

    with pytest.raises(ValueError, match=r"\*\*kwargs"):
        signal.connect(no_kwargs)  # type: ignore[arg-type]


def test_asend_runs_sync_and_async_receivers() -> None:
    signal = TypedSignal(OrderPaid)

    @receiver(signal, priority=1)
    def sync_one(sender: object, *, payload: OrderPaid, **kwargs: object) -> int:
        return payload.order_id

    @receiver(signal)
    async def async_one(sender: object, *, payload: OrderPaid, **kwargs: object) -> int:
        await asyncio.sleep(0)
        return payload.order_id * 10

    responses = asyncio.run(signal.asend(None, OrderPaid(4, Decimal(1))))
    assert dict(responses) == {sync_one: 4, async_one: 40}


def test_send_robust_collects_errors() -> None:
    signal = TypedSignal(OrderPaid)

    @receiver(signal)
    def broken(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
        raise LookupError(payload.order_id)

    [(who, error)] = signal.send_robust(None, OrderPaid(7, Decimal(1)))
    assert who is broken and isinstance(error, LookupError)


def test_muted_typed_signal_still_checks_payload_type() -> None:
    signal = TypedSignal(OrderPaid, groups=["billing-typed"])
    with mute("billing-typed"), pytest.raises(TypeError):
        signal.send(None, Refund(1))  # type: ignore[arg-type]


def test_use_caching_with_none_sender() -> None:
    signal = TypedSignal(OrderPaid, use_caching=True)
    seen: list[int] = []

    @receiver(signal)
    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
        seen.append(payload.order_id)

    signal.send(None, OrderPaid(1, Decimal(1)))
    signal.send(None, OrderPaid(2, Decimal(1)))
    assert seen == [1, 2]


class Sender:
    pass


class SubSender(Sender):
    pass


def when_signal() -> tuple[TypedSignal[OrderPaid], list[int], object, object]:
    signal = TypedSignal(OrderPaid)
    calls: list[int] = []

    def big(sender: object, *, payload: OrderPaid, **kwargs: object) -> str:
        calls.append(payload.order_id)
        return "big"

    def always(sender: object, *, payload: OrderPaid, **kwargs: object) -> str:
        return "always"

    signal.connect(big, when=lambda p: p.amount > 100, sender=Sender, weak=False)
    signal.connect(always, sender=Sender, weak=False)
    return signal, calls, big, always


def test_when_condition_skips_the_receiver_and_answers_none() -> None:
    signal, calls, big, always = when_signal()
    assert signal.send(Sender, OrderPaid(1, Decimal(5))) == [
        (big, None),
        (always, "always"),
    ]
    assert signal.send(Sender, OrderPaid(2, Decimal(500))) == [
        (big, "big"),
        (always, "always"),
    ]
    assert calls == [2]
    # Conditions alone keep send() on the plain path: no wrapping twin.
    assert "send" not in vars(signal)


@pytest.mark.parametrize("method", ["send_robust", "asend", "asend_robust"])
def test_when_condition_applies_to_every_send_method(method: str) -> None:
    signal, calls, big, always = when_signal()
    result = getattr(signal, method)(Sender, OrderPaid(1, Decimal(5)))
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    assert result == [(big, None), (always, "always")]
    assert calls == []


def test_when_condition_with_async_receivers_under_send() -> None:
    signal, calls, big, always = when_signal()

    async def later(sender: object, *, payload: OrderPaid, **kwargs: object) -> str:
        return "later"

    signal.connect(later, when=lambda p: p.order_id == 9, sender=Sender)
    responses = signal.send(Sender, OrderPaid(8, Decimal(500)))
    assert responses == [(big, "big"), (always, "always"), (later, None)]
    assert calls == [8]


def test_when_condition_with_an_observer_and_subclass_senders() -> None:
    from django_typed_signals import ReceiverCall, add_observer, remove_observer

    signal, calls, big, always = when_signal()

    def wide(sender: object, *, payload: OrderPaid, **kwargs: object) -> str:
        return "wide"

    signal.connect(
        wide, sender=Sender, match_subclasses=True, when=lambda p: p.order_id > 1
    )
    seen: list[ReceiverCall] = []
    add_observer(seen.append)
    try:
        observed = signal.send(Sender, OrderPaid(1, Decimal(500)))
    finally:
        remove_observer(seen.append)
    plain = signal.send(SubSender, OrderPaid(2, Decimal(500)))

    assert observed == [(big, "big"), (always, "always"), (wide, None)]
    assert [c.receiver for c in seen] == [big, always]
    assert plain == [(wide, "wide")]
    assert calls == [1]


class OtherSender:
    pass


@pytest.mark.parametrize("method", ["send", "send_robust", "asend", "asend_robust"])
def test_one_receiver_connected_twice_keeps_each_connections_options(
    method: str,
) -> None:
    # Stacked @receiver decorators: one function, two senders, two conditions.
    signal = TypedSignal(OrderPaid)
    calls: list[tuple[object, int]] = []

    @receiver(signal, sender=Sender, when=lambda p: p.amount > 100)
    @receiver(signal, sender=OtherSender, when=lambda p: p.amount < 10)
    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> str:
        calls.append((sender, payload.order_id))
        return "paid"

    def send(sender: object, payload: OrderPaid) -> object:
        result = getattr(signal, method)(sender, payload)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result

    assert send(Sender, OrderPaid(1, Decimal(500))) == [(on_paid, "paid")]
    assert send(Sender, OrderPaid(2, Decimal(5))) == [(on_paid, None)]
    assert send(OtherSender, OrderPaid(3, Decimal(5))) == [(on_paid, "paid")]
    assert send(OtherSender, OrderPaid(4, Decimal(500))) == [(on_paid, None)]
    assert calls == [(Sender, 1), (OtherSender, 3)]


def test_a_receiver_with_and_without_options_keeps_both_connections_apart() -> None:
    signal = TypedSignal(OrderPaid)
    calls: list[tuple[object, int]] = []

    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
        calls.append((sender, payload.order_id))

    signal.connect(on_paid, sender=Sender, when=lambda p: p.amount > 100)
    signal.connect(on_paid, sender=OtherSender)  # no condition for this sender
    signal.send(OtherSender, OrderPaid(1, Decimal(5)))
    signal.send(Sender, OrderPaid(2, Decimal(5)))
    signal.send(Sender, OrderPaid(3, Decimal(500)))
    assert calls == [(OtherSender, 1), (Sender, 3)]

    signal.disconnect(on_paid, sender=OtherSender)  # back to one connection
    signal.send(Sender, OrderPaid(4, Decimal(5)))
    signal.send(Sender, OrderPaid(5, Decimal(500)))
    assert calls == [(OtherSender, 1), (Sender, 3), (Sender, 5)]
    assert "send" not in vars(signal)  # and back on the plain path


@pytest.mark.django_db(transaction=True)
def test_stacked_on_commit_applies_only_to_its_own_connection() -> None:
    signal = TypedSignal(OrderPaid)
    calls: list[object] = []

    @receiver(signal, sender=Sender, on_commit=True)
    @receiver(signal, sender=OtherSender)
    def on_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
        calls.append(sender)

    from django.db import transaction

    with transaction.atomic():
        signal.send(Sender, OrderPaid(1, Decimal(1)))
        signal.send(OtherSender, OrderPaid(2, Decimal(1)))
        assert calls == [OtherSender]
    assert calls == [OtherSender, Sender]

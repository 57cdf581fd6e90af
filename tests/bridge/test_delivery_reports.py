"""Observers hear every delivery the bridge runs, as a ``DeliveryCall``: the
queue latency, the run time, the attempt and what became of the row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from django_typed_signals import ReceiverCall, add_observer, remove_observer
from django_typed_signals.bridge import DecodingError
from django_typed_signals.bridge._info import DeliveryCall
from django_typed_signals.models import Delivery
from django_typed_signals.testing import drain
from tests.bridge import receivers
from tests.bridge.receivers import Paid
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL = override_settings(TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local"}})
FRAGILE = override_settings(
    TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local", "BREAKER": {"FAILURES": 1}}}
)


@pytest.fixture
def heard() -> Iterator[list[ReceiverCall]]:
    found: list[ReceiverCall] = []
    observer = add_observer(found.append)
    receivers.calls.clear()
    receivers.flaky_switch["failing"] = True
    try:
        yield found
    finally:
        remove_observer(observer)
        receivers.flaky_switch["failing"] = True


def _deliveries(heard: list[ReceiverCall]) -> list[DeliveryCall]:
    found = [call for call in heard if isinstance(call, DeliveryCall)]
    assert len(found) == len(heard)  # nothing else was reported
    return found


def test_a_done_delivery_reports_its_latency_run_time_and_attempt(
    heard: list[ReceiverCall],
) -> None:
    with LOCAL:
        order = Order.objects.create()
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        row = Delivery.objects.get()
        # Runnable for 30 s before the worker got to it.
        Delivery.objects.update(available_at=timezone.now() - timedelta(seconds=30))
        drain()
    [call] = _deliveries(heard)
    assert isinstance(call, ReceiverCall)  # observers of ReceiverCall keep working
    assert (call.signal, call.receiver, call.sender) == (
        receivers.paid,
        receivers.on_paid,
        Order,
    )
    assert (call.delivery_id, call.attempt, call.outcome) == (row.pk, 1, "done")
    assert call.ok and call.exception is None
    assert 30 <= call.queue_latency < 40
    assert 0 <= call.duration < 5


def test_a_failing_delivery_reports_retrying_then_dead(
    heard: list[ReceiverCall],
) -> None:
    with LOCAL:
        order = Order.objects.create()
        receivers.failing.send(Order, Paid(order, Decimal(1)))
        drain()
        Delivery.objects.update(available_at=timezone.now() - timedelta(seconds=60))
        drain()
    first, second = _deliveries(heard)
    assert (first.attempt, first.outcome, second.attempt, second.outcome) == (
        1,
        "retrying",
        2,
        "dead",
    )
    for call in (first, second):
        assert isinstance(call.exception, RuntimeError)
        assert not call.ok
        assert call.receiver is receivers.on_failing
    assert 0 <= first.queue_latency < 5
    assert 60 <= second.queue_latency < 70  # waited from the end of its backoff


def test_an_undecodable_delivery_reports_dead_with_the_decoding_error(
    heard: list[ReceiverCall],
) -> None:
    with LOCAL:
        order = Order.objects.create()
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        order.delete()
        drain()
    [call] = _deliveries(heard)
    assert (call.outcome, call.attempt, call.sender) == ("dead", 1, None)
    assert isinstance(call.exception, DecodingError)
    assert call.receiver is receivers.on_paid
    assert receivers.calls == []


def test_a_delivery_held_back_by_the_breaker_reports_nothing(
    heard: list[ReceiverCall],
) -> None:
    with FRAGILE:
        order = Order.objects.create()
        receivers.flaky.send(Order, Paid(order, Decimal(1)))
        receivers.flaky.send(Order, Paid(order, Decimal(2)))
        assert [d.outcome for d in drain()] == ["retrying", "skipped"]
    [call] = _deliveries(heard)
    assert (call.outcome, call.receiver) == ("retrying", receivers.on_flaky)
    assert isinstance(call.exception, ConnectionError)


def test_the_error_handler_hears_a_failed_delivery_once(
    heard: list[ReceiverCall],
) -> None:
    receivers.handled.clear()
    with LOCAL:
        order = Order.objects.create()
        receivers.audited.send(Order, Paid(order, Decimal(1)))
        assert [d.outcome for d in drain()] == ["dead"]
    [(signal, receiver, exc)] = receivers.handled
    assert (signal, receiver) == ("tests.bridge.audited", "on_audited")
    assert isinstance(exc, ValueError)
    [call] = _deliveries(heard)
    assert call.exception is exc

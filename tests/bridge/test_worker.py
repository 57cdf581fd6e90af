"""``run="celery"`` with real parts: PostgreSQL, Redis or RabbitMQ, and
``celery worker`` and ``signal_relay`` processes."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from django_typed_signals.bridge._publish import Message, publish
from django_typed_signals.models import Delivery
from django_typed_signals.services import audit
from tests.bridge import workers
from tests.bridge.worker_receivers import Placed, audited, pinged, placed
from tests.bridge.workers import Broker
from tests.testapp.models import Note, Order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    workers.require_postgres()
    url = (
        workers.require_redis()
        if request.param == "redis"
        else workers.require_rabbitmq()
    )
    found = Broker(url)
    with workers.publishing_to(found):
        yield found


def effects(prefix: str) -> list[str]:
    return sorted(
        Note.objects.filter(text__startswith=prefix).values_list("text", flat=True)
    )


def test_a_worker_runs_the_receiver_once_after_commit(broker: Broker) -> None:
    with workers.worker(broker) as process:
        order = Order.objects.create()
        with transaction.atomic():
            placed.send(Order, Placed(order, 1))
            pinged.send(Order, n=7)
            [row, _] = Delivery.objects.order_by("id")
        workers.wait_until(
            lambda: Delivery.objects.filter(status="done").count() == 2,
            20,
            "both deliveries done",
            process=process,
        )
    row.refresh_from_db()
    assert effects("placed") == [f"placed 1 {order.pk} {row.key}"]
    assert effects("ping") == ["ping 7"]
    assert row.attempts == 1


def test_the_worker_restores_the_audit_context_of_the_send(broker: Broker) -> None:
    """The actor travels by reference: the worker reads the user again."""
    alice = User.objects.create_user("alice")
    with workers.worker(broker) as process:
        order = Order.objects.create()
        with (
            audit(actor=alice, organization=7, tags=("sync", "api"), trace_id="t1"),
            transaction.atomic(),
        ):
            audited.send(Order, Placed(order, 3))
        User.objects.filter(pk=alice.pk).update(username="alice-renamed")
        with audit(tags=("other",)), transaction.atomic():
            audited.send(Order, Placed(order, 4))
        workers.wait_until(
            lambda: len(effects("audit")) == 2, 20, "both ran", process=process
        )
    assert effects("audit") == [
        "audit 3 actor=alice-renamed org=7 tags=api,sync trace=t1",
        "audit 4 actor=None org=None tags=other trace=None",
    ]


def test_a_rollback_publishes_nothing_and_the_worker_runs_nothing(
    broker: Broker,
) -> None:
    with workers.worker(broker):
        order = Order.objects.create()
        with pytest.raises(RuntimeError), transaction.atomic():
            placed.send(Order, Placed(order, 2))
            raise RuntimeError("rolled back")
        pinged.send(Order, n=1)  # a marker: once it ran, the worker is past them
        workers.wait_until(lambda: effects("ping") == ["ping 1"], 20, "the marker ran")
    assert Delivery.objects.count() == 1
    assert effects("placed") == []


def test_duplicate_messages_give_one_effect(broker: Broker) -> None:
    with workers.worker(broker):
        order = Order.objects.create()
        placed.send(Order, Placed(order, 3))
        [row] = Delivery.objects.all()
        # The same id published four more times, as a relay and a slow fast
        # path could: the claim lets exactly one run.
        publish([Message(row.pk, row.queue)] * 4)
        pinged.send(Order, n=2)
        workers.wait_until(lambda: effects("ping") == ["ping 2"], 20, "the marker ran")
        time.sleep(0.5)
    assert effects("placed") == [f"placed 3 {order.pk} {row.key}"]
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("done", 1)


def test_broker_down_at_commit_is_published_by_the_relay_later(broker: Broker) -> None:
    # The request publishes to a port where nothing listens: the send and
    # the commit succeed, the row waits, the relay publishes it later.
    dead = Broker(f"redis://127.0.0.1:{workers.free_port()}/0", queue=broker.queue)
    order = Order.objects.create()
    with workers.publishing_to(dead):
        started = time.monotonic()
        with transaction.atomic():
            placed.send(Order, Placed(order, 4))
        assert time.monotonic() - started < 0.5  # it never waits for the broker
        [row] = Delivery.objects.all()
        workers.wait_until(
            lambda: Delivery.objects.get(pk=row.pk).published_at is None,
            10,
            "the failed publish left the row to the relay",
        )
    row.refresh_from_db()
    assert row.status == "pending"
    with workers.worker(broker), workers.relay(broker):
        workers.wait_until(
            lambda: Delivery.objects.filter(status="done").count() == 1,
            20,
            "the relay published it and a worker ran it",
        )
    assert effects("placed") == [f"placed 4 {order.pk} {row.key}"]


def test_the_relay_stops_cleanly_on_sigterm_and_sigint(broker: Broker) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with workers.relay(broker) as process:
            started = time.monotonic()
            code = process.end(sig)
            assert code == 0, process.output()
            assert time.monotonic() - started < 10
            assert "signal_relay: stopped" in process.output()

"""The relay and the fast path in one process: ``"local"`` runs rows, ``"celery"``
publishes them (to Kombu's in-memory transport here; tests/bridge/test_worker.py
has the real brokers), and a broker that is down or never answers costs the
request a bounded wait and loses nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from celery import Celery
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

from django_typed_signals.bridge import _publish
from django_typed_signals.bridge._publish import TASK_NAME
from django_typed_signals.bridge._relay import Relay
from django_typed_signals.models import Delivery
from tests.bridge import receivers, workers
from tests.bridge.receivers import Paid
from tests.bridge.workers import Broker
from tests.testapp.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL = override_settings(TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local"}})


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    receivers.calls.clear()


@pytest.fixture
def memory() -> Iterator[tuple[Broker, Celery]]:
    broker = Broker("memory://", bridge={"REPUBLISH_AFTER_S": 30})
    with workers.publishing_to(broker) as app:
        yield broker, app


def received(app: Celery, queue: str) -> list[tuple[str, Any]]:
    """The (task name, args) of every message waiting in ``queue``."""
    found: list[tuple[str, Any]] = []
    with app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue)
        try:
            while True:
                message = simple.get(timeout=0.2)
                found.append((message.headers["task"], message.payload[0]))
                message.ack()
        except simple.Empty:
            return found
        finally:
            simple.close()


def send_paid(amount: str = "1") -> Delivery:
    order = Order.objects.create()
    with transaction.atomic():
        receivers.paid.send(Order, Paid(order, Decimal(amount)))
    return Delivery.objects.latest("id")


@LOCAL
def test_the_local_relay_runs_what_is_due_once() -> None:
    rows = [send_paid(), send_paid()]
    assert receivers.calls == []
    relay = Relay(databases=["default"])
    done = relay.run_once()
    assert (done.ran, done.published, done.left) == (2, 0, 0)
    assert [name for name, _ in receivers.calls] == ["paid", "paid"]
    assert {r.status for r in Delivery.objects.filter(pk__in=[r.pk for r in rows])} == {
        "done"
    }
    assert relay.run_once().ran == 0  # nothing due any more


@LOCAL
def test_a_stopped_relay_leaves_the_rest_for_the_next_pass() -> None:
    send_paid()
    relay = Relay(databases=["default"])
    relay.stop.set()
    assert relay.run_once().ran == 0
    [row] = Delivery.objects.all()
    assert (row.status, row.published_at) == ("pending", None)
    assert Relay(databases=["default"]).run_once().ran == 1


def test_the_fast_path_publishes_after_commit(memory: tuple[Broker, Celery]) -> None:
    broker, app = memory
    order = Order.objects.create()
    with transaction.atomic():
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        assert received(app, broker.queue) == []  # nothing before the commit
    [row] = Delivery.objects.all()
    assert row.published_at is not None
    assert received(app, broker.queue) == [(TASK_NAME, [row.pk])]
    assert receivers.calls == []  # a worker runs it, not this process


def test_the_receivers_queue_is_the_messages_queue(
    memory: tuple[Broker, Celery],
) -> None:
    _, app = memory
    receivers.shipped.send(Order, order_id=1, carrier="post")
    [row] = Delivery.objects.all()
    assert row.queue == "email"
    assert received(app, "email") == [(TASK_NAME, [row.pk])]


def test_the_relay_republishes_only_after_the_window(
    memory: tuple[Broker, Celery],
) -> None:
    broker, app = memory
    row = send_paid()
    received(app, broker.queue)  # the fast path's message
    relay = Relay(databases=["default"])
    assert relay.run_once().published == 0  # published a moment ago
    Delivery.objects.filter(pk=row.pk).update(
        published_at=row.created_at.replace(year=2000)
    )  # published long ago and never claimed: the broker lost it
    assert relay.run_once().published == 1
    assert received(app, broker.queue) == [(TASK_NAME, [row.pk])]
    assert relay.run_once().published == 0


def publisher() -> Any:
    return _publish._thread  # pyright: ignore[reportPrivateUsage]


def shared_database() -> bool:
    """Whether the publisher thread sees the test's database (not in-memory SQLite)."""
    return connection.vendor != "sqlite"


def test_a_broker_that_is_down_costs_no_wait_and_loses_nothing() -> None:
    dead = Broker(
        f"redis://127.0.0.1:{workers.free_port()}/0", bridge={"PUBLISH_TIMEOUT_S": 0.5}
    )
    with workers.publishing_to(dead):
        started = time.monotonic()
        first = send_paid()  # neither the send nor the commit raises or waits
        assert time.monotonic() - started < 0.25
        workers.wait_until(
            lambda: publisher().resting_until > time.monotonic(),
            10,
            "the publish failed",
        )
        if shared_database():  # the publisher thread handed the row back
            workers.wait_until(
                lambda: Delivery.objects.get(pk=first.pk).published_at is None,
                10,
                "the failed row is marked for the relay",
            )
        # Right after a failure the request does not try the broker at all.
        second = send_paid()
        second.refresh_from_db()
        assert (second.status, second.published_at) == ("pending", None)
        done = Relay(databases=["default"]).run_once()
        assert done.published == 0  # still resting, or the broker is still down
    for row in Delivery.objects.filter(pk__in=[first.pk, second.pk]):
        assert (row.status, row.attempts) == ("pending", 0)


@pytest.fixture
def tarpit() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()
    # The hung publish now fails; later tests expect a publisher that is free.
    workers.wait_until(
        lambda: _publish._thread is None or not _publish._thread.hung,  # pyright: ignore[reportPrivateUsage]
        15,
        "the publisher thread is free again",
    )


def test_a_broker_that_never_answers_costs_the_request_nothing(tarpit: int) -> None:
    broker = Broker(
        f"amqp://guest:guest@127.0.0.1:{tarpit}//", bridge={"PUBLISH_TIMEOUT_S": 0.5}
    )
    with workers.publishing_to(broker):
        timings = []
        for _ in range(3):
            started = time.monotonic()
            send_paid()  # queued behind the hanging call: delayed, not lost
            timings.append(time.monotonic() - started)
        workers.wait_until(lambda: publisher().hung, 5, "the broker call hangs")
        # Once the call has hung longer than PUBLISH_TIMEOUT_S, a request
        # leaves its row to the relay's next pass at once.
        started = time.monotonic()
        late = send_paid()
        timings.append(time.monotonic() - started)
    assert max(timings) < 0.25, timings
    late.refresh_from_db()
    assert (late.status, late.published_at) == ("pending", None)


@LOCAL
@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_signal_relay_once_runs_what_is_due() -> None:
    send_paid()
    out = StringIO()
    call_command("signal_relay", "--once", stdout=out)
    assert "ran 1" in out.getvalue()
    assert Delivery.objects.get().status == "done"


def test_signal_relay_refuses_an_unknown_database() -> None:
    with pytest.raises(CommandError, match="unknown database nowhere"):
        call_command("signal_relay", "--once", "--database", "nowhere")

"""``replay()``: fresh rows for a receiver's finished sends, against a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest

from django_typed_signals.bridge import _replay
from django_typed_signals.bridge._outbox import (
    NewDelivery,
    claim,
    complete,
    fail,
    write_deliveries,
)
from django_typed_signals.bridge._replay import ReplayError, replay
from django_typed_signals.models import Delivery
from django_typed_signals.testing import drain
from tests.bridge import receivers

Status = Delivery.Status
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=dt_timezone.utc)
SIGNAL = "tests.bridge.shipped"
RECEIVER = "tests.bridge.receivers.on_shipped"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(
    status: str = "done",
    *,
    created: float = 0,
    receiver: str = RECEIVER,
    signal: str = SIGNAL,
    **kwargs: Any,
) -> Delivery:
    """A row written at ``T0 + created`` and moved to ``status``."""
    fields: dict[str, Any] = {"payload": {"n": created}, "queue": "email"}
    fields.update(kwargs)
    if status == "dead":
        fields["max_attempts"] = 1
    (written,) = write_deliveries(
        [NewDelivery(signal=signal, receiver=receiver, **fields)], now=at(created)
    )
    if status != "pending":
        got = claim(written.pk, lease_s=60, now=at(created + 1))
        assert got is not None
        if status == "done":
            assert complete(got, now=at(created + 2))
        elif status in ("dead", "retrying"):
            assert fail(got, "boom", now=at(created + 2)) == status
        else:
            assert status == "running"
    return Delivery.objects.get(pk=written.pk)


def copies(*originals: Delivery) -> list[Delivery]:
    """The rows written after ``originals``."""
    last = max(original.pk for original in originals)
    return list(Delivery.objects.filter(pk__gt=last))


@pytest.mark.django_db
def test_replay_copies_done_and_dead_rows_as_fresh_pending_rows() -> None:
    done = row("done", created=0, max_attempts=3)
    dead = row("dead", created=10)
    waiting = [row(s, created=20) for s in ("pending", "retrying", "running")]

    assert replay(signal=SIGNAL, receiver=RECEIVER, now=at(100)) == 2

    new = copies(done, dead, *waiting)
    assert [(c.payload, c.queue, c.max_attempts) for c in new] == [
        ({"n": 0}, "email", 3),
        ({"n": 10}, "email", 1),
    ]
    for copy in new:
        assert (copy.signal, copy.receiver) == (SIGNAL, RECEIVER)
        assert (copy.status, copy.attempts, copy.last_error) == ("pending", 0, "")
        assert copy.created_at == copy.available_at == at(100)
        assert copy.finished_at is copy.published_at is copy.lease_until is None
    assert len({c.key for c in (done, dead, *new)}) == 4
    # The originals keep their history.
    assert Delivery.objects.get(pk=done.pk).status == Status.DONE
    assert Delivery.objects.get(pk=dead.pk).last_error == "boom"


@pytest.mark.django_db
def test_replay_takes_rows_created_from_since_inclusive_to_until_exclusive() -> None:
    rows = [row(created=seconds) for seconds in (0, 3600, 7200)]

    assert replay(signal=SIGNAL, receiver=RECEIVER, since=at(3600), until=at(7200)) == 1
    assert [c.payload for c in copies(*rows)] == [{"n": 3600}]
    last = Delivery.objects.order_by("pk").last()
    assert last is not None

    assert replay(signal=SIGNAL, receiver=RECEIVER, until=at(3600)) == 1
    assert [c.payload for c in copies(last)] == [{"n": 0}]


@pytest.mark.django_db
def test_replay_leaves_other_signals_and_receivers_alone() -> None:
    mine = row(created=0)
    row(created=0, receiver="tests.bridge.receivers.on_paid")
    row(created=0, signal="tests.bridge.paid", receiver=RECEIVER)

    assert replay(signal=SIGNAL, receiver=RECEIVER, since=at(0)) == 1
    assert Delivery.objects.filter(status=Status.PENDING).get().payload == mine.payload


@pytest.mark.django_db
def test_replay_writes_every_row_of_a_large_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_replay, "_BATCH", 2)
    rows = [row(created=seconds) for seconds in range(5)]

    assert replay(signal=SIGNAL, receiver=RECEIVER) == 5
    assert [c.payload for c in copies(*rows)] == [r.payload for r in rows]


@pytest.mark.django_db
def test_replay_of_nothing_returns_zero() -> None:
    row("pending")
    assert replay(signal=SIGNAL, receiver=RECEIVER) == 0
    assert Delivery.objects.count() == 1


def inline_receiver(sender: object, **kwargs: object) -> None:
    """Connected inline by a test: not a receiver a worker runs."""


@pytest.fixture
def inline_connected() -> Iterator[str]:
    receivers.shipped.connect(inline_receiver, weak=False)
    yield f"{__name__}.inline_receiver"
    receivers.shipped.disconnect(inline_receiver)


@pytest.mark.django_db
def test_replay_refuses_a_receiver_not_connected_with_run_celery(
    inline_connected: str,
) -> None:
    row(receiver=inline_connected)
    for path in (inline_connected, "tests.bridge.receivers.gone"):
        with pytest.raises(ReplayError) as raised:
            replay(signal=SIGNAL, receiver=path)
        message = str(raised.value)
        assert f"receiver {path!r} is not connected to signal {SIGNAL!r}" in message
        assert f"(connected there: {RECEIVER})" in message
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_replay_refuses_an_unknown_signal() -> None:
    with pytest.raises(ReplayError, match=r"no signal named 'shop\.nope'"):
        replay(signal="shop.nope", receiver=RECEIVER)


@pytest.mark.django_db
def test_replay_refuses_a_bad_window() -> None:
    with pytest.raises(ValueError, match="since must be an aware datetime"):
        replay(signal=SIGNAL, receiver=RECEIVER, since=datetime(2026, 1, 5))
    with pytest.raises(ValueError, match="since must be before until"):
        replay(signal=SIGNAL, receiver=RECEIVER, since=at(10), until=at(10))
    with pytest.raises(TypeError, match="until must be a datetime"):
        replay(signal=SIGNAL, receiver=RECEIVER, until="2026-01-05")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


@pytest.mark.django_db(transaction=True)
def test_a_replayed_delivery_runs_the_receiver_again() -> None:
    receivers.calls.clear()
    receivers.shipped.send(sender=None, order_id=7, carrier="ups")  # eager: runs now
    [first] = Delivery.objects.all()
    assert first.status == Status.DONE

    assert replay(signal=SIGNAL, receiver=RECEIVER) == 1
    [ran] = drain()

    assert (ran.signal, ran.receiver, ran.outcome) == (SIGNAL, RECEIVER, "done")
    assert ran.id != first.pk
    assert receivers.calls == [("shipped", (None, 7, "ups"))] * 2

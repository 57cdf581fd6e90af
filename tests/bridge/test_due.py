"""Which rows the relay (re)publishes, and marking them (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from django_typed_signals.bridge._due import (
    due_for_publish,
    mark_published,
    mark_unpublished,
)
from django_typed_signals.bridge._outbox import (
    write_deliveries,
)
from django_typed_signals.models import Delivery
from tests.bridge.rows import (
    LEASE,
    Status,
    at,
    claimed,
    in_threads,
    new,
    one,
    postgres_only,
    reload,
)

# --- due_for_publish, mark_published ------------------------------------------


@pytest.mark.django_db
def test_due_for_publish_picks_runnable_rows_in_id_order() -> None:
    fresh, waiting, backed_off, live, expired, done, dead = (one() for _ in range(7))
    Delivery.objects.filter(pk=waiting.pk).update(
        status=Status.RETRYING, available_at=at(100)
    )
    Delivery.objects.filter(pk=backed_off.pk).update(
        status=Status.RETRYING, available_at=at(5)
    )
    Delivery.objects.filter(pk=live.pk).update(
        status=Status.RUNNING, lease_until=at(11)
    )
    Delivery.objects.filter(pk=expired.pk).update(
        status=Status.RUNNING, lease_until=at(9)
    )
    Delivery.objects.filter(pk=done.pk).update(status=Status.DONE)
    Delivery.objects.filter(pk=dead.pk).update(status=Status.DEAD)

    with transaction.atomic():
        due = due_for_publish(limit=10, republish_after_s=30, now=at(10))
        first = due_for_publish(limit=1, republish_after_s=30, now=at(10))

    assert [row.pk for row in due] == [fresh.pk, backed_off.pk, expired.pk]
    assert [row.pk for row in first] == [fresh.pk]


@pytest.mark.django_db
def test_published_rows_are_republished_only_after_the_window() -> None:
    row = one()

    def due(seconds: float) -> list[int]:
        with transaction.atomic():
            return [
                r.pk
                for r in due_for_publish(
                    limit=10, republish_after_s=30, now=at(seconds)
                )
            ]

    assert mark_published([row.pk], now=at(1)) == 1
    assert reload(row).published_at == at(1)
    assert due(2) == [] and due(31) == []
    assert due(31.5) == [row.pk]  # the broker lost it: publish again
    mark_published([row.pk], now=at(31.5))
    assert due(40) == []
    assert mark_published([]) == 0


@pytest.mark.django_db
def test_expired_lease_is_republished_once_per_window() -> None:
    row = one()
    mark_published([row.pk], now=at(0))
    claimed(row, seconds=1)

    with transaction.atomic():
        assert due_for_publish(limit=5, republish_after_s=30, now=at(LEASE)) == []
        assert [
            r.pk
            for r in due_for_publish(limit=5, republish_after_s=30, now=at(LEASE + 2))
        ] == [row.pk]
        mark_published([row.pk], now=at(LEASE + 2))
        assert due_for_publish(limit=5, republish_after_s=30, now=at(LEASE + 3)) == []


@pytest.mark.django_db(transaction=True)
def test_due_for_publish_needs_the_relays_transaction() -> None:
    with pytest.raises(
        transaction.TransactionManagementError,
        match=r"inside transaction.atomic\(using='default'\) together with mark_pub",
    ):
        due_for_publish(limit=1, republish_after_s=30)


@pytest.mark.django_db
def test_due_for_publish_validates_its_bounds() -> None:
    with pytest.raises(ValueError, match=r"limit must be an integer >= 1, got 0"):
        due_for_publish(limit=0, republish_after_s=1)
    with pytest.raises(ValueError, match=r"republish_after_s must be >= 0, got -1"):
        due_for_publish(limit=1, republish_after_s=-1)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_take_disjoint_rows() -> None:
    write_deliveries([new() for _ in range(10)])
    both_selected = threading.Barrier(2)

    def relay(_: int) -> list[int]:
        with transaction.atomic():
            taken = [r.pk for r in due_for_publish(limit=4, republish_after_s=30)]
            both_selected.wait(timeout=10)  # both hold their locks here
            mark_published(taken)
        return taken

    first, second = in_threads(2, relay)

    assert len(first) == len(second) == 4
    assert not set(first) & set(second)
    with transaction.atomic():
        left = [r.pk for r in due_for_publish(limit=10, republish_after_s=30)]
    assert len(left) == 2 and not set(left) & (set(first) | set(second))


@pytest.mark.django_db
def test_rows_written_as_published_wait_the_window_unless_unpublished() -> None:
    [row] = write_deliveries([new()], now=at(0), published=True)
    assert reload(row).published_at == at(0)
    with transaction.atomic():
        assert due_for_publish(limit=10, republish_after_s=30, now=at(1)) == []
    assert mark_unpublished([row.pk]) == 1
    with transaction.atomic():
        assert [
            r.pk for r in due_for_publish(limit=10, republish_after_s=30, now=at(1))
        ] == [row.pk]

"""What operators do with the rows: status counts, requeue, prune."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import signals as django_signals
from django.utils import timezone

from django_typed_signals.bridge import _breaker, _operations
from django_typed_signals.bridge._due import (
    mark_published,
)
from django_typed_signals.bridge._operations import (
    prune,
    requeue,
    requeue_rows,
    status_counts,
)
from django_typed_signals.bridge._outbox import (
    complete,
    fail,
    write_deliveries,
)
from django_typed_signals.models import BreakerState, Delivery
from tests.bridge.rows import (
    Status,
    at,
    claimed,
    new,
    one,
    reload,
)

# --- status_counts ------------------------------------------------------------


@pytest.mark.django_db
def test_status_counts_follow_the_status_command_definitions() -> None:
    assert status_counts(now=at(0)) == {
        "pending": 0,
        "running": 0,
        "retrying": 0,
        "done": 0,
        "dead": 0,
        "oldest_pending_age_s": None,
    }
    unpublished, published, backed_off, expired, live, waiting, done, dead = (
        write_deliveries([new()], now=at(i))[0] for i in range(8)
    )
    mark_published([published.pk], now=at(20))
    Delivery.objects.filter(pk=backed_off.pk).update(
        status=Status.RETRYING, available_at=at(50)
    )
    Delivery.objects.filter(pk=expired.pk).update(
        status=Status.RUNNING, lease_until=at(90)
    )
    Delivery.objects.filter(pk=live.pk).update(
        status=Status.RUNNING, lease_until=at(101)
    )
    Delivery.objects.filter(pk=waiting.pk).update(
        status=Status.RETRYING, available_at=at(200)
    )
    Delivery.objects.filter(pk=done.pk).update(status=Status.DONE)
    Delivery.objects.filter(pk=dead.pk).update(status=Status.DEAD)

    counts = status_counts(now=at(100))

    assert counts == {
        "pending": 4,  # unpublished, published, backoff over, lease expired
        "running": 1,
        "retrying": 1,
        "done": 1,
        "dead": 1,
        "oldest_pending_age_s": 100.0,  # ``unpublished``, runnable since +0 s
    }
    Delivery.objects.filter(pk__in=[unpublished.pk, published.pk]).update(
        status=Status.DONE
    )
    # The oldest is now the retry whose backoff ended at +50 s...
    assert status_counts(now=at(100))["oldest_pending_age_s"] == 50.0
    Delivery.objects.filter(pk=backed_off.pk).update(status=Status.DONE)
    # ...then the expired claim, waiting since its lease ended at +90 s.
    assert status_counts(now=at(100))["oldest_pending_age_s"] == 10.0


# --- requeue ------------------------------------------------------------------


@pytest.mark.django_db
def test_requeue_dead_brings_back_every_dead_row_only() -> None:
    dead = one(max_attempts=1)
    fail(claimed(dead), "gave up", now=at(1))
    pending, done = one(), one()
    complete(claimed(done))
    mark_published([dead.pk], now=at(0))

    assert requeue(dead=True, now=at(50)) == 1

    stored = reload(dead)
    assert stored.status == Status.PENDING and stored.attempts == 0
    assert stored.available_at == at(50)
    assert stored.published_at is None and stored.finished_at is None
    assert stored.last_error == "gave up"  # still readable until it runs
    assert reload(pending).status == Status.PENDING
    assert reload(done).status == Status.DONE
    assert claimed(dead, seconds=50).attempt == 1


@pytest.mark.django_db
def test_requeue_by_id_leaves_done_rows_and_live_claims_alone() -> None:
    dead, retrying, done, live, expired = (one() for _ in range(5))
    Delivery.objects.filter(pk=dead.pk).update(status=Status.DEAD, attempts=8)
    Delivery.objects.filter(pk=retrying.pk).update(
        status=Status.RETRYING, attempts=3, available_at=at(500)
    )
    Delivery.objects.filter(pk=done.pk).update(status=Status.DONE, attempts=1)
    holder = claimed(live, seconds=5)
    Delivery.objects.filter(pk=expired.pk).update(
        status=Status.RUNNING, attempts=1, lease_until=at(9)
    )

    ids = [row.pk for row in (dead, retrying, done, live, expired)]
    assert requeue(ids=ids, now=at(10)) == 3

    assert {r.pk: (r.status, r.attempts) for r in Delivery.objects.all()} == {
        dead.pk: (Status.PENDING, 0),
        retrying.pk: (Status.PENDING, 0),
        done.pk: (Status.DONE, 1),
        live.pk: (Status.RUNNING, 1),
        expired.pk: (Status.PENDING, 0),
    }
    assert complete(holder) is True
    assert requeue(ids=[]) == 0


@pytest.mark.parametrize("kwargs", [{}, {"ids": [1], "dead": True}])
def test_requeue_takes_ids_or_dead(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"ids=\[\.\.\.\] or dead=True, exactly one"):
        requeue(**kwargs)


# --- prune --------------------------------------------------------------------


@pytest.fixture
def no_post_delete_for_deliveries() -> Iterator[list[object]]:
    sent: list[object] = []

    def record(sender: object, **kwargs: object) -> None:
        sent.append(kwargs["instance"])

    django_signals.post_delete.connect(record, sender=Delivery, weak=False)
    yield sent
    django_signals.post_delete.disconnect(record, sender=Delivery)


@pytest.mark.django_db
def test_prune_deletes_only_done_rows_past_the_cutoff(
    monkeypatch: pytest.MonkeyPatch, no_post_delete_for_deliveries: list[object]
) -> None:
    monkeypatch.setattr(_operations, "_PRUNE_BATCH", 2)  # several batches
    old_done = [one() for _ in range(5)]
    recent_done, old_dead, old_pending, old_retrying, old_running = (
        one() for _ in range(5)
    )
    days_ago = timezone.now() - timedelta(days=10)
    Delivery.objects.filter(pk__in=[r.pk for r in old_done]).update(
        status=Status.DONE, finished_at=days_ago
    )
    Delivery.objects.filter(pk=recent_done.pk).update(
        status=Status.DONE, finished_at=timezone.now() - timedelta(days=6)
    )
    Delivery.objects.filter(pk=old_dead.pk).update(
        status=Status.DEAD, finished_at=days_ago
    )
    Delivery.objects.filter(pk=old_retrying.pk).update(
        status=Status.RETRYING, finished_at=days_ago
    )
    Delivery.objects.filter(pk=old_running.pk).update(
        status=Status.RUNNING, finished_at=days_ago, lease_until=days_ago
    )

    assert prune(older_than_days=7) == 5

    left = set(Delivery.objects.values_list("pk", flat=True))
    assert left == {
        r.pk for r in (recent_done, old_dead, old_pending, old_retrying, old_running)
    }
    assert no_post_delete_for_deliveries == []
    assert prune(older_than_days=7) == 0
    assert prune(older_than_days=5.5) == 1


def test_prune_refuses_a_negative_age() -> None:
    with pytest.raises(ValueError, match=r"older_than_days must be >= 0, got -1"):
        prune(older_than_days=-1)


# --- requeue_rows: requeue with reasons and breakers ----------------------------


def row(status: str, receiver: str, **changes: object) -> Delivery:
    written = one(receiver=receiver)
    Delivery.objects.filter(pk=written.pk).update(status=status, attempts=2, **changes)
    return reload(written)


def pause(*receivers: str) -> None:
    until = timezone.now() + timedelta(hours=1)
    for receiver in receivers:
        BreakerState.objects.create(
            receiver=receiver, consecutive_failures=5, paused_until=until
        )


@pytest.mark.parametrize("kwargs", [{}, {"ids": [1], "dead": True}])
def test_takes_ids_or_dead_exactly(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"ids=\[...\] or dead=True"):
        requeue_rows(using="default", **kwargs)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_listed_rows_say_why_they_were_left_and_only_taken_receivers_resume() -> None:
    now = timezone.now()
    dead = row(Status.DEAD, "shop.r.dead")
    done = row(Status.DONE, "shop.r.done")
    live = row(Status.RUNNING, "shop.r.live", lease_until=now + timedelta(minutes=5))
    pause("shop.r.dead", "shop.r.done", "shop.r.live")

    got = requeue_rows(ids=[dead.pk, done.pk, live.pk, 999_999], using="default")

    assert (got.count, got.resumed) == (1, 1)
    assert got.left == {
        done.pk: "it is done (replay runs a done delivery again)",
        live.pk: "it is running under a live lease",
        999_999: "no such delivery",
    }
    assert Delivery.objects.get(pk=dead.pk).status == Status.PENDING
    assert _breaker.paused_receivers() == ["shop.r.done", "shop.r.live"]


@pytest.mark.django_db
def test_dead_takes_every_dead_row_and_resumes_their_receivers() -> None:
    first, second = row(Status.DEAD, "shop.r.a"), row(Status.DEAD, "shop.r.b")
    row(Status.RETRYING, "shop.r.c")
    pause("shop.r.a", "shop.r.c")

    got = requeue_rows(dead=True, using="default")

    assert (got.count, got.resumed, got.left) == (2, 1, {})
    assert {
        r.status for r in Delivery.objects.filter(pk__in=[first.pk, second.pk])
    } == {Status.PENDING}
    assert _breaker.paused_receivers() == ["shop.r.c"]

"""The delivery rows' state machine against a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import signals as django_signals
from django.utils import timezone

from django_typed_signals.bridge import _outbox
from django_typed_signals.bridge._outbox import (
    BACKOFF_CAP_S,
    MAX_ERROR_CHARS,
    Claim,
    NewDelivery,
    backoff,
    claim,
    complete,
    due_for_publish,
    fail,
    mark_published,
    prune,
    requeue,
    status_counts,
    write_deliveries,
)
from django_typed_signals.models import Delivery

Status = Delivery.Status
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL (TYPED_SIGNALS_TEST_DB=postgres): SQLite has no "
    "row locks and serializes every writer",
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=dt_timezone.utc)
LEASE = 60.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new(receiver: str = "shop.receivers.email", **kwargs: Any) -> NewDelivery:
    return NewDelivery(
        signal="shop.order_paid", receiver=receiver, payload={"v": 1}, **kwargs
    )


def one(**kwargs: Any) -> Delivery:
    (row,) = write_deliveries([new(**kwargs)], now=T0)
    return row


def reload(row: Delivery) -> Delivery:
    return Delivery.objects.get(pk=row.pk)


def claimed(row: Delivery, seconds: float = 0, lease_s: float = LEASE) -> Claim:
    got = claim(row.pk, lease_s=lease_s, now=at(seconds))
    assert got is not None, f"{row} could not be claimed at +{seconds}s"
    return got


# --- write_deliveries ---------------------------------------------------------


@pytest.mark.django_db
def test_write_deliveries_inserts_pending_rows_with_ids() -> None:
    rows = write_deliveries(
        [
            new(queue="email", max_attempts=3, key="k1"),
            new("shop.receivers.audit"),
        ],
        now=T0,
    )

    assert all(row.pk is not None for row in rows)
    first, second = (reload(row) for row in rows)
    assert (first.signal, first.receiver, first.payload) == (
        "shop.order_paid",
        "shop.receivers.email",
        {"v": 1},
    )
    assert (first.queue, first.max_attempts, first.key) == ("email", 3, "k1")
    assert first.status == Status.PENDING and first.attempts == 0
    assert first.created_at == first.available_at == T0
    assert first.published_at is first.lease_until is first.finished_at is None
    assert (second.queue, second.max_attempts) == ("", 8)
    assert len(second.key) == 32 and second.key != first.key
    assert write_deliveries([]) == []


@pytest.mark.django_db
def test_write_deliveries_belongs_to_the_callers_transaction() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        write_deliveries([new(), new()])
        raise RuntimeError("rolled back")

    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_delivery_key_is_unique() -> None:
    one(key="same")

    with pytest.raises(IntegrityError), transaction.atomic():
        one(key="same")


@postgres_only
@pytest.mark.django_db
def test_delivery_table_keeps_only_the_indexes_its_queries_use() -> None:
    # Every row write updates each index: the key's uniqueness needs one, but
    # not the LIKE index PostgreSQL gets for a unique=True CharField.
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [table],
        )
        found = dict(cursor.fetchall())

    assert sorted(found) == sorted(
        [
            f"{table}_pkey",
            "dts_delivery_due",
            "dts_delivery_finished",
            "dts_delivery_key",
        ]
    ), found
    assert "UNIQUE" in found["dts_delivery_key"]
    assert not [d for d in found.values() if "pattern_ops" in d]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"receiver": "x" * 301}, "receiver must be a string of at most 300"),
        ({"queue": "q" * 201}, "queue must be a string of at most 200"),
        ({"max_attempts": 0}, "max_attempts must be an integer >= 1, got 0"),
        ({"max_attempts": True}, "max_attempts must be an integer >= 1, got True"),
        ({"key": ""}, "key must be a string of 1 to 64 characters"),
        ({"key": "k" * 65}, "key must be a string of 1 to 64 characters"),
        (
            {"payload": ["not", "a", "dict"]},
            "payload must be an encoded dict, got list",
        ),
    ],
)
def test_new_delivery_refuses_what_the_row_cannot_hold(
    kwargs: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {
        "signal": "shop.order_paid",
        "receiver": "shop.receivers.email",
        "payload": {},
        **kwargs,
    }
    with pytest.raises((ValueError, TypeError), match=message) as raised:
        NewDelivery(**fields)
    assert "signal 'shop.order_paid'" in str(raised.value)


def test_delivery_str_names_signal_receiver_and_state() -> None:
    row = Delivery(pk=7, signal="s", receiver="a.b", status=Status.RETRYING, attempts=2)
    assert str(row) == "delivery 7 s -> a.b (retrying, attempt 2/8)"


# --- claim --------------------------------------------------------------------


@pytest.mark.django_db
def test_claim_takes_a_pending_row_once() -> None:
    row = one()

    first = claimed(row, lease_s=30)

    assert first.attempt == 1 and first.delivery.pk == row.pk
    stored = reload(row)
    assert stored.status == Status.RUNNING and stored.attempts == 1
    assert stored.lease_until == at(30) and stored.lease_token == first.token
    assert claim(row.pk, lease_s=30, now=at(1)) is None
    assert claim(row.pk, lease_s=30, now=at(30)) is None  # the lease's last instant
    assert reload(row).lease_token == first.token and reload(row).attempts == 1


@pytest.mark.django_db
def test_claim_refuses_finished_missing_and_backing_off_rows() -> None:
    done, dead, waiting = one(), one(), one()
    Delivery.objects.filter(pk=done.pk).update(status=Status.DONE)
    Delivery.objects.filter(pk=dead.pk).update(status=Status.DEAD)
    Delivery.objects.filter(pk=waiting.pk).update(
        status=Status.RETRYING, available_at=at(10)
    )

    for row in (done, dead, waiting):
        assert claim(row.pk, lease_s=LEASE, now=at(5)) is None
    assert claim(10**9, lease_s=LEASE, now=at(5)) is None
    assert [reload(r).attempts for r in (done, dead, waiting)] == [0, 0, 0]
    assert claimed(waiting, seconds=10).attempt == 1  # the backoff is over


@pytest.mark.django_db
def test_claim_refuses_a_row_not_yet_available() -> None:
    (row,) = write_deliveries([new()], now=at(100))

    assert claim(row.pk, lease_s=LEASE, now=at(99)) is None
    assert claimed(row, seconds=100).attempt == 1


@pytest.mark.django_db
def test_claim_rejects_a_non_positive_lease() -> None:
    with pytest.raises(ValueError, match=r"lease_s must be > 0, got 0"):
        claim(1, lease_s=0)


@pytest.mark.django_db
def test_expired_lease_is_claimed_again_as_a_new_attempt() -> None:
    row = one()
    first = claimed(row)

    second = claimed(row, seconds=LEASE + 1)

    assert second.attempt == 2 and second.token != first.token
    stored = reload(row)
    assert stored.attempts == 2 and stored.lease_token == second.token
    assert stored.lease_until == at(2 * LEASE + 1)


@pytest.mark.django_db
def test_stale_claim_cannot_complete_or_fail_a_reclaimed_row() -> None:
    row = one()
    stale = claimed(row)
    fresh = claimed(row, seconds=LEASE + 1)

    assert complete(stale) is False
    assert fail(stale, "late", now=at(LEASE + 2)) is None
    assert reload(row).status == Status.RUNNING
    assert reload(row).last_error == ""

    assert complete(fresh, now=at(LEASE + 3)) is True
    stored = reload(row)
    assert stored.status == Status.DONE and stored.finished_at == at(LEASE + 3)
    assert stored.lease_token is None and stored.lease_until is None
    assert complete(fresh) is False  # once only
    assert claim(row.pk, lease_s=LEASE, now=at(10_000)) is None


@pytest.mark.django_db
def test_lease_holder_can_still_complete_after_its_lease_if_nobody_reclaimed() -> None:
    row = one()
    late = claimed(row)

    assert complete(late, now=at(LEASE * 5)) is True
    assert reload(row).status == Status.DONE


@pytest.mark.django_db(transaction=True)
def test_complete_rolls_back_with_the_receivers_transaction() -> None:
    row = one()
    held = claimed(row)

    with pytest.raises(RuntimeError), transaction.atomic():
        assert complete(held) is True
        raise RuntimeError("the receiver's effect failed after the mark")

    assert reload(row).status == Status.RUNNING
    assert complete(held) is True


# --- fail, backoff, dead ------------------------------------------------------


@pytest.mark.django_db
def test_fail_backs_off_then_runs_again() -> None:
    row = one(max_attempts=3)
    held = claimed(row)

    assert fail(held, "boom", now=at(5)) == "retrying"

    stored = reload(row)
    assert stored.status == Status.RETRYING and stored.last_error == "boom"
    assert stored.lease_token is None and stored.lease_until is None
    assert at(5) <= stored.available_at <= at(5 + 1)  # attempt 1: up to 1 s
    assert stored.finished_at is None
    assert claim(row.pk, lease_s=LEASE, now=stored.available_at) is not None
    assert reload(row).attempts == 2


@pytest.mark.django_db
def test_fail_on_the_last_attempt_is_dead_and_keeps_the_error() -> None:
    row = one(max_attempts=2)
    assert fail(claimed(row), "first", now=at(1)) == "retrying"
    second = claimed(row, seconds=10)

    assert fail(second, "second", now=at(11)) == "dead"

    stored = reload(row)
    assert stored.status == Status.DEAD and stored.attempts == 2
    assert stored.last_error == "second" and stored.finished_at == at(11)
    assert claim(row.pk, lease_s=LEASE, now=at(10_000)) is None


@pytest.mark.django_db
def test_fail_keeps_the_head_and_tail_of_a_long_error() -> None:
    row = one()
    error = "Traceback (most recent call last):\n" + "x" * 10_000 + "\nValueError: bad"

    fail(claimed(row), error, now=at(1))

    kept = reload(row).last_error
    assert len(kept) <= MAX_ERROR_CHARS + 60
    assert kept.startswith("Traceback (most recent call last):")
    assert kept.endswith("\nValueError: bad")
    assert f"[... {len(error) - MAX_ERROR_CHARS} characters cut ...]" in kept


@pytest.mark.django_db
def test_lease_expiring_on_the_last_attempt_is_dead_not_claimed() -> None:
    row = one(max_attempts=2)
    fail(claimed(row), "ZeroDivisionError", now=at(1))
    claimed(row, seconds=10)  # attempt 2: the worker dies holding it

    assert claim(row.pk, lease_s=LEASE, now=at(10 + LEASE + 1)) is None

    stored = reload(row)
    assert stored.status == Status.DEAD and stored.attempts == 2
    assert stored.finished_at == at(10 + LEASE + 1)
    assert stored.lease_token is None
    assert stored.last_error.startswith("lease expired on attempt 2 of 2")
    assert stored.last_error.endswith("ZeroDivisionError")


@pytest.mark.django_db
def test_worker_killed_every_time_ends_dead_after_max_attempts() -> None:
    row = one(max_attempts=3)
    now = 0.0
    attempts = []
    for _ in range(10):  # bounded: a broken guard must fail, not loop
        held = claim(row.pk, lease_s=LEASE, now=at(now))
        if held is None:
            break
        attempts.append(held.attempt)
        now += LEASE + 1  # the worker is killed: nobody completes or fails

    assert attempts == [1, 2, 3]
    assert reload(row).status == Status.DEAD


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 12, 13, 40, 10**6])
def test_backoff_is_full_jitter_under_an_exponential_cap(attempt: int) -> None:
    ceiling = min(BACKOFF_CAP_S, 2.0 ** min(attempt - 1, 20))

    waits = [backoff(attempt) for _ in range(400)]

    assert all(0.0 <= wait <= ceiling for wait in waits)
    # Full jitter: the waits spread over the whole range, not near the top.
    assert min(waits) < ceiling * 0.1 and max(waits) > ceiling * 0.9


@pytest.mark.parametrize("attempt", [0, -1, True])
def test_backoff_refuses_attempts_below_one(attempt: int) -> None:
    with pytest.raises(
        ValueError, match=rf"attempt must be an integer >= 1, got {attempt}"
    ):
        backoff(attempt)


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
    monkeypatch.setattr(_outbox, "_PRUNE_BATCH", 2)  # several batches
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


# --- several workers and relays (PostgreSQL) ----------------------------------


def _in_threads(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads started together; their results."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait(timeout=10)
            results[i] = work(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_have_exactly_one_winner() -> None:
    rows = write_deliveries([new() for _ in range(20)])

    def claim_all(_: int) -> list[int]:
        return [r.pk for r in rows if claim(r.pk, lease_s=LEASE) is not None]

    won = _in_threads(4, claim_all)

    assert sorted(pk for each in won for pk in each) == sorted(r.pk for r in rows)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


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

    first, second = _in_threads(2, relay)

    assert len(first) == len(second) == 4
    assert not set(first) & set(second)
    with transaction.atomic():
        left = [r.pk for r in due_for_publish(limit=10, republish_after_s=30)]
    assert len(left) == 2 and not set(left) & (set(first) | set(second))


@pytest.mark.django_db
def test_functions_take_the_database_alias() -> None:
    (row,) = write_deliveries([new()], using="default", now=T0)
    held = claim(row.pk, lease_s=LEASE, using="default", now=at(1))
    assert held is not None
    assert status_counts(using="default", now=at(2))["running"] == 1
    assert complete(held, using="default") is True
    assert (
        prune(older_than_days=0, using="default", now=timezone.now() + timedelta(1))
        == 1
    )


# --- extend, mark_unpublished, write_deliveries(published=True) ---------------


@pytest.mark.django_db
def test_extend_moves_the_lease_end_only_under_the_holders_token() -> None:
    row = one()
    first = claimed(row, 0)
    assert _outbox.extend(first, lease_s=300, now=at(1))
    assert reload(row).lease_until == at(301)
    # Expired and re-claimed by another worker: the first holder changes nothing.
    second = claimed(row, 400)
    assert not _outbox.extend(first, lease_s=900, now=at(401))
    assert reload(row).lease_token == second.token
    with pytest.raises(ValueError, match="lease_s must be > 0"):
        _outbox.extend(second, lease_s=0)


@pytest.mark.django_db
def test_rows_written_as_published_wait_the_window_unless_unpublished() -> None:
    [row] = write_deliveries([new()], now=at(0), published=True)
    assert reload(row).published_at == at(0)
    with transaction.atomic():
        assert due_for_publish(limit=10, republish_after_s=30, now=at(1)) == []
    assert _outbox.mark_unpublished([row.pk]) == 1
    with transaction.atomic():
        assert [
            r.pk for r in due_for_publish(limit=10, republish_after_s=30, now=at(1))
        ] == [row.pk]


@pytest.mark.django_db
def test_a_failed_attempt_is_unpublished_so_the_relay_publishes_the_retry() -> None:
    row = one()
    mark_published([row.pk], now=at(0))
    assert fail(claimed(row, 1), "boom", now=at(1)) == "retrying"
    assert reload(row).published_at is None


@pytest.mark.django_db
def test_a_successful_claim_is_one_statement_where_update_returns_rows() -> None:
    from django.test.utils import CaptureQueriesContext

    row = one()
    with CaptureQueriesContext(connection) as queries:
        got = claim(row.pk, lease_s=LEASE, now=at(0))
    assert got is not None and got.delivery.pk == row.pk
    assert got.delivery.lease_token == got.token and got.attempt == 1
    assert got.delivery.payload == {"v": 1}  # converters applied (JSON)
    assert len(queries) == (1 if _outbox._returns_rows("default") else 2)  # pyright: ignore[reportPrivateUsage]


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_bookkeeping_commits_asynchronously_only_in_its_own_transaction() -> None:
    """In autocommit the claim and the done mark carry synchronous_commit=off
    for their own statement; inside a caller's transaction they leave the
    setting alone, which would otherwise outlive them there."""
    from django.test.utils import CaptureQueriesContext

    first, second = write_deliveries([new(), new()], now=T0)
    with CaptureQueriesContext(connection) as autocommit:
        taken = claimed(first)
        assert complete(taken, now=at(1))
    assert _synchronous_commit() == "on"  # nothing leaked into the session
    assert all("set_config('synchronous_commit'" in q["sql"] for q in autocommit)
    with transaction.atomic(), CaptureQueriesContext(connection) as inside:
        taken = claimed(second)
        assert complete(taken, now=at(1))
        assert _synchronous_commit() == "on"
    assert not any("set_config" in q["sql"] for q in inside)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.DONE}

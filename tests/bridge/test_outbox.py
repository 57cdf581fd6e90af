"""The delivery rows' state machine against a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from django_typed_signals.bridge import _outbox
from django_typed_signals.bridge._due import (
    mark_published,
)
from django_typed_signals.bridge._operations import (
    prune,
    status_counts,
)
from django_typed_signals.bridge._outbox import (
    BACKOFF_CAP_S,
    MAX_ERROR_CHARS,
    NewDelivery,
    backoff,
    claim,
    complete,
    fail,
    write_deliveries,
)
from django_typed_signals.models import Delivery
from tests.bridge.rows import (
    LEASE,
    T0,
    Status,
    at,
    claimed,
    in_threads,
    new,
    one,
    postgres_only,
    reload,
)

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


# --- several workers (PostgreSQL), extend, retries ---------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_have_exactly_one_winner() -> None:
    rows = write_deliveries([new() for _ in range(20)])

    def claim_all(_: int) -> list[int]:
        return [r.pk for r in rows if claim(r.pk, lease_s=LEASE) is not None]

    won = in_threads(4, claim_all)

    assert sorted(pk for each in won for pk in each) == sorted(r.pk for r in rows)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


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
def test_a_failed_attempt_is_unpublished_so_the_relay_publishes_the_retry() -> None:
    row = one()
    mark_published([row.pk], now=at(0))
    assert fail(claimed(row, 1), "boom", now=at(1)) == "retrying"
    assert reload(row).published_at is None


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

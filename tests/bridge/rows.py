"""Rows for the tests of the bridge's row modules: written, claimed, timed."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from django_typed_signals.bridge._outbox import (
    Claim,
    NewDelivery,
    claim,
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


def in_threads(count: int, work: Any) -> list[Any]:
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

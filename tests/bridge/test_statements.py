"""The hot path's statements: one claim statement, asynchronous bookkeeping."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from django_typed_signals.bridge import _statements
from django_typed_signals.bridge._outbox import (
    claim,
    complete,
    write_deliveries,
)
from django_typed_signals.models import Delivery
from tests.bridge.rows import (
    LEASE,
    T0,
    Status,
    at,
    claimed,
    new,
    one,
    postgres_only,
)


@pytest.mark.django_db
def test_a_successful_claim_is_one_statement_where_update_returns_rows() -> None:
    from django.test.utils import CaptureQueriesContext

    row = one()
    with CaptureQueriesContext(connection) as queries:
        got = claim(row.pk, lease_s=LEASE, now=at(0))
    assert got is not None and got.delivery.pk == row.pk
    assert got.delivery.lease_token == got.token and got.attempt == 1
    assert got.delivery.payload == {"v": 1}  # converters applied (JSON)
    assert len(queries) == (1 if _statements.returns_rows("default") else 2)


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

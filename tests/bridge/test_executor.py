"""``run="celery"`` end to end in one process: rows written in the caller's
transaction, run after the commit (``EXECUTOR = "eager"``) or by ``drain()``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.bridge import DeliveryInfo, EncodingError
from django_typed_signals.models import Delivery
from django_typed_signals.testing import drain
from tests.bridge import receivers
from tests.bridge.receivers import Paid
from tests.testapp.models import Note, Order, Tag

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL = override_settings(TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local"}})


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    receivers.calls.clear()


def test_a_delivery_row_is_written_in_the_transaction_and_run_after_commit() -> None:
    order = Order.objects.create()
    with transaction.atomic():
        responses = receivers.paid.send(Order, Paid(order, Decimal("9.99")))
        [row] = Delivery.objects.all()
        assert (row.signal, row.receiver, row.status) == (
            "tests.bridge.paid",
            "tests.bridge.receivers.on_paid",
            "pending",
        )
        assert receivers.calls == []  # nothing before the commit
    assert responses == [(receivers.on_paid, None)]
    [(name, (pk, amount, info))] = receivers.calls
    assert (name, pk, amount) == ("paid", order.pk, Decimal("9.99"))
    row.refresh_from_db()
    assert row.status == "done"
    assert info == DeliveryInfo(id=row.pk, attempt=1, key=row.key)


def test_a_rollback_leaves_no_row_and_runs_nothing() -> None:
    order = Order.objects.create()
    with pytest.raises(RuntimeError), transaction.atomic():
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        raise RuntimeError("rolled back")
    assert Delivery.objects.count() == 0
    assert receivers.calls == []


def test_a_rolled_back_savepoint_drops_only_its_rows() -> None:
    kept, lost = Order.objects.create(), Order.objects.create()
    with transaction.atomic():
        receivers.paid.send(Order, Paid(kept, Decimal(1)))
        with pytest.raises(RuntimeError), transaction.atomic():
            receivers.paid.send(Order, Paid(lost, Decimal(2)))
            raise RuntimeError("savepoint rolled back")
    assert [c[1][0] for c in receivers.calls] == [kept.pk]
    assert Delivery.objects.count() == 1


def test_outside_a_transaction_it_runs_at_once() -> None:
    order = Order.objects.create()
    receivers.paid.send(Order, Paid(order, Decimal(3)))
    assert [c[0] for c in receivers.calls] == ["paid"]


def test_a_payload_that_cannot_be_encoded_fails_the_send_and_writes_nothing() -> None:
    order = Order.objects.create()
    bad = Paid(order, {1, 2})  # type: ignore[arg-type]
    with pytest.raises(EncodingError, match=r"tests\.bridge\.paid: cannot encode"):
        receivers.paid.send(Order, bad)
    assert Delivery.objects.count() == 0


def test_a_receiver_the_worker_cannot_import_is_refused_at_connect() -> None:
    signal = TypedSignal(Paid, name="tests.bridge.local")

    def local(sender: object, *, payload: Paid, **kwargs: object) -> None: ...

    with pytest.raises(
        ValueError, match=r"run='celery' needs a receiver the worker can import"
    ):
        receiver(signal, run="celery")(local)
    assert signal.receivers == []


def test_named_arguments_of_a_plain_signal_travel_too() -> None:
    with LOCAL:
        receivers.shipped.send(Order, order_id=7, carrier="bike")
        [row] = Delivery.objects.all()
        assert (row.queue, row.status) == ("email", "pending")
        assert receivers.calls == []  # the relay's job in "local" mode
        [drained] = drain()
    assert (drained.id, drained.outcome) == (row.pk, "done")
    assert receivers.calls == [("shipped", (Order, 7, "bike"))]
    assert drain() == []  # nothing left


def test_lifecycle_conditions_are_checked_at_send_time_and_changes_travel() -> None:
    with LOCAL:
        order = Order.objects.create(status="draft")
        order.note = "no status change"
        order.save()
        assert Delivery.objects.count() == 0  # changed() was false: no row
        order.status = "paid"
        order.save()
        drain()
    assert receivers.calls == [("order_paid", (order.pk, "draft"))]


def test_a_failing_receiver_retries_then_goes_dead_with_its_error() -> None:
    with LOCAL:
        order = Order.objects.create()
        receivers.failing.send(Order, Paid(order, Decimal(1)))
        [first] = drain()
        assert first.outcome == "retrying"
        row = Delivery.objects.get()
        assert (row.status, row.attempts) == ("retrying", 1)
        assert f"cannot handle order {order.pk}" in row.last_error
        Delivery.objects.update(available_at=row.created_at)  # the backoff is over
        [second] = drain()
    row.refresh_from_db()
    assert (second.outcome, row.status, row.attempts) == ("dead", "dead", 2)
    assert receivers.calls == [("failing", order.pk)] * 2


def test_atomic_receivers_commit_their_effect_with_the_done_mark() -> None:
    with LOCAL:
        order = Order.objects.create()
        receivers.effects.send(Order, Paid(order, Decimal(1)))
        receivers.effects.send(Order, Paid(order, Decimal(-1)))
        outcomes = sorted(d.outcome for d in drain())
    assert outcomes == ["dead", "done"]
    # The failing run's Note was rolled back with it; the good one stayed.
    assert list(Note.objects.values_list("text", flat=True)) == [
        f"effect of {order.pk}"
    ]


def test_running_a_delivery_twice_runs_the_receiver_once() -> None:
    from django_typed_signals.bridge._delivery import run_delivery

    with LOCAL:
        order = Order.objects.create()
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        row = Delivery.objects.get()
        assert run_delivery(row.pk, lease_s=60) == "done"
        assert run_delivery(row.pk, lease_s=60) == "skipped"
    assert len(receivers.calls) == 1


def test_an_undecodable_row_goes_dead_with_a_readable_reason() -> None:
    with LOCAL:
        order = Order.objects.create()
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        order.delete()  # the row's model reference now points nowhere
        [drained] = drain()
    row = Delivery.objects.get()
    assert (drained.outcome, row.status) == ("dead", "dead")
    assert "cannot decode the delivery" in row.last_error
    assert receivers.calls == []


def test_a_database_error_reading_the_payload_is_a_failed_attempt_not_a_stuck_row() -> (
    None
):
    from django.db import OperationalError, connection

    from django_typed_signals.bridge._delivery import run_delivery

    order_table = Order._meta.db_table

    def order_reads_fail(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if sql.startswith("SELECT") and order_table in sql:
            raise OperationalError("could not read the order (test)")
        return execute(sql, params, many, context)

    with LOCAL:
        order = Order.objects.create()
        receivers.paid.send(Order, Paid(order, Decimal(1)))
        row = Delivery.objects.get()
        with connection.execute_wrapper(order_reads_fail):
            outcome = run_delivery(row.pk, lease_s=60)
        row.refresh_from_db()
        assert (outcome, row.status, row.attempts) == ("retrying", "retrying", 1)
        assert "reading the payload failed" in row.last_error
        assert "could not read the order (test)" in row.last_error
        assert row.lease_token is None  # not left to wait out the lease
        assert receivers.calls == []
        Delivery.objects.filter(pk=row.pk).update(available_at=row.created_at)
        assert run_delivery(row.pk, lease_s=60) == "done"
    assert [name for name, _ in receivers.calls] == ["paid"]


@LOCAL
def test_a_receivers_own_lease_replaces_the_default_once_it_is_known() -> None:
    receivers.leases_seen.clear()
    receivers.long_running.send(Order, Paid(Order.objects.create(), Decimal(1)))
    [ran] = drain()
    assert ran.outcome == "done"
    # The default LEASE_S is 60; the receiver declared lease=300.
    [left] = receivers.leases_seen
    assert 250 < left <= 300


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_a_send_inside_atomic_on_another_database_waits_for_that_commit() -> None:
    order = Order.objects.using("other").create()
    with transaction.atomic(using="other"):
        receivers.paid.send(Order, Paid(order, Decimal(5)))
        assert Delivery.objects.using("other").count() == 1
        assert Delivery.objects.using("default").count() == 0
        assert receivers.calls == []  # "other" has not committed
    assert [name for name, _ in receivers.calls] == ["paid"]
    assert Delivery.objects.using("other").get().status == "done"


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_a_rollback_on_another_database_drops_its_rows() -> None:
    order = Order.objects.using("other").create()
    with pytest.raises(RuntimeError), transaction.atomic(using="other"):
        receivers.paid.send(Order, Paid(order, Decimal(5)))
        raise RuntimeError("rolled back")
    assert Delivery.objects.using("other").count() == 0
    assert Delivery.objects.using("default").count() == 0
    assert receivers.calls == []


def test_a_send_outside_any_transaction_runs_at_once() -> None:
    order = Order.objects.create()
    receivers.paid.send(Order, Paid(order, Decimal(5)))
    assert [name for name, _ in receivers.calls] == ["paid"]
    assert Delivery.objects.get().status == "done"


def test_a_queryset_delete_travels_with_its_origin_as_an_empty_queryset() -> None:
    Tag.objects.bulk_create([Tag(name="a"), Tag(name="b")])
    with transaction.atomic():
        Tag.objects.filter(name__in=["a", "b"]).delete()  # origin: the QuerySet
    got = sorted(args for name, args in receivers.calls if name == "tag_deleted")
    assert [(tag, kind) for tag, kind, _ in got] == [
        ("a", "QuerySet"),
        ("b", "QuerySet"),
    ]
    origin = got[0][2]
    assert origin.model is Tag and origin.db == "default" and list(origin) == []

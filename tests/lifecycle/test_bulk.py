from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Model
from django.db.models.signals import post_save as django_post_save

from django_typed_signals import receiver
from django_typed_signals.lifecycle import FieldChange, PostSave, send_post_save
from tests.testapp.models import Customer, Order

pytestmark = pytest.mark.django_db


def test_bulk_create_sends_nothing_until_asked_then_typed_post_save() -> None:
    typed: list[tuple[bool, int | None]] = []
    plain: list[object] = []

    @receiver(PostSave, sender=Order)
    def on_saved(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        typed.append((payload.created, payload.instance.pk))

    def plain_receiver(sender: type[Model], **kwargs: object) -> None:
        plain.append(sender)

    django_post_save.connect(plain_receiver, sender=Order)
    try:
        orders = Order.objects.bulk_create([Order(status="a"), Order(status="b")])
        assert typed == []
        sent = send_post_save(Order, orders, created=True)
    finally:
        django_post_save.disconnect(plain_receiver, sender=Order)

    assert sent == 2
    assert [created for created, _ in typed] == [True, True]
    assert plain == []


def test_bulk_update_reports_tracked_changes_and_moves_the_baseline() -> None:
    seen: list[object] = []

    @receiver(PostSave, sender=Order, when=lambda p: "amount" in p.changes)
    def on_amount(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload.changes["amount"])

    from django_typed_signals.lifecycle import changes, track_changes

    track_changes(Order, "amount")
    Order.objects.create(amount=Decimal("1.00"))
    [order] = Order.objects.filter(amount=Decimal("1.00"))
    order.amount = Decimal("3.00")
    Order.objects.bulk_update([order], ["amount"])
    send_post_save(Order, [order], created=False, update_fields=["amount"])

    assert seen == [FieldChange(Decimal("1.00"), Decimal("3.00"))]
    assert changes(order) == {}


def test_instances_of_another_model_are_rejected() -> None:
    customer = Customer.objects.create(name="x")
    with pytest.raises(
        TypeError, match=r"send_post_save\(testapp\.Order\): got a Customer"
    ):
        send_post_save(Order, [customer], created=False)

"""Typed model events end to end, against real saves, deletes and transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Model
from django.db.models import signals as django_signals
from django.db.models.signals import post_save as django_post_save

from django_typed_signals import Signal, mute, receiver
from django_typed_signals.lifecycle import (
    Condition,
    FieldChange,
    M2MChanged,
    PostDelete,
    PostSave,
    PreDelete,
    PreSave,
    changed,
    created,
    m2m_changed,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)
from tests.testapp.models import (
    Customer,
    GiftOrder,
    Item,
    Order,
    OrderTag,
    RushOrder,
    Tag,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_post_save_payload_carries_what_django_gives() -> None:
    seen: list[PostSave[Order]] = []

    @receiver(PostSave, sender=Order)
    def on_saved(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload)

    order = Order.objects.create(status="draft")
    order.status = "paid"
    order.save(update_fields=["status"])

    first, second = seen
    assert first.instance is order and first.created is True
    assert first.update_fields is None and first.raw is False
    assert first.using == "default"
    assert second.created is False
    assert second.update_fields == frozenset({"status"})


def test_pre_save_sees_the_instance_before_it_is_written() -> None:
    in_db: list[bool] = []

    @receiver(PreSave, sender=Order)
    def before(
        sender: type[Order], *, payload: PreSave[Order], **kwargs: object
    ) -> None:
        in_db.append(Order.objects.filter(pk=payload.instance.pk).exists())
        assert payload.created == (payload.instance.pk is None)

    order = Order.objects.create()
    order.save()
    assert in_db == [False, True]


def test_changed_condition_filters_before_the_receiver_is_called() -> None:
    calls: list[Any] = []

    @receiver(PostSave, sender=Order, when=changed("status", to="paid"))
    def on_paid(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        calls.append(payload.changes["status"])

    order = Order.objects.create(status="draft")
    order.note = "unrelated"
    order.save()
    order.status = "paid"
    order.save()
    order.status = "shipped"
    order.save()

    assert calls == [FieldChange("draft", "paid")]


def test_conditions_combine() -> None:
    calls: list[str] = []

    @receiver(
        PostSave,
        sender=Order,
        when=created() | (changed("status", frm="paid") & ~changed("note")),
    )
    def on_it(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        calls.append(payload.instance.status)

    order = Order.objects.create(status="paid")  # created
    order.status = "shipped"
    order.note = "also"
    order.save()  # from paid, but note changed too
    order.status = "paid"
    order.save()  # not from paid
    order.status = "refunded"
    order.save()  # from paid, note unchanged
    assert calls == ["paid", "refunded"]


def test_changed_condition_needs_a_model_sender() -> None:
    with pytest.raises(TypeError, match="conditions on fields need sender"):
        receiver(PostSave, when=changed("status"))(lambda sender, **kwargs: None)


def test_on_commit_receivers_run_after_commit_and_still_see_changes() -> None:
    seen: list[tuple[str, Any]] = []

    @receiver(PostSave, sender=Order, on_commit=True, when=changed("status"))
    def after_commit(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(("commit", payload.changes["status"]))

    order = Order.objects.create(status="draft")
    with transaction.atomic():
        order.status = "paid"
        order.save()
        order.status = "shipped"
        order.save()
        assert seen == []
    assert seen == [
        ("commit", FieldChange("draft", "paid")),
        ("commit", FieldChange("paid", "shipped")),
    ]


def test_on_commit_receivers_never_run_after_a_rollback() -> None:
    seen: list[int] = []

    @receiver(PostSave, sender=Order, on_commit=True)
    def after_commit(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(1)

    with pytest.raises(RuntimeError), transaction.atomic():
        Order.objects.create()
        raise RuntimeError
    assert seen == []


def test_mute_model_silences_typed_and_plain_django_receivers() -> None:
    typed_calls: list[int] = []
    plain_calls: list[int] = []

    @receiver(PostSave, sender=Order)
    def typed(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        typed_calls.append(1)

    def plain(sender: type[Model], **kwargs: object) -> None:
        plain_calls.append(1)

    django_post_save.connect(plain, sender=Order)
    try:
        with mute("model"):
            order = Order.objects.create()
        order.save()
        with mute(django_post_save):
            order.save()
    finally:
        django_post_save.disconnect(plain, sender=Order)
    assert typed_calls == [1]
    assert plain_calls == [1]


def test_changes_after_a_muted_save_are_not_reported_twice() -> None:
    seen: list[Any] = []

    @receiver(PostSave, sender=Order, when=changed("status"))
    def on_change(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload.changes["status"])

    order = Order.objects.create(status="draft")
    with mute("model"):
        order.status = "paid"
        order.save()
    order.note = "x"
    order.save()
    assert seen == []


def test_proxy_and_child_senders_need_match_subclasses() -> None:
    exact: list[str] = []
    family: list[str] = []

    @receiver(PostSave, sender=Order)
    def only_order(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        exact.append(sender.__name__)

    @receiver(PostSave, sender=Order, match_subclasses=True)
    def any_order(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        family.append(sender.__name__)

    Order.objects.create()
    RushOrder.objects.create()
    GiftOrder.objects.create()

    assert exact == ["Order"]
    assert family == ["Order", "RushOrder", "GiftOrder"]


def test_cascading_deletes_send_for_each_row() -> None:
    events: list[tuple[str, str, object]] = []

    @receiver(PreDelete, sender=Item)
    def item_going(
        sender: type[Item], *, payload: PreDelete[Item], **kwargs: object
    ) -> None:
        events.append(("pre", payload.instance.sku, payload.origin))

    @receiver(PostDelete, sender=Order)
    def order_gone(
        sender: type[Order], *, payload: PostDelete[Order], **kwargs: object
    ) -> None:
        events.append(("post", "order", payload.origin))

    order = Order.objects.create()
    Item.objects.create(order=order, sku="a")
    Item.objects.create(order=order, sku="b")
    order.delete()

    assert sorted(e[:2] for e in events) == [
        ("post", "order"),
        ("pre", "a"),
        ("pre", "b"),
    ]
    assert all(origin == order for _, _, origin in events)


def test_m2m_through_model_changes_arrive_typed() -> None:
    events: list[tuple[str, frozenset[Any] | None]] = []

    @receiver(M2MChanged, sender=OrderTag)
    def tags_changed(
        sender: type[Model], *, payload: M2MChanged[Model], **kwargs: object
    ) -> None:
        events.append((payload.action, payload.pk_set))
        assert payload.model is Tag

    order = Order.objects.create()
    red, blue = Tag.objects.create(name="red"), Tag.objects.create(name="blue")
    order.tags.add(red, blue)
    order.tags.remove(blue)
    order.tags.clear()

    assert events == [
        ("pre_add", frozenset({red.pk, blue.pk})),
        ("post_add", frozenset({red.pk, blue.pk})),
        ("pre_remove", frozenset({blue.pk})),
        ("post_remove", frozenset({blue.pk})),
        ("pre_clear", None),
        ("post_clear", None),
    ]


def test_select_for_update_inside_a_transaction_reports_changes() -> None:
    seen: list[Any] = []

    @receiver(PostSave, sender=Order, when=changed("amount"))
    def on_amount(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload.changes["amount"])

    order = Order.objects.create(amount=Decimal("1.00"))
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        locked.amount = Decimal("2.00")
        locked.save()
    assert seen == [FieldChange(Decimal("1.00"), Decimal("2.00"))]


def test_receivers_for_other_models_do_not_fire() -> None:
    calls: list[str] = []

    @receiver(PostSave, sender=Customer)
    def on_customer(
        sender: type[Customer], *, payload: PostSave[Customer], **kwargs: object
    ) -> None:
        calls.append(payload.instance.name)

    Order.objects.create()
    Customer.objects.create(name="ann")
    assert calls == ["ann"]


def test_receiver_for_every_model() -> None:
    senders: list[str] = []

    @receiver(PostSave)
    def on_any(
        sender: type[Model], *, payload: PostSave[Model], **kwargs: object
    ) -> None:
        senders.append(sender.__name__)

    Customer.objects.create(name="x")
    Tag.objects.create(name="y")
    assert senders[-2:] == ["Customer", "Tag"]


def test_typed_signal_is_in_the_model_group() -> None:
    assert post_save.groups == frozenset({"model"})


def test_bad_senders_and_classes_are_named() -> None:
    with pytest.raises(TypeError, match="sender must be a model class"):
        receiver(PostSave, sender="testapp.Order")(lambda sender, **kwargs: None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="lifecycle payload class"):
        receiver(int)(lambda sender, **kwargs: None)  # type: ignore[type-var]


def test_hand_sent_django_signals_with_few_arguments_still_bridge() -> None:
    seen: list[PostSave[Order]] = []

    @receiver(PostSave, sender=Order)
    def on_saved(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload)

    order = Order.objects.create()
    seen.clear()
    django_post_save.send(sender=Order, instance=order)
    [payload] = seen
    assert payload.instance is order and payload.created is False
    assert payload.using == "default" and payload.update_fields is None


def test_catch_all_and_per_model_receivers_each_run_once_per_save() -> None:
    calls: list[str] = []

    @receiver(PostSave, sender=Customer)
    def per_model(
        sender: type[Customer], *, payload: PostSave[Customer], **kwargs: object
    ) -> None:
        calls.append("customer")

    @receiver(PostSave)
    def catch_all(
        sender: type[Model], *, payload: PostSave[Model], **kwargs: object
    ) -> None:
        calls.append(f"any:{sender.__name__}")

    Customer.objects.create(name="once")
    assert sorted(calls) == ["any:Customer", "customer"]


def test_nested_save_in_a_changed_receiver_sees_only_its_own_changes() -> None:
    seen: list[Any] = []

    @receiver(PostSave, sender=Order, when=changed("status"))
    def again(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(dict(payload.changes))
        if len(seen) < 5:
            payload.instance.save()

    order = Order.objects.create(status="draft")
    order.status = "paid"
    order.save()
    assert seen == [{"status": FieldChange("draft", "paid")}]


def test_copy_inserted_django_style_reports_no_changes() -> None:
    seen: list[Any] = []

    @receiver(PostSave, sender=Order, when=changed("status"))
    def on_change(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload.created)

    order = Order.objects.get(pk=Order.objects.create(status="draft").pk)
    order.pk, order.id, order._state.adding = None, None, True
    order.status = "paid"
    order.save()
    assert seen == []


def test_changed_accepts_a_foreign_keys_attname() -> None:
    seen: list[Any] = []
    first, second = Customer.objects.create(name="a"), Customer.objects.create(name="b")

    @receiver(PostSave, sender=Order, when=changed("customer_id", to=second.pk))
    def on_change(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        seen.append(payload.instance.pk)

    order = Order.objects.create(customer=first)
    order.customer = second
    order.save()
    assert seen == [order.pk]


def _connections() -> list[int]:
    """How many receivers each typed and Django model signal has."""
    return [
        len(each.receivers)
        for each in (
            pre_delete,
            post_delete,
            m2m_changed,
            django_signals.pre_delete,
            django_signals.post_delete,
            django_signals.m2m_changed,
        )
    ]


@pytest.mark.parametrize("event", [PreDelete, PostDelete])
@pytest.mark.parametrize(
    "condition",
    [
        changed("name"),
        created(),
        ~created(),
        changed("name", to="x") & ~created(),
        created() | changed("name"),
    ],
    ids=repr,
)
def test_save_conditions_on_delete_receivers_are_refused_at_connect(
    event: type[PreDelete[Any]] | type[PostDelete[Any]],
    condition: Condition[Any],
) -> None:
    calls: list[str] = []

    def on_delete(sender: object, **kwargs: object) -> None:
        calls.append("called")

    before = _connections()
    with pytest.raises(TypeError) as refused:
        receiver(event, sender=Customer, when=condition)(on_delete)
    assert str(refused.value) == (
        f"receiver({event.__name__}, when={condition!r}): changed() and "
        f"created() read a save's changes; {event.__name__} payloads have none "
        f"(receiver {__name__}.{on_delete.__qualname__})"
    )
    assert _connections() == before
    customer = Customer.objects.create(name="kept")
    customer.delete()  # deletes still work, and nothing was connected
    assert calls == []
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_save_conditions_on_m2m_receivers_are_refused_at_connect() -> None:
    before = _connections()
    connect = receiver(M2MChanged, sender=OrderTag, when=changed("tag"))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^receiver\(M2MChanged, when=changed\('tag'\)"
    ):
        connect(lambda sender, **kwargs: None)
    assert _connections() == before
    order = Order.objects.create()
    order.tags.add(Tag.objects.create(name="still works"))
    assert order.tags.count() == 1


def test_plain_callable_conditions_on_delete_receivers_are_connected() -> None:
    seen: list[str] = []

    @receiver(PreDelete, sender=Customer, when=lambda p: p.instance.name == "ann")
    def on_delete(
        sender: object, *, payload: PreDelete[Customer], **kwargs: object
    ) -> None:
        seen.append(payload.instance.name)

    Customer.objects.create(name="bob").delete()
    Customer.objects.create(name="ann").delete()
    assert seen == ["ann"]


def test_save_conditions_connected_directly_are_refused_too() -> None:
    calls: list[str] = []

    @receiver(PreDelete, sender=Item)  # bridges Item's deletes
    def bridged(sender: object, **kwargs: object) -> None:
        calls.append("bridged")

    def on_delete(sender: object, **kwargs: object) -> None:
        calls.append("on_delete")

    before = len(pre_delete.receivers)
    for condition in (changed("sku"), changed("order_id"), created(), ~created()):
        # The typed signal's connect hook checks what receiver() checks.
        with pytest.raises(TypeError, match=r"PreDelete payloads have none"):
            pre_delete.connect(on_delete, sender=Item, when=condition)  # type: ignore[arg-type]
    assert len(pre_delete.receivers) == before
    Item.objects.create(order=Order.objects.create(), sku="a").delete()
    assert calls == ["bridged"]


def test_save_conditions_on_a_delete_payload_are_false_not_a_crash() -> None:
    item = Item(sku="a")
    payload = PreDelete(instance=item, using="default")
    assert not changed("sku")(payload)  # type: ignore[arg-type]
    assert not changed("order_id")(payload)  # type: ignore[arg-type]
    assert not created()(payload)  # type: ignore[arg-type]
    assert (~created())(payload)  # type: ignore[arg-type]


def test_pre_save_created_is_what_django_will_try_post_save_what_it_did() -> None:
    seen: list[tuple[str, bool]] = []

    @receiver(PreSave, sender=Tag)
    def before(sender: object, *, payload: PreSave[Tag], **kwargs: object) -> None:
        seen.append(("pre", payload.created))

    @receiver(PostSave, sender=Tag)
    def after(sender: object, *, payload: PostSave[Tag], **kwargs: object) -> None:
        seen.append(("post", payload.created))

    existing = Tag.objects.create(name="old")
    seen.clear()
    Tag(pk=existing.pk, name="new").save()  # adding, but the UPDATE finds the row
    assert seen == [("pre", True), ("post", False)]
    assert list(Tag.objects.values_list("pk", "name")) == [(existing.pk, "new")]


def test_a_list_of_payload_classes_connects_each_with_the_same_options() -> None:
    seen: list[tuple[str, Any]] = []

    @receiver([PreSave, PostSave], sender=Order, priority=5, when=changed("status"))
    def on_status(
        sender: type[Order],
        *,
        payload: PreSave[Order] | PostSave[Order],
        **kwargs: object,
    ) -> None:
        seen.append((type(payload).__name__, payload.changes["status"]))

    order = Order.objects.create(status="draft")
    order.note = "unrelated"
    order.save()
    order.status = "paid"
    order.save()
    change = FieldChange("draft", "paid")
    assert seen == [("PreSave", change), ("PostSave", change)]
    for signal in (pre_save, post_save):
        [info] = [i for i in signal.receivers_info() if i.receiver is on_status]
        assert info.priority == 5 and info.sender is Order


def test_a_list_may_mix_signals_and_payload_classes() -> None:
    seen: list[object] = []
    plain = Signal()

    @receiver((plain, PostDelete), sender=Customer, dispatch_uid="both")
    def on_it(sender: object, **kwargs: object) -> None:
        seen.append(kwargs.get("payload", "plain"))

    customer = Customer.objects.create(name="x")
    plain.send(sender=Customer)
    customer.delete()
    assert seen[0] == "plain" and isinstance(seen[1], PostDelete)
    assert [i.dispatch_uid for i in plain.receivers_info()] == ["both"]
    assert "both" in [i.dispatch_uid for i in post_delete.receivers_info()]


def test_a_refused_list_connects_none_of_its_signals() -> None:
    calls: list[object] = []

    def on_status(sender: object, **kwargs: object) -> None:
        calls.append(sender)

    connect = receiver([PreSave, PreDelete], sender=Order, when=changed("status"))  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^receiver\(PreDelete, when=changed"):
        connect(on_status)  # PreSave comes first: refused all the same
    assert on_status not in [i.receiver for i in pre_save.receivers_info()]
    order = Order.objects.create(status="draft")
    order.status = "paid"
    order.save()
    assert calls == []
    with pytest.raises(TypeError, match="lifecycle payload class"):
        receiver([PreSave, "post_save"], sender=Order)  # type: ignore[list-item]


def test_stacked_receivers_keep_each_models_condition() -> None:
    calls: list[tuple[type[Model], list[str]]] = []

    def on_change(
        sender: type[Model],
        *,
        payload: PostSave[Order] | PostSave[Customer],
        **kwargs: object,
    ) -> None:
        calls.append((sender, sorted(payload.changes)))

    # What stacked @receiver decorators do, spelled out: mypy types each
    # decorator's result for its own sender and would refuse the stack.
    receiver(PostSave, sender=Customer, when=changed("name"))(on_change)
    receiver(PostSave, sender=Order, when=changed("status"))(on_change)

    customer = Customer.objects.create(name="Ada")
    order = Order.objects.create(customer=customer)
    customer.name = "Grace"
    customer.save()
    order.status = "paid"
    order.save()
    order.note = "no status change"
    order.save()

    assert calls == [(Customer, ["name"]), (Order, ["status"])]


def test_capture_of_a_lifecycle_signal_records_every_save_even_muted() -> None:
    from django_typed_signals.testing import capture

    typed_calls: list[type[Model]] = []

    @receiver(PostSave, sender=Order)
    def on_order(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        typed_calls.append(sender)

    with capture(post_save) as muted_saves, mute("model"):
        Order.objects.create(status="muted")
        Customer.objects.create(name="no typed receiver")
    with capture(post_save) as saves:
        Order.objects.create(status="heard")
        Customer.objects.create(name="still recorded")

    assert [type(p.instance) for p in muted_saves.payloads] == [Order, Customer]
    assert [type(p.instance) for p in saves.payloads] == [Order, Customer]  # once each
    assert all(p.created for p in muted_saves.payloads + saves.payloads)
    assert typed_calls == [Order]  # muted receivers stayed silent
    assert not django_post_save._tap_receivers  # type: ignore[attr-defined]


def test_connecting_to_the_typed_signal_directly_tracks_and_bridges() -> None:
    calls: list[object] = []

    def on_status(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        calls.append(payload.changes["status"].new)

    # No receiver(): the signal's connect hook does what the decorator did.
    post_save.connect(on_status, sender=Order, when=changed("status"))
    order = Order.objects.create()
    order.note = "not the status"
    order.save()
    order.status = "paid"
    order.save()
    assert calls == ["paid"]

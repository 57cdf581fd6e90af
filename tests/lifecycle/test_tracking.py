"""Change tracking: what counts as a change, and when the baseline moves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import django
import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models, transaction
from django.db.models.query_utils import DeferredAttribute
from django.test.utils import CaptureQueriesContext

from django_typed_signals.lifecycle import (
    FieldChange,
    changes,
    track_changes,
    tracked_fields,
)
from tests.testapp.models import Customer, GiftOrder, Order, RushOrder

try:
    from django.core.exceptions import FieldFetchBlocked
except ImportError:  # Django < 6.1

    class FieldFetchBlocked(Exception):  # type: ignore[no-redef]
        """Never raised: the tests that expect it need Django 6.1."""


pytestmark = pytest.mark.django_db

track_changes(Order, "status", "amount", "customer", "data", "note")


def saved_order(**fields: object) -> Order:
    order = Order.objects.create(**fields)
    return Order.objects.get(pk=order.pk)


def test_tracked_fields_map_attnames_to_names() -> None:
    tracked = tracked_fields(Order)
    assert tracked["status"] == "status"
    assert tracked["customer_id"] == "customer"


def test_loaded_instance_reports_edits_of_tracked_fields_only() -> None:
    order = saved_order(status="draft", amount=Decimal("5.00"), quantity=1)
    order.status = "paid"
    order.quantity = 9  # not tracked
    assert changes(order) == {"status": FieldChange("draft", "paid")}


def test_setting_the_same_value_is_no_change() -> None:
    order = saved_order(status="draft")
    order.status = "draft"
    assert changes(order) == {}


def test_in_place_mutation_of_json_values_is_seen() -> None:
    order = saved_order(data={"lines": [1, 2]})
    order.data["lines"].append(3)
    assert changes(order) == {
        "data": FieldChange({"lines": [1, 2]}, {"lines": [1, 2, 3]})
    }


def test_json_with_reordered_keys_is_no_change() -> None:
    order = saved_order(data={"a": 1, "b": 2})
    order.data = {"b": 2, "a": 1}
    assert changes(order) == {}


def test_foreign_keys_compare_by_id_without_loading_the_row() -> None:
    first, second = Customer.objects.create(name="a"), Customer.objects.create(name="b")
    order = saved_order(customer=first)
    with CaptureQueriesContext(connection) as queries:
        order.customer_id = second.pk
        found = changes(order)
    assert found == {"customer": FieldChange(first.pk, second.pk)}
    assert len(queries) == 0


def test_deferred_fields_are_not_changes_and_cost_no_query() -> None:
    order = saved_order(status="draft", note="hello")
    only = Order.objects.only("status").get(pk=order.pk)
    with CaptureQueriesContext(connection) as queries:
        assert changes(only) == {}
        only.status = "paid"
        assert changes(only) == {"status": FieldChange("draft", "paid")}
    assert len(queries) == 0


def test_deferred_field_loaded_later_gets_its_baseline() -> None:
    order = saved_order(note="hello")
    only = Order.objects.only("status").get(pk=order.pk)
    assert only.note == "hello"  # loads the deferred field
    only.note = "bye"
    assert changes(only) == {"note": FieldChange("hello", "bye")}


def test_update_fields_save_keeps_the_other_changes_pending() -> None:
    order = saved_order(status="draft", note="a")
    order.status = "paid"
    order.note = "b"
    order.save(update_fields=["status"])
    assert changes(order) == {"note": FieldChange("a", "b")}


def test_baseline_resets_after_save() -> None:
    order = saved_order(status="draft")
    order.status = "paid"
    order.save()
    assert changes(order) == {}
    order.status = "shipped"
    assert changes(order) == {"status": FieldChange("paid", "shipped")}


def test_baseline_resets_after_refresh_from_db() -> None:
    order = saved_order(status="draft")
    Order.objects.filter(pk=order.pk).update(status="paid")
    order.status = "cancelled"
    order.refresh_from_db()
    assert order.status == "paid"
    assert changes(order) == {}


def test_refresh_of_some_fields_resets_only_those() -> None:
    order = saved_order(status="draft", note="a")
    order.status = "paid"
    order.note = "b"
    order.refresh_from_db(fields=["status"])
    assert changes(order) == {"note": FieldChange("a", "b")}


def test_second_save_in_a_transaction_sees_the_first_saves_values() -> None:
    order = saved_order(status="draft")
    with transaction.atomic():
        order.status = "paid"
        order.save()
        order.status = "shipped"
        assert changes(order) == {"status": FieldChange("paid", "shipped")}
        order.save()
    assert changes(order) == {}


def test_unsaved_instance_has_no_baseline_until_saved() -> None:
    order = Order(status="draft")
    assert changes(order) == {}
    order.save()
    order.status = "paid"
    assert changes(order) == {"status": FieldChange("draft", "paid")}


def test_changes_can_be_limited_to_some_fields() -> None:
    order = saved_order(status="draft", note="a")
    order.status, order.note = "paid", "b"
    assert changes(order, ["note"]) == {"note": FieldChange("a", "b")}


def test_proxies_and_children_inherit_tracking() -> None:
    rush = RushOrder.objects.get(pk=saved_order(status="draft").pk)
    rush.status = "paid"
    assert changes(rush) == {"status": FieldChange("draft", "paid")}
    gift = GiftOrder.objects.create(status="draft", message="hi")
    gift = GiftOrder.objects.get(pk=gift.pk)
    gift.status = "paid"
    assert changes(gift) == {"status": FieldChange("draft", "paid")}


def test_select_for_update_rows_are_tracked() -> None:
    order = saved_order(status="draft")
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        locked.status = "paid"
        assert changes(locked) == {"status": FieldChange("draft", "paid")}


def test_unknown_field_names_the_model_and_its_fields() -> None:
    with pytest.raises(
        FieldDoesNotExist, match=r"testapp\.Order has no field 'stauts'"
    ):
        track_changes(Order, "stauts")


def test_many_to_many_fields_cannot_be_tracked() -> None:
    with pytest.raises(ValueError, match="only concrete fields"):
        track_changes(Order, "tags")


def test_track_changes_needs_a_model_class() -> None:
    with pytest.raises(TypeError, match="takes a model class"):
        track_changes("testapp.Order")  # type: ignore[arg-type]


def test_values_marshal_cannot_take_are_deep_copied() -> None:
    from django_typed_signals.lifecycle._tracking import reset_baseline

    order = saved_order(data={})
    order.data = {"price": Decimal("1.50")}  # marshal refuses Decimal
    reset_baseline(order)  # what save() does, without the JSON encoding
    order.data["price"] = Decimal("2.00")
    assert changes(order) == {
        "data": FieldChange({"price": Decimal("1.50")}, {"price": Decimal("2.00")})
    }


def test_deferred_field_then_save_keeps_it_unreported() -> None:
    order = saved_order(status="draft", note="kept")
    only = Order.objects.only("status").get(pk=order.pk)
    only.status = "paid"
    only.save()
    assert changes(only) == {}
    only.status = "shipped"
    assert changes(only) == {"status": FieldChange("paid", "shipped")}


def test_fields_tracked_after_an_instance_was_loaded() -> None:
    from tests.testapp.models import Item

    customer = Customer.objects.create(name="c")
    order = Order.objects.create()
    item = Item.objects.get(pk=Item.objects.create(order=order, sku="a").pk)
    track_changes(Item, "sku")
    item.sku = "b"  # loaded before tracking: no baseline for sku yet
    assert changes(item) == {}
    item.save()
    item.sku = "c"
    assert changes(item) == {"sku": FieldChange("b", "c")}
    assert customer.pk is not None


def test_not_loaded_marker_survives_pickle_and_deepcopy() -> None:
    import copy
    import pickle

    order = saved_order(status="draft", note="kept")
    only = Order.objects.only("status").get(pk=order.pk)
    for clone in (pickle.loads(pickle.dumps(only)), copy.deepcopy(only)):
        clone.note = "new"
        assert changes(clone) == {}


def test_saved_expression_never_becomes_the_baseline() -> None:
    from django.db.models import F

    track_changes(Order, "quantity")
    order = saved_order(quantity=1)
    order.quantity = F("quantity") + 1
    order.save()
    order.quantity = 7
    # Django 6.x refreshes expression fields after save (the baseline is then
    # the stored value); older versions leave it unknown. Never the expression.
    assert changes(order).get("quantity") in (None, FieldChange(2, 7))


def test_text_equal_to_the_value_is_no_change() -> None:
    order = saved_order(amount=Decimal("0.00"))
    order.amount = "0.00"
    assert changes(order) == {}
    order.amount = "1.00"
    assert changes(order) == {"amount": FieldChange(Decimal("0.00"), "1.00")}


def test_child_plan_built_first_gets_parent_fields_tracked_later() -> None:
    track_changes(GiftOrder, "message")
    track_changes(Order, "reference")
    gift = GiftOrder.objects.create(reference="a")
    gift = GiftOrder.objects.get(pk=gift.pk)
    gift.reference = "b"
    assert changes(gift)["reference"] == FieldChange("a", "b")


needs_fetch_modes = pytest.mark.skipif(
    django.VERSION < (6, 1), reason="QuerySet.fetch_mode() is new in Django 6.1"
)


def deferred_orders(count: int, fetch_mode: Any = None) -> list[Order]:
    for i in range(count):
        Order.objects.create(status="draft", note=f"note {i}", data={"n": [i]})
    queryset = Order.objects.only("status").order_by("pk")
    if fetch_mode is not None:
        queryset = queryset.fetch_mode(fetch_mode)
    return list(queryset)


@needs_fetch_modes
def test_field_fetched_for_all_peers_at_once_gets_their_baselines() -> None:
    first, second, third = deferred_orders(3, models.FETCH_PEERS)
    with CaptureQueriesContext(connection) as queries:
        assert first.note == "note 0"  # loads note on the three of them
        assert (second.note, third.note) == ("note 1", "note 2")
    assert len(queries) == 1
    second.note = "edited"
    third.note = "note 2"
    assert changes(first) == {}
    assert changes(second) == {"note": FieldChange("note 1", "edited")}
    assert changes(third) == {}


@needs_fetch_modes
def test_mutable_field_fetched_for_peers_sees_in_place_edits() -> None:
    first, second = deferred_orders(2, models.FETCH_PEERS)
    first.data["n"].append(9)  # loads data on both, then edits it in place
    assert changes(first) == {"data": FieldChange({"n": [0]}, {"n": [0, 9]})}
    assert changes(second) == {}
    second.status = "paid"
    second.save()
    assert changes(second) == {}
    second.data["n"].append(8)
    assert changes(second) == {"data": FieldChange({"n": [1]}, {"n": [1, 8]})}


@needs_fetch_modes
def test_peer_edited_before_the_fetch_keeps_its_other_baselines() -> None:
    first, second = deferred_orders(2, models.FETCH_PEERS)
    second.status = "paid"  # loaded with the row: baseline "draft"
    assert first.note == "note 0"
    assert changes(second) == {"status": FieldChange("draft", "paid")}
    second.note = "edited"
    assert changes(second)["note"] == FieldChange("note 1", "edited")


@needs_fetch_modes
def test_fetch_one_and_fetch_raise_modes_keep_their_behaviour() -> None:
    [one] = deferred_orders(1, models.FETCH_ONE)
    with CaptureQueriesContext(connection) as queries:
        assert one.note == "note 0"
    assert len(queries) == 1
    one.note = "edited"
    assert changes(one) == {"note": FieldChange("note 0", "edited")}

    Order.objects.all().delete()
    [blocked] = deferred_orders(1, models.FETCH_RAISE)
    with pytest.raises(FieldFetchBlocked, match=r"Order\.note blocked"):
        blocked.note  # noqa: B018
    blocked.refresh_from_db(fields=["note"])
    blocked.note = "edited"
    assert changes(blocked) == {"note": FieldChange("note 0", "edited")}


@needs_fetch_modes
def test_only_tracked_fields_get_a_descriptor_of_their_own() -> None:
    from tests.testapp.models import Note

    first, second = deferred_orders(2, models.FETCH_PEERS)
    assert (first.paid, second.paid) == (False, False)
    tracked = tracked_fields(Order)
    for field in Order._meta.concrete_fields:
        descriptor = vars(Order)[field.attname]
        django_class: Any = field.descriptor_class
        hooked = type(descriptor).fetch_many is not django_class.fetch_many
        assert hooked == (field.attname in tracked), field.attname
        assert isinstance(descriptor, django_class)
    assert type(vars(Note)["text"]) is DeferredAttribute  # untracked model


def test_plain_deferred_access_loads_and_takes_the_baseline_once() -> None:
    orders = deferred_orders(2)
    first = orders[0]
    first.status = "paid"
    with CaptureQueriesContext(connection) as queries:
        assert first.note == "note 0"  # one query, for this instance only
        assert first.note == "note 0"
    assert len(queries) == 1
    assert "note" not in orders[1].__dict__
    first.note = "edited"
    assert changes(first) == {
        "status": FieldChange("draft", "paid"),
        "note": FieldChange("note 0", "edited"),
    }


def test_deferred_mutable_field_loaded_on_access_sees_in_place_edits() -> None:
    [order] = deferred_orders(1)
    order.data["n"].append(5)
    assert changes(order) == {"data": FieldChange({"n": [0]}, {"n": [0, 5]})}


def test_null_value_of_the_one_tracked_field_is_a_baseline() -> None:
    from tests.testapp.models import Item

    track_changes(Item, "sku")
    order = Order.objects.create()
    item = Item.objects.create(order=order, sku="a")
    Item.objects.filter(pk=item.pk).update(sku="")
    item = Item.objects.get(pk=item.pk)
    item.sku = "b"
    assert changes(item) == {"sku": FieldChange("", "b")}


def test_tuple_value_of_a_single_tracked_field_stays_one_value() -> None:
    from django_typed_signals.lifecycle._baseline import Plan

    plan = Plan(Order, {"data": "data"})
    loaded: dict[str, object] = {"data": (1, 2)}
    assert plan.take(loaded)
    loaded["data"] = (1, 3)
    assert loaded["_typed_signals_baseline"] == ((1, 2),)


def test_receiver_edit_after_post_save_stays_a_pending_change() -> None:
    from django_typed_signals import receiver
    from django_typed_signals.lifecycle import PostSave

    order = saved_order(status="draft", note="a")

    @receiver(PostSave, sender=Order, dispatch_uid="edit-after-save")
    def edit(
        sender: type[Order], *, payload: PostSave[Order], **kwargs: object
    ) -> None:
        payload.instance.note = "not saved"

    try:
        order.status = "paid"
        order.save()
    finally:
        from django_typed_signals.lifecycle import post_save

        post_save.disconnect(sender=Order, dispatch_uid="edit-after-save")
    # The baseline moved once, as post_save went out: the receiver's edit,
    # never saved, is still a change.
    assert changes(order) == {"note": FieldChange("a", "not saved")}


def test_update_fields_save_keeps_in_place_json_edits_pending() -> None:
    order = saved_order(status="draft", data={"lines": [1]})
    order.data["lines"].append(2)
    order.status = "paid"
    order.save(update_fields=["status"])
    assert changes(order) == {"data": FieldChange({"lines": [1]}, {"lines": [1, 2]})}
    order.save(update_fields=["data"])
    assert changes(order) == {}

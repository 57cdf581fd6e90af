"""Encoding a send for the delivery row, and decoding it in the worker."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, NewType, Optional, TypeVar
from zoneinfo import ZoneInfo

import pytest
from django.db import models
from django.utils.safestring import SafeString, mark_safe

from django_typed_signals.bridge._decoding import decode_send
from django_typed_signals.bridge._encodable import check_encodable
from django_typed_signals.bridge._encoding import (
    DecodingError,
    EncodingError,
    encode_send,
)
from django_typed_signals.lifecycle import (
    FieldChange,
    M2MChanged,
    PostDelete,
    PostSave,
    PreDelete,
    PreSave,
)
from django_typed_signals.lifecycle._baseline import NOT_LOADED
from tests.testapp.models import Customer, GiftOrder, Order, RushOrder, Tag

T = TypeVar("T")


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    LOW = 1


class Status(models.TextChoices):
    PAID = "paid", "Paid"


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str = "EUR"


@dataclass(frozen=True)
class OrderPaid:
    """The typical payload: a model instance, a Decimal, a datetime, a list."""

    order: Order
    total: Decimal
    at: datetime.datetime
    lines: list[str]


@dataclass
class Nested:
    money: Money
    items: tuple[Money, ...]
    by_name: dict[str, Money]
    optional: Money | None = None


@dataclass
class WithLater:
    name: str
    computed: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.computed = len(self.name)


@dataclass
class Versioned:
    __typed_signals_version__: ClassVar[int] = 3
    value: int


@dataclass
class Holder:
    value: object


@dataclass
class Box(Generic[T]):
    item: T


@dataclass
class NeedsInitVar:
    value: int
    secret: dataclasses.InitVar[str]


class Plain:
    pass


def local_class() -> type:
    @dataclass
    class Paid:
        amount: Decimal = Decimal(0)

    return Paid


def stored(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a JSONField hands back: the row went through JSON text."""
    result: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    return result


def round_trip(value: object, sender: object = None) -> Any:
    got_sender, named = decode_send(stored(encode_send("t.sig", sender, {"v": value})))
    assert got_sender is sender
    assert list(named) == ["v"]
    return named["v"]


# --- values that round-trip ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        10**30,
        1.5,
        -2.25e-300,
        1e16,
        -1e300,
        "",
        "café ☕",
        "a\x00b\x00",
        Decimal("9.99"),
        Decimal("-0.000"),
        Decimal("1E+3"),
        Decimal("NaN"),
        datetime.date(2024, 2, 29),
        datetime.time(23, 59, 59, 999999),
        datetime.time(8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
        datetime.timedelta(days=-1, seconds=5, microseconds=7),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        b"\x00\xffbytes",
        Color.RED,
        Color.PAIR,
        Level.LOW,
        Status.PAID,
        [1, "a", [2, [3]]],
        (1, ("a", None), ()),
        frozenset({1, "a", (2, 3)}),
        {"a": 1, "b": {"c": [Decimal("1")]}},
        {},
        FieldChange(old=None, new=Decimal("2")),
        Money(Decimal("1.50")),
        Nested(
            money=Money(Decimal(1)),
            items=(Money(Decimal(2), "USD"),),
            by_name={"x": Money(Decimal(3))},
            optional=None,
        ),
        Box(item=(1, 2)),
        Plain,
        Money,
        Color,
        Order,
        GiftOrder,
    ],
    ids=repr,
)
def test_round_trip_keeps_value_and_type(value: object) -> None:
    got = round_trip(value)
    if isinstance(value, Decimal) and value.is_nan():
        assert isinstance(got, Decimal) and got.is_nan()
        return
    assert got == value
    assert type(got) is type(value)
    if isinstance(value, (Color, Level, Status, type)):
        assert got is value


def test_float_kinds_json_would_change() -> None:
    negative_zero = round_trip(-0.0)
    assert negative_zero == 0.0 and str(negative_zero) == "-0.0"
    assert type(round_trip(1e20)) is float
    assert type(round_trip(2.0)) is float


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 5, 1, 12, 30, 1, 5),
        datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
        datetime.datetime(
            2024,
            5,
            1,
            12,
            tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
        ),
    ],
    ids=str,
)
def test_datetimes_keep_naive_and_offsets(value: datetime.datetime) -> None:
    got = round_trip(value)
    assert got == value
    assert got.tzinfo == value.tzinfo  # naive stays naive
    assert got.utcoffset() == value.utcoffset()


def test_zoneinfo_datetime_keeps_its_zone_and_fold() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 02:30 happens twice on 2024-10-27: fold=1 is the second one (UTC+1).
    value = datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris)
    got = round_trip(value)
    assert got.tzinfo is paris
    assert got.fold == 1 and got.utcoffset() == datetime.timedelta(hours=1)
    assert (got.year, got.hour, got.minute) == (2024, 2, 30)
    later = round_trip(datetime.time(9, 15, tzinfo=paris))
    assert later.tzinfo is paris and later.hour == 9


def test_user_dicts_with_the_tag_key_are_escaped() -> None:
    value = {"$t": "dec", "v": "1", "x\x00y": [{"$t": "m"}], "plain": 1}
    data = encode_send("t.sig", None, {"v": value})
    assert data["k"]["v"]["$t"] == "dict"  # not taken for a Decimal
    got = round_trip(value)
    assert got == value
    assert got["$t"] == "dec" and type(got["v"]) is str


def test_tuple_list_and_mapping_proxy_keep_their_kinds() -> None:
    got = round_trip({"t": (1, [2, (3,)]), "m": MappingProxyType({"a": (1,)})})
    assert type(got["t"]) is tuple and type(got["t"][1]) is list
    assert type(got["t"][1][1]) is tuple
    assert type(got["m"]) is MappingProxyType and got["m"] == {"a": (1,)}


def test_subclasses_of_builtins_travel_as_the_builtin() -> None:
    safe = mark_safe("<b>")
    assert isinstance(safe, SafeString)
    got = round_trip([safe, OrderedDict(a=1)])
    assert got == ["<b>", {"a": 1}]
    assert type(got[0]) is str and type(got[1]) is dict


def test_dataclass_fields_with_init_false_are_set_after_construction() -> None:
    value = WithLater("abcd")
    value.computed = 99  # changed since __post_init__: the stored value wins
    got = round_trip(value)
    assert got == value and got.computed == 99


def test_dataclass_is_stored_with_its_dotted_path_and_version() -> None:
    data = encode_send("t.sig", None, {"v": Versioned(1), "m": Money(Decimal(1))})
    assert data["k"]["v"] == {
        "$t": "dc",
        "c": "tests.bridge.test_encoding:Versioned",
        "v": 3,
        "f": {"value": 1},
    }
    assert "v" not in data["k"]["m"]  # version 1 is the default, not stored
    assert round_trip(Versioned(5)) == Versioned(5)


def test_several_named_arguments_and_class_senders() -> None:
    named = {"order_id": 3, "total": Decimal("9.99")}
    sender, got = decode_send(stored(encode_send("shop.paid", Plain, named)))
    assert sender is Plain
    assert got == named


def test_not_loaded_marker_decodes_to_the_singleton() -> None:
    got = round_trip(FieldChange(old=NOT_LOADED, new=1))
    assert got.old is NOT_LOADED


# --- model instances ----------------------------------------------------------


@pytest.mark.django_db
def test_model_instance_is_a_reference_read_again() -> None:
    order = Order.objects.create(status="paid", amount=Decimal("9.99"))
    data = encode_send("t.sig", Order, {"payload": order})
    assert data["k"]["payload"] == {
        "$t": "m",
        "m": "testapp.Order",
        "pk": order.pk,
        "db": "default",
    }
    Order.objects.filter(pk=order.pk).update(status="shipped")
    sender, named = decode_send(stored(data))
    assert sender is Order
    got = named["payload"]
    assert type(got) is Order and got.pk == order.pk
    assert got.status == "shipped"  # the row as it is now, not a copy
    assert got._state.db == "default" and not got._state.adding


@pytest.mark.django_db
def test_proxy_and_child_models_come_back_as_their_class() -> None:
    gift = GiftOrder.objects.create(message="hi")
    rush = RushOrder.objects.get(pk=gift.pk)
    got = round_trip([gift, rush])
    assert type(got[0]) is GiftOrder and got[0].message == "hi"
    assert type(got[1]) is RushOrder and got[1].pk == gift.pk


@pytest.mark.django_db
def test_typical_payload_round_trips() -> None:
    order = Order.objects.create(amount=Decimal("9.99"))
    payload = OrderPaid(
        order=order,
        total=Decimal("9.99"),
        at=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        lines=["a", "b", "c"],
    )
    _, named = decode_send(
        stored(encode_send("shop.paid", Order, {"payload": payload}))
    )
    assert named["payload"] == payload
    assert named["payload"].order.amount == Decimal("9.99")


@pytest.mark.django_db
def test_post_save_with_changes_round_trips() -> None:
    customer = Customer.objects.create(name="ann")
    order = Order.objects.create(customer=customer)
    changes = MappingProxyType(
        {
            "status": FieldChange(old="draft", new="paid"),
            "customer": FieldChange(old=None, new=customer.pk),
            "note": FieldChange(old=NOT_LOADED, new="x"),
        }
    )
    payload: PostSave[Order] = PostSave(
        instance=order,
        using="default",
        created=False,
        update_fields=frozenset({"status", "customer"}),
        raw=False,
        changes=changes,
    )
    sender, named = decode_send(
        stored(encode_send("lifecycle.post_save", Order, {"payload": payload}))
    )
    got = named["payload"]
    assert sender is Order
    assert type(got) is PostSave and got == payload
    assert type(got.changes) is MappingProxyType
    assert got.changes["status"] == FieldChange("draft", "paid")
    assert got.changes["note"].old is NOT_LOADED
    assert got.update_fields == frozenset({"status", "customer"})


@pytest.mark.django_db
def test_deletes_and_pre_save_carry_the_instance_by_value() -> None:
    order = Order.objects.create(status="paid", amount=Decimal("3.00"), data={"k": [1]})
    pk = order.pk
    pre = PreDelete(instance=order, using="default", origin=order)
    post = PostDelete(instance=order, using="default", origin=order)
    data = encode_send("lifecycle.post_delete", Order, {"pre": pre, "post": post})
    order.delete()  # after the commit the row is gone
    _, named = decode_send(stored(data))
    for got in named.values():
        assert type(got.instance) is Order
        assert got.instance.pk == pk and got.instance.status == "paid"
        assert got.instance.amount == Decimal("3.00") and got.instance.data == {
            "k": [1]
        }
        assert got.instance._state.db == "default" and not got.instance._state.adding
        assert got.origin.pk == pk
    unsaved = Order(status="new")
    pre_save = PreSave(
        instance=unsaved, using="default", created=True, update_fields=None, raw=False
    )
    got = round_trip(pre_save)
    assert got.instance.pk is None and got.instance.status == "new"
    assert got.instance._state.adding


@pytest.mark.django_db
def test_m2m_changed_carries_model_class_and_pk_set() -> None:
    order = Order.objects.create()
    tag = Tag.objects.create(name="t")
    payload: M2MChanged[Order] = M2MChanged(
        instance=order,
        using="default",
        action="post_add",
        reverse=False,
        model=Tag,
        pk_set=frozenset({tag.pk}),
    )
    through = Order.tags.through
    sender, named = decode_send(
        stored(encode_send("lifecycle.m2m", through, {"payload": payload}))
    )
    assert sender is through
    assert named["payload"] == payload and named["payload"].model is Tag


@pytest.mark.django_db
def test_encoded_send_survives_a_real_json_field() -> None:
    """Through the database's own JSON column (jsonb on PostgreSQL)."""
    payload = {
        "big": 1e300,
        "neg0": -0.0,
        "nul": "a\x00b",
        "int": 2**62,
        "float": 2.0,
        "tiny": 1e-300,
        "when": datetime.datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
    }
    row = Order.objects.create(data=encode_send("t.sig", Order, {"v": payload}))
    row.refresh_from_db()
    _, named = decode_send(row.data)
    assert named["v"] == payload
    assert {k: type(v) for k, v in named["v"].items()} == {
        k: type(v) for k, v in payload.items()
    }
    assert str(named["v"]["neg0"]) == "-0.0"


# --- encoding errors ------------------------------------------------------------


@dataclass
class WithSet:
    tags: set[str]


@dataclass
class Outer:
    order: WithSet


LocalPaid = local_class()
Renamed = type("NotHere", (), {"__module__": __name__})


@pytest.mark.parametrize(
    ("named", "message"),
    [
        (
            {"payload": Outer(WithSet({"a"}))},
            "shop.order_paid: cannot encode payload.order.tags (set): "
            "sets are not supported",
        ),
        (
            {"payload": LocalPaid()},
            "shop.order_paid: cannot encode payload "
            "(tests.bridge.test_encoding.local_class.<locals>.Paid): "
            "the class is not importable",
        ),
        (
            {"payload": [1, 2, float("nan")]},
            "shop.order_paid: cannot encode payload[2] (float): "
            "NaN and infinite floats are not supported",
        ),
        (
            {"payload": {"a": {"b": float("-inf")}}},
            "shop.order_paid: cannot encode payload['a']['b'] (float): NaN and",
        ),
        (
            {"payload": {"ok": 1, 3: "x"}},
            "shop.order_paid: cannot encode payload[3] (int): dict keys must be str",
        ),
        (
            {"payload": {Color.RED: 1}},
            "shop.order_paid: cannot encode payload[<Color.RED: 'red'>] "
            "(tests.bridge.test_encoding.Color): dict keys must be str",
        ),
        (
            {"total": Decimal(1), "who": object()},
            "shop.order_paid: cannot encode who (object): this type is not supported",
        ),
        (
            {"payload": Holder(Plain())},
            "shop.order_paid: cannot encode payload.value "
            "(tests.bridge.test_encoding.Plain): this type is not supported",
        ),
        (
            {"payload": Holder(LocalPaid)},
            "shop.order_paid: cannot encode payload.value "
            "(class tests.bridge.test_encoding.local_class.<locals>.Paid): "
            "the class is not importable",
        ),
        (
            {"payload": (1, [("x", {3})])},
            "shop.order_paid: cannot encode payload[1][0][1] (set)",
        ),
        (
            {"payload": Holder(Order())},
            "shop.order_paid: cannot encode payload.value "
            "(tests.testapp.models.Order): the instance is not saved (pk is None)",
        ),
        (
            {"payload": datetime.timezone.utc},
            "shop.order_paid: cannot encode payload (datetime.timezone): "
            "this type is not supported",
        ),
        (
            {"payload": NeedsInitVar(1, "s")},
            "shop.order_paid: cannot encode payload "
            "(tests.bridge.test_encoding.NeedsInitVar): the constructor needs "
            "secret, which are not fields (InitVar)",
        ),
        (
            {"payload": [Renamed]},
            "shop.order_paid: cannot encode payload[0] "
            "(class tests.bridge.test_encoding.NotHere): the class is "
            "not importable as tests.bridge.test_encoding.NotHere",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_encoding_errors_name_signal_path_and_type(
    named: dict[str, Any], message: str
) -> None:
    with pytest.raises(EncodingError) as caught:
        encode_send("shop.order_paid", None, named)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, TypeError)


def test_named_tuples_are_refused() -> None:
    from typing import NamedTuple

    class Point(NamedTuple):
        x: int

    with pytest.raises(EncodingError, match=r"payload \(.*Point\): named tuples"):
        encode_send("s", None, {"payload": Point(1)})


@pytest.mark.parametrize("sender", [3, "shop", Order.objects, LocalPaid])
def test_sender_must_be_model_class_importable_class_or_none(sender: object) -> None:
    with pytest.raises(EncodingError) as caught:
        encode_send("shop.order_paid", sender, {})
    text = str(caught.value)
    assert text.startswith("shop.order_paid: cannot encode sender (")
    if sender is LocalPaid:
        assert text.endswith("the class is not importable")
    else:
        assert text.endswith(
            "the sender must be a model class, an importable class or None"
        )


def test_a_model_not_in_the_registry_is_refused() -> None:
    from django.apps.registry import Apps

    class Loose(models.Model):  # noqa: DJ008
        class Meta:
            app_label = "testapp"
            apps = Apps()

    with pytest.raises(
        EncodingError, match="the model is not registered in the app registry"
    ):
        encode_send("s", Loose, {})


def test_failed_encoding_leaves_no_cache_behind() -> None:
    """A refused class stays refused; a good one next to it still works."""
    for _ in range(2):
        with pytest.raises(EncodingError, match="not importable"):
            encode_send("s", None, {"payload": LocalPaid()})
    assert round_trip(Money(Decimal(1))) == Money(Decimal(1))


# --- decoding errors ------------------------------------------------------------


def decoding_error(data: Mapping[str, Any]) -> str:
    with pytest.raises(DecodingError) as caught:
        decode_send(data)
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


@pytest.mark.django_db
def test_row_deleted_since_is_a_decoding_error() -> None:
    order = Order.objects.create()
    data = stored(encode_send("s", Order, {"payload": Holder(order)}))
    pk = order.pk
    order.delete()
    assert decoding_error(data) == (
        f"cannot decode payload.value: testapp.Order with pk={pk} "
        "no longer exists (database 'default')"
    )


def test_model_that_no_longer_exists() -> None:
    data = {"v": 1, "s": {"$t": "mc", "m": "testapp.Gone"}, "k": {}}
    assert (
        decoding_error(data)
        == "cannot decode sender: model testapp.Gone no longer exists"
    )
    data = {
        "v": 1,
        "s": None,
        "k": {"p": [{"$t": "m", "m": "gone.Model", "pk": 1, "db": "default"}]},
    }
    assert (
        decoding_error(data) == "cannot decode p[0]: model gone.Model no longer exists"
    )


def test_removed_required_field_is_a_decoding_error() -> None:
    data = stored(
        encode_send("s", None, {"payload": Nested(Money(Decimal(1)), (), {})})
    )
    del data["k"]["payload"]["f"]["money"]["f"]["amount"]
    assert decoding_error(data) == (
        "cannot decode payload.money: field amount of "
        "tests.bridge.test_encoding:Money is missing from the stored payload"
    )


def test_missing_field_with_a_default_takes_the_default() -> None:
    data = stored(encode_send("s", None, {"payload": Money(Decimal(1), "USD")}))
    del data["k"]["payload"]["f"]["currency"]
    _, named = decode_send(data)
    assert named["payload"] == Money(Decimal(1), "EUR")


def test_unknown_field_is_a_decoding_error() -> None:
    data = stored(encode_send("s", None, {"payload": Money(Decimal(1))}))
    data["k"]["payload"]["f"]["rate"] = 2
    assert decoding_error(data) == (
        "cannot decode payload: tests.bridge.test_encoding:Money has no field "
        "rate any more"
    )


def test_version_mismatch_is_a_decoding_error() -> None:
    data = stored(encode_send("s", None, {"payload": Versioned(1)}))
    data["k"]["payload"]["v"] = 2
    assert decoding_error(data) == (
        "cannot decode payload: tests.bridge.test_encoding:Versioned is at version 3, "
        "the stored payload has version 2"
    )
    del data["k"]["payload"]["v"]
    assert "the stored payload has version 1" in decoding_error(data)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"$t": "dc", "c": "tests.bridge.gone:Money", "f": {}},
            "cannot decode payload: class tests.bridge.gone:Money is not importable: "
            "No module named 'tests.bridge.gone'",
        ),
        (
            {"$t": "dc", "c": "tests.bridge.test_encoding:Gone", "f": {}},
            "cannot decode payload: class tests.bridge.test_encoding:Gone is not "
            "importable: tests.bridge.test_encoding has no Gone",
        ),
        (
            {"$t": "cls", "c": "tests.bridge.test_encoding:stored"},
            "cannot decode payload: tests.bridge.test_encoding:stored is not a class",
        ),
        (
            {"$t": "dc", "c": "tests.bridge.test_encoding:Plain", "f": {}},
            "cannot decode payload: tests.bridge.test_encoding:Plain is not a "
            "dataclass",
        ),
        (
            {"$t": "enum", "c": "tests.bridge.test_encoding:Color", "v": "blue"},
            "cannot decode payload: tests.bridge.test_encoding:Color has no member "
            "with value 'blue'",
        ),
        (
            {"$t": "enum", "c": "tests.bridge.test_encoding:Money", "v": 1},
            "cannot decode payload: tests.bridge.test_encoding:Money is not an Enum",
        ),
        ({"$t": "zz"}, "cannot decode payload: unknown value kind 'zz'"),
        (
            {"$t": "dec", "v": "nine"},
            "cannot decode payload: malformed 'dec' value: InvalidOperation(",
        ),
        ({"$t": "dt"}, "cannot decode payload: malformed 'dt' value: KeyError('v')"),
        (
            [{"$t": "dt", "v": "2024-01-01", "z": "Mars/Olympus"}],
            "cannot decode payload[0]: unknown time zone 'Mars/Olympus'",
        ),
        (
            {"$t": "ms", "m": "testapp.Order", "db": "default", "f": {"gone": 1}},
            "cannot decode payload: testapp.Order has no field gone any more",
        ),
        (
            {"$t": "m", "m": "testapp.Order", "pk": 1, "db": "replica"},
            "cannot decode payload: database 'replica' is not configured",
        ),
        (
            {"a": {"b": [1, {"$t": "tup", "v": 3}]}},
            "cannot decode payload['a']['b'][1]: malformed 'tup' value: "
            "items are not a list",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unreadable_values_are_decoding_errors(value: object, message: str) -> None:
    assert decoding_error({"v": 1, "s": None, "k": {"payload": value}}).startswith(
        message
    )


def test_constructor_failure_is_a_decoding_error() -> None:
    data = stored(encode_send("s", None, {"payload": WithLater("x")}))
    data["k"]["payload"]["f"]["name"] = 5  # __post_init__ calls len() on it
    assert decoding_error(data).startswith(
        "cannot decode payload: tests.bridge.test_encoding:WithLater(...) "
        "failed: TypeError("
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"v": 2, "s": None, "k": {}}, "not a stored send of format 1 (format 2)"),
        ({}, "not a stored send of format 1 (format None)"),
        ({"v": 1, "s": None}, "malformed stored send: no keyword arguments"),
    ],
)
def test_envelope_errors(data: dict[str, Any], message: str) -> None:
    assert decoding_error(data) == message


# --- check_encodable -----------------------------------------------------------


UserId = NewType("UserId", int)


@dataclass
class Everything:
    a: int
    b: str | None
    c: Optional[Decimal]  # noqa: UP045  # the old spelling is checked too
    d: list[datetime.datetime]
    e: tuple[uuid.UUID, ...]
    f: tuple[int, str]
    g: dict[str, Money]
    h: Mapping[str, FieldChange]
    i: Order
    j: type[models.Model]
    k: Any
    m: object
    n: Color
    o: Literal["a", 1, None]
    p: frozenset[int]
    q: Box[int]
    r: UserId
    s: Sequence[datetime.timedelta]
    t: bytes
    u: T  # type: ignore[valid-type]  # a stray TypeVar is accepted
    v: list  # type: ignore[type-arg]
    w: Nested


@dataclass
class Recursive:
    child: Recursive | None


@dataclass
class Bad:
    tags: set[str]
    keys: dict[int, str]
    plain: Plain
    inner: list[WithSet]
    local: Any = None


@dataclass
class Unresolved:
    x: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize(
    "tp",
    [
        Everything,
        Recursive,
        OrderPaid,
        PostSave,
        PreSave,
        PreDelete,
        PostDelete,
        M2MChanged,
        Money,
        int,
        Order,
        Color,
    ],
)
def test_check_encodable_accepts(tp: type) -> None:
    assert check_encodable(tp) == []


def test_check_encodable_reports_every_problem() -> None:
    assert check_encodable(Bad) == [
        "payload.tags (set[str]): sets are not supported",
        "payload.keys (dict[int, str]): dict keys must be str",
        "payload.plain (tests.bridge.test_encoding.Plain): this type is not supported",
        "payload.inner[].tags (set[str]): sets are not supported",
    ]


@pytest.mark.parametrize(
    ("tp", "problem"),
    [
        (
            LocalPaid,
            "payload (tests.bridge.test_encoding.local_class.<locals>.Paid): "
            "the class is not importable",
        ),
        (set, "payload (set): sets are not supported"),
        (
            Plain,
            "payload (tests.bridge.test_encoding.Plain): this type is not supported",
        ),
        (
            NeedsInitVar,
            "payload (tests.bridge.test_encoding.NeedsInitVar): the constructor "
            "needs secret, which are not fields (InitVar)",
        ),
        (
            Unresolved,
            "payload (tests.bridge.test_encoding.Unresolved): its annotations "
            "cannot be resolved: name 'NotDefinedAnywhere' is not defined",
        ),
    ],
)
def test_check_encodable_refuses(tp: type, problem: str) -> None:
    assert check_encodable(tp) == [problem]


def test_check_encodable_refuses_local_dataclasses() -> None:
    @dataclass
    class Local:
        x: int

    [problem] = check_encodable(Local)
    assert problem.endswith("<locals>.Local): the class is not importable")

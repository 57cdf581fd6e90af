from __future__ import annotations

import functools
import gc
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import django
from django.apps import apps
from django.db.models.signals import post_save
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import Signal, TypedSignal, mute
from django_typed_signals._introspection import (
    ReceiverRow,
    describe_receivers,
    describe_signals,
    discover_signals,
    is_typed,
)
from tests.testapp.models import Note

HERE = __name__


@dataclass(frozen=True)
class Ping:
    n: int


def on_ping(sender: object, *, payload: Ping, **kwargs: object) -> None:
    pass


def on_plain(sender: object, **kwargs: object) -> None:
    pass


async def on_ping_async(sender: object, *, payload: Ping, **kwargs: object) -> None:
    pass


def on_ping_with_extra(
    sender: object, *, payload: Ping, extra: int, **kwargs: object
) -> None:
    pass


class Handler:
    def on_ping(self, sender: object, *, payload: Ping, **kwargs: object) -> None:
        pass

    def __call__(self, sender: object, *, payload: Ping, **kwargs: object) -> None:
        pass


def line_of(obj: Callable[..., object]) -> int:
    return inspect.getsourcelines(obj)[1]


def only(rows: list[ReceiverRow]) -> ReceiverRow:
    assert len(rows) == 1, rows
    return rows[0]


# -- typed signals ----------------------------------------------------------


def test_typed_rows_follow_call_order_and_carry_connection_metadata() -> None:
    signal = TypedSignal(
        Ping, name="tests.introspection.pinged", groups=["intro", "alpha"]
    )
    strong = Handler()
    signal.connect(on_ping, priority=20, dispatch_uid="ping-uid")
    signal.connect(on_ping_async, priority=-5)
    signal.connect(strong, weak=False, sender=Note)

    first, second, third = describe_receivers(signal)

    assert (first.path, first.priority, first.mode, first.is_async) == (
        f"{HERE}.on_ping_async",
        -5,
        "async",
        True,
    )
    assert (second.path, second.weak, second.sender, second.sender_model) == (
        f"{HERE}.Handler()",
        False,
        "testapp.Note",
        "testapp.Note",
    )
    assert (third.path, third.priority, third.dispatch_uid, third.mode) == (
        f"{HERE}.on_ping",
        20,
        "ping-uid",
        "sync",
    )
    assert first.weak and third.weak
    assert {row.signal for row in (first, second, third)} == {
        "tests.introspection.pinged"
    }
    assert first.groups == ("alpha", "intro")
    assert first.sender == "any" and first.sender_model is None
    assert third.file == __file__ and third.line == line_of(on_ping)
    assert third.location == f"{__file__}:{line_of(on_ping)}"
    assert third.module == HERE


def test_on_commit_receivers_have_their_own_mode() -> None:
    signal = TypedSignal(Ping)
    signal.connect(on_ping, on_commit=True)
    assert only(describe_receivers(signal)).mode == "on_commit"


def test_untyped_signals_of_the_package_are_described_like_typed_ones() -> None:
    signal = Signal(name="tests.introspection.plainish", groups=["intro"])
    signal.connect(on_plain, priority=3)
    row = only(describe_receivers(signal))
    assert (row.signal, row.priority, row.groups) == (
        "tests.introspection.plainish",
        3,
        ("intro",),
    )


def test_rows_say_whether_the_signal_is_muted_in_this_context() -> None:
    signal = TypedSignal(Ping, groups=["intro"])
    other = TypedSignal(Ping)
    signal.connect(on_ping)
    assert not only(describe_receivers(signal)).muted
    with mute("intro"):
        assert only(describe_receivers(signal)).muted
    with mute(signal):
        assert only(describe_receivers(signal)).muted
    with mute(other):
        assert not only(describe_receivers(signal)).muted


def test_non_model_senders_are_short_reprs_without_memory_addresses() -> None:
    signal = TypedSignal(Ping)
    token = object()
    signal.connect(on_ping, sender=token)
    signal.connect(on_ping_async, sender=int)
    by_sender, by_class = describe_receivers(signal)
    assert by_sender.sender == "<object object>"
    assert by_class.sender == "builtins.int"
    assert by_sender.sender_model is None and by_class.sender_model is None


def test_long_sender_reprs_are_cut() -> None:
    signal = TypedSignal(Ping)
    signal.connect(on_ping, sender="x" * 200)
    sender = only(describe_receivers(signal)).sender
    assert len(sender) == 60 and sender.endswith("...")


def test_a_sender_whose_repr_raises_is_named_by_its_type() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    broken = Broken()
    signal = TypedSignal(Ping)
    signal.connect(on_ping, sender=broken)
    assert only(describe_receivers(signal)).sender == "<Broken object>"


# -- odd receivers ------------------------------------------------------------


def test_partial_receivers_name_the_wrapped_function() -> None:
    signal = TypedSignal(Ping)
    receiver = functools.partial(on_ping_with_extra, extra=1)
    signal.connect(receiver)
    row = only(describe_receivers(signal))
    assert row.path == f"partial({HERE}.on_ping_with_extra)"
    assert row.module == HERE
    assert row.line == line_of(on_ping_with_extra)


def test_callable_instances_are_named_after_their_class() -> None:
    signal = TypedSignal(Ping)
    handler = Handler()
    signal.connect(handler)
    row = only(describe_receivers(signal))
    assert row.path == f"{HERE}.Handler()"
    assert row.module == HERE
    assert row.line == line_of(Handler.__call__)


def test_bound_methods_are_named_after_their_function() -> None:
    signal = TypedSignal(Ping)
    handler = Handler()
    signal.connect(handler.on_ping)
    row = only(describe_receivers(signal))
    assert row.path == f"{HERE}.Handler.on_ping"
    assert row.module == HERE
    assert row.weak


def test_lambdas_are_named_by_their_qualified_name() -> None:
    signal = DjangoSignal()
    receiver = lambda sender, **kwargs: None  # noqa: E731
    signal.connect(receiver)
    row = only(describe_receivers(signal, "tests.lambdas"))
    assert row.path == (
        f"{HERE}.test_lambdas_are_named_by_their_qualified_name.<locals>.<lambda>"
    )
    assert row.line == line_of(test_lambdas_are_named_by_their_qualified_name) + 2


def test_builtins_have_no_location() -> None:
    typed = Signal()
    typed.connect(dict, weak=False)
    plain = DjangoSignal()
    plain.connect(print, weak=False)
    typed_row = only(describe_receivers(typed))
    plain_row = only(describe_receivers(plain, "tests.plain"))
    assert (typed_row.path, typed_row.location, typed_row.module) == (
        "builtins.dict",
        "?",
        "builtins",
    )
    assert (plain_row.path, plain_row.location, plain_row.weak) == (
        "builtins.print",
        "?",
        False,
    )


def test_dead_receivers_are_left_out() -> None:
    typed = TypedSignal(Ping)
    plain = DjangoSignal()

    def short_lived(sender: object, *, payload: Ping, **kwargs: object) -> None:
        pass

    typed.connect(short_lived)
    plain.connect(short_lived)
    typed.connect(on_ping)
    plain.connect(on_plain)
    del short_lived
    gc.collect()

    assert [row.path for row in describe_receivers(typed)] == [f"{HERE}.on_ping"]
    assert [row.path for row in describe_receivers(plain, "p")] == [f"{HERE}.on_plain"]


# -- plain Django signals -------------------------------------------------------


def test_plain_rows_read_django_receivers_list() -> None:
    signal = DjangoSignal()
    handler = Handler()
    signal.connect(on_plain)
    signal.connect(handler, weak=False, dispatch_uid="plain-uid", sender=Note)
    signal.connect(on_ping_async)

    first, second, third = describe_receivers(signal, "tests.plain")

    assert (first.path, first.priority, first.dispatch_uid, first.weak) == (
        f"{HERE}.on_plain",
        None,
        None,
        True,
    )
    assert (second.path, second.dispatch_uid, second.weak, second.sender) == (
        f"{HERE}.Handler()",
        "plain-uid",
        False,
        "testapp.Note",
    )
    assert second.sender_model == "testapp.Note"
    assert (third.mode, third.is_async) == ("async", True)
    assert first.groups == () and not first.muted
    assert first.signal == "tests.plain"


def test_bound_method_receivers_of_plain_signals_have_no_dispatch_uid() -> None:
    signal = DjangoSignal()
    handler = Handler()
    signal.connect(handler.on_ping)
    row = only(describe_receivers(signal, "p"))
    assert (row.path, row.dispatch_uid) == (f"{HERE}.Handler.on_ping", None)


def test_plain_signals_find_app_config_senders() -> None:
    signal = DjangoSignal()
    signal.connect(on_plain, sender=apps.get_app_config("testapp"))
    assert only(describe_receivers(signal, "p")).sender == "<TestAppConfig: testapp>"


def test_plain_signal_senders_kept_only_by_id_show_as_unknown() -> None:
    signal = DjangoSignal()
    signal.connect(on_plain, sender="not weakly referenceable")
    row = only(describe_receivers(signal, "p"))
    assert (row.sender, row.sender_model) == ("?", None)


def test_plain_signal_class_senders_outside_the_app_registry() -> None:
    class Local:
        pass

    signal = DjangoSignal()
    signal.connect(on_plain, sender=Local)
    sender = only(describe_receivers(signal, "p")).sender
    if django.VERSION >= (6, 0):  # keeps a weak reference to the sender
        assert sender == f"{HERE}.{Local.__qualname__}"
    else:  # keeps only id(sender)
        assert sender == "?"


def test_plain_signal_receivers_of_a_dead_sender_are_left_out_on_django_6() -> None:
    class Local:
        pass

    signal = DjangoSignal()
    signal.connect(on_plain, sender=Local)
    signal.connect(on_plain)
    del Local
    gc.collect()
    senders = [row.sender for row in describe_receivers(signal, "p")]
    assert senders == (["any"] if django.VERSION >= (6, 0) else ["?", "any"])


def test_plain_signals_are_never_muted() -> None:
    signal = DjangoSignal()
    signal.connect(on_plain)
    with mute("testapp"):
        assert not only(describe_receivers(signal, "p")).muted


def test_django_signals_adopted_into_groups_show_them_and_their_muting() -> None:
    def on_save(sender: object, **kwargs: object) -> None:
        pass

    post_save.connect(on_save, sender=Note)
    try:
        with mute("model"):
            muted = [
                r for r in describe_receivers(post_save) if r.path.endswith("on_save")
            ]
        unmuted = [
            r for r in describe_receivers(post_save) if r.path.endswith("on_save")
        ]
    finally:
        post_save.disconnect(on_save, sender=Note)
    assert [(r.groups, r.muted) for r in muted] == [(("model",), True)]
    assert [(r.groups, r.muted) for r in unmuted] == [(("model",), False)]


def test_plain_signals_are_named_as_discovered() -> None:
    def on_save(sender: object, **kwargs: object) -> None:
        pass

    post_save.connect(on_save, sender=Note)
    try:
        [row] = [r for r in describe_receivers(post_save) if r.path.endswith("on_save")]
    finally:
        post_save.disconnect(on_save, sender=Note)
    assert row.signal == "django.db.models.signals.post_save"
    assert row.sender_model == "testapp.Note"


def test_unnamed_plain_signals_get_a_placeholder_name() -> None:
    signal = DjangoSignal()
    signal.connect(on_plain)
    assert only(describe_receivers(signal)).signal == "<unnamed Signal>"


# -- every signal ---------------------------------------------------------------


def test_describe_signals_covers_django_builtins_and_typed_signals() -> None:
    described = {d.name: d for d in describe_signals()}
    builtin = described["django.db.models.signals.post_save"]
    pinged = described["testapp.pinged"]
    assert (builtin.typed, builtin.payload_type, builtin.groups) == (
        False,
        None,
        ("model",),
    )
    assert (pinged.typed, pinged.payload_type, pinged.groups) == (
        True,
        "tests.testapp.signals.Pinged",
        ("testapp",),
    )
    assert [r.path for r in pinged.receivers] == ["tests.testapp.signals.record_ping"]
    assert list(described) == sorted(described)


def test_describe_signals_reports_muting_per_signal() -> None:
    with mute("testapp"):
        described = {d.name: d for d in describe_signals()}
    assert described["testapp.pinged"].muted
    assert described["testapp.pinged"].receivers[0].muted
    assert not described["django.db.models.signals.post_save"].muted


def test_discover_signals_and_is_typed_keep_working() -> None:
    found = dict(discover_signals())
    assert found["django.db.models.signals.post_save"] is post_save
    assert is_typed(found["testapp.pinged"])
    assert not is_typed(post_save)

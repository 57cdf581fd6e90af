from __future__ import annotations

import threading

import pytest
from django.core.signals import request_started
from django.db.models.signals import ModelSignal, post_save, pre_save
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import mute
from django_typed_signals._adoption import adopt, is_adopted

# request_started also runs Django's close_old_connections, which touches the
# database connection.
pytestmark = pytest.mark.django_db


def recorder(signal: DjangoSignal) -> tuple[list[object], object]:
    calls: list[object] = []

    def on_it(sender: object, **kwargs: object) -> None:
        calls.append(sender)

    signal.connect(on_it, weak=False)
    return calls, on_it


def test_djangos_signals_are_adopted_at_startup_and_keep_their_class() -> None:
    assert is_adopted(post_save)
    assert isinstance(post_save, ModelSignal)
    assert type(post_save).__name__ == "MuteAwareModelSignal"
    assert is_adopted(request_started)


def test_mute_group_silences_plain_receivers_of_djangos_signals() -> None:
    calls, on_it = recorder(request_started)
    try:
        with mute("request"):
            request_started.send(sender=None, environ={})
        request_started.send(sender="after", environ={})
    finally:
        request_started.disconnect(on_it)  # type: ignore[arg-type]
    assert calls == ["after"]


def test_one_adopted_signal_can_be_muted_alone() -> None:
    save_calls, on_save = recorder(pre_save)
    post_calls, on_post = recorder(post_save)
    try:
        with mute(pre_save):
            pre_save.send(sender=int, instance=None)
            post_save.send(sender=int, instance=None)
    finally:
        pre_save.disconnect(on_save)  # type: ignore[arg-type]
        post_save.disconnect(on_post)  # type: ignore[arg-type]
    assert save_calls == []
    assert post_calls == [int]


def test_other_threads_still_send() -> None:
    calls, on_it = recorder(request_started)
    try:
        with mute("request"):
            thread = threading.Thread(
                target=lambda: request_started.send(sender="thread", environ={})
            )
            thread.start()
            thread.join(5)
    finally:
        request_started.disconnect(on_it)  # type: ignore[arg-type]
    assert calls == ["thread"]


def test_adopting_a_custom_signal_makes_it_mutable_by_its_groups() -> None:
    custom = DjangoSignal()
    with pytest.raises(TypeError, match=r"plain django\.dispatch\.Signal"):
        mute(custom)
    adopt(custom, "custom-adopted")
    adopt(custom, "custom-adopted", "another-group")  # idempotent, adds groups
    calls, _ = recorder(custom)
    with mute("another-group"):
        custom.send(sender=None)
    custom.send(sender=1)
    assert calls == [1]


@pytest.mark.django_db
def test_capture_taps_hear_adopted_signals_while_muted_and_come_first() -> None:
    from django_typed_signals.testing import capture
    from tests.testapp.models import Note

    calls, on_it = recorder(post_save)
    try:
        with capture(post_save) as sent, mute("model"):
            Note.objects.create(text="muted")
        with capture(post_save) as unmuted:
            Note.objects.create(text="heard")
    finally:
        post_save.disconnect(on_it)  # type: ignore[arg-type]
    assert [p["instance"].text for p in sent.payloads] == ["muted"]
    assert [p["instance"].text for p in unmuted.payloads] == ["heard"]
    assert calls == [Note]
    assert not post_save._tap_receivers  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_model_signals_take_apps_on_connect_and_disconnect() -> None:
    from django.apps import apps

    from tests.testapp.models import Order

    calls: list[object] = []

    def on_save(sender: object, **kwargs: object) -> None:
        calls.append(sender)

    post_save.connect(on_save, sender="testapp.Order", apps=apps, weak=False)
    Order.objects.create(reference="a")
    assert calls == [Order]
    post_save.disconnect(on_save, sender="testapp.Order", apps=apps)
    Order.objects.create(reference="b")
    assert calls == [Order]


@pytest.mark.django_db
def test_a_capture_of_an_adopted_signal_is_not_in_its_responses() -> None:
    from django_typed_signals.testing import capture
    from tests.testapp.models import Note

    calls, on_it = recorder(post_save)
    note = Note.objects.create(text="a")
    try:
        plain = post_save.send(Note, instance=note, created=False)
        with capture(post_save) as sent:
            tapped = post_save.send(Note, instance=note, created=False)
            robust = post_save.send_robust(Note, instance=note, created=False)
            with mute("model"):
                muted = post_save.send(Note, instance=note, created=False)
    finally:
        post_save.disconnect(on_it)  # type: ignore[arg-type]
    assert (on_it, None) in plain
    assert tapped == robust == plain
    assert muted == []
    assert calls == [Note] * 4  # the create, then three unmuted sends
    assert len(sent) == 3
    assert "send" not in vars(post_save)  # the class's send methods are back

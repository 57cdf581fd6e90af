"""factory_boy's ``mute_signals`` next to ours.

``factory.django.mute_signals`` empties ``signal.receivers`` and puts the old
list back on exit; it mutes for every thread, and ``capture()`` with it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

import factory
import pytest
from django.db.models.signals import post_save
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import Signal, mute
from django_typed_signals.testing import capture
from tests.testapp.models import Note

CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


class NoteFactory(factory.django.DjangoModelFactory[Note]):
    class Meta:
        model = Note

    text = "from a factory"


def mute_signals(*signals: DjangoSignal) -> AbstractContextManager[None]:
    """``factory.django.mute_signals``, typed."""
    return cast(
        "AbstractContextManager[None]",
        factory.django.mute_signals(*signals),  # type: ignore[no-untyped-call]
    )


def recording_signal(groups: tuple[str, ...] = ()) -> tuple[Signal, list[str]]:
    signal = Signal(groups=groups)
    calls: list[str] = []
    for name, priority in (("late", 5), ("early", -5), ("middle", 0)):

        def record(sender: object, name: str = name, **kwargs: object) -> None:
            calls.append(name)

        signal.connect(record, priority=priority, weak=False)
    return signal, calls


@pytest.mark.django_db
def test_receivers_keep_priorities_and_on_commit_after_factory_boy(
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    signal, calls = recording_signal()

    def after_commit(sender: object, **kwargs: object) -> None:
        calls.append("after commit")

    signal.connect(after_commit, on_commit=True, priority=-100)
    with mute_signals(signal):
        signal.send(None)
    assert calls == []

    with django_capture_on_commit_callbacks(execute=True):
        signal.send(None)
        assert calls == ["early", "middle", "late"]
    assert calls == ["early", "middle", "late", "after commit"]
    assert [(i.priority, i.on_commit) for i in signal.receivers_info()] == [
        (-100, True),
        (-5, False),
        (0, False),
        (5, False),
    ]


@pytest.mark.django_db
def test_factory_boy_mutes_post_save_for_a_model_factory() -> None:
    saved: list[str] = []

    def on_save(sender: type[Note], *, instance: Note, **kwargs: object) -> None:
        saved.append(instance.text)

    post_save.connect(on_save, sender=Note)
    try:
        with mute_signals(post_save):
            NoteFactory.create(text="muted")
        NoteFactory.create(text="heard")
    finally:
        post_save.disconnect(on_save, sender=Note)

    assert saved == ["heard"]
    assert Note.objects.count() == 2


def test_our_mute_inside_factory_boys() -> None:
    signal, calls = recording_signal(("factory-nest-a",))

    with mute_signals(signal):
        with mute("factory-nest-a"):
            signal.send(None)
        signal.send(None)
    signal.send(None)

    assert calls == ["early", "middle", "late"]


def test_factory_boys_mute_inside_ours() -> None:
    signal, calls = recording_signal(("factory-nest-b",))

    with mute(signal):
        with mute_signals(signal):
            signal.send(None)
        signal.send(None)
    signal.send(None)

    assert calls == ["early", "middle", "late"]


def test_capture_hears_through_our_mute_and_through_factory_boys() -> None:
    signal, calls = recording_signal(("factory-capture",))

    with capture(signal) as sent:
        with mute("factory-capture"):
            signal.send(None, step="ours")
        with mute_signals(signal):
            signal.send(None, step="factory_boy's")

    # A capture is not a receiver: emptying the receiver list spares it.
    assert sent.payloads == [{"step": "ours"}, {"step": "factory_boy's"}]
    assert calls == []

"""``send_on_commit`` and ``on_commit=True`` receivers against real transactions.

These use ``transactional_db`` so that commits and rollbacks really happen (on
PostgreSQL when ``TYPED_SIGNALS_TEST_DB=postgres``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction

from django_typed_signals import Signal, TypedSignal, mute, receiver
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Saved:
    note_id: int


def recorder() -> tuple[TypedSignal[Saved], list[int]]:
    signal = TypedSignal(Saved, groups=["on-commit-tests"])
    seen: list[int] = []

    def on_saved(sender: object, *, payload: Saved, **kwargs: object) -> None:
        # The row is visible: the receiver runs after the commit.
        assert Note.objects.filter(pk=payload.note_id).exists()
        seen.append(payload.note_id)

    signal.connect(on_saved, weak=False)
    return signal, seen


def test_send_on_commit_waits_for_the_outermost_commit() -> None:
    signal, seen = recorder()
    with transaction.atomic():
        note = Note.objects.create(text="a")
        with transaction.atomic():
            signal.send_on_commit(Note, Saved(note.pk))
        assert seen == []
    assert seen == [note.pk]


def test_send_on_commit_never_sends_after_a_rollback() -> None:
    signal, seen = recorder()
    with pytest.raises(RuntimeError), transaction.atomic():
        note = Note.objects.create(text="a")
        signal.send_on_commit(Note, Saved(note.pk))
        raise RuntimeError("rollback")
    assert seen == []


def test_send_on_commit_in_a_rolled_back_savepoint_is_dropped() -> None:
    signal, seen = recorder()
    with transaction.atomic():
        kept = Note.objects.create(text="kept")
        signal.send_on_commit(Note, Saved(kept.pk))
        with pytest.raises(RuntimeError), transaction.atomic():
            lost = Note.objects.create(text="lost")
            signal.send_on_commit(Note, Saved(lost.pk))
            raise RuntimeError
    assert seen == [kept.pk]


def test_send_on_commit_in_autocommit_sends_at_once() -> None:
    signal, seen = recorder()
    note = Note.objects.create(text="a")
    signal.send_on_commit(Note, Saved(note.pk))
    assert seen == [note.pk]


def test_send_on_commit_while_muted_schedules_nothing() -> None:
    signal, seen = recorder()
    with transaction.atomic():
        note = Note.objects.create(text="a")
        with mute("on-commit-tests"):
            signal.send_on_commit(Note, Saved(note.pk))
    assert seen == []


def test_plain_signal_send_on_commit_passes_named_arguments() -> None:
    signal = Signal()
    seen: list[object] = []

    def on_it(sender: object, **kwargs: object) -> None:
        seen.append(kwargs["note"])

    signal.connect(on_it)
    with transaction.atomic():
        signal.send_on_commit(Note, note="n")
        assert seen == []
    assert seen == ["n"]


def test_robust_send_on_commit_logs_instead_of_raising_from_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = TypedSignal(Saved)

    def broken(sender: object, *, payload: Saved, **kwargs: object) -> None:
        raise RuntimeError("after commit")

    signal.connect(broken)
    with transaction.atomic():
        note = Note.objects.create(text="a")
        signal.send_on_commit(Note, Saved(note.pk), robust=True)
    assert Note.objects.filter(pk=note.pk).exists()
    assert "after commit" in caplog.text


def test_on_commit_receiver_runs_after_commit_others_at_once() -> None:
    signal = TypedSignal(Saved)
    order: list[str] = []

    @receiver(signal, on_commit=True)
    def deferred(sender: object, *, payload: Saved, **kwargs: object) -> None:
        order.append("deferred")

    @receiver(signal)
    def immediate(sender: object, *, payload: Saved, **kwargs: object) -> None:
        order.append("immediate")

    with transaction.atomic():
        note = Note.objects.create(text="a")
        responses = signal.send(Note, Saved(note.pk))
        assert order == ["immediate"]
    assert order == ["immediate", "deferred"]
    assert [r for r, _ in responses] == [deferred, immediate]


def test_on_commit_receiver_is_dropped_on_rollback() -> None:
    signal = TypedSignal(Saved)
    calls: list[int] = []

    @receiver(signal, on_commit=True)
    def deferred(sender: object, *, payload: Saved, **kwargs: object) -> None:
        calls.append(payload.note_id)

    with pytest.raises(RuntimeError), transaction.atomic():
        signal.send(Note, Saved(1))
        raise RuntimeError
    assert calls == []


def test_failing_on_commit_receiver_does_not_break_the_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[Exception] = []
    signal = TypedSignal(Saved, on_error=lambda s, r, e: errors.append(e))

    @receiver(signal, on_commit=True)
    def deferred(sender: object, *, payload: Saved, **kwargs: object) -> None:
        raise ValueError("deferred failure")

    with transaction.atomic():
        note = Note.objects.create(text="a")
        signal.send(Note, Saved(note.pk))
    assert Note.objects.filter(pk=note.pk).exists()
    assert [str(e) for e in errors] == ["deferred failure"]


def test_on_commit_is_rejected_for_async_receivers() -> None:
    signal = TypedSignal(Saved, name="s.async_commit")

    async def on_it(sender: object, *, payload: Saved, **kwargs: object) -> None: ...

    with pytest.raises(ValueError, match="on_commit=True needs a synchronous"):
        signal.connect(on_it, on_commit=True)


@dataclass(frozen=True)
class Shipped:
    note_id: int
    using: str  # the user's own data (a carrier), not a database alias


def test_payload_field_named_using_is_not_taken_for_a_database() -> None:
    signal = TypedSignal(Shipped)
    seen: list[str] = []

    @receiver(signal, on_commit=True)
    def on_shipped(sender: object, *, payload: Shipped, **kwargs: object) -> None:
        seen.append(payload.using)

    with transaction.atomic():
        note = Note.objects.create(text="a")
        signal.send(Note, Shipped(note.pk, using="ups"))
        assert seen == []
    assert seen == ["ups"]


def test_model_payloads_name_their_database_for_on_commit() -> None:
    from django_typed_signals._observe import database_of
    from django_typed_signals.builtin import PostMigrate
    from django_typed_signals.lifecycle import PostSave

    note = Note(text="a")
    saved = PostSave(
        instance=note, using="replica", created=True, update_fields=None, raw=False
    )
    assert database_of(saved) == "replica"
    assert database_of(Shipped(1, using="ups")) is None
    assert PostMigrate.__typed_signals_using__ == "using"

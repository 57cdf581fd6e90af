"""The audit context: set, nested, carried after the commit and into the
bridge's deliveries, and never shared between threads, tasks or requests."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.models import Delivery
from django_typed_signals.services import AuditContext, audit, current_context
from django_typed_signals.testing import drain


@dataclass(frozen=True)
class Synced:
    device_id: int


def test_no_context_is_an_empty_one() -> None:
    context = current_context()
    assert context == AuditContext()
    assert not context
    assert context.actor is None and context.tags == frozenset()


def test_nested_blocks_merge_tags_and_replace_what_they_give() -> None:
    with audit(actor="alice", organization=7, tags=("api",), source="web") as outer:
        assert current_context() is outer
        with audit(actor="bob", tags=("sync",), trace_id="t-1") as inner:
            assert inner.actor == "bob"
            assert inner.organization == 7
            assert inner.tags == {"api", "sync"}
            assert inner.trace_id == "t-1"
            assert dict(inner.extra) == {"source": "web"}
        assert current_context() == outer
    assert not current_context()


def test_the_outer_context_comes_back_after_an_error() -> None:
    with audit(tags=("outer",)):
        with pytest.raises(KeyError), audit(tags=("inner",)):
            raise KeyError("x")
        assert current_context().tags == {"outer"}


def test_bad_values_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"the string 'audit'"):
        AuditContext(tags="audit")  # type: ignore[arg-type]
    with (
        pytest.raises(TypeError, match=r"tags must be strings, got 3"),
        audit(tags=[3]),  # type: ignore[list-item]
    ):
        pass
    with pytest.raises(TypeError, match=r"trace_id must be a string"):
        AuditContext(trace_id=12)  # type: ignore[arg-type]
    context = AuditContext(extra={"a": 1})
    with pytest.raises(TypeError):
        context.extra["b"] = 2  # type: ignore[index]


def test_a_thread_does_not_see_the_context_of_its_starter() -> None:
    seen: list[AuditContext] = []
    with audit(actor="alice"):
        thread = threading.Thread(target=lambda: seen.append(current_context()))
        thread.start()
        thread.join()
    assert seen == [AuditContext()]


def test_two_threads_keep_their_own_context() -> None:
    barrier = threading.Barrier(2)
    seen: dict[str, object] = {}

    def work(name: str) -> None:
        with audit(actor=name):
            barrier.wait()  # both contexts are set at the same time
            seen[name] = current_context().actor

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "a", "b": "b"}


def test_two_asyncio_tasks_keep_their_own_context() -> None:
    async def work(name: str, started: asyncio.Event, other: asyncio.Event) -> object:
        with audit(actor=name, tags=(name,)):
            started.set()
            await other.wait()  # the other task has set its context by now
            await asyncio.sleep(0)
            return (current_context().actor, current_context().tags)

    async def main() -> list[object]:
        a, b = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(work("a", a, b), work("b", b, a)))

    assert asyncio.run(main()) == [("a", {"a"}), ("b", {"b"})]
    assert not current_context()


def recording_signal() -> tuple[TypedSignal[Synced], list[tuple[str, AuditContext]]]:
    signal = TypedSignal(Synced, groups=["audit-tests"])
    seen: list[tuple[str, AuditContext]] = []

    @receiver(signal, weak=False)
    def inline(sender: object, *, payload: Synced, **kwargs: object) -> None:
        seen.append(("inline", current_context()))

    @receiver(signal, on_commit=True, weak=False)
    def after_commit(sender: object, *, payload: Synced, **kwargs: object) -> None:
        seen.append(("on_commit", current_context()))

    @receiver(signal, weak=False)
    async def in_async(sender: object, *, payload: Synced, **kwargs: object) -> None:
        seen.append(("async", current_context()))

    return signal, seen


@pytest.mark.django_db(transaction=True)
def test_receivers_see_the_context_of_the_send_even_after_the_block() -> None:
    signal, seen = recording_signal()
    with transaction.atomic():
        with audit(actor="alice", tags=("sync",)) as context:
            signal.send(None, Synced(1))
        assert not current_context()  # the commit happens out of the block
    assert [(kind, c) for kind, c in seen] == [
        ("inline", context),
        ("async", context),
        ("on_commit", context),
    ]


@pytest.mark.django_db(transaction=True)
def test_send_on_commit_carries_the_context_to_the_commit() -> None:
    signal, seen = recording_signal()
    with transaction.atomic(), audit(organization="acme") as context:
        signal.send_on_commit(None, Synced(2))
    assert {kind for kind, _ in seen} == {"inline", "async", "on_commit"}
    assert all(c == context for _, c in seen)


@pytest.mark.django_db(transaction=True)
def test_an_asend_receiver_sees_the_context() -> None:
    signal, seen = recording_signal()

    async def main() -> None:
        with audit(actor="carol"):
            await signal.asend(None, Synced(3))

    asyncio.run(main())
    assert {c.actor for kind, c in seen if kind != "on_commit"} == {"carol"}


bridged = TypedSignal(Synced, name="tests.services.bridged", groups=["audit-tests"])
bridge_seen: list[AuditContext] = []


@receiver(bridged, run="celery")
def sync_device(sender: object, *, payload: Synced, **kwargs: object) -> None:
    bridge_seen.append(current_context())


@pytest.mark.django_db(transaction=True)
@override_settings(TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local"}})
def test_a_bridged_delivery_stores_the_context_and_restores_it() -> None:
    """The actor travels as a model reference and is read again."""
    bridge_seen.clear()
    alice = User.objects.create_user("alice")
    with (
        audit(actor=alice, organization=42, tags=("device-sync",), trace_id="abc"),
        transaction.atomic(),
    ):
        bridged.send(None, Synced(4))
    row = Delivery.objects.get()
    assert row.payload["a"]["actor"]["$t"] == "m"  # a reference, not a copy
    User.objects.filter(pk=alice.pk).update(first_name="Alice")
    assert not current_context()
    assert [run.outcome for run in drain()] == ["done"]
    [context] = bridge_seen
    assert context.actor == alice and context.actor.first_name == "Alice"
    assert context.organization == 42
    assert context.tags == {"device-sync"}
    assert context.trace_id == "abc"
    assert not current_context()  # restored for the delivery only


@pytest.mark.django_db(transaction=True)
@override_settings(TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local"}})
def test_a_delivery_whose_actor_is_gone_is_dead_with_the_reason() -> None:
    bridge_seen.clear()
    bob = User.objects.create_user("bob")
    with audit(actor=bob), transaction.atomic():
        bridged.send(None, Synced(5))
    bob.delete()
    drain()
    row = Delivery.objects.get()
    assert row.status == Delivery.Status.DEAD
    assert "audit context's actor" in row.last_error
    assert bridge_seen == []


@pytest.mark.django_db(transaction=True)
def test_a_context_that_cannot_travel_fails_the_send() -> None:
    with audit(extra_value=object()) as context, transaction.atomic():
        assert "extra_value" in context.extra
        with pytest.raises(TypeError, match=r"tests.services.bridged.*audit context"):
            bridged.send(None, Synced(6))
    assert not Delivery.objects.exists()

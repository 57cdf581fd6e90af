"""``@service``: one transaction, its ``send_on_commit`` signals after the commit.

Real commits and rollbacks (``transaction=True``), on PostgreSQL when
``TYPED_SIGNALS_TEST_DB=postgres``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.services import current_context, service
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "other"])
_T = TypeVar("_T")


@dataclass(frozen=True)
class NoteSaved:
    text: str


def run(awaitable: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, closing the connections the ORM opened in its thread
    (Django's ASGI handler does so at the end of each request)."""

    async def main() -> _T:
        try:
            return await awaitable
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(main())


def recorder() -> tuple[TypedSignal[NoteSaved], list[tuple[str, bool, frozenset[str]]]]:
    """A signal whose receiver notes what it got, whether the row was
    committed (visible from another connection is not portable to SQLite's
    in-memory database: a fresh query after the commit shows it), and the
    audit tags it ran under."""
    signal = TypedSignal(NoteSaved, groups=["service-tests"])
    seen: list[tuple[str, bool, frozenset[str]]] = []

    @receiver(signal, weak=False)
    def on_saved(sender: object, *, payload: NoteSaved, **kwargs: object) -> None:
        committed = not any(connections[a].in_atomic_block for a in connections)
        seen.append((payload.text, committed, current_context().tags))

    return signal, seen


def test_a_service_sends_after_its_commit_in_send_order() -> None:
    signal, seen = recorder()

    @service(tags=("audit:required",))
    def save_notes(*, texts: list[str]) -> int:
        for text in texts:
            Note.objects.create(text=text)
            signal.send_on_commit(None, NoteSaved(text))
        assert seen == []
        return len(texts)

    assert save_notes(texts=["a", "b", "c"]) == 3
    assert [text for text, _, _ in seen] == ["a", "b", "c"]
    assert all(committed for _, committed, _ in seen)
    assert all(tags == {"audit:required"} for _, _, tags in seen)
    assert Note.objects.count() == 3


def test_a_service_that_raises_rolls_back_and_sends_nothing() -> None:
    signal, seen = recorder()

    @service
    def save_then_fail(*, text: str) -> None:
        Note.objects.create(text=text)
        signal.send_on_commit(None, NoteSaved(text))
        raise ValueError("invalid device state")

    with pytest.raises(ValueError, match="invalid device state"):
        save_then_fail(text="a")
    assert seen == []
    assert not Note.objects.exists()


def test_nested_services_make_one_transaction_and_one_send() -> None:
    signal, seen = recorder()
    commits: list[str] = []

    @service(tags=("inner",))
    def inner(*, text: str) -> None:
        Note.objects.create(text=text)
        transaction.on_commit(lambda: commits.append(text))
        signal.send_on_commit(None, NoteSaved(text))

    @service(tags=("outer",))
    def outer(*, texts: list[str]) -> None:
        for text in texts:
            inner(text=text)
        assert seen == [] and commits == []
        assert connections["default"].in_atomic_block

    outer(texts=["a", "b"])
    assert commits == ["a", "b"]
    assert [(text, tags) for text, _, tags in seen] == [
        ("a", frozenset({"inner", "outer"})),
        ("b", frozenset({"inner", "outer"})),
    ]


def test_an_inner_service_failing_rolls_the_outer_back_when_not_caught() -> None:
    signal, seen = recorder()

    @service
    def inner(*, text: str) -> None:
        Note.objects.create(text=text)
        signal.send_on_commit(None, NoteSaved(text))
        raise RuntimeError("inner failed")

    @service
    def outer() -> None:
        Note.objects.create(text="outer")
        signal.send_on_commit(None, NoteSaved("outer"))
        inner(text="inner")

    with pytest.raises(RuntimeError, match="inner failed"):
        outer()
    assert seen == [] and not Note.objects.exists()


def test_a_caught_inner_failure_drops_only_its_own_sends() -> None:
    """The inner service is a savepoint: its rollback drops its sends only."""
    signal, seen = recorder()

    @service
    def inner(*, text: str) -> None:
        Note.objects.create(text=text)
        signal.send_on_commit(None, NoteSaved(text))
        raise RuntimeError("inner failed")

    @service
    def outer() -> None:
        signal.send_on_commit(None, NoteSaved("before"))
        with contextlib.suppress(RuntimeError):
            inner(text="inner")
        signal.send_on_commit(None, NoteSaved("after"))

    outer()
    assert [text for text, _, _ in seen] == ["before", "after"]
    assert not Note.objects.filter(text="inner").exists()


def test_a_service_on_another_database_sends_after_that_commit() -> None:
    """send_on_commit names no database: it waits for the service's own."""
    signal, seen = recorder()

    @service(using="other")
    def save_elsewhere(*, text: str) -> None:
        Note.objects.using("other").create(text=text)
        signal.send_on_commit(None, NoteSaved(text))
        assert not connections["default"].in_atomic_block
        assert seen == []  # not sent at once, as default's on_commit would

    save_elsewhere(text="x")
    assert [text for text, _, _ in seen] == ["x"]
    assert Note.objects.using("other").filter(text="x").exists()


def test_on_commit_receivers_wait_for_the_service_database() -> None:
    signal = TypedSignal(NoteSaved, groups=["service-tests"])
    seen: list[str] = []

    @receiver(signal, on_commit=True, weak=False)
    def later(sender: object, *, payload: NoteSaved, **kwargs: object) -> None:
        seen.append(payload.text)

    @service(using="other")
    def save_elsewhere(*, text: str) -> None:
        signal.send(None, NoteSaved(text))
        assert seen == []

    save_elsewhere(text="y")
    assert seen == ["y"]


def test_an_async_service_runs_in_one_transaction() -> None:
    signal, seen = recorder()

    @service(tags=("async",))
    async def save_notes(*, texts: list[str]) -> int:
        for text in texts:
            await Note.objects.acreate(text=text)
            await signal.asend_on_commit(None, NoteSaved(text))
        assert seen == []
        assert current_context().tags == {"async"}
        return await Note.objects.acount()

    assert run(save_notes(texts=["a", "b"])) == 2
    assert [(text, tags) for text, _, tags in seen] == [
        ("a", frozenset({"async"})),
        ("b", frozenset({"async"})),
    ]


def test_an_async_service_that_raises_rolls_back() -> None:
    signal, seen = recorder()

    @service
    async def save_then_fail(*, text: str) -> None:
        await Note.objects.acreate(text=text)
        await signal.asend_on_commit(None, NoteSaved(text))
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        run(save_then_fail(text="a"))
    assert seen == []
    assert not Note.objects.exists()


def test_a_method_of_a_service_class_is_a_service() -> None:
    signal, seen = recorder()

    class DeviceSyncService:
        prefix = "device"

        @service
        def sync(self, *, device_id: int) -> str:
            Note.objects.create(text=f"{self.prefix}-{device_id}")
            signal.send_on_commit(None, NoteSaved(f"{self.prefix}-{device_id}"))
            assert seen == []
            return "synced"

    assert DeviceSyncService().sync(device_id=3) == "synced"
    assert [text for text, _, _ in seen] == ["device-3"]


def test_services_take_keyword_only_arguments() -> None:
    def positional(device_id: int, *, status: str) -> None: ...

    with pytest.raises(TypeError, match=r"keyword-only.*device_id"):
        service(positional)


def test_service_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"using='nowhere' is not a database"):

        @service(using="nowhere")
        def nothing() -> None: ...

    with pytest.raises(TypeError, match=r"tags must be an iterable of strings"):
        service(tags="audit")

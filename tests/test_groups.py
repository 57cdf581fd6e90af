from __future__ import annotations

import asyncio
import threading

import pytest
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import Signal, SignalGroup, known_groups, mute


def counting_signal(*groups: str) -> tuple[Signal, list[int]]:
    signal = Signal(groups=groups)
    calls: list[int] = []

    def on_it(sender: object, **kwargs: object) -> None:
        calls.append(1)

    signal.connect(on_it, weak=False)
    return signal, calls


def test_signals_declare_their_groups() -> None:
    Signal(groups=["declared-by-signal"])
    assert "declared-by-signal" in known_groups()


def test_explicit_group_keeps_its_description() -> None:
    SignalGroup("described", description="things with words")
    Signal(groups=["described"])
    assert known_groups()["described"].description == "things with words"


def test_unknown_group_is_a_lookup_error_listing_known_groups() -> None:
    Signal(groups=["alpha-group"])
    with pytest.raises(LookupError, match="unknown signal group 'nope'") as info:
        mute("nope")
    assert "alpha-group" in str(info.value)


def test_groups_must_be_a_list_not_a_string() -> None:
    with pytest.raises(TypeError, match="groups must be a list"):
        Signal(groups="billing")


def test_plain_django_signals_cannot_be_muted_silently() -> None:
    with pytest.raises(TypeError, match=r"plain django\.dispatch\.Signal"):
        mute(DjangoSignal())


def test_mute_by_group_only_silences_members() -> None:
    member, member_calls = counting_signal("group-a")
    other, other_calls = counting_signal("group-b")
    with mute("group-a"):
        member.send(None)
        other.send(None)
    member.send(None)
    other.send(None)
    assert member_calls == [1]
    assert other_calls == [1, 1]


def test_nesting_restores_outer_state() -> None:
    a, a_calls = counting_signal("nest-a")
    b, b_calls = counting_signal("nest-b")
    with mute("nest-a"):
        with mute("nest-b"):
            a.send(None)
            b.send(None)
        a.send(None)
        b.send(None)
    a.send(None)
    b.send(None)
    assert a_calls == [1]
    assert b_calls == [1, 1]


def test_mute_restores_state_when_the_block_raises() -> None:
    signal, calls = counting_signal("raising")
    with pytest.raises(RuntimeError), mute("raising"):
        raise RuntimeError
    signal.send(None)
    assert calls == [1]


def test_decorator_mutes_each_call_of_a_sync_function() -> None:
    signal, calls = counting_signal("deco")

    @mute("deco")
    def work(n: int) -> int:
        signal.send(None)
        return n * 2

    assert work(2) == 4
    assert work(3) == 6
    signal.send(None)
    assert calls == [1]


def test_decorator_mutes_async_functions() -> None:
    signal, calls = counting_signal("deco-async")

    @mute("deco-async")
    async def work() -> str:
        await signal.asend(None)
        return "done"

    assert asyncio.run(work()) == "done"
    asyncio.run(signal.asend(None))
    assert calls == [1]


def test_other_threads_are_not_muted() -> None:
    signal, calls = counting_signal("thread-local")
    in_thread = threading.Event()
    release = threading.Event()

    def other_thread() -> None:
        in_thread.set()
        release.wait(2)
        signal.send(None)

    with mute("thread-local"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        in_thread.wait(2)
        signal.send(None)
        release.set()
        thread.join(2)
    assert calls == [1]


def test_other_asyncio_tasks_are_not_muted() -> None:
    signal, calls = counting_signal("task-local")

    async def main() -> None:
        go = asyncio.Event()

        async def other_task() -> None:
            await go.wait()
            await signal.asend(None)

        task = asyncio.create_task(other_task())  # started outside the mute
        with mute("task-local"):
            await signal.asend(None)
            go.set()
            await task

    asyncio.run(main())
    assert calls == [1]

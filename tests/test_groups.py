from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Generator

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


def test_one_mute_object_serves_overlapping_asyncio_tasks() -> None:
    signal, calls = counting_signal("shared-mute")
    quiet = mute("shared-mute")  # module-level style: one object, reused

    async def task(first_in: asyncio.Event, other_in: asyncio.Event) -> None:
        with quiet:
            first_in.set()
            await other_in.wait()  # both tasks are inside `with quiet` now
            await signal.asend(None)
        await signal.asend(None)  # unmuted again in this task

    async def main() -> None:
        a_in, b_in = asyncio.Event(), asyncio.Event()
        await asyncio.gather(task(a_in, b_in), task(b_in, a_in))
        await signal.asend(None)

    asyncio.run(main())
    assert calls == [1, 1, 1]


def test_one_mute_object_serves_several_threads() -> None:
    signal, calls = counting_signal("shared-mute-threads")
    quiet = mute("shared-mute-threads")
    barrier = threading.Barrier(2, timeout=5)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with quiet:
                barrier.wait()
                signal.send(None)
                barrier.wait()
            signal.send(None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == []
    assert calls == [1, 1]


def test_reentering_the_same_mute_object_nests() -> None:
    signal, calls = counting_signal("reentered")
    quiet = mute("reentered")
    with quiet:
        with quiet:
            signal.send(None)
        signal.send(None)
    signal.send(None)
    assert calls == [1]


def test_exiting_a_block_entered_elsewhere_is_a_clear_error() -> None:
    SignalGroup("exited-elsewhere")
    quiet = mute("exited-elsewhere")
    errors: list[BaseException] = []

    def exit_here() -> None:
        try:
            quiet.__exit__(None, None, None)
        except RuntimeError as exc:
            errors.append(exc)

    with quiet:
        thread = threading.Thread(target=exit_here)
        thread.start()
        thread.join(5)
    assert len(errors) == 1
    assert "mute('exited-elsewhere'): exited in a context that did not enter it" in str(
        errors[0]
    )


def test_decorated_generator_runs_each_step_muted_but_not_its_caller() -> None:
    signal, calls = counting_signal("deco-gen")
    seen: list[object] = []

    @mute("deco-gen")
    def steps() -> Generator[int, str, str]:
        signal.send(None)
        got = yield 1
        seen.append(got)
        signal.send(None)
        try:
            yield 2
        except KeyError as exc:
            seen.append(exc.args[0])
            signal.send(None)
        yield 3
        return "finished"

    gen = steps()
    assert next(gen) == 1
    signal.send(None)  # between steps the caller is not muted
    assert gen.send("hello") == 2
    assert gen.throw(KeyError("thrown")) == 3
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "finished"
    assert seen == ["hello", "thrown"]
    assert calls == [1]


def test_decorated_generator_is_closed_muted() -> None:
    signal, calls = counting_signal("deco-gen-close")

    @mute("deco-gen-close")
    def steps() -> Generator[int, None, None]:
        try:
            yield 1
        finally:
            signal.send(None)  # cleanup code runs muted as well

    gen = steps()
    next(gen)
    gen.close()
    assert calls == []


def test_decorated_async_generator_runs_each_step_muted() -> None:
    signal, calls = counting_signal("deco-agen")

    @mute("deco-agen")
    async def steps() -> AsyncGenerator[int, None]:
        await signal.asend(None)
        yield 1
        await signal.asend(None)
        yield 2

    async def main() -> list[int]:
        got: list[int] = []
        async for value in steps():
            got.append(value)
            await signal.asend(None)  # the loop body is not muted
        return got

    assert asyncio.run(main()) == [1, 2]
    assert calls == [1, 1]

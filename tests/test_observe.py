from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from django_typed_signals import ReceiverCall, Signal, add_observer, remove_observer


@pytest.fixture
def calls() -> Iterator[list[ReceiverCall]]:
    seen: list[ReceiverCall] = []
    observer = add_observer(seen.append)
    yield seen
    remove_observer(observer)


def test_observer_sees_each_call_with_duration_and_outcome(
    calls: list[ReceiverCall],
) -> None:
    signal = Signal(name="s.observed")

    def ok(sender: object, **kwargs: object) -> str:
        return "ok"

    def broken(sender: object, **kwargs: object) -> None:
        raise ValueError("no")

    signal.connect(ok)
    signal.connect(broken)

    responses = signal.send_robust(sender=int)

    assert [r for r, _ in responses] == [ok, broken]
    assert [(c.signal, c.receiver, c.sender, c.ok) for c in calls] == [
        (signal, ok, int, True),
        (signal, broken, int, False),
    ]
    assert isinstance(calls[1].exception, ValueError)
    assert all(c.duration >= 0 for c in calls)


def test_observer_sees_async_receivers(calls: list[ReceiverCall]) -> None:
    signal = Signal()

    async def on_it(sender: object, **kwargs: object) -> str:
        await asyncio.sleep(0.01)
        return "async"

    signal.connect(on_it)
    assert asyncio.run(signal.asend(sender=None)) == [(on_it, "async")]
    assert [c.receiver for c in calls] == [on_it]
    assert calls[0].duration >= 0.005


def test_signals_created_before_the_observer_are_observed() -> None:
    signal = Signal()

    def on_it(sender: object, **kwargs: object) -> None: ...

    signal.connect(on_it)
    seen: list[ReceiverCall] = []
    add_observer(seen.append)
    try:
        signal.send(sender=None)
    finally:
        remove_observer(seen.append)
    signal.send(sender=None)
    assert len(seen) == 1


def test_removing_the_last_observer_restores_djangos_path() -> None:
    signal = Signal()
    seen: list[ReceiverCall] = []
    add_observer(seen.append)
    assert "send" in vars(signal)
    remove_observer(seen.append)
    assert "send" not in vars(signal)
    assert signal._slow_path is False


def test_failing_observer_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad(call: ReceiverCall) -> None:
        raise RuntimeError("observer broke")

    signal = Signal(name="s.badobserver")

    def on_it(sender: object, **kwargs: object) -> str:
        return "fine"

    signal.connect(on_it)
    add_observer(bad)
    try:
        assert signal.send(sender=None) == [(on_it, "fine")]
    finally:
        remove_observer(bad)
    assert "Observer" in caplog.text and "s.badobserver" in caplog.text


def test_add_observer_rejects_non_callables_and_remove_unknown() -> None:
    with pytest.raises(TypeError, match="callable"):
        add_observer("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an observer"):
        remove_observer(print)

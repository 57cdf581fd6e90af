from __future__ import annotations

import asyncio
import functools
import gc
import logging
from typing import Any

import pytest
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import Signal, mute
from django_typed_signals._connections import SenderCache


class Model:
    pass


class Proxy(Model):
    pass


def make_recorder(calls: list[str], name: str) -> Any:
    def receiver(sender: object, **kwargs: object) -> str:
        calls.append(name)
        return name

    receiver.__qualname__ = name
    return receiver


def test_is_a_django_signal() -> None:
    assert isinstance(Signal(), DjangoSignal)


def test_connect_returns_receiver_and_works_as_decorator() -> None:
    signal = Signal()

    @signal.connect
    def on_it(sender: object, **kwargs: object) -> str:
        return "done"

    assert signal.send(sender=None) == [(on_it, "done")]


def test_priority_lower_runs_first_ties_keep_connection_order() -> None:
    signal = Signal()
    calls: list[str] = []
    keep = [make_recorder(calls, name) for name in "abcde"]
    signal.connect(keep[0], priority=10)
    signal.connect(keep[1])
    signal.connect(keep[2], priority=-5)
    signal.connect(keep[3])
    signal.connect(keep[4], priority=10)

    signal.send(sender=None)

    assert calls == ["c", "b", "d", "a", "e"]
    assert [info.priority for info in signal.receivers_info()] == [-5, 0, 0, 10, 10]


def test_priority_order_survives_disconnect_and_reconnect() -> None:
    signal = Signal()
    calls: list[str] = []
    first, second = make_recorder(calls, "first"), make_recorder(calls, "second")
    signal.connect(second, priority=2)
    signal.connect(first, priority=1)
    assert signal.disconnect(first)
    signal.connect(first, priority=3)

    signal.send(sender=None)

    assert calls == ["second", "first"]


def test_dispatch_uid_keeps_first_connection_and_its_priority() -> None:
    signal = Signal()
    calls: list[str] = []
    a, b, c = (make_recorder(calls, n) for n in "abc")
    signal.connect(a, dispatch_uid="uid", priority=5)
    signal.connect(b, dispatch_uid="uid", priority=-5)
    signal.connect(c)

    signal.send(sender=None)

    assert calls == ["c", "a"]


def test_sender_filtering_is_by_identity_by_default() -> None:
    signal = Signal()
    calls: list[str] = []
    on_model = make_recorder(calls, "model")
    signal.connect(on_model, sender=Model)

    signal.send(sender=Proxy)
    signal.send(sender=Model)

    assert calls == ["model"]


def test_match_subclasses_receives_subclass_senders_in_priority_order() -> None:
    signal = Signal()
    calls: list[str] = []
    on_model = make_recorder(calls, "model")
    on_any = make_recorder(calls, "any")
    on_proxy = make_recorder(calls, "proxy")
    signal.connect(on_model, sender=Model, match_subclasses=True, priority=2)
    signal.connect(on_any, priority=3)
    signal.connect(on_proxy, sender=Proxy, priority=1)

    signal.send(sender=Proxy)
    assert calls == ["proxy", "model", "any"]
    calls.clear()
    signal.send(sender=Model)
    assert calls == ["model", "any"]
    calls.clear()
    signal.send(sender=object)
    assert calls == ["any"]


def test_match_subclasses_needs_a_class_sender() -> None:
    signal = Signal(name="shop.things")
    with pytest.raises(TypeError, match=r"shop\.things: match_subclasses=True"):
        signal.connect(make_recorder([], "x"), sender=object(), match_subclasses=True)


@pytest.mark.parametrize("use_caching", [False, True])
def test_use_caching_works_with_none_and_unhashable_weakref_senders(
    use_caching: bool,
) -> None:
    signal = Signal(use_caching=use_caching)
    calls: list[str] = []
    on_it = make_recorder(calls, "it")
    signal.connect(on_it)

    signal.send(sender=None)
    signal.send(sender="a string")
    signal.send(sender=None)
    signal.send(sender=Model)

    assert calls == ["it"] * 4


def test_caching_with_none_sender_sees_new_receivers() -> None:
    signal = Signal(use_caching=True)
    calls: list[str] = []
    assert signal.send(sender=None) == []
    on_it = make_recorder(calls, "it")
    signal.connect(on_it)
    signal.send(sender=None)
    assert calls == ["it"]


def test_weak_receivers_are_collected_with_their_metadata() -> None:
    signal = Signal()
    for priority in range(100):
        signal.connect(make_recorder([], f"r{priority}"), priority=priority)
    gc.collect()

    assert signal.send(sender=None) == []
    assert signal.receivers == []
    assert signal._connections == {}
    assert signal.receivers_info() == []


def test_strong_receivers_stay() -> None:
    signal = Signal()
    calls: list[str] = []
    signal.connect(make_recorder(calls, "strong"), weak=False)
    gc.collect()
    signal.send(sender=None)
    assert calls == ["strong"]
    assert signal.receivers_info()[0].weak is False


def test_send_stops_at_first_error_and_raises_it() -> None:
    signal = Signal()
    calls: list[str] = []

    def broken(sender: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    after = make_recorder(calls, "after")
    signal.connect(broken, priority=1)
    signal.connect(after, priority=2)

    with pytest.raises(RuntimeError, match="boom"):
        signal.send(sender=None)
    assert calls == []


def test_send_robust_returns_errors_in_place_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal()
    calls: list[str] = []

    def broken(sender: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    after = make_recorder(calls, "after")
    signal.connect(broken)
    signal.connect(after)

    with caplog.at_level(logging.ERROR, logger="django.dispatch"):
        responses = signal.send_robust(sender=None)

    assert [r for r, _ in responses] == [broken, after]
    assert isinstance(responses[0][1], RuntimeError)
    assert responses[1][1] == "after"
    assert "broken" in caplog.text and "boom" in caplog.text


def test_on_error_sees_signal_receiver_and_exception_then_send_raises() -> None:
    seen: list[tuple[object, object, Exception]] = []
    signal = Signal(on_error=lambda s, r, e: seen.append((s, r, e)))

    def broken(sender: object, **kwargs: object) -> None:
        raise KeyError("k")

    signal.connect(broken)

    with pytest.raises(KeyError):
        signal.send(sender=None)
    assert len(seen) == 1
    assert seen[0][0] is signal and seen[0][1] is broken
    assert isinstance(seen[0][2], KeyError)


def test_on_error_under_send_robust_is_called_once_and_responses_unwrapped() -> None:
    seen: list[object] = []
    signal = Signal(on_error=lambda s, r, e: seen.append(r))
    calls: list[str] = []

    def broken(sender: object, **kwargs: object) -> None:
        raise ValueError("v")

    ok = make_recorder(calls, "ok")
    signal.connect(broken)
    signal.connect(ok)

    responses = signal.send_robust(sender=None)

    assert seen == [broken]
    assert [r for r, _ in responses] == [broken, ok]


def test_failing_error_handler_does_not_hide_the_receiver_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_handler(s: object, r: object, e: Exception) -> None:
        raise RuntimeError("handler broke")

    signal = Signal(name="s.handler", on_error=bad_handler)

    def broken(sender: object, **kwargs: object) -> None:
        raise ValueError("original")

    signal.connect(broken)
    with pytest.raises(ValueError, match="original"):
        signal.send(sender=None)
    assert "Error handler of signal s.handler failed" in caplog.text


def test_async_receivers_run_concurrently_under_asend() -> None:
    signal = Signal()
    started: list[str] = []
    both_started = asyncio.Event()

    async def first(sender: object, **kwargs: object) -> str:
        started.append("first")
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 2)
        return "first"

    async def second(sender: object, **kwargs: object) -> str:
        started.append("second")
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 2)
        return "second"

    signal.connect(first)
    signal.connect(second)

    responses = asyncio.run(signal.asend(sender=None))

    assert sorted(str(r) for _, r in responses) == ["first", "second"]


def test_async_receivers_are_called_by_sync_send() -> None:
    signal = Signal()

    async def on_it(sender: object, **kwargs: object) -> str:
        await asyncio.sleep(0)
        return "async"

    signal.connect(on_it)
    assert signal.send(sender=None) == [(on_it, "async")]


def test_timeout_fails_a_slow_async_receiver_with_a_clear_error() -> None:
    signal = Signal(name="s.slow")

    async def slow(sender: object, **kwargs: object) -> None:
        await asyncio.sleep(5)

    async def fast(sender: object, **kwargs: object) -> str:
        return "fast"

    signal.connect(slow, timeout=0.05)
    signal.connect(fast)

    responses = asyncio.run(signal.asend_robust(sender=None))

    by_receiver = dict(responses)
    assert by_receiver[fast] == "fast"
    error = by_receiver[slow]
    assert isinstance(error, TimeoutError)
    assert "s.slow" in str(error) and "slow" in str(error) and "0.05s" in str(error)


def test_timeout_is_rejected_for_sync_receivers() -> None:
    signal = Signal(name="s.t")
    with pytest.raises(ValueError, match="timeout= applies to async receivers"):
        signal.connect(make_recorder([], "sync"), timeout=1)


@pytest.mark.parametrize("bad", [0, -1, "1", True])
def test_bad_timeout_values_are_rejected(bad: object) -> None:
    async def on_it(sender: object, **kwargs: object) -> None: ...

    with pytest.raises((TypeError, ValueError), match="timeout"):
        Signal().connect(on_it, timeout=bad)  # type: ignore[arg-type]


def test_non_callable_receiver_is_a_type_error_naming_signal_and_value() -> None:
    signal = Signal(name="shop.order_paid")
    with pytest.raises(
        TypeError, match=r"must be callable\. shop\.order_paid: got str: 'nope'"
    ):
        signal.connect("nope")  # type: ignore[type-var]


def test_receiver_without_kwargs_is_rejected_even_without_debug() -> None:
    signal = Signal(name="shop.order_paid")

    def no_kwargs(sender: object) -> None: ...

    with pytest.raises(
        ValueError, match=r"\(\*\*kwargs\)\. shop\.order_paid: receiver .*no_kwargs"
    ):
        signal.connect(no_kwargs)
    assert signal.receivers == []


def test_priority_must_be_an_int() -> None:
    with pytest.raises(TypeError, match="priority must be an int"):
        Signal().connect(make_recorder([], "x"), priority="high")  # type: ignore[arg-type]


def test_default_name_is_module_and_variable() -> None:
    assert named_at_module_level.name == f"{__name__}.named_at_module_level"
    assert repr(named_at_module_level) == (f"<Signal {__name__}.named_at_module_level>")


named_at_module_level = Signal()


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        Signal(name=3)  # type: ignore[arg-type]


def test_receivers_info_describes_each_receiver() -> None:
    signal = Signal(name="s.info", groups=["info-group"])

    def plain(sender: object, **kwargs: object) -> None: ...

    async def coro(sender: object, **kwargs: object) -> None: ...

    class Handler:
        def __call__(self, sender: object, **kwargs: object) -> None: ...

        def method(self, sender: object, **kwargs: object) -> None: ...

    handler = Handler()
    partial = functools.partial(plain, extra=1)
    signal.connect(plain, sender=Model, priority=1, dispatch_uid="plain-uid")
    signal.connect(coro)
    signal.connect(handler, weak=False)
    signal.connect(handler.method)
    signal.connect(partial, weak=False)
    signal.connect(lambda sender, **kwargs: None, weak=False)

    infos = signal.receivers_info()

    assert [i.path.rsplit(".", 1)[-1] for i in infos] == [
        "coro",
        "Handler()",
        "method",
        "plain)",
        "<lambda>",
        "plain",
    ]
    last = infos[-1]
    assert last.signal_name == "s.info"
    assert last.sender is Model and last.priority == 1
    assert last.dispatch_uid == "plain-uid"
    assert last.groups == frozenset({"info-group"})
    assert last.file == __file__ and last.line is not None
    assert last.location == f"{__file__}:{last.line}"
    assert infos[0].is_async and not infos[1].is_async
    assert infos[1].weak is False and infos[2].weak is True
    assert infos[3].path.startswith("partial(")


def test_muted_signal_sends_nothing_and_has_no_listeners() -> None:
    signal = Signal(groups=["muting-test"])
    calls: list[str] = []
    on_it = make_recorder(calls, "it")
    signal.connect(on_it)

    with mute(signal):
        assert signal.send(sender=None) == []
        assert signal.send_robust(sender=None) == []
        assert asyncio.run(signal.asend(sender=None)) == []
        assert signal.has_listeners() is False
    with mute("muting-test"):
        assert signal.send(sender=None) == []

    assert signal.send(sender=None) == [(on_it, "it")]
    assert calls == ["it"]


def test_metadata_survives_a_temporary_swap_of_the_receivers_list() -> None:
    # What factory_boy's mute_signals() does: empty the list, then restore it.
    signal = Signal()
    calls: list[str] = []
    late, early = make_recorder(calls, "late"), make_recorder(calls, "early")
    signal.connect(late, priority=5)
    signal.connect(early, priority=-5)
    saved, signal.receivers = signal.receivers, []
    other = make_recorder(calls, "other")
    signal.connect(other)
    signal.disconnect(other)
    signal.receivers = saved

    signal.send(sender=None)

    assert calls == ["early", "late"]
    assert [i.priority for i in signal.receivers_info()] == [-5, 5]


def test_disconnect_forgets_only_that_receiver() -> None:
    signal = Signal()
    calls: list[str] = []
    a, b = make_recorder(calls, "a"), make_recorder(calls, "b")
    signal.connect(a, sender=Model, priority=1)
    signal.connect(a, sender=Proxy, priority=2)
    signal.connect(b, priority=3)
    assert signal.disconnect(a, sender=Model)
    assert not signal.disconnect(a, sender=Model)
    assert [(i.sender, i.priority) for i in signal.receivers_info()] == [
        (Proxy, 2),
        (None, 3),
    ]


def test_rejected_connections_list_dispatch_uid_collisions() -> None:
    signal = Signal()
    first, second = make_recorder([], "first"), make_recorder([], "second")
    signal.connect(first, dispatch_uid="uid")
    signal.connect(first, dispatch_uid="uid")  # the same receiver again: fine
    assert signal.rejected_connections() == []
    signal.connect(second, dispatch_uid="uid")

    [rejected] = signal.rejected_connections()
    assert rejected.dispatch_uid == "uid"
    assert rejected.receiver_path.endswith(".second")
    assert rejected.kept_receiver_path.endswith(".first")


def test_taps_hear_muted_sends_and_come_first() -> None:
    signal = Signal(groups=["tapped"])
    calls: list[str] = []
    receiver_, tap = make_recorder(calls, "receiver"), make_recorder(calls, "tap")
    signal.connect(receiver_, priority=-100)
    signal._add_tap(tap)

    assert signal.send(sender=None) == [(receiver_, "receiver")]
    with mute("tapped"):
        assert signal.send(sender=None) == []

    assert calls == ["tap", "receiver", "tap"]
    signal._remove_tap(tap)
    signal.send(sender=None)
    assert calls == ["tap", "receiver", "tap", "receiver"]


@pytest.mark.parametrize("method", ["send", "send_robust", "asend", "asend_robust"])
@pytest.mark.parametrize("observed", [False, True], ids=["plain", "observed"])
def test_taps_are_invisible_to_the_code_that_sends(method: str, observed: bool) -> None:
    signal = Signal(groups=["invisible-taps"], on_error=print if observed else None)
    calls: list[str] = []
    receiver_, tap = make_recorder(calls, "receiver"), make_recorder(calls, "tap")
    signal.connect(receiver_)

    def send() -> object:
        result = getattr(signal, method)(sender=None)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result

    untapped = send()
    signal._add_tap(tap)
    assert send() == untapped == [(receiver_, "receiver")]
    assert [info.receiver for info in signal.receivers_info()] == [receiver_]
    with mute("invisible-taps"):
        assert send() == []
    signal._remove_tap(tap)
    assert send() == untapped
    assert calls == ["receiver", "tap", "receiver", "tap", "receiver"]
    if not observed:  # the send methods are the class's again
        assert method not in vars(signal)


def test_sender_cache_for_senders_without_weak_references_stays_bounded() -> None:
    signal = Signal(use_caching=True)
    calls: list[str] = []
    signal.connect(make_recorder(calls, "it"), weak=False)
    limit = SenderCache.strong_limit
    for n in range(limit * 3):
        signal.send(sender=f"tenant-{n}")
    assert len(signal.sender_receivers_cache) <= limit
    assert len(calls) == limit * 3
    signal.send(sender="tenant-0")  # evicted long ago: looked up again, still sent
    assert len(calls) == limit * 3 + 1


def test_new_receiver_reusing_a_collected_receivers_id_keeps_its_options() -> None:
    signal = Signal()
    for priority in range(1, 60):

        def on_it(sender: object, **kwargs: object) -> None: ...

        signal.connect(on_it, priority=priority)
        [info] = signal.receivers_info()
        assert info.priority == priority
        del on_it, info
        gc.collect()  # the next function often gets the same id()

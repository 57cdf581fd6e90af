from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import Signal, TypedSignal, receiver
from django_typed_signals._receivers import describe_callable


@dataclass(frozen=True)
class Ping:
    n: int


def test_decorator_connects_to_a_list_of_signals_and_returns_the_function() -> None:
    first, second = TypedSignal(Ping), TypedSignal(Ping)
    seen: list[int] = []

    def on_ping(sender: object, *, payload: Ping, **kwargs: object) -> None:
        seen.append(payload.n)

    assert receiver([first, second], priority=3)(on_ping) is on_ping
    first.send(None, Ping(1))
    second.send(None, Ping(2))
    assert seen == [1, 2]
    assert first.receivers_info()[0].priority == 3


def test_decorator_accepts_plain_django_signals() -> None:
    signal = DjangoSignal()
    seen: list[object] = []

    @receiver(signal, sender=int)
    def on_it(sender: object, **kwargs: object) -> None:
        seen.append(sender)

    signal.send(sender=int)
    signal.send(sender=str)
    assert seen == [int]


def test_priority_on_plain_django_signal_is_an_error() -> None:
    with pytest.raises(
        TypeError, match=r"priority=, on_commit=, when= and match_subclasses= need"
    ):
        receiver(DjangoSignal(), priority=1)


def test_decorator_rejects_non_signals() -> None:
    accepted = r"takes a signal, a lifecycle payload class \(PostSave, ...\) or a list"
    with pytest.raises(TypeError, match=rf"{accepted} of them, got str: 'post_save'"):
        receiver("post_save")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"{accepted} of them, got int: 3"):
        receiver([Signal(), 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=rf"{accepted} of them, got the class Ping"):
        receiver([Signal(), Ping])  # type: ignore[list-item]


def test_dispatch_uid_and_weak_are_passed_on() -> None:
    signal = Signal()

    def make() -> Callable[..., None]:
        def on_it(sender: object, **kwargs: object) -> None: ...

        return on_it

    receiver(signal, dispatch_uid="uid", weak=False)(make())
    receiver(signal, dispatch_uid="uid", weak=False)(make())
    [info] = signal.receivers_info()
    assert info.dispatch_uid == "uid" and info.weak is False


def test_describe_callable_never_raises_on_odd_objects() -> None:
    class NoCode:
        __call__ = print

    for odd in [print, functools.partial(print, 1), NoCode(), str.upper, object()]:
        path, _file, _line = describe_callable(odd)
        assert isinstance(path, str) and path

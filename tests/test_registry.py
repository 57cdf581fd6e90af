"""Extension points of the core: executors (``run=``) and connect hooks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction

from django_typed_signals import (
    ReceiverCall,
    Signal,
    TypedSignal,
    add_observer,
    receiver,
    remove_observer,
)
from django_typed_signals._registry import (
    ConnectRequest,
    PendingCall,
    known_executors,
    register_connect_hook,
    register_executor,
    remove_connect_hook,
)


@dataclass(frozen=True)
class Paid:
    amount: int


class Deferred:
    """An executor that keeps calls until told to run them, as a queue would."""

    options = frozenset({"queue"})
    passes = frozenset({"ticket"})

    def __init__(self) -> None:
        self.calls: list[PendingCall] = []
        self.checked: list[tuple[str, bool, Mapping[str, object]]] = []

    def check(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        is_async: bool,
        run_options: Mapping[str, object],
    ) -> None:
        if run_options.get("queue") == "refused":
            raise ValueError(f"{signal.name}: no such queue")
        self.checked.append((signal.name, is_async, dict(run_options)))

    def submit(self, call: PendingCall) -> object:
        self.calls.append(call)
        return "queued"


DEFERRED = Deferred()
register_executor("test-deferred", DEFERRED)


def test_core_executors_are_registered() -> None:
    assert {"inline", "on_commit", "test-deferred"} <= set(known_executors())


def test_unknown_run_value_names_the_receiver_and_lists_the_known_values() -> None:
    signal = TypedSignal(Paid, name="shop.paid")

    def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None: ...

    with pytest.raises(ValueError) as error:
        signal.connect(on_paid, run="rq")
    message = str(error.value)
    assert message.startswith("shop.paid: receiver ")
    assert "on_paid has run='rq', which no executor handles" in message
    assert "'inline', 'on_commit'" in message
    assert signal.receivers == []


def test_an_executor_gets_the_call_and_its_options_and_runs_it_later() -> None:
    signal = TypedSignal(Paid, name="shop.paid")
    seen: list[int] = []
    calls: list[ReceiverCall] = []

    def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None:
        seen.append(payload.amount)

    signal.connect(on_paid, run="test-deferred", queue="email")

    assert DEFERRED.checked[-1] == ("shop.paid", False, {"queue": "email"})
    before = len(DEFERRED.calls)
    assert signal.send(None, Paid(5)) == [(on_paid, "queued")]
    assert seen == []  # not run during the send
    [call] = DEFERRED.calls[before:]
    assert (call.signal, call.receiver, call.sender) == (signal, on_paid, None)
    assert call.named == {"payload": Paid(5)}
    assert call.run_options == {"queue": "email"}
    add_observer(calls.append)
    try:
        call()  # the executor runs it: observed like any call
    finally:
        remove_observer(calls.append)
    assert seen == [5]
    assert [c.receiver for c in calls] == [on_paid]


def test_executor_options_are_refused_elsewhere_and_checked_by_their_executor() -> None:
    signal = TypedSignal(Paid)

    def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None: ...

    with pytest.raises(
        ValueError,
        match=r"queue= is an option of (run='celery' or )?run='test-deferred' "
        r"receivers; .*on_paid has run='inline'",
    ):
        signal.connect(on_paid, queue="email")
    with pytest.raises(ValueError, match="no such queue"):
        signal.connect(on_paid, run="test-deferred", queue="refused")
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'queu'"):
        signal.connect(on_paid, run="test-deferred", queu="email")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    with pytest.raises(ValueError, match=r"on_commit=True means run='on_commit'"):
        signal.connect(on_paid, run="test-deferred", on_commit=True)
    assert signal.receivers == []


@pytest.mark.django_db(transaction=True)
def test_run_on_commit_is_on_commit_true() -> None:
    signal = TypedSignal(Paid)
    seen: list[int] = []

    @receiver(signal, run="on_commit")
    def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None:
        seen.append(payload.amount)

    with transaction.atomic():
        signal.send(None, Paid(1))
        assert seen == []
    assert seen == [1]
    [info] = signal.receivers_info()
    assert info.on_commit


@contextlib.contextmanager
def hook(function: Callable[[ConnectRequest], None]) -> Iterator[None]:
    register_connect_hook(function)
    try:
        yield
    finally:
        remove_connect_hook(function)


def test_a_connect_hook_sees_every_connection_and_may_refuse_it() -> None:
    seen: list[tuple[str, object]] = []
    signal = Signal(name="shop.hooked")

    def on_it(sender: object, **kwargs: object) -> None: ...

    def refuse_strings(request: ConnectRequest) -> None:
        seen.append((request.signal.name, request.sender))
        if isinstance(request.sender, str):
            raise TypeError(f"{request.signal.name}: no string senders")

    with hook(refuse_strings):
        signal.connect(on_it, sender=int)
        with pytest.raises(TypeError, match="no string senders"):
            signal.connect(on_it, sender="text")
    signal.connect(on_it, sender=float)  # removed: no longer asked
    assert seen == [("shop.hooked", int), ("shop.hooked", "text")]
    assert [info.sender for info in signal.receivers_info()] == [int, float]


def test_a_connect_hook_takes_its_own_options_and_guards_each_call() -> None:
    events: list[str] = []
    signal = Signal()

    @contextlib.contextmanager
    def audited() -> Iterator[None]:
        events.append("enter")
        yield
        events.append("exit")

    def audit_option(request: ConnectRequest) -> None:
        if request.options.pop("audited", False):
            request.guards.append(audited)
            request.on_connected.append(lambda: events.append("connected"))

    def on_it(sender: object, **kwargs: object) -> str:
        events.append("call")
        return "done"

    with hook(audit_option):
        signal.connect(on_it, audited=True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    assert events == ["connected"]
    assert signal.send(None) == [(on_it, "done")]
    assert events == ["connected", "enter", "call", "exit"]
    with pytest.raises(TypeError, match="unexpected keyword argument 'audited'"):
        signal.connect(on_it, audited=True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def test_a_typed_receiver_may_require_what_its_executor_passes() -> None:
    signal = TypedSignal(Paid, name="shop.ticketed")

    def on_paid(
        sender: object, *, payload: Paid, ticket: str, **kwargs: object
    ) -> None: ...

    with pytest.raises(
        ValueError, match=r"requires argument 'ticket', which the signal"
    ):
        signal.connect(on_paid)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    signal.connect(on_paid, run="test-deferred")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert [info.run for info in signal.receivers_info()] == ["test-deferred"]

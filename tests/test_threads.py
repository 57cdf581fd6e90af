"""Connecting, disconnecting and sending from many threads at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from django_typed_signals import Signal

THREADS = 8
ROUNDS = 300


def test_concurrent_connect_disconnect_send() -> None:
    signal = Signal(use_caching=False)
    stable_calls: Counter[int] = Counter()
    lock = threading.Lock()

    def make_stable(n: int) -> Callable[..., None]:
        def stable(sender: object, **kwargs: object) -> None:
            with lock:
                stable_calls[n] += 1

        return stable

    # Connected before any send and never disconnected: called once per send.
    stable_receivers = [make_stable(n) for n in range(5)]
    for priority, stable in enumerate(stable_receivers):
        signal.connect(stable, priority=priority)

    errors: list[BaseException] = []
    sends = Counter[int]()
    start = threading.Barrier(THREADS)

    def churn(worker: int) -> None:
        try:
            start.wait()
            for round_ in range(ROUNDS):

                def transient(sender: object, **kwargs: object) -> None:
                    pass

                signal.connect(transient, priority=(round_ % 7) - 3)
                responses = signal.send(sender=worker)
                with lock:
                    sends[worker] += 1
                names = [r for r, _ in responses]
                assert all(s in names for s in stable_receivers)
                assert signal.disconnect(transient)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    total_sends = sum(sends.values())
    assert total_sends == THREADS * ROUNDS
    assert stable_calls == dict.fromkeys(range(5), total_sends)
    assert [r for r, _ in signal.send(sender=None)] == stable_receivers
    assert len(signal.receivers) == len(stable_receivers)
    assert len(signal._connections) == len(stable_receivers)


def test_priority_order_holds_under_concurrent_connects() -> None:
    signal = Signal()
    keep: list[object] = []
    start = threading.Barrier(THREADS)

    def connect_many(worker: int) -> None:
        start.wait()
        for n in range(50):

            def on_it(sender: object, **kwargs: object) -> None:
                pass

            keep.append(on_it)
            signal.connect(on_it, priority=(worker * 50 + n) % 11)

    threads = [threading.Thread(target=connect_many, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    priorities = [info.priority for info in signal.receivers_info()]
    assert len(priorities) == THREADS * 50
    assert priorities == sorted(priorities)

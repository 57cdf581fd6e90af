from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db.models.signals import post_save
from django.dispatch import Signal as DjangoSignal
from django.test import TestCase

from django_typed_signals import Signal, TypedSignal, mute
from django_typed_signals.testing import Captured, capture
from tests.testapp.models import Note


@dataclass(frozen=True)
class Paid:
    order: int
    amount: Decimal


paid = TypedSignal(Paid, name="capture.paid", groups=["capture-billing"])
untyped = Signal(name="capture.untyped", groups=["capture-billing"])


class Shop:
    pass


def test_capture_records_payloads_and_senders_in_order() -> None:
    with capture(paid) as sent:
        paid.send(Shop, Paid(1, Decimal("10")))
        paid.send(None, Paid(2, Decimal("20")))

    assert sent.payloads == [Paid(1, Decimal("10")), Paid(2, Decimal("20"))]
    assert sent.senders == [Shop, None]
    assert sent.calls == [
        (Shop, Paid(1, Decimal("10"))),
        (None, Paid(2, Decimal("20"))),
    ]
    assert len(sent) == 2


def test_capture_records_nothing_before_or_after_its_block() -> None:
    recorder = capture(paid)
    paid.send(None, Paid(1, Decimal("1")))
    with recorder as sent:
        paid.send(None, Paid(2, Decimal("2")))
    paid.send(None, Paid(3, Decimal("3")))

    assert sent is recorder
    assert [p.order for p in sent.payloads] == [2]
    assert paid.receivers_info() == []


def test_capture_hears_muted_sends_while_receivers_stay_silent() -> None:
    heard: list[int] = []

    def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None:
        heard.append(payload.order)

    paid.connect(on_paid)
    with capture(paid) as sent, mute("capture-billing"):
        paid.send(None, Paid(1, Decimal("1")))
        paid.send_robust(None, Paid(2, Decimal("2")))
    paid.disconnect(on_paid)

    assert [p.order for p in sent.payloads] == [1, 2]
    assert heard == []


def test_capture_records_a_send_whose_receiver_raises() -> None:
    def broken(sender: object, *, payload: Paid, **kwargs: object) -> None:
        raise RuntimeError("receiver broke")

    paid.connect(broken, priority=-1000)
    with capture(paid) as sent, pytest.raises(RuntimeError, match="receiver broke"):
        paid.send(None, Paid(1, Decimal("1")))
    paid.disconnect(broken)

    assert len(sent) == 1


def test_one_returns_the_only_payload() -> None:
    with capture(paid) as sent:
        paid.send(Shop, Paid(7, Decimal("9.99")))

    assert sent.one().amount == Decimal("9.99")


def test_one_fails_when_nothing_was_sent() -> None:
    with capture(paid) as sent:
        pass

    with pytest.raises(AssertionError) as info:
        sent.one()
    assert str(info.value) == (
        "expected capture.paid to be sent exactly once; it was never sent"
    )


def test_one_fails_showing_each_send() -> None:
    with capture(paid) as sent:
        paid.send(Shop, Paid(1, Decimal("10")))
        paid.send(None, Paid(2, Decimal("20")))

    with pytest.raises(AssertionError) as info:
        sent.one()
    assert str(info.value) == (
        "expected capture.paid to be sent exactly once; it was sent 2 times:\n"
        f"  1. sender={Shop!r}, payload=Paid(order=1, amount=Decimal('10'))\n"
        "  2. sender=None, payload=Paid(order=2, amount=Decimal('20'))"
    )


def test_untyped_signal_payload_is_its_keyword_arguments() -> None:
    plain = DjangoSignal()
    with capture(untyped) as ours, capture(plain) as theirs:
        untyped.send(Shop, order=1, amount=Decimal("10"))
        plain.send(Shop, order=2)

    assert ours.calls == [(Shop, {"order": 1, "amount": Decimal("10")})]
    assert theirs.calls == [(Shop, {"order": 2})]
    assert plain.receivers == []


@pytest.mark.django_db
def test_capture_of_post_save_sees_model_saves() -> None:
    with capture(post_save) as sent:
        note = Note.objects.create(text="hello")

    call = sent.one()
    assert call["instance"] == note
    assert call["created"] is True
    assert sent.senders == [Note]


def test_capture_records_sends_from_other_threads() -> None:
    with capture(paid) as sent:
        thread = threading.Thread(target=paid.send, args=(None, Paid(1, Decimal(1))))
        thread.start()
        thread.join()

    assert len(sent) == 1


def test_capture_sees_sends_that_run_async_receivers() -> None:
    heard: list[int] = []

    async def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None:
        await asyncio.sleep(0)
        heard.append(payload.order)

    paid.connect(on_paid)
    with capture(paid) as sent:
        paid.send(None, Paid(1, Decimal("1")))
    paid.disconnect(on_paid)

    assert heard == [1]
    assert [p.order for p in sent.payloads] == [1]


def test_capture_sees_asend_muted_or_not() -> None:
    heard: list[int] = []

    async def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None:
        heard.append(payload.order)

    async def send_twice() -> None:
        await paid.asend(None, Paid(1, Decimal("1")))
        with mute(paid):
            await paid.asend_robust(None, Paid(2, Decimal("2")))

    paid.connect(on_paid)
    with capture(paid) as sent:
        asyncio.run(send_twice())
    paid.disconnect(on_paid)

    assert heard == [1]
    assert [p.order for p in sent.payloads] == [1, 2]


def test_nested_captures_each_record() -> None:
    with capture(paid) as outer:
        paid.send(None, Paid(1, Decimal("1")))
        with capture(paid) as inner:
            paid.send(None, Paid(2, Decimal("2")))

    assert len(outer) == 2
    assert len(inner) == 1


def test_a_capture_records_one_block_at_a_time() -> None:
    recorder = capture(paid)
    with recorder, pytest.raises(RuntimeError, match="already recording"):
        recorder.__enter__()


def test_capture_takes_signals_only() -> None:
    with pytest.raises(TypeError, match="capture\\(\\) takes a signal, got 'paid'"):
        capture("paid")  # type: ignore[call-overload]


def test_repr_names_the_signal_and_counts() -> None:
    with capture(paid) as sent:
        paid.send(None, Paid(1, Decimal("1")))
        paid.send(None, Paid(2, Decimal("2")))

    assert repr(sent) == "<Captured capture.paid: sent 2 times>"
    assert repr(capture(post_save)) == (
        "<Captured django.db.models.signals.post_save: never sent>"
    )
    assert isinstance(sent, Captured)


class SendOnCommitTests(TestCase):
    def test_capture_sees_a_muted_send_on_commit_when_callbacks_run(self) -> None:
        heard: list[int] = []

        def on_paid(sender: object, *, payload: Paid, **kwargs: object) -> None:
            heard.append(payload.order)

        paid.connect(on_paid)
        try:
            with (
                capture(paid) as sent,
                capture(untyped) as untyped_sent,
                mute("capture-billing"),
                self.captureOnCommitCallbacks(execute=True),
            ):
                paid.send_on_commit(Shop, Paid(3, Decimal("3")))
                untyped.send_on_commit(Shop, order=3)
        finally:
            paid.disconnect(on_paid)

        self.assertEqual(sent.payloads, [Paid(3, Decimal("3"))])
        self.assertEqual(untyped_sent.payloads, [{"order": 3}])
        self.assertEqual(heard, [])

    def test_capture_sees_send_on_commit_when_callbacks_run(self) -> None:
        with capture(paid) as sent:
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                paid.send_on_commit(Shop, Paid(1, Decimal("10")))
                self.assertEqual(len(sent), 0)
            self.assertEqual(len(callbacks), 1)

        self.assertEqual(sent.calls, [(Shop, Paid(1, Decimal("10")))])

    def test_on_commit_receivers_run_after_the_captured_send(self) -> None:
        heard: list[int] = []

        def later(sender: object, *, payload: Paid, **kwargs: object) -> None:
            heard.append(payload.order)

        paid.connect(later, on_commit=True)
        try:
            with capture(paid) as sent:
                with self.captureOnCommitCallbacks(execute=True):
                    paid.send(None, Paid(2, Decimal("2")))
                    self.assertEqual((len(sent), heard), (1, []))
                self.assertEqual(heard, [2])
        finally:
            paid.disconnect(later)

"""Type-checked by mypy and pyright, never run: the testing helpers' types.

Each line that must be rejected carries both checkers' ignore comments with
the expected error code; unused ignores are errors in both checkers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models.signals import post_save
from typing_extensions import assert_type

from django_typed_signals import Signal, TypedSignal
from django_typed_signals.testing import (
    Captured,
    CaptureSignal,
    MuteSignals,
    MuteSignalsMixin,
    assert_not_sent,
    assert_sent,
    capture,
)


@dataclass(frozen=True)
class OrderPaid:
    order_id: int
    amount: Decimal


order_paid = TypedSignal(OrderPaid, groups=["billing"])
untyped = Signal()


def captures() -> None:
    with capture(order_paid) as sent:
        assert_type(sent, Captured[OrderPaid])
    assert_type(sent.one(), OrderPaid)
    assert_type(sent.payloads, list[OrderPaid])
    assert_type(sent.senders, list[object])
    assert_type(sent.calls, list[tuple[object, OrderPaid]])

    with capture(post_save) as saves, capture(untyped) as others:
        assert_type(saves.one(), dict[str, Any])
        assert_type(others, Captured[dict[str, Any]])

    capture("order_paid")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


def assertions() -> None:
    with assert_sent(order_paid, count=1, where=lambda p: p.amount == 10) as sent:
        assert_type(sent, Captured[OrderPaid])
    with assert_sent(order_paid, where={"amount": Decimal(10)}):
        pass
    with assert_not_sent(order_paid, where=lambda p: p.order_id == 2):
        pass
    with assert_sent(post_save, where=lambda kwargs: kwargs["created"] is True):
        pass

    assert_sent(order_paid, where=lambda p: p.amout == 10)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownLambdaType, reportUnknownMemberType]
    assert_sent(order_paid, count="1")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


def fixtures(capture_signal: CaptureSignal, muted_signals: MuteSignals) -> None:
    assert_type(capture_signal(order_paid), Captured[OrderPaid])
    assert_type(capture_signal(post_save), Captured[dict[str, Any]])
    muted_signals("billing", order_paid, post_save)
    muted_signals(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


class CheckoutTests(MuteSignalsMixin):
    muted_signal_groups = ["billing"]  # noqa: RUF012  # a list, as users write it
    muted_signals = (order_paid,)


class WrongTests(MuteSignalsMixin):
    muted_signal_groups = [3]  # type: ignore[list-item]  # noqa: RUF012  # pyright: ignore[reportAssignmentType]

"""Type-checked by mypy and pyright, never run.

Each line that must be rejected carries both checkers' ignore comments with
the expected error code. Unused ignores are errors in both checkers, so a line
that stops failing (or starts failing elsewhere) fails the typing run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.dispatch import Signal as DjangoSignal
from typing_extensions import assert_type

from django_typed_signals import Signal, TypedSignal, receiver


@dataclass(frozen=True)
class OrderPaid:
    order_id: int
    amount: Decimal


@dataclass(frozen=True)
class ExpressOrderPaid(OrderPaid):
    courier: str


@dataclass(frozen=True)
class Refund:
    order_id: int


order_paid = TypedSignal(OrderPaid, name="shop.order_paid", groups=["billing"])
assert_type(order_paid, TypedSignal[OrderPaid])
express_paid = TypedSignal(ExpressOrderPaid)


# -- receivers that must type-check ------------------------------------------


@receiver(order_paid, priority=10)
def log_payment(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
    assert_type(payload.amount, Decimal)


@receiver(order_paid)
async def log_payment_async(
    sender: object, *, payload: OrderPaid, **kwargs: object
) -> str:
    return str(payload.order_id)


@receiver(express_paid)  # a receiver of the base payload accepts subclasses
def on_any_paid(sender: object, *, payload: OrderPaid, **kwargs: object) -> None: ...


@receiver([order_paid, order_paid], dispatch_uid="both", weak=False)
def on_both(sender: type, *, payload: OrderPaid, **kwargs: object) -> int:
    return 1


@order_paid.connect
def connected_directly(
    sender: object, *, payload: OrderPaid, **kwargs: object
) -> None: ...


# -- receivers that must be rejected ------------------------------------------


def wrong_payload(sender: object, *, payload: Refund, **kwargs: object) -> None: ...


def no_kwargs(sender: object, *, payload: OrderPaid) -> None: ...


def misnamed(sender: object, *, data: OrderPaid, **kwargs: object) -> None: ...


def subclass_only(
    sender: object, *, payload: ExpressOrderPaid, **kwargs: object
) -> None: ...


receiver(order_paid)(wrong_payload)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver(order_paid)(no_kwargs)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver(order_paid)(misnamed)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver(order_paid)(subclass_only)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
order_paid.connect(wrong_payload)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
order_paid.connect(no_kwargs)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- sending -------------------------------------------------------------------

paid = OrderPaid(order_id=1, amount=Decimal("9.99"))
responses = order_paid.send(OrderPaid, paid)
for _who, result in responses:
    assert_type(result, Any)  # receivers may return anything
order_paid.send(None, ExpressOrderPaid(1, Decimal(1), courier="bike"))
order_paid.send_robust(None, paid)
order_paid.send_on_commit(None, paid, using="default")


async def send_async() -> None:
    await order_paid.asend(None, paid)
    await order_paid.asend_robust(None, payload=paid)
    await order_paid.asend(None, Refund(1))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


order_paid.send(None, Refund(1))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
order_paid.send(None, paid, extra=1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
order_paid.send_on_commit(None, Refund(1))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
express_paid.send(None, paid)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- plain and untyped signals stay as Django has them -----------------------

plain = Signal(name="shop.plain")
plain.send(sender=None, anything=1)
plain.send_on_commit(None, anything=1)

django_signal = DjangoSignal()


@receiver(django_signal, sender=OrderPaid)
def untyped(sender: object, **kwargs: object) -> int:
    return 1


returned: int = untyped(None)
connected: int = plain.connect(untyped)(None)


@receiver(plain, priority=1)
def on_plain(sender: object, **kwargs: object) -> None: ...


# -- options: declared once, checked everywhere --------------------------------


def on_paid_run(sender: object, *, payload: OrderPaid, **kwargs: object) -> None: ...


receiver(order_paid, run="on_commit", priority=2)(on_paid_run)
order_paid.connect(on_paid_run, run="inline", timeout=None, match_subclasses=False)
plain.connect(untyped, priority=-1, on_commit=True)
receiver(order_paid, priorty=1)(on_paid_run)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
receiver(order_paid, priority="high")(on_paid_run)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
receiver(plain, weak="no")(untyped)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
order_paid.connect(on_paid_run, run=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
plain.connect(untyped, priorty=1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

"""Module-level signals and receivers for the bridge tests: a worker imports
receivers by their dotted path, so they cannot be local functions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django_typed_signals import Signal, TypedSignal, receiver
from django_typed_signals.bridge import DeliveryInfo
from django_typed_signals.lifecycle import PostDelete, PostSave, changed
from tests.testapp.models import Note, Order, Tag


@dataclass(frozen=True)
class Paid:
    order: Order
    amount: Decimal


paid = TypedSignal(Paid, name="tests.bridge.paid")
shipped = Signal(name="tests.bridge.shipped")
failing = TypedSignal(Paid, name="tests.bridge.failing")
effects = TypedSignal(Paid, name="tests.bridge.effects")

calls: list[tuple[str, Any]] = []


@receiver(paid, run="celery")
def on_paid(
    sender: object, *, payload: Paid, delivery: DeliveryInfo, **kwargs: object
) -> None:
    calls.append(("paid", (payload.order.pk, payload.amount, delivery)))


@receiver(shipped, run="celery", queue="email")
def on_shipped(
    sender: object, *, order_id: int, carrier: str, **kwargs: object
) -> None:
    calls.append(("shipped", (sender, order_id, carrier)))


@receiver(failing, run="celery", max_attempts=2)
def on_failing(sender: object, *, payload: Paid, **kwargs: object) -> None:
    calls.append(("failing", payload.order.pk))
    raise RuntimeError(f"cannot handle order {payload.order.pk}")


@receiver(effects, run="celery", atomic=True, max_attempts=1)
def on_effects(sender: object, *, payload: Paid, **kwargs: object) -> None:
    Note.objects.create(text=f"effect of {payload.order.pk}")
    calls.append(("effects", payload.order.pk))
    if payload.amount < 0:
        raise ValueError("negative amount")


@receiver(PostSave, sender=Order, when=changed("status", to="paid"), run="celery")
def on_order_paid(
    sender: type[Order], *, payload: PostSave[Order], **kwargs: object
) -> None:
    calls.append(("order_paid", (payload.instance.pk, payload.changes["status"].old)))


flaky = TypedSignal(Paid, name="tests.bridge.flaky")
flaky_switch = {"failing": True}
"""Whether ``on_flaky`` raises: the breaker tests turn its outage on and off."""


@receiver(flaky, run="celery", max_attempts=20)
def on_flaky(
    sender: object, *, payload: Paid, delivery: DeliveryInfo, **kwargs: object
) -> None:
    calls.append(("flaky", (payload.order.pk, delivery.attempt)))
    if flaky_switch["failing"]:
        raise ConnectionError(f"the service is down for order {payload.order.pk}")


handled: list[tuple[str, str, BaseException]] = []
"""What ``audited``'s error handler was told: (signal, receiver, exception)."""


def _handle(signal: Signal, receiver: Any, exc: BaseException) -> None:
    handled.append((signal.name, receiver.__name__, exc))


audited = TypedSignal(Paid, name="tests.bridge.audited", on_error=_handle)


@receiver(audited, run="celery", max_attempts=1)
def on_audited(sender: object, *, payload: Paid, **kwargs: object) -> None:
    raise ValueError(f"audit of order {payload.order.pk} failed")


long_running = TypedSignal(Paid, name="tests.bridge.long_running")
leases_seen: list[float] = []


@receiver(long_running, run="celery", lease=300)
def on_long_running(
    sender: object, *, payload: Paid, delivery: DeliveryInfo, **kwargs: object
) -> None:
    from django.utils import timezone

    from django_typed_signals.models import Delivery

    row = Delivery.objects.get(pk=delivery.id)
    assert row.lease_until is not None
    leases_seen.append((row.lease_until - timezone.now()).total_seconds())


@receiver(PostDelete, sender=Tag, run="celery")
def on_tag_deleted(
    sender: type[Tag], *, payload: PostDelete[Tag], **kwargs: object
) -> None:
    origin = payload.origin
    calls.append(
        ("tag_deleted", (payload.instance.name, type(origin).__name__, origin))
    )

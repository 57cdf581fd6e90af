"""Signals whose ``run="celery"`` receivers run in the tests' worker processes.

Their effects are rows (``Note``), so that the test process can count them:
exactly one row per event is the bridge's promise.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_typed_signals import Signal, TypedSignal, receiver
from django_typed_signals.bridge import DeliveryInfo
from django_typed_signals.services import current_context
from tests.testapp.models import Note, Order


@dataclass(frozen=True)
class Placed:
    order: Order
    n: int


placed = TypedSignal(Placed, name="tests.worker.placed")
pinged = Signal(name="tests.worker.pinged")


@receiver(placed, run="celery", atomic=True)
def record_placed(
    sender: object, *, payload: Placed, delivery: DeliveryInfo, **kwargs: object
) -> None:
    Note.objects.create(text=f"placed {payload.n} {payload.order.pk} {delivery.key}")


@receiver(pinged, run="celery", atomic=True)
def record_ping(sender: object, *, n: int, **kwargs: object) -> None:
    Note.objects.create(text=f"ping {n}")


audited = TypedSignal(Placed, name="tests.worker.audited")


@receiver(audited, run="celery", atomic=True)
def record_audit(sender: object, *, payload: Placed, **kwargs: object) -> None:
    """Writes down the audit context the worker restored for the delivery."""
    context = current_context()
    actor = getattr(context.actor, "username", context.actor)
    tags = ",".join(sorted(context.tags))
    Note.objects.create(
        text=f"audit {payload.n} actor={actor} org={context.organization} "
        f"tags={tags} trace={context.trace_id}"
    )

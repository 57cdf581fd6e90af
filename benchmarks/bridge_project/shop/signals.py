"""Ours: a ``TypedSignal`` with one ``run="celery"`` receiver.

Found by the app's autodiscovery (``signals`` modules) in the benchmark
process, and imported by its dotted path in the worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django_typed_signals import TypedSignal, receiver

from .models import Effect, Order


@dataclass(frozen=True)
class Placed:
    order: Order
    n: int


placed = TypedSignal(Placed, name="bench.placed")


@receiver(placed, run="celery")
def record_ours(sender: object, *, payload: Placed, **kwargs: object) -> None:
    """The same effect as ``tasks.record_baseline``, once the order is in hand."""
    received_at = time.time()  # the payload's order was re-read by now
    Effect.objects.create(
        kind="ours",
        n=payload.n,
        order_id_seen=payload.order.pk,
        received_at=received_at,
    )

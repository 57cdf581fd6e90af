"""The baseline: a plain ``@shared_task`` called with ``delay_on_commit(pk, n)``."""

from __future__ import annotations

import time

from celery import shared_task

from .models import Effect, Order


@shared_task(name="bench.record_baseline", ignore_result=True)
def record_baseline(order_pk: int, n: int) -> None:
    """Load the order, as a task given a pk does, then write the effect."""
    order = Order.objects.get(pk=order_pk)
    received_at = time.time()
    Effect.objects.create(
        kind="baseline", n=n, order_id_seen=order.pk, received_at=received_at
    )

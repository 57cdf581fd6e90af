"""The Celery task that runs delivery rows: ``django_typed_signals.deliver``.

Found by the standard Django setup, the project's ``celery.py`` calling
``app.autodiscover_tasks()``. Its one argument is a delivery id; everything
else is in the row, so a message published twice, or for a row already done,
runs the receiver once. Retries live in the row too, not in Celery: the task
itself never retries and never raises for what the receiver does.
"""

from __future__ import annotations

from celery import Task, shared_task

from .bridge._delivery import Outcome, run_delivery
from .bridge._publish import DATABASE_HEADER, TASK_NAME
from .conf import get_settings

__all__ = ["deliver"]


@shared_task(bind=True, name=TASK_NAME, ignore_result=True)
def deliver(self: Task[[int], Outcome], delivery_id: int) -> Outcome:
    """Claim and run delivery ``delivery_id``; returns what became of it."""
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        raise TypeError(
            f"{TASK_NAME} takes one delivery id, an int; got {delivery_id!r}"
        )
    using = getattr(self.request, DATABASE_HEADER, None)
    return run_delivery(
        delivery_id,
        lease_s=get_settings().bridge.lease_s,
        using=using if isinstance(using, str) else None,
    )

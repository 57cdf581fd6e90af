"""Which delivery rows the relay (re)publishes, and recording that it did.

Due rows are runnable ones (waiting and available, or running under an
expired lease) that were never published, or were published more than
``REPUBLISH_AFTER_S`` ago and never claimed: the broker may have lost them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from ..models import Delivery
from ._queries import WAITING, alias_of, head, matching, moment

__all__ = ["due_for_publish", "mark_published", "mark_unpublished"]

_Status = Delivery.Status


def _due(now: datetime, republish_after_s: float) -> Q:
    unpublished = Q(published_at__isnull=True) | Q(
        published_at__lt=now - timedelta(seconds=republish_after_s)
    )
    runnable = Q(status__in=WAITING, available_at__lte=now) | Q(
        status=_Status.RUNNING, lease_until__lt=now
    )
    return runnable & unpublished


def due_for_publish(
    *,
    limit: int,
    republish_after_s: float,
    using: str | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Up to ``limit`` rows to (re)publish, oldest first.

    Due pending/retrying rows and running rows whose lease expired, never
    published or last published more than ``republish_after_s`` ago (the
    broker may have lost the message). Call it in ``transaction.atomic()``
    with ``mark_published()``: on PostgreSQL the rows stay locked (``FOR
    UPDATE SKIP LOCKED``) until the commit, so concurrent relays take
    disjoint rows.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(
            f"due_for_publish() limit must be an integer >= 1, got {limit!r}"
        )
    if not republish_after_s >= 0:
        raise ValueError(
            "due_for_publish() republish_after_s must be >= 0, "
            f"got {republish_after_s!r}"
        )
    alias = alias_of(using)
    connection = transaction.get_connection(alias)
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "due_for_publish() must run inside transaction.atomic(using="
            f"{alias!r}) together with mark_published(), so that concurrent "
            "relays do not take the same rows"
        )
    return head(
        matching(alias, _due(moment(now), republish_after_s)),
        limit,
        skip_locked=connection.features.has_select_for_update_skip_locked,
    )


def mark_published(
    ids: Sequence[int], *, using: str | None = None, now: datetime | None = None
) -> int:
    """Record that rows ``ids`` were handed to the broker; returns the count."""
    if not ids:
        return 0
    return matching(alias_of(using), pk__in=list(ids)).update(published_at=moment(now))


def mark_unpublished(ids: Sequence[int], *, using: str | None = None) -> int:
    """Leave rows ``ids`` to the relay's next pass: the broker did not take them."""
    if not ids:
        return 0
    return matching(alias_of(using), pk__in=list(ids)).update(published_at=None)

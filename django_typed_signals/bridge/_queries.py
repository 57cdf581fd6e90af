"""Query helpers shared by the modules that read and write the bridge's rows
(deliveries; ``moment()`` for the breaker's too)."""

from __future__ import annotations

from datetime import datetime

from django.db import router
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import Delivery

__all__ = ["WAITING", "alias_of", "head", "matching", "moment"]

WAITING = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
"""The statuses of rows waiting to run (once ``available_at`` has come)."""


def matching(alias: str, *conditions: Q, **lookups: object) -> QuerySet[Delivery]:
    """The rows on ``alias`` matching the conditions, as one filter call.

    The stubs type QuerySet's chained methods with ``typing.Self``, which
    pyright does not know when it checks for Python 3.10: the few chained
    calls go through here and ``head()`` instead.
    """
    return Delivery.objects.using(alias).filter(*conditions, **lookups)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def head(
    rows: QuerySet[Delivery], limit: int, *, skip_locked: bool = False
) -> list[Delivery]:
    """The first ``limit`` rows (by id, the model's ordering), locked if asked,
    skipping rows another transaction has locked."""
    if skip_locked:
        return list(rows.select_for_update(skip_locked=True)[:limit])  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return list(rows[:limit])  # pyright: ignore[reportUnknownArgumentType]


def alias_of(using: str | None) -> str:
    return using if using is not None else router.db_for_write(Delivery)


def moment(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()

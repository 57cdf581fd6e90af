"""Requeue as operators see it: rows run again and their receivers resume.

``signal_deliveries requeue`` and the admin's requeue action both call
``requeue_rows()``: it says which rows it left alone and why, and closes the
paused breakers of the receivers whose rows it took, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..models import Delivery
from . import _breaker, _outbox

__all__ = ["Requeued", "requeue_rows"]

_Status = Delivery.Status


@dataclass(frozen=True)
class Requeued:
    """What ``requeue_rows()`` did."""

    count: int
    """Rows that run again from attempt 1."""
    resumed: int
    """Paused receivers whose breakers closed."""
    left: dict[int, str] = field(default_factory=dict[int, str])
    """Why each listed row that was not requeued was left alone, by id."""


def requeue_rows(
    *,
    ids: Sequence[int] | None = None,
    dead: bool = False,
    using: str,
    now: datetime | None = None,
) -> Requeued:
    """Requeue every dead row (``dead=True``) or rows ``ids``, exactly one.

    Done rows and live claims are left alone, as ``_outbox.requeue()`` does:
    running them again would apply an effect twice.
    """
    if (ids is None) == (not dead):
        raise ValueError(
            "requeue_rows() takes ids=[...] or dead=True, exactly one of them"
        )
    when = now if now is not None else timezone.now()
    with transaction.atomic(using=using):
        if dead:
            receivers = _dead_receivers(using)
            left: dict[int, str] = {}
            count = _outbox.requeue(dead=True, using=using, now=when)
        else:
            wanted = sorted(set(ids or ()))
            rows = _select(using, wanted)
            left = _left_alone(wanted, rows, when)
            taken = [row for row in rows if row.pk not in left]
            receivers = sorted({row.receiver for row in taken})
            chosen = [row.pk for row in taken]
            count = _outbox.requeue(ids=chosen, using=using, now=when) if chosen else 0
        # resume(None) would resume every receiver: only pass a real list.
        resumed = _breaker.resume(receivers, using=using) if receivers else 0
    return Requeued(count=count, resumed=resumed, left=left)


def _dead_receivers(using: str) -> list[str]:
    rows = Delivery.objects.using(using).filter(status=_Status.DEAD)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return sorted(set(rows.values_list("receiver", flat=True)))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]


def _select(using: str, ids: Sequence[int]) -> list[Delivery]:
    """Rows ``ids``, locked until the requeue commits (where supported)."""
    rows = Delivery.objects.using(using).filter(pk__in=list(ids))  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    fields = ("id", "receiver", "status", "lease_until")
    return list(rows.only(*fields).select_for_update())  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]


def _left_alone(
    wanted: Sequence[int], rows: Sequence[Delivery], now: datetime
) -> dict[int, str]:
    """Why each of ``wanted`` cannot be requeued, by id; the others are absent."""
    found = {row.pk: row for row in rows}
    left: dict[int, str] = {}
    for pk in wanted:
        row = found.get(pk)
        if row is None:
            left[pk] = "no such delivery"
        elif row.status == _Status.DONE:
            left[pk] = "it is done (replay runs a done delivery again)"
        elif row.status == _Status.RUNNING and (
            row.lease_until is None or row.lease_until >= now
        ):
            left[pk] = "it is running under a live lease"
    return left

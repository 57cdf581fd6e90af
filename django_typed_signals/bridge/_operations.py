"""What operators do with the delivery rows: count, requeue, prune.

``signal_deliveries`` and the admin call these; the worker's state machine
is ``_outbox``. ``requeue_rows()`` is requeue as operators see it: it says
which listed rows it left alone and why, and closes the paused breakers of
the receivers whose rows it took, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from django.db import transaction
from django.db.models import Case, Count, F, Min, Q, When

from ..models import Delivery
from . import _breaker
from ._queries import WAITING, alias_of, head, matching, moment

__all__ = [
    "Requeued",
    "StatusCounts",
    "prune",
    "requeue",
    "requeue_rows",
    "status_counts",
]

_PRUNE_BATCH = 1000
_Status = Delivery.Status


class StatusCounts(TypedDict):
    """``signal_deliveries status --json`` without ``paused_receivers``."""

    pending: int
    running: int
    retrying: int
    done: int
    dead: int
    oldest_pending_age_s: float | None


def status_counts(
    *, using: str | None = None, now: datetime | None = None
) -> StatusCounts:
    """How many rows wait, run, back off, finished and died; one query.

    ``pending`` is every row waiting to run: never published, published and
    not claimed, a retry whose backoff is over, or a claim whose lease
    expired. ``running`` is claims under a live lease; ``retrying`` rows still
    waiting out a backoff. ``oldest_pending_age_s`` is how long the longest
    waiting of the pending rows has been runnable.
    """
    when = moment(now)
    pending = (
        Q(status=_Status.PENDING)
        | Q(status=_Status.RETRYING, available_at__lte=when)
        | Q(status=_Status.RUNNING, lease_until__lt=when)
    )
    found = Delivery.objects.using(alias_of(using)).aggregate(
        pending=Count("id", filter=pending),
        running=Count("id", filter=Q(status=_Status.RUNNING, lease_until__gte=when)),
        retrying=Count("id", filter=Q(status=_Status.RETRYING, available_at__gt=when)),
        done=Count("id", filter=Q(status=_Status.DONE)),
        dead=Count("id", filter=Q(status=_Status.DEAD)),
        # Runnable since: the lease's end for an expired claim, else available_at.
        oldest=Min(
            Case(
                When(status=_Status.RUNNING, then=F("lease_until")),
                default=F("available_at"),
            ),
            filter=pending,
        ),
    )
    oldest: datetime | None = found["oldest"]
    return StatusCounts(
        pending=found["pending"],
        running=found["running"],
        retrying=found["retrying"],
        done=found["done"],
        dead=found["dead"],
        oldest_pending_age_s=(
            None if oldest is None else max(0.0, (when - oldest).total_seconds())
        ),
    )


def requeue(
    *,
    ids: Sequence[int] | None = None,
    dead: bool = False,
    using: str | None = None,
    now: datetime | None = None,
) -> int:
    """Make rows run again from attempt 1, now; returns how many.

    ``dead=True`` takes every dead row; ``ids`` the listed rows that are dead,
    retrying or pending, or running under an expired lease. Done rows and
    live claims are left alone: running them again would apply an effect
    twice (replaying a done delivery is a separate, explicit operation).
    """
    if (ids is None) == (not dead):
        raise ValueError("requeue() takes ids=[...] or dead=True, exactly one of them")
    when = moment(now)
    if dead:
        rows = matching(alias_of(using), status=_Status.DEAD)
    else:
        rows = matching(
            alias_of(using),
            Q(status__in=(_Status.DEAD, *WAITING))
            | Q(status=_Status.RUNNING, lease_until__lt=when),
            pk__in=list(ids or ()),
        )
    return rows.update(
        status=_Status.PENDING,
        attempts=0,
        available_at=when,
        published_at=None,
        lease_until=None,
        lease_token=None,
        finished_at=None,
    )


def prune(
    *,
    older_than_days: float,
    using: str | None = None,
    now: datetime | None = None,
) -> int:
    """Delete done rows finished more than ``older_than_days`` ago; the count.

    Never touches pending, running, retrying or dead rows. Deletes in
    batches, without per-row ``pre_delete``/``post_delete`` signals (nobody
    listens for delivery rows, and loading millions of them would not fit).
    """
    if not older_than_days >= 0:
        raise ValueError(
            f"prune() older_than_days must be >= 0, got {older_than_days!r}"
        )
    alias = alias_of(using)
    cutoff = moment(now) - timedelta(days=older_than_days)
    deleted = 0
    while True:
        old = head(
            matching(alias, status=_Status.DONE, finished_at__lt=cutoff), _PRUNE_BATCH
        )
        if not old:
            return deleted
        batch = matching(alias, pk__in=[row.pk for row in old], status=_Status.DONE)
        deleted += batch._raw_delete(alias)


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

    Done rows and live claims are left alone, as ``requeue()`` does:
    running them again would apply an effect twice.
    """
    if (ids is None) == (not dead):
        raise ValueError(
            "requeue_rows() takes ids=[...] or dead=True, exactly one of them"
        )
    when = moment(now)
    with transaction.atomic(using=using):
        if dead:
            receivers = _dead_receivers(using)
            left: dict[int, str] = {}
            count = requeue(dead=True, using=using, now=when)
        else:
            wanted = sorted(set(ids or ()))
            rows = _select(using, wanted)
            left = _left_alone(wanted, rows, when)
            taken = [row for row in rows if row.pk not in left]
            receivers = sorted({row.receiver for row in taken})
            chosen = [row.pk for row in taken]
            count = requeue(ids=chosen, using=using, now=when) if chosen else 0
        # resume(None) would resume every receiver: only pass a real list.
        resumed = _breaker.resume(receivers, using=using) if receivers else 0
    return Requeued(count=count, resumed=resumed, left=left)


def _dead_receivers(using: str) -> list[str]:
    rows = matching(using, status=_Status.DEAD)
    return sorted(set(rows.values_list("receiver", flat=True)))


def _select(using: str, ids: Sequence[int]) -> list[Delivery]:
    """Rows ``ids``, locked until the requeue commits (where supported)."""
    rows = matching(using, pk__in=list(ids))
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

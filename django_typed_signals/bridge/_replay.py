"""Replaying finished deliveries: run one receiver again for past sends.

For a receiver that was fixed or changed after its rows finished (a bug made
them die, or a new effect should be applied to old sends). Only ``done`` and
``dead`` rows are replayed: a row still pending, retrying or running will run
anyway, and copying it would run that send twice at the same time. The copies
are fresh rows (new id, new ``delivery.key``, attempt 0) with the original's
payload, queue and ``max_attempts``; the originals are left as they are, so
the history stays readable. Replaying the same window twice writes the copies
twice: it is an explicit operation, as a second run of a receiver is.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from .._introspection import describe_receivers
from .._registry import all_signals
from ..models import Delivery
from . import _outbox

__all__ = ["REPLAYED_STATUSES", "ReplayError", "celery_receivers", "replay"]

REPLAYED_STATUSES = (Delivery.Status.DONE, Delivery.Status.DEAD)
"""The statuses ``replay()`` copies; waiting and running rows will run anyway."""

_BATCH = 1000


class ReplayError(ValueError):
    """The replay was asked for something a worker could not run."""


def celery_receivers(signal: str) -> list[str]:
    """Dotted paths of the ``run="celery"`` receivers connected to ``signal``.

    Read from the live connections, as the worker resolves them; raises
    ``ReplayError`` when no signal of that name exists in this process.
    """
    found = [s for s in all_signals() if s.name == signal]
    if not found:
        raise ReplayError(f"no signal named {signal!r} in this process")
    paths: list[str] = []
    for candidate in found:
        for row in describe_receivers(candidate, signal):
            if row.mode == "celery" and row.path not in paths:
                paths.append(row.path)
    return paths


def replay(
    *,
    signal: str,
    receiver: str,
    since: datetime | None = None,
    until: datetime | None = None,
    using: str | None = None,
    now: datetime | None = None,
) -> int:
    """Write a fresh pending delivery per done or dead row; returns the count.

    The rows are those of ``signal`` to ``receiver`` created at or after
    ``since`` and before ``until`` (either open when ``None``). All copies
    are written in one transaction. Raises ``ReplayError`` when ``receiver``
    is not connected to ``signal`` with ``run="celery"`` (nothing could run
    the copies) and ``ValueError`` for a bad window.
    """
    connected = celery_receivers(signal)
    if receiver not in connected:
        there = ", ".join(connected) if connected else "none"
        raise ReplayError(
            f"receiver {receiver!r} is not connected to signal {signal!r} with "
            f"run='celery', so no worker could run it (connected there: {there})"
        )
    window = Q(signal=signal, receiver=receiver, status__in=REPLAYED_STATUSES)
    if since is not None:
        window &= Q(created_at__gte=_checked("since", since))
    if until is not None:
        window &= Q(created_at__lt=_checked("until", until))
    if since is not None and until is not None and not since < until:
        raise ValueError(
            f"replay() since must be before until, got {since.isoformat()} and "
            f"{until.isoformat()}"
        )
    alias = using if using is not None else router.db_for_write(Delivery)
    with transaction.atomic(using=alias):
        rows = Delivery.objects.using(alias).filter(window)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        # The ids first: the copies are written to the table being read.
        ids: list[int] = sorted(rows.values_list("pk", flat=True))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        written = 0
        for start in range(0, len(ids), _BATCH):
            batch = _rows(alias, ids[start : start + _BATCH])
            copies = [
                _outbox.NewDelivery(
                    signal=signal,
                    receiver=receiver,
                    payload=row.payload,
                    queue=row.queue,
                    max_attempts=row.max_attempts,
                )
                for row in batch
            ]
            written += len(_outbox.write_deliveries(copies, using=alias, now=now))
    return written


def _rows(alias: str, ids: list[int]) -> list[Delivery]:
    """Rows ``ids`` in id order (one filter call: see ``_queries.matching``)."""
    return list(Delivery.objects.using(alias).filter(pk__in=ids))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]


def _checked(name: str, value: datetime) -> datetime:
    """``value``, if it fits ``USE_TZ``: aware with it, naive without."""
    if not isinstance(value, datetime):
        raise TypeError(f"replay() {name} must be a datetime, got {value!r}")
    if settings.USE_TZ and timezone.is_naive(value):
        raise ValueError(
            f"replay() {name} must be an aware datetime with USE_TZ = True, "
            f"got {value.isoformat()}"
        )
    if not settings.USE_TZ and timezone.is_aware(value):
        raise ValueError(
            f"replay() {name} must be a naive datetime with USE_TZ = False, "
            f"got {value.isoformat()}"
        )
    return value

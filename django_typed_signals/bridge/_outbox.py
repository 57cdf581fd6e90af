"""The delivery rows' state machine, as senders and workers move them.

A row is written ``pending`` in the sender's transaction. ``claim()`` takes
it with one compare-and-set UPDATE that hands out a lease and a fresh token;
``complete()`` and ``fail()`` only change the row under that token, so a worker
whose lease expired and was re-claimed can no longer change the row. Failures wait
out an exponential backoff in the row (``retrying``) and end ``dead`` after
``max_attempts``; an expired lease counts as an attempt, so a payload that
kills its worker every time ends dead too. The relay's queries are in
``_due``, the operators' (status, requeue, prune) in ``_operations``, the hot
path's SQL in ``_statements``. Every function takes ``using=`` (the database
alias; the router's write database for ``Delivery`` when omitted) and ``now=``
(``timezone.now()`` when omitted).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db.models import F, Q, QuerySet

from ..models import Delivery
from . import _statements
from ._queries import WAITING, alias_of, matching, moment

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "MAX_ERROR_CHARS",
    "Claim",
    "NewDelivery",
    "backoff",
    "bury",
    "claim",
    "complete",
    "extend",
    "fail",
    "release",
    "write_deliveries",
]

BACKOFF_BASE_S = 1.0
"""The first retry waits up to this long; each further one up to twice as long."""


BACKOFF_CAP_S = 3600.0
"""No retry waits longer than this."""


MAX_ERROR_CHARS = 4096
"""``last_error`` keeps this many characters: the head and the tail."""

_Status = Delivery.Status


def _new_key() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class NewDelivery:
    """A row to write: one async receiver of one send.

    ``payload`` is already encoded (JSON-ready); ``key`` is the stable
    idempotency key the receiver sees as ``delivery.key``.
    """

    signal: str
    receiver: str
    payload: dict[str, Any]
    queue: str = ""
    max_attempts: int = 8
    key: str = field(default_factory=_new_key)

    def __post_init__(self) -> None:
        # PostgreSQL would refuse an overlong value at INSERT time and SQLite
        # would store it: both are better caught here, naming the receiver.
        where = f"delivery of signal {self.signal!r} to {self.receiver!r}"
        for name, limit in (("signal", 200), ("receiver", 300), ("queue", 200)):
            value: object = getattr(self, name)
            if not isinstance(value, str) or len(value) > limit:
                raise ValueError(
                    f"{where}: {name} must be a string of at most {limit} "
                    f"characters, got {value!r:.400}"
                )
        if not self.signal or not self.receiver:
            raise ValueError(f"{where}: signal and receiver must not be empty")
        if not isinstance(self.key, str) or not 1 <= len(self.key) <= 64:
            raise ValueError(
                f"{where}: key must be a string of 1 to 64 characters, "
                f"got {self.key!r:.100}"
            )
        if (
            not isinstance(self.max_attempts, int)
            or isinstance(self.max_attempts, bool)
            or self.max_attempts < 1
        ):
            raise ValueError(
                f"{where}: max_attempts must be an integer >= 1, "
                f"got {self.max_attempts!r}"
            )
        if not isinstance(self.payload, dict):
            raise TypeError(
                f"{where}: payload must be an encoded dict, "
                f"got {type(self.payload).__name__}"
            )


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a row: the row as claimed and the lease's token."""

    delivery: Delivery
    token: uuid.UUID

    @property
    def attempt(self) -> int:
        """This run's attempt number, from 1."""
        return self.delivery.attempts


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (from 1).

    Exponential with full jitter: uniform in ``[0, min(cap, base * 2**(n-1))]``,
    so workers that failed together do not retry together.
    """
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ValueError(f"backoff() attempt must be an integer >= 1, got {attempt!r}")
    # 2**12 s already exceeds the cap; a bounded exponent keeps floats finite.
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(attempt - 1, 32))
    return random.uniform(0.0, ceiling)


def _truncate(error: str) -> str:
    if len(error) <= MAX_ERROR_CHARS:
        return error
    head = MAX_ERROR_CHARS // 4
    cut = len(error) - MAX_ERROR_CHARS
    marker = f"\n[... {cut} characters cut ...]\n"
    # The tail keeps the exception line, the head where the traceback began.
    return error[:head] + marker + error[-(MAX_ERROR_CHARS - head) :]


def write_deliveries(
    rows: Sequence[NewDelivery],
    *,
    using: str | None = None,
    now: datetime | None = None,
    published: bool = False,
) -> list[Delivery]:
    """Insert ``rows`` in one ``bulk_create``, in the caller's transaction.

    ``published=True`` records them as published now, for a caller that
    publishes them right after the commit: should that never happen (the
    process dies), the relay publishes them after ``REPUBLISH_AFTER_S``.
    """
    if not rows:
        return []
    when = moment(now)
    alias = alias_of(using)
    deliveries = [
        Delivery(
            signal=row.signal,
            receiver=row.receiver,
            payload=row.payload,
            queue=row.queue,
            max_attempts=row.max_attempts,
            key=row.key,
            status=_Status.PENDING,
            created_at=when,
            available_at=when,
            published_at=when if published else None,
        )
        for row in rows
    ]
    if len(deliveries) == 1 and _statements.returns_rows(alias):
        # One row per send is the common case: one INSERT ... RETURNING,
        # built once, where bulk_create() compiles a query for each.
        _statements.insert_one(alias, deliveries[0])
        return deliveries
    return Delivery.objects.using(alias).bulk_create(deliveries)


def _claimable(now: datetime) -> Q:
    return Q(status__in=WAITING, available_at__lte=now) | Q(
        status=_Status.RUNNING,
        lease_until__lt=now,
        attempts__lt=F("max_attempts"),
    )


def claim(
    delivery_id: int,
    *,
    lease_s: float,
    using: str | None = None,
    now: datetime | None = None,
) -> Claim | None:
    """Take row ``delivery_id`` for ``lease_s`` seconds, or ``None``.

    One compare-and-set UPDATE: only a due pending/retrying row or a running
    row whose lease expired is taken, so of two workers racing for one id
    exactly one wins. ``None`` when another worker holds it, it is done or
    dead, it waits out a backoff, or it does not exist. A row whose lease
    expired on its last allowed attempt goes dead here instead.
    """
    if not lease_s > 0:
        raise ValueError(f"claim() lease_s must be > 0, got {lease_s!r}")
    alias = alias_of(using)
    when = moment(now)
    token = uuid.uuid4()
    lease_until = when + timedelta(seconds=lease_s)
    if _statements.returns_rows(alias):
        taken = _statements.claim_row(alias, delivery_id, when, lease_until, token)
    else:
        taken = _claim_then_read(alias, delivery_id, when, lease_until, token)
    if taken is not None:
        return Claim(taken, token)
    _bury_expired(alias, delivery_id, when)
    return None


def _claim_then_read(
    alias: str,
    delivery_id: int,
    when: datetime,
    lease_until: datetime,
    token: uuid.UUID,
) -> Delivery | None:
    """``claim()``'s compare-and-set as an UPDATE, then the row it took."""
    taken = matching(alias, _claimable(when), pk=delivery_id).update(
        status=_Status.RUNNING,
        lease_until=lease_until,
        lease_token=token,
        attempts=F("attempts") + 1,
    )
    return matching(alias, pk=delivery_id, lease_token=token).first() if taken else None


def _bury_expired(alias: str, delivery_id: int, when: datetime) -> None:
    """Mark dead a row whose lease expired on its last allowed attempt."""
    row = matching(
        alias,
        pk=delivery_id,
        status=_Status.RUNNING,
        lease_until__lt=when,
        attempts__gte=F("max_attempts"),
    ).first()
    if row is None:
        return
    reason = (
        f"lease expired on attempt {row.attempts} of {row.max_attempts}: the worker "
        "died or overran its lease each time"
    )
    if row.last_error:
        reason = f"{reason}; the last error before that:\n{row.last_error}"
    # Token-checked: whatever the lease holder wrote first stands.
    matching(
        alias, pk=delivery_id, status=_Status.RUNNING, lease_token=row.lease_token
    ).update(
        status=_Status.DEAD,
        finished_at=when,
        lease_until=None,
        lease_token=None,
        last_error=_truncate(reason),
    )


def _held(claim: Claim, alias: str) -> QuerySet[Delivery]:
    """The claimed row, only while it still runs under this claim's token."""
    return matching(
        alias, pk=claim.delivery.pk, status=_Status.RUNNING, lease_token=claim.token
    )


def extend(
    claim: Claim,
    *,
    lease_s: float,
    using: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Set the claimed row's lease to end ``lease_s`` from now (a receiver's
    own ``lease=``); ``False`` if another claim took the row since."""
    if not lease_s > 0:
        raise ValueError(f"extend() lease_s must be > 0, got {lease_s!r}")
    return bool(
        _held(claim, alias_of(using)).update(
            lease_until=moment(now) + timedelta(seconds=lease_s)
        )
    )


def complete(
    claim: Claim, *, using: str | None = None, now: datetime | None = None
) -> bool:
    """Mark the claimed row done; ``False`` if another claim took it since.

    Call it inside the receiver's transaction for ``atomic=True`` receivers:
    the effect and the done mark then commit or roll back together. Outside
    one (a receiver that is not atomic: at least once), the mark commits
    without waiting for its WAL flush on PostgreSQL (``_statements``).
    """
    # One statement, built once: the hot path of every delivery.
    return _statements.complete_row(
        alias_of(using), claim.delivery.pk, claim.token, moment(now)
    )


def fail(
    claim: Claim,
    error: str,
    *,
    using: str | None = None,
    now: datetime | None = None,
) -> Literal["retrying", "dead"] | None:
    """Record a failed attempt: ``"retrying"`` after a backoff, or ``"dead"``.

    ``dead`` once the claim's attempt reached ``max_attempts``. ``None`` when
    another claim took the row since (nothing is written then).
    """
    when = moment(now)
    attempt = claim.delivery.attempts
    if attempt >= claim.delivery.max_attempts:
        status = _Status.DEAD
        changes: dict[str, Any] = {"finished_at": when}
    else:
        status = _Status.RETRYING
        # Unpublished again: the relay publishes the retry once it is due.
        changes = {
            "available_at": when + timedelta(seconds=backoff(attempt)),
            "published_at": None,
        }
    written = _held(claim, alias_of(using)).update(
        status=status,
        last_error=_truncate(str(error)),
        lease_until=None,
        lease_token=None,
        **changes,
    )
    if not written:
        return None
    return "dead" if status == _Status.DEAD else "retrying"


def bury(
    claim: Claim,
    reason: str,
    *,
    using: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Mark the claimed row dead at once, keeping ``reason``; no retry.

    For rows that cannot succeed however often they run (the payload no
    longer decodes). ``False`` if another claim took the row since.
    """
    return bool(
        _held(claim, alias_of(using)).update(
            status=_Status.DEAD,
            finished_at=moment(now),
            last_error=_truncate(str(reason)),
            lease_until=None,
            lease_token=None,
        )
    )


def release(
    claim: Claim,
    *,
    until: datetime,
    using: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Give the claimed row back to run at ``until``, its attempt not counted.

    For a delivery that must not run yet (its receiver's breaker is open):
    the row is ``pending`` again if this was its first attempt, else
    ``retrying``, unpublished so that the relay publishes it once due.
    ``False`` if another claim took the row since.
    """
    previous = _Status.PENDING if claim.delivery.attempts <= 1 else _Status.RETRYING
    return bool(
        _held(claim, alias_of(using)).update(
            status=previous,
            attempts=F("attempts") - 1,
            available_at=max(until, moment(now)),
            published_at=None,
            lease_until=None,
            lease_token=None,
        )
    )

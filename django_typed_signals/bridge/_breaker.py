"""The circuit breaker: a receiver that keeps failing is paused, not drained.

After ``BREAKER["FAILURES"]`` failed deliveries in a row the receiver's rows
wait ``BREAKER["PAUSE_S"]`` seconds instead of burning their attempts on an
outage (nothing is dropped). Once the pause is over, one trial delivery runs:
its success closes the breaker, its failure re-opens it at once. The state is
a ``BreakerState`` row per failing receiver, shared by every worker; a
success deletes it, so a healthy receiver has no row and costs no write.
Every function takes ``using=`` (the router's write database for
``BreakerState`` when omitted) and ``now=`` (``timezone.now()`` when omitted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Literal

from django.db import IntegrityError, router, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from ..conf import get_settings
from ..models import BreakerState
from ._queries import moment

__all__ = [
    "HEALTHY_CACHE_S",
    "Admission",
    "admit",
    "forget_healthy",
    "is_paused",
    "paused_receivers",
    "record_failure",
    "record_success",
    "resume",
]

logger = logging.getLogger("django_typed_signals.bridge")


def _alias(using: str | None) -> str:
    return using if using is not None else router.db_for_write(BreakerState)


def _rows(alias: str, *conditions: Q, **lookups: object) -> QuerySet[BreakerState]:
    """One filter call (see ``_queries.matching`` for why chained calls are avoided)."""
    return BreakerState.objects.using(alias).filter(*conditions, **lookups)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def is_paused(
    receiver: str, *, using: str | None = None, now: datetime | None = None
) -> bool:
    """Whether ``receiver``'s deliveries wait out an open breaker now."""
    return _rows(
        _alias(using), receiver=receiver, paused_until__gt=moment(now)
    ).exists()


def paused_receivers(
    *, using: str | None = None, now: datetime | None = None
) -> list[str]:
    """The dotted paths of the receivers paused now, sorted."""
    rows = _rows(_alias(using), paused_until__gt=moment(now))
    return sorted(rows.values_list("receiver", flat=True))


def resume(receivers: Iterable[str] | None = None, *, using: str | None = None) -> int:
    """Close the breakers of ``receivers`` (``None``: all); how many were open.

    Their deliveries run at their next claim, with a fresh failure count.
    The rows a pause gave back wait until it would have ended: requeue them
    to run them at once.
    """
    conditions = Q(paused_until__isnull=False)
    if receivers is not None:
        if isinstance(receivers, str):
            raise TypeError(
                f"resume() takes an iterable of receiver paths, got the string "
                f"{receivers!r}: wrap it in a list"
            )
        conditions &= Q(receiver__in=list(receivers))
    return _rows(_alias(using), conditions).update(
        paused_until=None, consecutive_failures=0, updated_at=timezone.now()
    )


def record_success(
    receiver: str, *, using: str | None = None, now: datetime | None = None
) -> None:
    """Close ``receiver``'s breaker and forget its failures (one DELETE).

    ``run_delivery`` calls it only when it saw a breaker row before the run,
    so that a healthy receiver costs no write at all. A raw delete: no
    SELECT first and no ``pre_delete``/``post_delete`` for a bookkeeping row.
    """
    alias = _alias(using)
    _rows(alias, receiver=receiver)._raw_delete(alias)


def record_failure(
    receiver: str,
    *,
    using: str | None = None,
    now: datetime | None = None,
    trial: bool = False,
) -> bool:
    """Count one more failure in a row; ``True`` if the breaker just opened.

    The count is an ``F()`` increment (a concurrent first failure that loses
    the INSERT race increments instead), so failures of concurrent workers
    all count. The breaker opens when the count reaches ``FAILURES`` and no
    pause is running (deliveries claimed before it opened and failing during
    the pause do not lengthen it). After a pause a failure re-opens it at
    once, the count being still at or above the threshold; ``trial=True``
    (the trial delivery ``admit()`` let through) re-opens it over the trial's
    own short hold.
    """
    alias = _alias(using)
    _healthy.pop((alias, receiver), None)
    when = moment(now)
    bridge = get_settings().bridge
    failures: int | None = None
    with transaction.atomic(using=alias):
        # The UPDATE locks the row until the commit: the opening below sees
        # this increment and no other worker's half-done one.
        if not _increment(alias, receiver, when):
            try:
                with transaction.atomic(using=alias):
                    BreakerState.objects.using(alias).create(
                        receiver=receiver, consecutive_failures=1, updated_at=when
                    )
            except IntegrityError:
                _increment(alias, receiver, when)
        idle = (
            Q() if trial else Q(paused_until__isnull=True) | Q(paused_until__lte=when)
        )
        opened = _rows(
            alias,
            idle,
            receiver=receiver,
            consecutive_failures__gte=bridge.breaker_failures,
        ).update(paused_until=when + timedelta(seconds=bridge.breaker_pause_s))
        if opened:
            failures = (
                _rows(alias, receiver=receiver)
                .values_list("consecutive_failures", flat=True)
                .first()
            )
    if opened:
        logger.warning(
            "circuit breaker opened for receiver %s after %s failed deliveries in "
            "a row: its deliveries wait %ss",
            receiver,
            failures,
            bridge.breaker_pause_s,
        )
    return bool(opened)


HEALTHY_CACHE_S = 1.0
"""How long a process trusts that a receiver has no breaker row: the
healthy path then costs no statement, where a fresh connection per task
(Celery's default) pays for each table it touches. A breaker another process
opens is seen this much later; one this process opens, at once."""

_healthy: dict[tuple[str, str], float] = {}  # (alias, receiver) -> trusted until


def forget_healthy() -> None:
    """Read every receiver's breaker row again (tests that write it directly)."""
    _healthy.clear()


def _increment(alias: str, receiver: str, when: datetime) -> int:
    return _rows(alias, receiver=receiver).update(
        consecutive_failures=F("consecutive_failures") + 1, updated_at=when
    )


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a claimed delivery may run now, read before it runs.

    ``tracked``: the receiver has a breaker row, so a success must delete it.
    ``paused_until``: when the pause ends, for a delivery that must wait.
    ``trial``: this delivery is the one run after a pause.
    """

    verdict: Literal["run", "wait"]
    tracked: bool
    paused_until: datetime | None = None
    trial: bool = False


def admit(
    receiver: str,
    *,
    lease_s: float,
    using: str | None = None,
    now: datetime | None = None,
) -> Admission:
    """May a claimed delivery of ``receiver`` run? One SELECT when healthy,
    at most once a second per receiver and process (``HEALTHY_CACHE_S``).

    While paused: wait. Once the pause is over (half-open), the first worker
    to ask becomes the trial: it moves the pause to the end of its lease with
    a compare-and-set, so concurrent workers keep waiting until the trial
    succeeds (closed) or fails (re-opened), or its lease ends unanswered.
    """
    alias = _alias(using)
    when = moment(now)
    key = (alias, receiver)
    if _healthy.get(key, 0.0) > monotonic():
        return Admission("run", tracked=False)
    state = _rows(alias, receiver=receiver).first()
    if state is None:
        _healthy[key] = monotonic() + HEALTHY_CACHE_S
        return Admission("run", tracked=False)
    until = state.paused_until
    if until is None:
        return Admission("run", tracked=True)
    if until > when:
        return Admission("wait", tracked=True, paused_until=until)
    trial_until = when + timedelta(seconds=lease_s)
    taken = _rows(alias, receiver=receiver, paused_until=until).update(
        paused_until=trial_until, updated_at=when
    )
    if taken:
        return Admission("run", tracked=True, trial=True)
    # Another worker became the trial (or the breaker closed) meanwhile.
    again = _rows(alias, receiver=receiver).first()
    if again is None or again.paused_until is None:
        return Admission("run", tracked=again is not None)
    return Admission("wait", tracked=True, paused_until=max(again.paused_until, when))

"""The delivery rows' state machine: the only code that reads and writes them.

A row is written ``pending`` in the sender's transaction. ``claim()`` takes
it with one compare-and-set UPDATE that hands out a lease and a fresh token;
``complete()`` and ``fail()`` only change the row under that token, so a worker
whose lease expired and was re-claimed can no longer change the row. Failures wait
out an exponential backoff in the row (``retrying``) and end ``dead`` after
``max_attempts``; an expired lease counts as an attempt, so a payload that
kills its worker every time ends dead too. The relay (re)publishes what
``due_for_publish()`` returns. Every function takes ``using=`` (the database
alias; the router's write database for ``Delivery`` when omitted) and ``now=``
(``timezone.now()`` when omitted).
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict, cast

from django.db import connections, router, transaction
from django.db.models import Case, Count, F, Min, Q, QuerySet, When
from django.utils import timezone

from ..models import Delivery

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "MAX_ERROR_CHARS",
    "Claim",
    "NewDelivery",
    "StatusCounts",
    "backoff",
    "bury",
    "claim",
    "complete",
    "due_for_publish",
    "extend",
    "fail",
    "mark_published",
    "mark_unpublished",
    "prune",
    "release",
    "requeue",
    "status_counts",
    "write_deliveries",
]

BACKOFF_BASE_S = 1.0
"""The first retry waits up to this long; each further one up to twice as long."""
BACKOFF_CAP_S = 3600.0
"""No retry waits longer than this."""
MAX_ERROR_CHARS = 4096
"""``last_error`` keeps this many characters: the head and the tail."""

_PRUNE_BATCH = 1000
_Status = Delivery.Status
_WAITING = (_Status.PENDING, _Status.RETRYING)


def _rows(alias: str, *conditions: Q, **lookups: object) -> QuerySet[Delivery]:
    """The rows on ``alias`` matching the conditions, as one filter call.

    The stubs type QuerySet's chained methods with ``typing.Self``, which
    pyright does not know when it checks for Python 3.10: the few chained
    calls go through here and ``_head()`` instead.
    """
    return Delivery.objects.using(alias).filter(*conditions, **lookups)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def _head(
    rows: QuerySet[Delivery], limit: int, *, skip_locked: bool = False
) -> list[Delivery]:
    """The first ``limit`` rows (by id, the model's ordering), locked if asked,
    skipping rows another transaction has locked."""
    if skip_locked:
        return list(rows.select_for_update(skip_locked=True)[:limit])  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return list(rows[:limit])  # pyright: ignore[reportUnknownArgumentType]


def _alias(using: str | None) -> str:
    return using if using is not None else router.db_for_write(Delivery)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


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


class StatusCounts(TypedDict):
    """``signal_deliveries status --json`` without ``paused_receivers``."""

    pending: int
    running: int
    retrying: int
    done: int
    dead: int
    oldest_pending_age_s: float | None


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
    when = _now(now)
    alias = _alias(using)
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
    if len(deliveries) == 1 and _returns_rows(alias):
        # One row per send is the common case: one INSERT ... RETURNING,
        # built once, where bulk_create() compiles a query for each.
        _insert_one(alias, deliveries[0])
        return deliveries
    return Delivery.objects.using(alias).bulk_create(deliveries)


@functools.cache
def _insert_sql(alias: str) -> tuple[str, list[Any]]:
    """The one-row INSERT for ``alias`` and the fields it writes, built once."""
    fields = [f for f in _META.concrete_fields if not f.primary_key]
    columns = ", ".join(_column(alias, f.name) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {_table(alias)} ({columns}) VALUES ({marks}) "
        f"RETURNING {_column(alias, 'id')}"
    )
    return sql, fields


def _insert_one(alias: str, delivery: Delivery) -> None:
    """``delivery``'s INSERT, its id read back; as ``bulk_create()`` would."""
    connection: Any = connections[alias]  # stubs: cursor() is untyped
    sql, fields = _insert_sql(alias)
    params = [
        f.get_db_prep_save(getattr(delivery, f.attname), connection) for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        delivery.pk = cursor.fetchone()[0]
    delivery._state.adding = False
    delivery._state.db = alias


def _claimable(now: datetime) -> Q:
    return Q(status__in=_WAITING, available_at__lte=now) | Q(
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
    alias = _alias(using)
    when = _now(now)
    token = uuid.uuid4()
    lease_until = when + timedelta(seconds=lease_s)
    if _returns_rows(alias):
        found = _claim_returning(alias, delivery_id, when, lease_until, token)
    else:
        taken = _claim_then_read(alias, delivery_id, when, lease_until, token)
        found = None if taken is None else Claim(taken, token)
    if found is not None:
        return found
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
    taken = _rows(alias, _claimable(when), pk=delivery_id).update(
        status=_Status.RUNNING,
        lease_until=lease_until,
        lease_token=token,
        attempts=F("attempts") + 1,
    )
    return _rows(alias, pk=delivery_id, lease_token=token).first() if taken else None


def _returns_rows(alias: str) -> bool:
    """Whether ``UPDATE ... RETURNING`` saves the claim its second query."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return False


def _claim_returning(
    alias: str,
    delivery_id: int,
    when: datetime,
    lease_until: datetime,
    token: uuid.UUID,
) -> Claim | None:
    """``claim()``'s compare-and-set as one statement that returns the row,
    built once per database."""
    connection: Any = connections[alias]  # stubs: cursor() is untyped
    params: list[Any] = [
        _Status.RUNNING.value,
        _prep(connection, "lease_until", lease_until),
        _prep(connection, "lease_token", token),
        delivery_id,
        _Status.PENDING.value,
        _Status.RETRYING.value,
        _prep(connection, "available_at", when),
        _Status.RUNNING.value,
        _prep(connection, "lease_until", when),
    ]
    sql = _claim_sql(alias, asynchronous=not connection.in_atomic_block)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return None
    return Claim(_row_from_db(alias, list(found)), token)


@functools.cache
def _reader(alias: str) -> tuple[list[str], list[tuple[Any, list[Any]]]]:
    """Delivery's attribute names and each column's converters on ``alias``."""
    connection: Any = connections[alias]
    converters: list[tuple[Any, list[Any]]] = []
    for each in _META.concrete_fields:
        column = each.get_col(_META.db_table)
        converters.append(
            (
                column,
                connection.ops.get_db_converters(column)
                + each.get_db_converters(connection),
            )
        )
    return [each.attname for each in _META.concrete_fields], converters


def _row_from_db(alias: str, values: list[Any]) -> Delivery:
    """A ``Delivery`` from its columns' values, converted as a query would
    (JSON, UUIDs, datetimes on SQLite): what ``raw()`` does, without building
    a queryset for each claim."""
    connection: Any = connections[alias]
    names, converters = _reader(alias)
    converted: list[Any] = []
    for value, (expression, functions) in zip(values, converters, strict=True):
        for function in functions:
            value = function(value, expression, connection)
        converted.append(value)
    model: Any = Delivery  # stubs: from_db() is partially unknown
    return cast("Delivery", model.from_db(alias, names, converted))


@functools.cache
def _claim_sql(alias: str, *, asynchronous: bool) -> str:
    """The claim statement for ``alias``, built once."""

    def col(name: str) -> str:
        return _column(alias, name, qualified=True)

    status, attempts, lease = col("status"), col("attempts"), col("lease_until")
    columns = ", ".join(
        _column(alias, f.name, qualified=True) for f in _META.concrete_fields
    )
    status, mark = _as_text(alias, status), _as_text(alias, "%s")
    return (
        f"UPDATE {_table(alias)} SET {_column(alias, 'status')} = %s, "
        f"{_column(alias, 'lease_until')} = %s, "
        f"{_column(alias, 'lease_token')} = %s, "
        f"{_column(alias, 'attempts')} = {attempts} + 1"
        f"{_async_commit(alias, asynchronous)} "
        f"WHERE {col('id')} = %s AND ((({status} = {mark} OR {status} = {mark}) "
        f"AND {col('available_at')} <= %s) OR ({status} = {mark} AND {lease} < %s "
        f"AND {attempts} < {col('max_attempts')})) RETURNING {columns}"
    )


def _as_text(alias: str, expression: str) -> str:
    """``expression`` typed as ``text`` for PostgreSQL's parser.

    A ``varchar`` column compared with an untyped string matches no ``=``
    operator exactly, so a new connection's first such statement searches
    every candidate in the catalogs (about 0.3 ms, paid on each of a Celery
    worker's per-task connections); ``text = text`` is an exact match. The
    cast changes nothing else: ``varchar`` is ``text`` with a length check.
    """
    if connections[alias].vendor != "postgresql":
        return expression
    return f"({expression})::text"


_META: Any = Delivery._meta  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]  # stubs: no .column on the field union


def _table(alias: str) -> str:
    return connections[alias].ops.quote_name(str(_META.db_table))


def _prep(connection: Any, name: str, value: object) -> object:
    """``value`` as field ``name`` of ``Delivery`` sends it to ``connection``."""
    return _META.get_field(name).get_db_prep_value(value, connection)


def _column(alias: str, name: str, *, qualified: bool = False) -> str:
    """The quoted column of field ``name`` of ``Delivery`` on ``alias``."""
    column = connections[alias].ops.quote_name(str(_META.get_field(name).column))
    return f"{_table(alias)}.{column}" if qualified else column


def _async_commit(alias: str, asynchronous: bool) -> str:
    """An UPDATE's ``FROM`` clause that makes its own commit asynchronous.

    On PostgreSQL, in autocommit, the bookkeeping statements of a delivery
    (its claim; the done mark of a receiver that is not atomic) commit without
    waiting for their WAL flush: ``synchronous_commit`` off for their own
    one-statement transaction. A server crash may then lose the last such
    marks, which only lets the row run again (a lost claim; a lost done mark
    of an at-least-once receiver), never lose it; and any synchronous commit
    after them, such as the receiver's effect, flushes them first. Inside a
    caller's transaction the setting would outlive the statement: not there.
    """
    if not asynchronous or connections[alias].vendor != "postgresql":
        return ""
    return (
        " FROM (SELECT set_config('synchronous_commit', 'off', true)) "
        "AS typed_signals_async_commit"
    )


def _bury_expired(alias: str, delivery_id: int, when: datetime) -> None:
    """Mark dead a row whose lease expired on its last allowed attempt."""
    row = _rows(
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
    _rows(
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
    return _rows(
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
        _held(claim, _alias(using)).update(
            lease_until=_now(now) + timedelta(seconds=lease_s)
        )
    )


def complete(
    claim: Claim, *, using: str | None = None, now: datetime | None = None
) -> bool:
    """Mark the claimed row done; ``False`` if another claim took it since.

    Call it inside the receiver's transaction for ``atomic=True`` receivers:
    the effect and the done mark then commit or roll back together. Outside
    one (a receiver that is not atomic: at least once), the mark commits
    without waiting for its WAL flush on PostgreSQL (``_async_commit``).
    """
    alias = _alias(using)
    connection: Any = connections[alias]
    sql = _complete_sql(alias, asynchronous=not connection.in_atomic_block)
    params: list[Any] = [
        _Status.DONE.value,
        _prep(connection, "finished_at", _now(now)),
        claim.delivery.pk,
        _Status.RUNNING.value,
        _prep(connection, "lease_token", claim.token),
    ]
    # One statement, built once: the hot path of every delivery.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount == 1)


@functools.cache
def _complete_sql(alias: str, *, asynchronous: bool) -> str:
    """``complete()``'s statement for ``alias``, built once."""

    def col(name: str) -> str:
        return _column(alias, name, qualified=True)

    return (
        f"UPDATE {_table(alias)} SET {_column(alias, 'status')} = %s, "
        f"{_column(alias, 'finished_at')} = %s, "
        f"{_column(alias, 'lease_until')} = NULL, "
        f"{_column(alias, 'lease_token')} = NULL{_async_commit(alias, asynchronous)} "
        f"WHERE {col('id')} = %s "
        f"AND {_as_text(alias, col('status'))} = {_as_text(alias, '%s')} "
        f"AND {col('lease_token')} = %s"
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
    when = _now(now)
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
    written = _held(claim, _alias(using)).update(
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
        _held(claim, _alias(using)).update(
            status=_Status.DEAD,
            finished_at=_now(now),
            last_error=_truncate(str(reason)),
            lease_until=None,
            lease_token=None,
        )
    )


def _due(now: datetime, republish_after_s: float) -> Q:
    unpublished = Q(published_at__isnull=True) | Q(
        published_at__lt=now - timedelta(seconds=republish_after_s)
    )
    runnable = Q(status__in=_WAITING, available_at__lte=now) | Q(
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
    alias = _alias(using)
    connection = transaction.get_connection(alias)
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "due_for_publish() must run inside transaction.atomic(using="
            f"{alias!r}) together with mark_published(), so that concurrent "
            "relays do not take the same rows"
        )
    return _head(
        _rows(alias, _due(_now(now), republish_after_s)),
        limit,
        skip_locked=connection.features.has_select_for_update_skip_locked,
    )


def mark_published(
    ids: Sequence[int], *, using: str | None = None, now: datetime | None = None
) -> int:
    """Record that rows ``ids`` were handed to the broker; returns the count."""
    if not ids:
        return 0
    return _rows(_alias(using), pk__in=list(ids)).update(published_at=_now(now))


def mark_unpublished(ids: Sequence[int], *, using: str | None = None) -> int:
    """Leave rows ``ids`` to the relay's next pass: the broker did not take them."""
    if not ids:
        return 0
    return _rows(_alias(using), pk__in=list(ids)).update(published_at=None)


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
    when = _now(now)
    pending = (
        Q(status=_Status.PENDING)
        | Q(status=_Status.RETRYING, available_at__lte=when)
        | Q(status=_Status.RUNNING, lease_until__lt=when)
    )
    found = Delivery.objects.using(_alias(using)).aggregate(
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
    when = _now(now)
    if dead:
        rows = _rows(_alias(using), status=_Status.DEAD)
    else:
        rows = _rows(
            _alias(using),
            Q(status__in=(_Status.DEAD, *_WAITING))
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
    alias = _alias(using)
    cutoff = _now(now) - timedelta(days=older_than_days)
    deleted = 0
    while True:
        old = _head(
            _rows(alias, status=_Status.DONE, finished_at__lt=cutoff), _PRUNE_BATCH
        )
        if not old:
            return deleted
        batch = _rows(alias, pk__in=[row.pk for row in old], status=_Status.DONE)
        deleted += batch._raw_delete(alias)


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
        _held(claim, _alias(using)).update(
            status=previous,
            attempts=F("attempts") - 1,
            available_at=max(until, _now(now)),
            published_at=None,
            lease_until=None,
            lease_token=None,
        )
    )

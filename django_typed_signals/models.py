"""The bridge's delivery rows: one per async receiver per send.

Rows are written in the sender's transaction, so they exist exactly when the
data does; a worker claims a row before running its receiver, and retries,
backoff and the dead letter live in the row rather than in the broker.
Only the bridge's row modules (``bridge._outbox``, ``_due``, ``_operations``)
write them. The circuit breaker keeps one ``BreakerState`` row per failing receiver, in
the database so that every worker sees the same pause
(``django_typed_signals.bridge._breaker`` writes them).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from django.db import models
from django.utils import timezone

__all__ = ["BreakerState", "Delivery"]


class Delivery(models.Model):
    """One receiver's pending, running or finished run of one send.

    Read-only for users: the admin shows rows, ``signal_deliveries`` requeues
    and prunes them.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        """Waiting to run: not yet published, or published and not claimed."""
        RUNNING = "running"
        """Claimed by a worker until ``lease_until``; once that passes, the
        row is claimable again and the next claim counts as an attempt."""
        RETRYING = "retrying"
        """Failed; waits until ``available_at`` (the backoff) to run again."""
        DONE = "done"
        DEAD = "dead"
        """Gave up after ``max_attempts``; ``last_error`` says why."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    signal: models.CharField[str, str] = models.CharField(
        max_length=200, help_text="The signal's name."
    )
    receiver: models.CharField[str, str] = models.CharField(
        max_length=300, help_text="The receiver's dotted path."
    )
    payload: models.JSONField[Any] = models.JSONField(
        help_text="The encoded payload, decoded in the worker."
    )
    queue: models.CharField[str, str] = models.CharField(
        max_length=200, blank=True, default=""
    )
    status: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Status, default=Status.PENDING
    )
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        default=0
    )
    max_attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        default=8
    )
    last_error: models.TextField[str, str] = models.TextField(blank=True, default="")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    available_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now, help_text="Not run before this time (the backoff)."
    )
    published_at: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(null=True, blank=True)
    )
    lease_until: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(null=True, blank=True)
    )
    lease_token: models.UUIDField[uuid.UUID | None, uuid.UUID | None] = (
        models.UUIDField(null=True, blank=True)
    )
    finished_at: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(null=True, blank=True)
    )
    key: models.CharField[str, str] = models.CharField(
        max_length=64,
        help_text="Stable idempotency key for effects outside the database.",
    )

    class Meta:
        app_label = "django_typed_signals"
        ordering: ClassVar[list[str]] = ["id"]
        verbose_name = "delivery"
        verbose_name_plural = "deliveries"
        # status leads both indexes: the status counts and the filters use
        # the prefix, the relay's due query and prune the second column.
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "available_at"], name="dts_delivery_due"),
            models.Index(
                fields=["status", "finished_at"], name="dts_delivery_finished"
            ),
        ]
        # A constraint rather than unique=True: on PostgreSQL that would also
        # build a LIKE index on the key, which nothing queries and every
        # write of a row would keep up to date.
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["key"], name="dts_delivery_key")
        ]
        permissions: ClassVar[tuple[tuple[str, str], ...]] = (
            ("requeue_delivery", "Can requeue deliveries"),
        )

    def __str__(self) -> str:
        return (
            f"delivery {self.pk} {self.signal} -> {self.receiver} "
            f"({self.status}, attempt {self.attempts}/{self.max_attempts})"
        )


class BreakerState(models.Model):
    """The circuit breaker of one receiver that failed lately.

    A row exists only while its receiver has failures in a row: a success
    deletes it, so a healthy receiver costs no write. While ``paused_until``
    is in the future the receiver's deliveries wait; once it passes, one trial
    delivery runs, and its success closes the breaker, its failure re-opens it.
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    receiver: models.CharField[str, str] = models.CharField(
        max_length=300, unique=True, help_text="The receiver's dotted path."
    )
    consecutive_failures: models.PositiveIntegerField[int, int] = (
        models.PositiveIntegerField(default=0)
    )
    paused_until: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(
            null=True,
            blank=True,
            help_text="Set once the breaker opened; deliveries wait until then.",
        )
    )
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )

    class Meta:
        app_label = "django_typed_signals"
        ordering: ClassVar[list[str]] = ["receiver"]
        verbose_name = "receiver breaker"
        verbose_name_plural = "receiver breakers"

    def __str__(self) -> str:
        pause = (
            f", paused until {self.paused_until.isoformat()}"
            if self.paused_until is not None
            else ""
        )
        return (
            f"breaker of {self.receiver} ({self.consecutive_failures} failures{pause})"
        )

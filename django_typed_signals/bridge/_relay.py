"""The relay: what the fast path missed, published (or run) from the rows.

Each pass takes the due rows of each database, oldest first, in batches:
never published, published and not claimed for ``REPUBLISH_AFTER_S``, retries
whose backoff is over, and claims whose lease expired. With ``EXECUTOR =
"celery"`` it publishes them; with ``"local"`` (and ``"eager"``, for rows a
killed process left behind) it runs them itself. The rows stay locked while
a batch is published (``SKIP LOCKED`` on PostgreSQL), so several relays share
the work; a row published twice still runs once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import DatabaseError, router, transaction
from django.db.utils import ConnectionHandler

from ..conf import get_settings
from ..models import Delivery
from . import _due
from ._delivery import run_delivery
from ._publish import Message, publish_in_background

__all__ = ["RELAY_PUBLISH_TIMEOUT_S", "Relay", "RelayPass", "relay_databases"]

logger = logging.getLogger("django_typed_signals.bridge")

RELAY_PUBLISH_TIMEOUT_S = 5.0
"""The bound on one batch's broker calls: a stuck broker never keeps the
relay from stopping on SIGTERM (10 s)."""


@dataclass
class RelayPass:
    """What one pass did, summed over the databases."""

    published: int = 0
    ran: int = 0
    left: int = 0
    """Due rows the broker did not take (or the database did not give)."""
    full: bool = False
    """A batch came back full: more rows are due right now."""


def relay_databases(connections: ConnectionHandler) -> list[str]:
    """The databases that hold delivery rows: where the router migrates them."""
    return [
        alias for alias in connections if router.allow_migrate_model(alias, Delivery)
    ]


class Relay:
    """Publishes or runs due deliveries, one pass at a time or until stopped."""

    def __init__(
        self,
        *,
        databases: Sequence[str],
        batch_size: int = 500,
        stop: threading.Event | None = None,
    ) -> None:
        if not databases:
            raise ValueError("Relay needs at least one database alias")
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size < 1
        ):
            raise ValueError(
                f"Relay batch_size must be an int >= 1, got {batch_size!r}"
            )
        self.databases = list(databases)
        self.batch_size = batch_size
        self.stop = stop if stop is not None else threading.Event()

    def run_once(self) -> RelayPass:
        """One batch per database; a database that fails is logged and skipped."""
        done = RelayPass()
        for alias in self.databases:
            if self.stop.is_set():
                break
            try:
                self._pass(alias, done)
            except DatabaseError as exc:
                logger.warning("relay: database %r failed: %s", alias, exc)
        return done

    def run_forever(self) -> None:
        """Passes every ``RELAY_INTERVAL_S`` (at once while rows are left over)
        until ``stop`` is set."""
        while not self.stop.is_set():
            done = self.run_once()
            if done.full and not done.left:
                continue
            self.stop.wait(get_settings().bridge.relay_interval_s)

    def _pass(self, alias: str, done: RelayPass) -> None:
        bridge = get_settings().bridge
        with transaction.atomic(using=alias):
            rows = _due.due_for_publish(
                limit=self.batch_size,
                republish_after_s=bridge.republish_after_s,
                using=alias,
            )
            done.full = done.full or len(rows) == self.batch_size
            if not rows:
                return
            if bridge.executor == "celery":
                messages = [Message(row.pk, row.queue, alias) for row in rows]
                sent = publish_in_background(
                    messages, timeout_s=RELAY_PUBLISH_TIMEOUT_S
                )
                _due.mark_published([row.pk for row in rows[:sent]], using=alias)
                done.published += sent
                done.left += len(rows) - sent
                return
            # Marked so that a second relay does not take them too; the claim
            # would refuse it anyway, this only saves it the work.
            _due.mark_published([row.pk for row in rows], using=alias)
        for index, row in enumerate(rows):
            if self.stop.is_set():  # the rest: due again at the next pass
                _due.mark_unpublished([r.pk for r in rows[index:]], using=alias)
                return
            run_delivery(row.pk, lease_s=bridge.lease_s, using=alias)
            done.ran += 1

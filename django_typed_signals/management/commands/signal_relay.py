"""``manage.py signal_relay``: publish (or run) the deliveries the fast path missed.

Runs until SIGTERM or SIGINT, then finishes the delivery in hand and exits 0;
``--once`` makes one pass and exits, for cron and CI. Several relays may run
at once. What a pass does depends on ``TYPED_SIGNALS["BRIDGE"]["EXECUTOR"]``:
``"celery"`` publishes to the broker, ``"local"`` and ``"eager"`` run the
deliveries in this process.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from django_typed_signals.bridge._relay import Relay, relay_databases
from django_typed_signals.conf import get_settings


class Command(BaseCommand):
    """``manage.py signal_relay``: see ``docs/bridge.md``."""

    help = (
        "Publish (EXECUTOR 'celery') or run ('local', 'eager') the due delivery "
        "rows of run='celery' receivers, until SIGTERM/SIGINT, or once with --once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--once``, ``--database`` (repeatable), ``--batch-size``."""
        parser.add_argument(
            "--once",
            action="store_true",
            help="Make one pass over what is due and exit.",
        )
        parser.add_argument(
            "--database",
            action="append",
            default=[],
            dest="databases",
            metavar="ALIAS",
            help="A database holding delivery rows (repeatable). Default: every "
            "database the router migrates them to.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            metavar="N",
            help="Rows per database per pass (default 500).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Pass once, or pass every RELAY_INTERVAL_S until told to stop."""
        databases: list[str] = options["databases"] or relay_databases(connections)
        unknown = sorted(set(databases) - set(connections))
        if unknown:
            raise CommandError(
                f"signal_relay: unknown database {', '.join(unknown)}; "
                f"DATABASES has {', '.join(connections)}"
            )
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError(
                f"signal_relay: --batch-size must be >= 1, got {batch_size}"
            )
        relay = Relay(databases=databases, batch_size=batch_size)
        bridge = get_settings().bridge
        if options["once"]:
            done = relay.run_once()
            self.stdout.write(
                f"signal_relay: published {done.published}, ran {done.ran}, "
                f"left {done.left} (executor {bridge.executor!r})"
            )
            return
        with _stopped_by_signals(relay.stop):
            # Announced once the handlers are in place: from then on a SIGTERM
            # stops it cleanly.
            self.stdout.write(
                f"signal_relay: started (executor {bridge.executor!r}, databases "
                f"{', '.join(databases)}, every {bridge.relay_interval_s:g}s)"
            )
            self.stdout.flush()
            relay.run_forever()
        self.stdout.write("signal_relay: stopped")


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Generator[None, None, None]:
    """SIGTERM and SIGINT set ``stop``; the previous handlers come back after."""

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        number: signal.signal(number, handle)
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)

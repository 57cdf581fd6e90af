"""``manage.py signal_deliveries``: look at and repair the delivery rows.

``status`` counts the rows (``--json`` for monitoring), ``requeue`` runs dead
or stuck rows again and resumes their paused receivers, ``replay`` runs a
receiver again for finished sends, ``prune`` deletes old done rows. The row
logic lives in the bridge (``_operations``, ``_replay``, ``_breaker``); this
module reads the options and says what happened.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router
from django.utils import timezone

from django_typed_signals.bridge import _breaker, _operations, _replay
from django_typed_signals.bridge._operations import requeue_rows
from django_typed_signals.models import Delivery

_Status = Delivery.Status


class Command(BaseCommand):
    """``manage.py signal_deliveries``: see docs/bridge.md."""

    help = (
        "Operate the delivery rows of run='celery' receivers: status, requeue, "
        "replay, prune."
    )
    # An operations tool must work while system checks fail.
    requires_system_checks: list[str] | tuple[str, ...] | Literal["__all__"] = ()

    def add_arguments(self, parser: CommandParser) -> None:
        """One subcommand per operation, each with ``--database``."""
        actions = parser.add_subparsers(
            dest="action", metavar="{status,requeue,replay,prune}", required=True
        )
        status = actions.add_parser("status", help="Count the rows by state.")
        status.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )
        requeue = actions.add_parser(
            "requeue",
            help="Run rows again from attempt 1 and resume their receivers.",
        )
        requeue.add_argument("--dead", action="store_true", help="Every dead row.")
        requeue.add_argument(
            "--id",
            dest="ids",
            type=int,
            nargs="+",
            action="extend",
            metavar="N",
            help="These rows (dead, waiting, or under an expired lease).",
        )
        replay = actions.add_parser(
            "replay", help="Run a receiver again for its done and dead rows."
        )
        replay.add_argument("--signal", required=True, metavar="NAME")
        replay.add_argument("--receiver", required=True, metavar="DOTTED.PATH")
        replay.add_argument(
            "--since", metavar="ISO", help="Rows created at or after (ISO 8601)."
        )
        replay.add_argument(
            "--until", metavar="ISO", help="Rows created before (ISO 8601)."
        )
        prune = actions.add_parser("prune", help="Delete old done rows.")
        prune.add_argument(
            "--older-than",
            dest="older_than",
            required=True,
            metavar="DAYS",
            help="Done rows finished more than DAYS (>= 0) ago.",
        )
        for sub in (status, requeue, replay, prune):
            sub.add_argument(
                "--database",
                help="Database alias (default: the router's write database "
                "for deliveries).",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen subcommand on the chosen database."""
        using = _database(options.get("database"))
        action: str = options["action"]
        if action == "status":
            self._status(using, as_json=bool(options["json"]))
        elif action == "requeue":
            self._requeue(using, dead=bool(options["dead"]), ids=options["ids"])
        elif action == "replay":
            self._replay(using, options)
        else:
            self._prune(using, options["older_than"])

    def _status(self, using: str, *, as_json: bool) -> None:
        counts = _operations.status_counts(using=using)
        paused = _breaker.paused_receivers(using=using)
        if as_json:
            self.stdout.write(json.dumps({**counts, "paused_receivers": paused}))
            return
        age = counts["oldest_pending_age_s"]
        rows = [
            ("pending", counts["pending"], "" if age is None else _age(age)),
            ("running", counts["running"], ""),
            ("retrying", counts["retrying"], ""),
            ("done", counts["done"], ""),
            ("dead", counts["dead"], ""),
        ]
        width = max(len(str(count)) for _, count, _ in rows)
        for name, count, note in rows:
            note = f"  (oldest waiting {note})" if note else ""
            self.stdout.write(f"{name:<9}{count:>{width}}{note}")
        if paused:
            self.stdout.write(f"paused receivers ({len(paused)}):")
            for path in paused:
                self.stdout.write(f"  {path}")
        else:
            self.stdout.write("paused receivers: none")

    def _requeue(self, using: str, *, dead: bool, ids: Sequence[int] | None) -> None:
        if dead == bool(ids):
            raise CommandError(
                "requeue takes exactly one of --dead (every dead row) and "
                "--id N ... (the listed rows)"
            )
        done = requeue_rows(dead=dead, ids=None if dead else ids, using=using)
        self.stdout.write(f"Requeued {_plural(done.count, 'delivery', 'deliveries')}.")
        for pk, why in done.left.items():
            self.stdout.write(f"Left delivery {pk} alone: {why}.")
        if done.resumed:
            self.stdout.write(
                "Resumed "
                f"{_plural(done.resumed, 'paused receiver', 'paused receivers')}."
            )

    def _replay(self, using: str, options: dict[str, Any]) -> None:
        signal: str = options["signal"]
        receiver: str = options["receiver"]
        since = _moment("--since", options["since"])
        until = _moment("--until", options["until"])
        if since is not None and until is not None and not since < until:
            raise CommandError(
                f"--since ({options['since']}) must be before --until "
                f"({options['until']})"
            )
        try:
            count = _replay.replay(
                signal=signal, receiver=receiver, since=since, until=until, using=using
            )
        except _replay.ReplayError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Replayed {_plural(count, 'delivery', 'deliveries')} of {signal} "
            f"to {receiver}."
        )

    def _prune(self, using: str, older_than: str) -> None:
        try:
            days = float(older_than)
        except ValueError:
            days = math.nan
        if not (math.isfinite(days) and days >= 0):
            raise CommandError(
                f"--older-than must be a number of days >= 0, got {older_than!r}"
            )
        count = _operations.prune(older_than_days=days, using=using)
        self.stdout.write(
            f"Pruned {_plural(count, 'done delivery', 'done deliveries')} "
            f"finished more than {older_than} days ago."
        )


def _database(alias: str | None) -> str:
    if alias is None:
        return router.db_for_write(Delivery)
    if alias not in connections:
        known = ", ".join(sorted(connections))
        raise CommandError(f"Unknown --database {alias!r}. Valid choices: {known}.")
    return alias


def _moment(option: str, value: str | None) -> datetime | None:
    """``value`` as a datetime; naive means the current time zone."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option} must be an ISO 8601 date or datetime "
            f"(e.g. 2026-01-05T12:00), got {value!r}"
        ) from None
    if settings.USE_TZ and timezone.is_naive(moment):
        return timezone.make_aware(moment)
    if not settings.USE_TZ and timezone.is_aware(moment):
        return timezone.make_naive(moment)
    return moment


def _age(seconds: float) -> str:
    """``42s``, ``3m 20s``, ``2h 5m``, ``3d 4h``: an age at a glance."""
    whole = int(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= size:
            rest = (whole % size) // smaller_size
            return f"{whole // size}{unit} {rest}{smaller}"
    return f"{whole}s"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"

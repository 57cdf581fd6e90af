"""``drain()``: run the pending deliveries of ``run="celery"`` receivers here.

For tests: the rows go through the real path (encoded at send time, stored,
claimed, decoded, run, marked), only in the test's own process. Use it after
the commit, e.g. inside ``captureOnCommitCallbacks(execute=True)`` or in a
``transaction=True`` test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

from ..conf import get_settings

if TYPE_CHECKING:
    from ..bridge._delivery import Outcome

__all__ = ["Drained", "drain"]


@dataclass(frozen=True)
class Drained:
    """One delivery that ``drain()`` ran."""

    id: int
    signal: str
    receiver: str
    outcome: Outcome


def drain(*, using: str | None = None, limit: int = 1000) -> list[Drained]:
    """Run every delivery that is due, including those the runs create.

    Each delivery runs at most once per call: one that fails waits for its
    backoff (``outcome == "retrying"``) and is left for the next call.
    """
    # Imported here: the delivery model needs the app registry, and this
    # package is imported by the pytest plugin before Django is set up.
    from ..bridge import _due
    from ..bridge._delivery import run_delivery

    lease_s = get_settings().bridge.lease_s
    ran: list[Drained] = []
    seen: set[int] = set()
    while True:
        with transaction.atomic(using=using):  # as the relay reads them
            rows = _due.due_for_publish(limit=limit, republish_after_s=0.0, using=using)
        due = [row for row in rows if row.pk not in seen]
        if not due:
            return ran
        for row in due:
            seen.add(row.pk)
            outcome = run_delivery(row.pk, lease_s=lease_s, using=using)
            ran.append(Drained(row.pk, row.signal, row.receiver, outcome))

"""Signals and receivers for the chaos tests, run by real worker processes.

Every effect is a ``Note`` row written inside the receiver's transaction
(``atomic=True``), so the test process can count them exactly: one row per
event, however the broker, the relay or the worker failed on the way.
Switches are ``Note`` rows too, so that the test process can flip them for a
worker that is already running.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django_typed_signals import Signal, TypedSignal, receiver
from django_typed_signals.bridge import DeliveryInfo
from tests.testapp.models import Note

FLAKY_SWITCH = "switch: flaky fails"
OUTAGE_SWITCH = "switch: outage fails"


@dataclass(frozen=True)
class Shipped:
    recipient: Note
    """Any model row will do: the payload carries a reference to it."""
    n: int


counted = Signal(name="tests.chaos.counted")
stalled = Signal(name="tests.chaos.stalled")
flaky = Signal(name="tests.chaos.flaky")
outage = Signal(name="tests.chaos.outage")
shipped = TypedSignal(Shipped, name="tests.chaos.shipped")


def entered_marker(key: str) -> Path:
    """The file ``record_stalled`` creates once its first attempt is inside."""
    return Path(tempfile.gettempdir()) / f"dts-chaos-{key}.entered"


@receiver(counted, run="celery", atomic=True)
def record_count(sender: object, *, n: int, **kwargs: object) -> None:
    Note.objects.create(text=f"count {n}")


@receiver(stalled, run="celery", atomic=True)
def record_stalled(
    sender: object, *, n: int, delivery: DeliveryInfo, **kwargs: object
) -> None:
    """Writes its effect, then on attempt 1 hangs until the test kills the
    worker: the uncommitted effect must go with the worker."""
    Note.objects.create(text=f"stalled {n} attempt {delivery.attempt}")
    if delivery.attempt == 1:
        entered_marker(delivery.key).touch()
        time.sleep(60)


@receiver(flaky, run="celery", atomic=True, max_attempts=2)
def record_flaky(sender: object, *, n: int, **kwargs: object) -> None:
    """Fails (its effect rolled back) while the ``FLAKY_SWITCH`` note exists."""
    Note.objects.create(text=f"flaky {n}")
    if Note.objects.filter(text=FLAKY_SWITCH).exists():
        raise RuntimeError(f"flaky receiver switched to fail (n={n})")


@receiver(outage, run="celery", atomic=True, max_attempts=8)
def record_outage(sender: object, *, n: int, **kwargs: object) -> None:
    """Fails while the ``OUTAGE_SWITCH`` note exists: a downstream outage."""
    Note.objects.create(text=f"outage {n}")
    if Note.objects.filter(text=OUTAGE_SWITCH).exists():
        raise RuntimeError(f"downstream outage (n={n})")


@receiver(shipped, run="celery", atomic=True)
def record_shipped(
    sender: object, *, payload: Shipped, delivery: DeliveryInfo, **kwargs: object
) -> None:
    Note.objects.create(text=f"shipped {payload.n} {payload.recipient.pk}")

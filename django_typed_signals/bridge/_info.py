"""What a bridged receiver is told about its delivery, and what observers are
told about its run (no model import here: users annotate with these in modules
Django imports before the app is ready)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._observe import ReceiverCall

__all__ = ["DeliveryCall", "DeliveryInfo"]


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """What a ``run="celery"`` receiver learns about its delivery.

    ``key`` stays the same over every attempt of the delivery: pass it as the
    idempotency key of effects outside the database (a payment, an email).
    """

    id: int
    attempt: int
    key: str


@dataclass(slots=True)
class DeliveryCall(ReceiverCall):
    """What an observer learns about one delivery run by the bridge.

    A ``ReceiverCall``, so observers that know only that keep working;
    ``duration`` is the receiver's run time. A delivery that could not be
    decoded reports too: ``outcome == "dead"``, the ``DecodingError`` as
    ``exception``, ``sender`` ``None`` and the decoding time as ``duration``.
    """

    delivery_id: int
    attempt: int
    """This run's attempt number, from 1."""
    outcome: Literal["done", "retrying", "dead", "skipped"]
    """What became of the row: ``skipped`` when another worker took it over
    while this run was in the receiver (an atomic receiver's effect was then
    rolled back)."""
    queue_latency: float
    """Seconds from when the row became runnable (sent, or its backoff or
    pause ended) to this run's claim."""

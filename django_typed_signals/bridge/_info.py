"""What a bridged receiver is told about its delivery (no model import here:
users annotate with it in modules Django imports before the app is ready)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeliveryInfo"]


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """What a ``run="celery"`` receiver learns about its delivery.

    ``key`` stays the same over every attempt of the delivery: pass it as the
    idempotency key of effects outside the database (a payment, an email).
    """

    id: int
    attempt: int
    key: str

"""Module-level signals and receivers for the bridge's system checks.

Not connected here: each test connects what it needs with ``run="celery"``
(which takes only module-level functions) and disconnects it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django_typed_signals import Signal, TypedSignal
from tests.testapp.models import Order


@dataclass(frozen=True)
class Tagged:
    """Cannot travel: a set, and a dict keyed by int."""

    order: Order
    tags: set[str]
    counts: dict[int, str]


@dataclass(frozen=True)
class Refunded:
    """Travels: a model instance and a decimal."""

    order: Order
    amount: Decimal


tagged = TypedSignal(Tagged, name="tests.bridge.checks.tagged")
refunded = TypedSignal(
    Refunded, name="tests.bridge.checks.refunded", groups=["tests.checks.billing"]
)
plain = Signal(name="tests.bridge.checks.plain")


def on_tagged(sender: object, *, payload: Tagged, **kwargs: object) -> None:
    pass


def audit_tagged(sender: object, *, payload: Tagged, **kwargs: object) -> None:
    pass


def on_refunded(sender: object, *, payload: Refunded, **kwargs: object) -> None:
    pass


def on_plain(sender: object, **kwargs: object) -> None:
    pass

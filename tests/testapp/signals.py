"""Imported by the app's autodiscovery: nothing imports this module directly."""

from __future__ import annotations

from dataclasses import dataclass

from django_typed_signals import TypedSignal, receiver


@dataclass(frozen=True)
class Pinged:
    count: int


pinged = TypedSignal(Pinged, name="testapp.pinged", groups=["testapp"])

received: list[int] = []


@receiver(pinged)
def record_ping(sender: object, *, payload: Pinged, **kwargs: object) -> None:
    received.append(payload.count)

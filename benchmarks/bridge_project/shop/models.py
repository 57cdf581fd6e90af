"""An order-like row each request writes, and the effect each receiver writes."""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    n: models.IntegerField[int, int] = models.IntegerField()
    total: models.IntegerField[int, int] = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"order {self.n}"


class Effect(models.Model):
    """One per event handled: ``received_at`` is ``time.time()`` in the worker."""

    kind: models.CharField[str, str] = models.CharField(max_length=16)
    n: models.IntegerField[int, int] = models.IntegerField()
    order_id_seen: models.BigIntegerField[int, int] = models.BigIntegerField()
    received_at: models.FloatField[float, float] = models.FloatField()

    def __str__(self) -> str:
        return f"{self.kind} {self.n}"

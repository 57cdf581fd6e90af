from typing import ClassVar

from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        PAID = "paid", "Paid"

    status = models.CharField(max_length=10, choices=Status, default=Status.NEW)
    amount = models.DecimalField(max_digits=10, decimal_places=2)

    # Spelled out so type checkers see it under any settings module.
    objects: ClassVar[models.Manager["Order"]] = models.Manager()

    def __str__(self) -> str:
        return f"order #{self.pk} ({self.status}, {self.amount})"

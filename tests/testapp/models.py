from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return self.text


class Customer(models.Model):
    name = models.CharField(max_length=100)

    objects: ClassVar[models.Manager[Customer]] = models.Manager()

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50)

    objects: ClassVar[models.Manager[Tag]] = models.Manager()

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    """Ten fields of the usual kinds: the lifecycle tests' and benchmarks' model."""

    status = models.CharField(max_length=20, default="draft")
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal(0))
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE
    )
    data: models.JSONField[Any] = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True, default="")
    quantity = models.IntegerField(default=1)
    paid = models.BooleanField(default=False)
    created_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=40, blank=True, default="")
    tags = models.ManyToManyField(Tag, through="OrderTag", blank=True)

    objects: ClassVar[models.Manager[Order]] = models.Manager()

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"


class OrderTag(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return f"{self.order_id}:{self.tag_id}"


class Item(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    sku = models.CharField(max_length=20)

    objects: ClassVar[models.Manager[Item]] = models.Manager()

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return self.sku


class RushOrder(Order):
    """A proxy: Django sends its signals with ``sender=RushOrder``."""

    objects: ClassVar[models.Manager[RushOrder]] = models.Manager()

    class Meta:
        proxy = True
        app_label = "testapp"


class GiftOrder(Order):
    """Multi-table inheritance: a child table with its own field."""

    message = models.CharField(max_length=100, blank=True, default="")

    objects: ClassVar[models.Manager[GiftOrder]] = models.Manager()

    class Meta:
        app_label = "testapp"


class Article(models.Model):
    """A status with choices: the transitions tests' model."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        REVIEW = "review"
        PUBLISHED = "published"
        ARCHIVED = "archived"

    title = models.CharField(max_length=100)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT
    )

    objects: ClassVar[models.Manager[Article]] = models.Manager()

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

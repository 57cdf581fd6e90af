"""One table (``bench_order``), one model class per variant.

``PlainOrder`` owns the table; every other variant is an unmanaged model over
the same table with the same ten fields, plus its library's tracking. A peer
library that does not import (or whose model does not build) is left out and
named in ``UNAVAILABLE`` with the reason.
"""

from __future__ import annotations

from django.db import models

TABLE = "bench_order"
ONE_FIELD = ("status",)
THREE_FIELDS = ("status", "amount", "data")  # data: a JSON dict, frozen on load
THREE_SCALARS = ("status", "amount", "quantity")  # values kept as they are

# Library name -> why its variants are missing.
UNAVAILABLE: dict[str, str] = {}

# Variant name -> receiver calls; the benchmark checks that every save fired.
FIRED: dict[str, int] = {}


def reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:100]


class Customer(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        db_table = "bench_customer"

    def __str__(self) -> str:
        return self.name


class OrderFields(models.Model):
    """The ten columns every variant maps (``id`` included)."""

    status = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    note = models.TextField(blank=True)
    quantity = models.IntegerField(default=1)
    paid = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    reference = models.CharField(max_length=40)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.reference


class PlainOrder(OrderFields):
    """Plain Django: owns the table; receivers are plain ``post_save`` ones."""

    class Meta:
        db_table = TABLE


class TypedOrder1(OrderFields):
    """django-typed-signals, ``status`` tracked (by a ``changed()`` receiver)."""

    class Meta:
        db_table = TABLE
        managed = False


class TypedOrder3(OrderFields):
    """django-typed-signals, ``track_changes(..., *THREE_FIELDS)``."""

    class Meta:
        db_table = TABLE
        managed = False


class TypedOrder3Scalars(OrderFields):
    """django-typed-signals, ``track_changes(..., *THREE_SCALARS)``."""

    class Meta:
        db_table = TABLE
        managed = False


# -- django-lifecycle: snapshots every field whatever its hooks watch -------

try:
    from django_lifecycle import AFTER_UPDATE, LifecycleModel, hook

    class LifecycleOrder(LifecycleModel, OrderFields):
        class Meta:
            db_table = TABLE
            managed = False

        @hook(AFTER_UPDATE, when="status", has_changed=True)
        def on_status_changed(self) -> None:
            FIRED["lifecycle"] += 1

except Exception as exc:  # any failure: report it, run the other variants
    UNAVAILABLE["django-lifecycle"] = reason(exc)


# -- django-model-utils: FieldTracker ---------------------------------------

try:
    from model_utils import FieldTracker

    class ModelUtilsOrder1(OrderFields):
        tracker = FieldTracker(fields=list(ONE_FIELD))

        class Meta:
            db_table = TABLE
            managed = False

    class ModelUtilsOrder3(OrderFields):
        tracker = FieldTracker(fields=list(THREE_FIELDS))

        class Meta:
            db_table = TABLE
            managed = False

except Exception as exc:
    UNAVAILABLE["django-model-utils"] = reason(exc)


# -- django-dirtyfields: DirtyFieldsMixin -----------------------------------

try:
    from dirtyfields import DirtyFieldsMixin

    class DirtyOrder1(DirtyFieldsMixin, OrderFields):
        FIELDS_TO_CHECK = ONE_FIELD

        class Meta:
            db_table = TABLE
            managed = False

    class DirtyOrder3(DirtyFieldsMixin, OrderFields):
        FIELDS_TO_CHECK = THREE_FIELDS

        class Meta:
            db_table = TABLE
            managed = False

except Exception as exc:
    UNAVAILABLE["django-dirtyfields"] = reason(exc)


# -- django-tracking-model: TrackingModelMixin ------------------------------

try:
    from tracking_model import TrackingModelMixin

    class TrackingModelOrder1(TrackingModelMixin, OrderFields):
        TRACKED_FIELDS = ONE_FIELD

        class Meta:
            db_table = TABLE
            managed = False

    class TrackingModelOrder3(TrackingModelMixin, OrderFields):
        TRACKED_FIELDS = THREE_FIELDS

        class Meta:
            db_table = TABLE
            managed = False

except Exception as exc:
    UNAVAILABLE["django-tracking-model"] = reason(exc)

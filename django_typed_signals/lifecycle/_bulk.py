"""Sending ``PostSave`` for bulk operations, which Django sends nothing for.

``QuerySet.update()``, ``bulk_create()`` and ``bulk_update()`` write without
calling ``save()``, so Django sends no ``pre_save``/``post_save`` and no
receiver runs. When a caller wants receivers to see such a write, it says so:

.. code-block:: python

    orders = Order.objects.bulk_create(new_orders)
    send_post_save(Order, orders, created=True)
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

from ._payloads import NO_CHANGES, PostSave
from ._tracking import changes, reset_baseline
from ._wiring import post_save

__all__ = ["send_post_save"]

M = TypeVar("M", bound=Model)


def send_post_save(
    model: type[M],
    instances: Iterable[M],
    *,
    created: bool,
    update_fields: Iterable[str] | None = None,
    using: str | None = None,
) -> int:
    """Send the typed ``PostSave`` for each instance a bulk operation wrote.

    Only typed ``PostSave`` receivers run (not Django's ``post_save`` ones):
    the instances were not saved one by one, and saying otherwise to plain
    receivers would surprise them. Tracked fields report their changes and
    take the written values as their new baseline, as a ``save()`` would.
    Returns the number of payloads sent.
    """
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"send_post_save() takes a model class, got {model!r}")
    updated = None if update_fields is None else frozenset(update_fields)
    count = 0
    for instance in instances:
        if not isinstance(instance, model):
            raise TypeError(
                f"send_post_save({model._meta.label}): got a "
                f"{type(instance).__name__} instance: {instance!r}"
            )
        post_save.send(
            model,
            PostSave(
                instance=instance,
                using=using or instance._state.db or DEFAULT_DB_ALIAS,
                created=created,
                update_fields=updated,
                raw=False,
                changes=NO_CHANGES if created else changes(instance, updated),
            ),
        )
        reset_baseline(instance, updated)
        count += 1
    return count

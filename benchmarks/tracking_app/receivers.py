"""The one receiver per variant that the save benchmark fires.

Each does the same work (count a call) once it has decided the save changed
``status``: ours through ``when=changed("status")``, the plain Django one by
comparing ``instance.status`` with a constant (it has nothing to compare
against), the peers through their own change APIs. django-lifecycle's hook
lives on its model.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from django_typed_signals import receiver
from django_typed_signals.lifecycle import PostSave, changed, track_changes

from . import models as m

UNSET = "void"  # a status no benchmark save writes

for _name in (
    "plain",
    "typed",
    "lifecycle",
    "model-utils",
    "dirtyfields",
    "tracking-model",
):
    m.FIRED[_name] = 0

track_changes(m.TypedOrder3, *m.THREE_FIELDS)
track_changes(m.TypedOrder3Scalars, *m.THREE_SCALARS)


@receiver(PostSave, sender=m.TypedOrder1, when=changed("status"))
def typed_status_changed(sender: type[m.TypedOrder1], **kwargs: Any) -> None:
    m.FIRED["typed"] += 1


def plain_status_changed(
    sender: type[m.PlainOrder], instance: m.PlainOrder, **kwargs: Any
) -> None:
    if instance.status != UNSET:
        m.FIRED["plain"] += 1


post_save.connect(plain_status_changed, sender=m.PlainOrder)


if "django-model-utils" not in m.UNAVAILABLE:

    def model_utils_status_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.tracker.has_changed("status"):
            m.FIRED["model-utils"] += 1

    post_save.connect(model_utils_status_changed, sender=m.ModelUtilsOrder1)


if "django-dirtyfields" not in m.UNAVAILABLE:
    # Connected before any instance exists, so before dirtyfields' own
    # post_save receiver that resets the state.

    def dirtyfields_status_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
        if "status" in instance.get_dirty_fields():
            m.FIRED["dirtyfields"] += 1

    post_save.connect(dirtyfields_status_changed, sender=m.DirtyOrder1)


if "django-tracking-model" not in m.UNAVAILABLE:

    def tracking_model_status_changed(
        sender: Any, instance: Any, **kwargs: Any
    ) -> None:
        if "status" in instance.tracker.changed:
            m.FIRED["tracking-model"] += 1

    post_save.connect(tracking_model_status_changed, sender=m.TrackingModelOrder1)

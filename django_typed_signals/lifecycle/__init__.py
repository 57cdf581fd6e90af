"""Typed model events: Django's model signals as payload dataclasses.

.. code-block:: python

    from django_typed_signals import receiver
    from django_typed_signals.lifecycle import PostSave, changed

    @receiver(PostSave, sender=Order, when=changed("status", to="paid"))
    def notify(sender: type[Order], *, payload: PostSave[Order], **kwargs: object):
        payload.changes["status"].old  # the previous value, no extra query
"""

from .._exports import show_public_module
from ._bulk import send_post_save
from ._conditions import Condition, changed, created
from ._payloads import (
    FieldChange,
    M2MChanged,
    ModelEvent,
    PostDelete,
    PostSave,
    PreDelete,
    PreSave,
)
from ._tracking import changes, track_changes, tracked_fields
from ._wiring import m2m_changed, post_delete, post_save, pre_delete, pre_save

__all__ = [
    "Condition",
    "FieldChange",
    "M2MChanged",
    "ModelEvent",
    "PostDelete",
    "PostSave",
    "PreDelete",
    "PreSave",
    "changed",
    "changes",
    "created",
    "m2m_changed",
    "post_delete",
    "post_save",
    "pre_delete",
    "pre_save",
    "send_post_save",
    "track_changes",
    "tracked_fields",
]

show_public_module(__name__, __all__, globals())

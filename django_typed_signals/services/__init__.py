"""Business logic in services; receivers that only log, broadcast, clean caches.

``@service`` runs a function in one transaction and sends what it queued
with ``send_on_commit`` after the commit. The audit context (``audit()``,
``AuditContextMiddleware``) tells every receiver, Celery workers included,
who acted. Receivers declared read-only (``read_only=True``, or their
group in ``READ_ONLY_GROUPS``) may not write to the database. ``Transitions``
checks a status field's changes on every save; ``broadcast()`` tells
WebSocket clients (Django Channels) after the commit.
"""

from .._audit import AuditContext, audit, current_context
from .._exports import show_public_module
from . import _transition_checks  # noqa: F401  # pyright: ignore[reportUnusedImport]  # registers E401/E402
from ._broadcast import abroadcast, broadcast, to_message
from ._middleware import AuditContextMiddleware
from ._read_only import ReadOnlyReceiverError, install
from ._service import service
from ._transitions import InvalidTransition, Transitions

install()

__all__ = [
    "AuditContext",
    "AuditContextMiddleware",
    "InvalidTransition",
    "ReadOnlyReceiverError",
    "Transitions",
    "abroadcast",
    "audit",
    "broadcast",
    "current_context",
    "service",
    "to_message",
]

show_public_module(__name__, __all__, globals())
for _shared in (AuditContext, audit, current_context):  # defined in the core
    _shared.__module__ = __name__

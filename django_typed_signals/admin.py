"""Admin pages for the bridge's delivery rows and receiver breakers.

Rows change only through the delivery state machine and the breaker, so the
admin grants no add, change or delete. Its two actions need the
``requeue_delivery`` permission: requeue (dead or stuck rows run again from
attempt 1, and their receivers' breakers close, as ``signal_deliveries
requeue`` does) and resume (a paused receiver's breaker closes).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol, cast

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .bridge import _breaker
from .bridge._operations import requeue_rows
from .models import BreakerState, Delivery

# Nothing here is API (so the class is private): Django's admin autodiscovery
# imports the module and the class registers itself below.
__all__: list[str] = []


class _Permissions(Protocol):
    """What the admin needs of ``request.user`` (any user model has it)."""

    def has_perm(self, perm: str, obj: object = None) -> bool: ...


if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Delivery]
    _BreakerModelAdmin = admin.ModelAdmin[BreakerState]
else:  # generic only in the stubs
    _ModelAdmin = _BreakerModelAdmin = admin.ModelAdmin


def _may_requeue(request: HttpRequest) -> bool:
    user = cast("_Permissions", request.user)
    return user.has_perm("django_typed_signals.requeue_delivery")


class _ViewOnly:
    """No add, change or delete: the bridge alone writes these rows."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class _DeliveryAdmin(_ViewOnly, _ModelAdmin):
    """Deliveries by status, signal and receiver, with the last error."""

    list_display = (
        "id",
        "signal",
        "receiver",
        "status",
        "attempts",
        "available_at",
        "created_at",
    )
    list_filter = ("status", "signal", "receiver")
    search_fields = ("=id", "=key", "signal", "receiver")
    actions = ("requeue",)
    fieldsets = (
        (None, {"fields": ("signal", "receiver", "queue", "key")}),
        ("State", {"fields": ("status", "attempts", "max_attempts", "error")}),
        (
            "Times",
            {
                "fields": (
                    "created_at",
                    "available_at",
                    "published_at",
                    "lease_until",
                    "finished_at",
                )
            },
        ),
        ("Payload", {"fields": ("encoded_payload",)}),
    )
    readonly_fields = (
        "signal",
        "receiver",
        "queue",
        "key",
        "status",
        "attempts",
        "max_attempts",
        "error",
        "created_at",
        "available_at",
        "published_at",
        "lease_until",
        "finished_at",
        "encoded_payload",
    )

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        """The ``requeue`` action's permission (``allowed_permissions``)."""
        return _may_requeue(request)

    @admin.display(description="last error")
    def error(self, obj: Delivery) -> SafeString | str:
        """The traceback as written, indentation kept."""
        if not obj.last_error:
            return "-"
        return format_html("<pre>{}</pre>", obj.last_error)

    @admin.display(description="payload")
    def encoded_payload(self, obj: Delivery) -> SafeString:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True)
        )

    @admin.action(description="Requeue selected deliveries", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Run the selected rows again from attempt 1; done and running stay."""
        ids = list(queryset.values_list("pk", flat=True))
        done = requeue_rows(ids=ids, using=queryset.db)
        self.message_user(request, f"{done.count} of {len(ids)} deliveries requeued.")
        if done.left:
            self.message_user(
                request,
                f"{len(done.left)} left as they were: done deliveries and live "
                "claims are not requeued.",
                messages.WARNING,
            )
        if done.resumed:
            self.message_user(request, f"{_receivers(done.resumed)} resumed.")


def _receivers(count: int) -> str:
    return f"{count} paused receiver" + ("" if count == 1 else "s")


class _BreakerStateAdmin(_ViewOnly, _BreakerModelAdmin):
    """Receivers that failed lately: their failures in a row and pause."""

    list_display = (
        "receiver",
        "consecutive_failures",
        "paused_until",
        "paused",
        "updated_at",
    )
    search_fields = ("receiver",)
    actions = ("resume",)
    readonly_fields = (
        "receiver",
        "consecutive_failures",
        "paused_until",
        "updated_at",
    )

    def has_resume_permission(self, request: HttpRequest) -> bool:
        """The ``resume`` action's permission (``allowed_permissions``)."""
        return _may_requeue(request)

    @admin.display(boolean=True, description="paused now")
    def paused(self, obj: BreakerState) -> bool:
        return obj.paused_until is not None and obj.paused_until > timezone.now()

    @admin.action(description="Resume selected receivers", permissions=["resume"])
    def resume(self, request: HttpRequest, queryset: QuerySet[BreakerState]) -> None:
        """Close the selected breakers; the rows a pause gave back still wait
        until it would have ended (requeue them to run them now)."""
        receivers = list(queryset.values_list("receiver", flat=True))
        resumed = _breaker.resume(receivers, using=queryset.db)
        self.message_user(request, f"{_receivers(resumed)} resumed.")
        if resumed:
            self.message_user(
                request,
                "Deliveries a pause gave back run when it would have ended; "
                "requeue them to run them now.",
            )


# Autodiscovery imports this module only when the admin is installed; the
# check keeps a direct import harmless in projects without it.
if apps.is_installed("django.contrib.admin"):
    admin.site.register(Delivery, _DeliveryAdmin)
    admin.site.register(BreakerState, _BreakerStateAdmin)

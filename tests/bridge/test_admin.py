"""The bridge's admin: deliveries (read-only pages, filters, the last error,
requeue) and receiver breakers (read-only, resume).

The test settings do not install ``django.contrib.admin``, so the ModelAdmin
runs on a private ``AdminSite`` with real users, requests and rows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import timezone

from django_typed_signals import admin as delivery_admin
from django_typed_signals.admin import _BreakerStateAdmin, _DeliveryAdmin
from django_typed_signals.bridge import _breaker
from django_typed_signals.bridge._outbox import NewDelivery, write_deliveries
from django_typed_signals.models import BreakerState, Delivery

pytestmark = pytest.mark.django_db
Status = Delivery.Status


@pytest.fixture
def model_admin() -> _DeliveryAdmin:
    return _DeliveryAdmin(Delivery, AdminSite(name="test_admin"))


def user(name: str, *permissions: str, superuser: bool = False) -> User:
    account = User.objects.create_user(name, is_staff=True, is_superuser=superuser)
    account.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    return User.objects.get(pk=account.pk)  # without the cached permissions


def request_by(account: User, path: str = "/", **query: Any) -> HttpRequest:
    request = RequestFactory().get(path, query)
    request.user = account
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
    return request


def rows(*statuses: str) -> list[Delivery]:
    written = write_deliveries(
        [
            NewDelivery(
                signal=f"shop.{status}",
                receiver=f"shop.receivers.on_{status}",
                payload={"n": i},
            )
            for i, status in enumerate(statuses)
        ]
    )
    for row, status in zip(written, statuses, strict=True):
        Delivery.objects.filter(pk=row.pk).update(status=status, attempts=3)
    return written


def test_model_admin_passes_djangos_checks(model_admin: _DeliveryAdmin) -> None:
    assert model_admin.check() == []


def test_module_imports_without_the_admin_app_and_registers_nothing() -> None:
    from django.apps import apps

    assert not apps.is_installed("django.contrib.admin")
    assert delivery_admin._DeliveryAdmin is _DeliveryAdmin


def test_nobody_adds_changes_or_deletes_rows(model_admin: _DeliveryAdmin) -> None:
    (row,) = rows(Status.DEAD)
    request = request_by(user("root", superuser=True))

    assert model_admin.has_view_permission(request, row)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert set(model_admin.get_actions(request)) == {"requeue"}  # no delete_selected
    assert set(model_admin.get_readonly_fields(request, row)) >= {
        "signal",
        "receiver",
        "status",
        "attempts",
        "error",
    }


def test_requeue_needs_its_permission(model_admin: _DeliveryAdmin) -> None:
    viewer = request_by(user("viewer", "view_delivery"))
    operator = request_by(user("operator", "view_delivery", "requeue_delivery"))

    assert model_admin.has_view_permission(viewer)
    assert model_admin.get_actions(viewer) == {}
    assert set(model_admin.get_actions(operator)) == {"requeue"}


def test_changelist_filters_by_status_signal_and_receiver(
    model_admin: _DeliveryAdmin,
) -> None:
    dead, done, _ = rows(Status.DEAD, Status.DONE, Status.PENDING)
    root = user("root", superuser=True)

    def listed(**query: str) -> list[int]:
        changelist = model_admin.get_changelist_instance(request_by(root, **query))
        return [row.pk for row in changelist.result_list]

    assert len(listed()) == 3
    assert listed(status__exact="dead") == [dead.pk]
    assert listed(signal__exact="shop.done") == [done.pk]
    assert listed(receiver__exact="shop.receivers.on_dead") == [dead.pk]
    assert listed(q="on_done") == [done.pk]


def test_detail_shows_the_last_error_and_payload_escaped(
    model_admin: _DeliveryAdmin,
) -> None:
    (row,) = rows(Status.DEAD)
    row.last_error = 'Traceback:\n  File "x.py"\nValueError: <b>bad</b>'
    row.payload = {"note": "<i>"}

    assert model_admin.error(row) == (
        "<pre>Traceback:\n  File &quot;x.py&quot;\n"
        "ValueError: &lt;b&gt;bad&lt;/b&gt;</pre>"
    )
    assert model_admin.encoded_payload(row) == (
        "<pre>{\n  &quot;note&quot;: &quot;&lt;i&gt;&quot;\n}</pre>"
    )
    row.last_error = ""
    assert model_admin.error(row) == "-"


def test_requeue_action_runs_dead_rows_again_and_leaves_done_ones(
    model_admin: _DeliveryAdmin,
) -> None:
    dead, done = rows(Status.DEAD, Status.DONE)
    request = request_by(user("root", superuser=True))

    model_admin.requeue(request, Delivery.objects.filter(pk__in=[dead.pk, done.pk]))

    assert Delivery.objects.get(pk=dead.pk).status == Status.PENDING
    assert Delivery.objects.get(pk=dead.pk).attempts == 0
    assert Delivery.objects.get(pk=done.pk).status == Status.DONE
    assert [str(m) for m in get_messages(request)] == [
        "1 of 2 deliveries requeued.",
        "1 left as they were: done deliveries and live claims are not requeued.",
    ]


def test_requeue_action_resumes_the_paused_receivers_of_the_rows_it_took(
    model_admin: _DeliveryAdmin,
) -> None:
    dead, done = rows(Status.DEAD, Status.DONE)
    later = timezone.now() + timedelta(hours=1)
    for receiver in (dead.receiver, done.receiver, "shop.receivers.other"):
        BreakerState.objects.create(
            receiver=receiver, consecutive_failures=5, paused_until=later
        )
    request = request_by(user("root", superuser=True))

    model_admin.requeue(request, Delivery.objects.filter(pk__in=[dead.pk, done.pk]))

    # The done row was not requeued: its receiver stays paused, as the others.
    assert _breaker.paused_receivers() == sorted(
        [done.receiver, "shop.receivers.other"]
    )
    assert "1 paused receiver resumed." in [str(m) for m in get_messages(request)]


# --- receiver breakers ----------------------------------------------------------


@pytest.fixture
def breaker_admin() -> _BreakerStateAdmin:
    return _BreakerStateAdmin(BreakerState, AdminSite(name="test_admin"))


def breakers(*paused_for_s: float | None) -> list[BreakerState]:
    now = timezone.now()
    return [
        BreakerState.objects.create(
            receiver=f"shop.receivers.r{i}",
            consecutive_failures=3 + i,
            paused_until=None if s is None else now + timedelta(seconds=s),
        )
        for i, s in enumerate(paused_for_s)
    ]


def test_breaker_admin_passes_djangos_checks(
    breaker_admin: _BreakerStateAdmin,
) -> None:
    assert breaker_admin.check() == []


def test_breakers_are_read_only_and_resume_needs_the_requeue_permission(
    breaker_admin: _BreakerStateAdmin,
) -> None:
    (state,) = breakers(60)
    root = request_by(user("root", superuser=True))
    viewer = request_by(user("viewer", "view_breakerstate"))
    operator = request_by(user("operator", "view_breakerstate", "requeue_delivery"))

    assert breaker_admin.has_view_permission(root, state)
    assert not breaker_admin.has_add_permission(root)
    assert not breaker_admin.has_change_permission(root, state)
    assert not breaker_admin.has_delete_permission(root, state)
    assert breaker_admin.has_view_permission(viewer)
    assert breaker_admin.get_actions(viewer) == {}
    assert set(breaker_admin.get_actions(operator)) == {"resume"}


def test_breaker_list_says_which_receivers_are_paused_now(
    breaker_admin: _BreakerStateAdmin,
) -> None:
    paused, over, failing = breakers(60, -60, None)
    root = request_by(user("root", superuser=True))

    listed = breaker_admin.get_changelist_instance(root).result_list

    assert {row.receiver for row in listed} == {
        paused.receiver,
        over.receiver,
        failing.receiver,
    }
    assert breaker_admin.paused(paused) is True
    assert breaker_admin.paused(over) is False
    assert breaker_admin.paused(failing) is False


def test_resume_action_closes_only_the_selected_breakers(
    breaker_admin: _BreakerStateAdmin,
) -> None:
    first, second, _ = breakers(60, 60, 60)
    request = request_by(user("root", superuser=True))

    breaker_admin.resume(
        request, BreakerState.objects.filter(pk__in=[first.pk, second.pk])
    )

    assert _breaker.paused_receivers() == ["shop.receivers.r2"]
    reset = BreakerState.objects.get(pk=first.pk)
    assert (reset.paused_until, reset.consecutive_failures) == (None, 0)
    assert [str(m) for m in get_messages(request)] == [
        "2 paused receivers resumed.",
        "Deliveries a pause gave back run when it would have ended; requeue them "
        "to run them now.",
    ]

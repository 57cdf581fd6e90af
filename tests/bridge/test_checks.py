"""The bridge's system checks: E301 payloads, E302 routes, E303 queues."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery
from celery.app import app_or_default
from django.core.checks import CheckMessage, run_checks
from django.core.management import call_command
from django.test import override_settings
from kombu import Queue

from django_typed_signals import Signal
from django_typed_signals.bridge._checks import (
    TAG,
    check_celery_queues,
    check_encodable_payloads,
    check_routes,
)
from django_typed_signals.lifecycle import post_save
from tests.bridge import check_receivers as cr
from tests.bridge import receivers
from tests.testapp.models import Note, Order

CREATE_NO_QUEUES = {"CELERY_TASK_CREATE_MISSING_QUEUES": False}
PATH = "tests.bridge.check_receivers"
ON_TAGGED = f"{PATH}.on_tagged"


@contextmanager
def connected(
    signal: Signal,
    receiver: Callable[..., Any],
    sender: object = None,
    **options: Any,
) -> Generator[None, None, None]:
    """``receiver`` connected with ``run="celery"`` for the block."""
    signal.connect(receiver, sender, run="celery", **options)
    try:
        yield
    finally:
        assert signal.disconnect(receiver, sender)


@contextmanager
def celery_app(**config: Any) -> Generator[Celery, None, None]:
    """A Celery app configured with ``config``, current for the block."""
    previous = app_or_default()
    app = Celery("tests.bridge.checks", set_as_current=False)
    app.conf.update(config)
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()


def bridge_messages() -> list[CheckMessage]:
    """What ``manage.py check --tag typed_signals`` reports with an E3xx id."""
    return [
        m for m in run_checks(tags=[TAG]) if (m.id or "").startswith("typed_signals.E3")
    ]


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]


# -- the clean project ------------------------------------------------------


def test_the_test_projects_receivers_pass() -> None:
    # receivers.py has run="celery" receivers of typed, plain and lifecycle
    # signals, with and without queue=.
    signals = [receivers.paid, receivers.shipped, post_save]
    assert {
        info.path
        for signal in signals
        for info in signal.receivers_info()
        if info.run == "celery"
    } >= {
        "tests.bridge.receivers.on_paid",
        "tests.bridge.receivers.on_shipped",
        "tests.bridge.receivers.on_order_paid",
    }
    assert bridge_messages() == []


def test_manage_py_check_passes_on_the_test_project() -> None:
    call_command("check", "--tag", "typed_signals")


def test_the_checks_are_registered_under_the_package_tag() -> None:
    from django_typed_signals import checks

    assert TAG == checks.TAG


def test_every_bridge_id_is_listed_in_the_checks_tables() -> None:
    from django_typed_signals import checks

    bridge_checks = inspect.getmodule(check_routes)
    assert bridge_checks is not None
    source = inspect.getsource(bridge_checks)
    used = set(re.findall(r'id="(typed_signals\.\w+)"', source))
    assert used == {"typed_signals.E301", "typed_signals.E302", "typed_signals.E303"}
    for listed_in in (checks.__doc__ or "", bridge_checks.__doc__ or ""):
        assert all(f"``{code}``" in listed_in for code in used)


# -- E301 -------------------------------------------------------------------


def test_e301_names_signal_receiver_field_path_and_type() -> None:
    with connected(cr.tagged, cr.on_tagged):
        messages = check_encodable_payloads()
    assert ids(messages) == ["typed_signals.E301", "typed_signals.E301"]
    tags, counts = (m.msg for m in messages)
    assert f"{ON_TAGGED} ({inspect.getsourcefile(cr.on_tagged)}:" in tags
    assert "tests.bridge.checks.tagged" in tags
    assert "payload.tags (set[str]): sets are not supported" in tags
    assert "payload.counts (dict[int, str]): dict keys must be str" in counts
    assert all(m.obj == ON_TAGGED for m in messages)
    assert all("What travels" in (m.hint or "") for m in messages)


def test_e301_is_reported_by_run_checks() -> None:
    with connected(cr.tagged, cr.on_tagged):
        assert ids(bridge_messages()) == ["typed_signals.E301"] * 2


def test_e301_reports_each_receiver_once_per_signal() -> None:
    with (
        connected(cr.tagged, cr.on_tagged),
        connected(cr.tagged, cr.on_tagged, sender=Order, queue="email"),
        connected(cr.tagged, cr.audit_tagged),
    ):
        messages = check_encodable_payloads()
    assert [m.obj for m in messages] == [f"{PATH}.audit_tagged"] * 2 + [ON_TAGGED] * 2


def test_e301_ignores_receivers_run_inline_or_on_commit() -> None:
    cr.tagged.connect(cr.on_tagged)
    cr.tagged.connect(cr.audit_tagged, run="on_commit")
    try:
        assert check_encodable_payloads() == []
    finally:
        cr.tagged.disconnect(cr.on_tagged)
        cr.tagged.disconnect(cr.audit_tagged)


def test_e301_passes_payloads_that_travel_and_plain_signals() -> None:
    with (
        connected(cr.refunded, cr.on_refunded),
        connected(cr.plain, cr.on_plain),
    ):
        assert check_encodable_payloads() == []


def test_e301_is_gone_once_the_receiver_is_disconnected() -> None:
    with connected(cr.tagged, cr.on_tagged):
        pass
    assert check_encodable_payloads() == []


def test_e301_keeps_to_the_apps_it_is_asked_about() -> None:
    from django.apps import apps

    with connected(cr.tagged, cr.on_tagged):
        everywhere = check_encodable_payloads(None)
        testapp = check_encodable_payloads([apps.get_app_config("testapp")])
    assert len(everywhere) == 2
    assert testapp == []  # the receiver is in tests.bridge, not tests.testapp


# -- E302 -------------------------------------------------------------------


@override_settings(TYPED_SIGNALS={"BRIDGE": {"ROUTES": {"biling": "payments"}}})
def test_e302_a_route_for_an_undeclared_group() -> None:
    [message] = check_routes()
    assert message.id == "typed_signals.E302"
    assert "'biling'" in message.msg
    assert "'payments'" in message.msg
    assert "'tests.checks.billing'" in (message.hint or "")
    assert "'model'" in (message.hint or "")
    assert ids(bridge_messages()) == ["typed_signals.E302"]


@override_settings(
    TYPED_SIGNALS={"BRIDGE": {"ROUTES": {"tests.checks.billing": "payments"}}}
)
def test_e302_passes_routes_for_declared_groups() -> None:
    assert check_routes() == []


# -- E303 -------------------------------------------------------------------


@override_settings(
    TYPED_SIGNALS={"BRIDGE": {"ROUTES": {"tests.checks.billing": "payments"}}},
    CELERY_TASK_QUEUES=[Queue("email")],
    **CREATE_NO_QUEUES,
)
def test_e303_from_the_django_settings_of_the_default_celery_app() -> None:
    with connected(cr.refunded, cr.on_refunded, queue="reports"):
        messages = check_celery_queues()
    # receivers.on_shipped uses queue="email", which is declared.
    assert ids(messages) == ["typed_signals.E303", "typed_signals.E303"]
    receiver, route = messages
    assert "tests.bridge.check_receivers.on_refunded" in receiver.msg
    assert "'reports'" in receiver.msg
    assert receiver.obj == "tests.bridge.check_receivers.on_refunded"
    assert "'tests.checks.billing'" in route.msg
    assert "'payments'" in route.msg
    assert "Declared queues: 'email'." in (route.hint or "")


def test_e303_from_the_current_celery_app() -> None:
    queues = [Queue("email"), Queue("reports")]
    with (
        celery_app(task_queues=queues, task_create_missing_queues=False),
        connected(cr.refunded, cr.on_refunded, queue="reports"),
        connected(cr.plain, cr.on_plain, queue="bulk"),
    ):
        messages = check_celery_queues()
        assert ids(bridge_messages()) == ["typed_signals.E303"]
    [message] = messages
    assert message.obj == "tests.bridge.check_receivers.on_plain"
    assert "'bulk'" in message.msg
    assert "tests.bridge.checks.plain" in message.msg


def test_e303_takes_queues_declared_as_a_dict_and_each_queue_of_a_receiver() -> None:
    with (
        celery_app(task_queues={"email": {}}, task_create_missing_queues=False),
        connected(cr.plain, cr.on_plain, queue="bulk"),
        connected(cr.plain, cr.on_plain, sender=Order, queue="email"),
        connected(cr.plain, cr.on_plain, sender=Note, queue="reports"),
    ):
        messages = check_celery_queues()
    assert ids(messages) == ["typed_signals.E303"] * 2
    bulk, reports = (m.msg for m in messages)
    assert "'bulk'" in bulk
    assert "'reports'" in reports


def test_e303_the_current_app_wins_over_the_django_settings() -> None:
    with (
        override_settings(CELERY_TASK_QUEUES=[Queue("email")], **CREATE_NO_QUEUES),
        celery_app(task_queues=[Queue("bulk")], task_create_missing_queues=True),
        connected(cr.plain, cr.on_plain, queue="bulk"),
    ):
        assert check_celery_queues() == []


@pytest.mark.parametrize(
    "config",
    [
        {},  # no queues declared
        {"task_queues": [Queue("email")]},  # Celery creates missing queues
        {"task_queues": [], "task_create_missing_queues": False},
    ],
)
def test_e303_is_skipped_when_any_queue_will_do(config: dict[str, Any]) -> None:
    with (
        celery_app(**config),
        connected(cr.plain, cr.on_plain, queue="bulk"),
        override_settings(
            TYPED_SIGNALS={"BRIDGE": {"ROUTES": {"tests.checks.billing": "payments"}}}
        ),
    ):
        assert check_celery_queues() == []


def test_e303_is_skipped_without_celery(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "celery", None)  # import celery fails
    with (
        override_settings(CELERY_TASK_QUEUES=[Queue("email")], **CREATE_NO_QUEUES),
        connected(cr.plain, cr.on_plain, queue="bulk"),
    ):
        assert check_celery_queues() == []

"""Typed twins of Django's built-in signals, fed by Django's own code paths."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.conf import UserSettingsHolder
from django.contrib.auth import authenticate
from django.contrib.auth import signals as auth_signals
from django.contrib.auth.models import User
from django.core import signals as core_signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.management.sql import (
    emit_post_migrate_signal,
    emit_pre_migrate_signal,
)
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends import signals as backend_signals
from django.db.models import signals as model_signals
from django.dispatch import Signal as DjangoSignal
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.test.client import AsyncClientHandler
from django.urls import path

from django_typed_signals import TypedSignal, builtin, mute
from django_typed_signals.builtin import (
    ConnectionCreated,
    GotRequestException,
    PostMigrate,
    PreMigrate,
    RequestFinished,
    RequestStarted,
    SettingChanged,
    UserLoggedIn,
    UserLoggedOut,
    UserLoginFailed,
    connect_builtin_bridges,
)

P = TypeVar("P")

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def ok_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def boom_view(request: HttpRequest) -> HttpResponse:
    raise Boom("view failed")


urlpatterns = [path("ok/", ok_view), path("boom/", boom_view)]


@pytest.fixture(autouse=True)
def _bridged() -> Iterator[None]:
    connect_builtin_bridges()  # also done at startup; connecting again is a no-op
    with override_settings(
        ROOT_URLCONF=__name__,
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    ):
        yield


@contextmanager
def received(signal: TypedSignal[P]) -> Iterator[list[tuple[object, P]]]:
    """(sender, payload) for each send of ``signal`` inside the block."""
    calls: list[tuple[object, P]] = []

    def record(sender: object, *, payload: P, **kwargs: object) -> None:
        calls.append((sender, payload))

    signal.connect(record)
    try:
        yield calls
    finally:
        signal.disconnect(record)


@contextmanager
def received_plain(signal: DjangoSignal) -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of each send of a Django signal inside the block."""
    calls: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        calls.append(kwargs)

    signal.connect(record)
    try:
        yield calls
    finally:
        signal.disconnect(record)


def open_new_connection() -> Any:
    """Open a second connection to the default database and close it again.

    The test's own connection cannot be closed and reopened: SQLite keeps an
    in-memory database open, and a test transaction would be lost.
    """
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        wrapper.ensure_connection()
    finally:
        if wrapper.connection is not None:
            wrapper.connection.close()
    return wrapper


# -- request ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # Django's handler closes connections
def test_wsgi_request_sends_started_with_environ_and_finished() -> None:
    environ = RequestFactory().get("/ok/").environ
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None, /
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return len

    with (
        received(builtin.request_started) as started,
        received(builtin.request_finished) as finished,
    ):
        WSGIHandler()(environ, start_response).close()

    assert statuses == ["200 OK"]
    assert started == [(WSGIHandler, RequestStarted(environ=environ, scope=None))]
    assert finished == [(WSGIHandler, RequestFinished())]


def test_asgi_request_sends_started_with_scope() -> None:
    with (
        received(builtin.request_started) as started,
        received(builtin.request_finished) as finished,
    ):
        response = async_to_sync(AsyncClient().get)("/ok/")

    assert response.status_code == 200
    [(sender, payload)] = started
    assert sender is AsyncClientHandler
    assert payload.scope is not None and payload.scope["path"] == "/ok/"
    assert payload.environ is None
    assert [payload for _, payload in finished] == [RequestFinished()]


def test_async_receiver_of_a_twin_runs_under_asgi() -> None:
    paths: list[str] = []

    async def on_started(
        sender: object, *, payload: RequestStarted, **kwargs: object
    ) -> None:
        assert payload.scope is not None
        paths.append(payload.scope["path"])

    builtin.request_started.connect(on_started)
    try:
        async_to_sync(AsyncClient().get)("/ok/")
    finally:
        builtin.request_started.disconnect(on_started)
    assert paths == ["/ok/"]


def test_view_exception_sends_the_request_and_the_exception() -> None:
    with received(builtin.got_request_exception) as got:
        response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    [(sender, payload)] = got
    assert sender is None
    assert isinstance(payload, GotRequestException)
    assert payload.request is not None and payload.request.path == "/boom/"
    assert isinstance(payload.exception, Boom)
    assert str(payload.exception) == "view failed"


# -- settings -----------------------------------------------------------------


def test_override_settings_sends_enter_and_exit() -> None:
    with (
        received(builtin.setting_changed) as changes,
        override_settings(TYPED_SIGNALS_PROBE="on"),
    ):
        pass

    # Inside this module's own override, both sends come from a holder.
    assert changes == [
        (UserSettingsHolder, SettingChanged("TYPED_SIGNALS_PROBE", "on", True)),
        (UserSettingsHolder, SettingChanged("TYPED_SIGNALS_PROBE", None, False)),
    ]


# -- migrate ------------------------------------------------------------------


def test_migrate_sends_app_config_state_apps_and_plan() -> None:
    with (
        received(builtin.pre_migrate) as pre,
        received(builtin.post_migrate) as post,
    ):
        call_command("migrate", "testapp", verbosity=0, interactive=False)

    expected = {
        c.label for c in global_apps.get_app_configs() if c.models_module is not None
    }
    for sent, event in ((pre, PreMigrate), (post, PostMigrate)):
        assert {p.app_config.label for _, p in sent} == expected
        for sender, payload in sent:
            assert type(payload) is event
            assert sender is payload.app_config
            assert payload.using == DEFAULT_DB_ALIAS
            assert (payload.verbosity, payload.interactive) == (0, False)
            assert payload.plan == []  # nothing to apply, but migrate's own plan
            assert isinstance(payload.apps, Apps)
            assert payload.apps is not global_apps  # the migration state
    [state] = {p.apps for _, p in post if p.app_config.label == "testapp"}
    assert state.get_model("testapp", "Order")._meta.db_table == "testapp_order"


def test_post_migrate_without_migrate_has_global_apps_and_no_plan() -> None:
    with received(builtin.post_migrate) as post:
        emit_post_migrate_signal(verbosity=1, interactive=True, db=DEFAULT_DB_ALIAS)

    assert post
    for sender, payload in post:
        assert sender is payload.app_config
        assert payload.apps is global_apps
        assert payload.plan is None
        assert (payload.verbosity, payload.interactive) == (1, True)


# -- db -----------------------------------------------------------------------


def test_new_connection_sends_its_wrapper() -> None:
    with received(builtin.connection_created) as created:
        wrapper = open_new_connection()

    assert created == [(type(wrapper), ConnectionCreated(connection=wrapper))]
    assert wrapper.alias == DEFAULT_DB_ALIAS


# -- auth ---------------------------------------------------------------------


def test_login_and_logout_send_request_and_user() -> None:
    user = User.objects.create_user("ada", password="lovelace")
    client = Client()
    with (
        received(builtin.user_logged_in) as logged_in,
        received(builtin.user_logged_out) as logged_out,
    ):
        assert client.login(username="ada", password="lovelace")
        client.logout()

    [(sender, login)] = logged_in
    assert sender is User
    assert isinstance(login, UserLoggedIn)
    assert isinstance(login.request, HttpRequest)
    assert login.user == user
    [(sender, logout)] = logged_out
    assert sender is User
    assert isinstance(logout, UserLoggedOut)
    assert isinstance(logout.request, HttpRequest)
    assert logout.user == user


def test_logout_without_a_user_sends_none_as_django_does() -> None:
    with received(builtin.user_logged_out) as logged_out:
        Client().logout()

    [(sender, payload)] = logged_out
    assert sender is type(None)
    assert payload.user is None


def test_failed_authenticate_sends_masked_credentials() -> None:
    User.objects.create_user("ada", password="lovelace")
    request = HttpRequest()
    with received(builtin.user_login_failed) as failed:
        assert authenticate(request, username="ada", password="wrong") is None
        assert not Client().login(username="ada", password="nope")

    [(sender, with_request), (_, without_request)] = failed
    assert sender == "django.contrib.auth"
    assert isinstance(with_request, UserLoginFailed)
    assert with_request.request is request
    assert with_request.credentials["username"] == "ada"
    assert with_request.credentials["password"] not in ("wrong", "")
    assert without_request.request is None


# -- muting -------------------------------------------------------------------


def visit_failing_view() -> None:
    Client(raise_request_exception=False).get("/boom/")


def change_a_setting() -> None:
    with override_settings(TYPED_SIGNALS_PROBE=1):
        pass


def emit_migrate_signals() -> None:
    emit_pre_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)
    emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)


def log_in_and_out() -> None:
    user, _ = User.objects.get_or_create(username="mute")
    client = Client()
    client.force_login(user)
    client.logout()
    authenticate(username="mute", password="wrong")


TRIGGERS: dict[str, Callable[[], object]] = {
    "request": visit_failing_view,
    "settings": change_a_setting,
    "migrate": emit_migrate_signals,
    "db": open_new_connection,
    "auth": log_in_and_out,
}

TWINS: list[tuple[TypedSignal[Any], DjangoSignal]] = [
    (builtin.request_started, core_signals.request_started),
    (builtin.request_finished, core_signals.request_finished),
    (builtin.got_request_exception, core_signals.got_request_exception),
    (builtin.setting_changed, core_signals.setting_changed),
    (builtin.pre_migrate, model_signals.pre_migrate),
    (builtin.post_migrate, model_signals.post_migrate),
    (builtin.connection_created, backend_signals.connection_created),
    (builtin.user_logged_in, auth_signals.user_logged_in),
    (builtin.user_logged_out, auth_signals.user_logged_out),
    (builtin.user_login_failed, auth_signals.user_login_failed),
]


@pytest.mark.parametrize(
    ("twin", "django_signal"), TWINS, ids=[twin.name for twin, _ in TWINS]
)
def test_muting_the_group_silences_the_twin_and_plain_receivers(
    twin: TypedSignal[Any], django_signal: DjangoSignal
) -> None:
    [group] = twin.groups
    trigger = TRIGGERS[group]
    with received(twin) as typed, received_plain(django_signal) as plain:
        trigger()
        assert typed and plain  # both hear it while nothing is muted
        typed.clear()
        plain.clear()
        with mute(group):
            trigger()
        assert typed == [] and plain == []


def test_muting_a_twin_leaves_django_receivers_running() -> None:
    with (
        received(builtin.setting_changed) as typed,
        received_plain(core_signals.setting_changed) as plain,
        mute(builtin.setting_changed),
    ):
        change_a_setting()
    assert typed == []
    assert [kwargs["setting"] for kwargs in plain] == ["TYPED_SIGNALS_PROBE"] * 2


# -- bridges ------------------------------------------------------------------


def test_connecting_the_bridges_again_delivers_each_send_once() -> None:
    connect_builtin_bridges()
    connect_builtin_bridges()
    with received(builtin.setting_changed) as typed:
        change_a_setting()
    assert [payload.enter for _, payload in typed] == [True, False]


def test_bridge_reads_nothing_while_its_twin_has_no_receiver() -> None:
    # A sender that leaves arguments out is not disturbed until someone listens.
    backend_signals.connection_created.send(sender=None)
    with received(builtin.connection_created), pytest.raises(KeyError, match="conn"):
        backend_signals.connection_created.send(sender=None)


def test_without_contrib_auth_nothing_imports_auth_models() -> None:
    script = """
import sys
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django_typed_signals"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from django_typed_signals import builtin

builtin.connect_builtin_bridges()
assert builtin.user_logged_in.groups == {"auth"}
assert "django.contrib.auth.models" not in sys.modules
assert "django.contrib.auth.base_user" not in sys.modules
from django.contrib.auth import signals

assert not signals.user_logged_in.receivers
assert not signals.user_logged_out.receivers
assert not signals.user_login_failed.receivers
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("twin", "django_signal"), TWINS, ids=[twin.name for twin, _ in TWINS]
)
def test_a_capture_of_a_twin_hears_through_a_muted_group(
    twin: TypedSignal[Any], django_signal: DjangoSignal
) -> None:
    from django_typed_signals.testing import capture

    [group] = twin.groups
    trigger = TRIGGERS[group]
    with received(twin) as typed:
        with capture(twin) as muted_sends, mute(group):
            trigger()
        assert typed == []  # the twin's receivers stayed silent
        with capture(twin) as heard:
            trigger()
    assert len(muted_sends) == len(heard) > 0  # once per send, muted or not
    assert [type(p) for p in muted_sends.payloads] == [type(p) for p in heard.payloads]
    assert not django_signal._tap_receivers  # type: ignore[attr-defined]
    assert not twin._tap_receivers


def test_a_capture_of_a_twin_without_receivers_still_records() -> None:
    from django_typed_signals.testing import capture

    assert not builtin.setting_changed.receivers
    with capture(builtin.setting_changed) as sent:
        change_a_setting()
    assert [p.setting for p in sent.payloads] == ["TYPED_SIGNALS_PROBE"] * len(sent)
    assert len(sent) > 0

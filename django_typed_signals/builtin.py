"""Typed twins of Django's built-in signals.

Each of Django's request, settings, migrate, database and auth signals has a
``TypedSignal`` here that sends a frozen dataclass with what Django sent, to
the same sender, in the same group as the Django signal:

.. code-block:: python

    from django_typed_signals import receiver
    from django_typed_signals.builtin import SettingChanged, setting_changed

    @receiver(setting_changed)
    def clear_cache(sender: object, *, payload: SettingChanged, **kwargs: object):
        if payload.setting == "CURRENCY":
            ...

A bridge receiver on each Django signal builds the payload and sends it on
the twin. Bridges are connected once, at startup; while a twin has no
receiver its bridge returns before building anything.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.apps import apps as global_apps
from django.core import signals as core_signals
from django.db.backends import signals as backend_signals
from django.db.models import signals as model_signals

from ._groups import is_muted
from ._typed_signal import TypedSignal

if TYPE_CHECKING:
    from django.apps import AppConfig
    from django.apps.registry import Apps
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.migrations.migration import Migration
    from django.dispatch import Signal as DjangoSignal
    from django.http import HttpRequest

__all__ = [
    "ConnectionCreated",
    "GotRequestException",
    "MigrateEvent",
    "PostMigrate",
    "PreMigrate",
    "RequestFinished",
    "RequestStarted",
    "SettingChanged",
    "UserLoggedIn",
    "UserLoggedOut",
    "UserLoginFailed",
    "connect_builtin_bridges",
    "connection_created",
    "got_request_exception",
    "post_migrate",
    "pre_migrate",
    "request_finished",
    "request_started",
    "setting_changed",
    "user_logged_in",
    "user_logged_out",
    "user_login_failed",
]


# -- payloads -------------------------------------------------------------------


@dataclass(frozen=True)
class RequestStarted:
    """A request arrived; the sender is the handler class.

    Exactly one of ``environ`` (WSGI) and ``scope`` (ASGI) is set.
    """

    environ: Mapping[str, Any] | None
    scope: Mapping[str, Any] | None


@dataclass(frozen=True)
class RequestFinished:
    """The response was closed; the sender is the handler class (or ``None``)."""


@dataclass(frozen=True)
class GotRequestException:
    """A view or middleware raised; the sender is ``None``, as Django sends it.

    ``exception`` is the exception being handled when Django sent the signal,
    so receivers that run later (``on_commit``) or elsewhere (async receivers)
    see what a synchronous receiver would read from ``sys.exc_info()``.
    """

    request: HttpRequest | None
    exception: BaseException | None


@dataclass(frozen=True)
class SettingChanged:
    """``override_settings`` (or a test case) changed a setting.

    ``enter`` is true when the override starts, false when it ends; ``value``
    is the setting's value from then on. The sender is the settings class.
    """

    setting: str
    value: Any
    enter: bool


@dataclass(frozen=True)
class MigrateEvent:
    """Base of ``PreMigrate`` and ``PostMigrate``; the sender is ``app_config``.

    ``apps`` holds the project's migration state when ``migrate`` sent the
    signal; ``flush`` and test cases send none, and then it is the global
    registry, as Django's own receivers assume. ``plan`` is ``migrate``'s plan,
    pairs of (migration, backwards), and ``None`` when another command sent it.
    """

    __typed_signals_using__: ClassVar[str] = "using"
    """``on_commit`` receivers wait for the commit on this payload's ``using``."""

    app_config: AppConfig
    verbosity: int
    interactive: bool
    using: str
    apps: Apps
    plan: list[tuple[Migration, bool]] | None


@dataclass(frozen=True)
class PreMigrate(MigrateEvent):
    """Sent for each app with a models module before migrations run."""


@dataclass(frozen=True)
class PostMigrate(MigrateEvent):
    """Sent for each app with a models module after ``migrate`` or ``flush``."""


@dataclass(frozen=True)
class ConnectionCreated:
    """A database connection was opened; the sender is the wrapper's class."""

    connection: BaseDatabaseWrapper


@dataclass(frozen=True)
class UserLoggedIn:
    """``login()`` succeeded; the sender is the user's class."""

    request: HttpRequest | None
    user: AbstractBaseUser


@dataclass(frozen=True)
class UserLoggedOut:
    """``logout()`` was called; the sender is the user's class.

    ``user`` is ``None`` when nobody was logged in, and the sender is then
    ``type(None)``, as Django sends it.
    """

    request: HttpRequest | None
    user: AbstractBaseUser | None


@dataclass(frozen=True)
class UserLoginFailed:
    """``authenticate()`` found no user; the sender is ``"django.contrib.auth"``.

    ``credentials`` are the keyword arguments given to ``authenticate()``, with
    the values of sensitive keys (such as ``password``) masked by Django.
    """

    credentials: Mapping[str, Any]
    request: HttpRequest | None


# -- typed signals --------------------------------------------------------------

request_started: TypedSignal[RequestStarted] = TypedSignal(
    RequestStarted, name="builtin.request_started", groups=["request"]
)
request_finished: TypedSignal[RequestFinished] = TypedSignal(
    RequestFinished, name="builtin.request_finished", groups=["request"]
)
got_request_exception: TypedSignal[GotRequestException] = TypedSignal(
    GotRequestException, name="builtin.got_request_exception", groups=["request"]
)
setting_changed: TypedSignal[SettingChanged] = TypedSignal(
    SettingChanged, name="builtin.setting_changed", groups=["settings"]
)
pre_migrate: TypedSignal[PreMigrate] = TypedSignal(
    PreMigrate, name="builtin.pre_migrate", groups=["migrate"]
)
post_migrate: TypedSignal[PostMigrate] = TypedSignal(
    PostMigrate, name="builtin.post_migrate", groups=["migrate"]
)
connection_created: TypedSignal[ConnectionCreated] = TypedSignal(
    ConnectionCreated, name="builtin.connection_created", groups=["db"]
)
user_logged_in: TypedSignal[UserLoggedIn] = TypedSignal(
    UserLoggedIn, name="builtin.user_logged_in", groups=["auth"]
)
user_logged_out: TypedSignal[UserLoggedOut] = TypedSignal(
    UserLoggedOut, name="builtin.user_logged_out", groups=["auth"]
)
user_login_failed: TypedSignal[UserLoginFailed] = TypedSignal(
    UserLoginFailed, name="builtin.user_login_failed", groups=["auth"]
)


# -- bridges --------------------------------------------------------------------
# Each bridge runs as a receiver of Django's signal, so muting the Django signal
# (or its group) silences the twin too. Every bridge first checks whether its
# twin has receivers: until one connects, a send pays one call and reads no
# argument, so senders that leave some out are not disturbed either.


def _bridge(
    twin: TypedSignal[Any], build: Callable[[dict[str, Any]], object]
) -> Callable[..., None]:
    """A receiver of one Django signal that re-sends it as its typed twin."""

    def bridge(sender: object, **kwargs: Any) -> None:
        if twin.receivers or twin._tap_receivers:  # pyright: ignore[reportPrivateUsage]
            twin.send(sender, build(kwargs))

    # A function, so Django's error logging and list_receivers can name it.
    bridge.__name__ = bridge.__qualname__ = f"bridge_{twin.name.rpartition('.')[2]}"
    _twin_of[bridge] = twin
    return bridge


_twin_of: dict[Callable[..., None], TypedSignal[Any]] = {}


def _connect(django_signal: DjangoSignal, bridge: Callable[..., None]) -> None:
    # The dispatch_uid makes a second connection a no-op, in Django's lock.
    uid = f"django_typed_signals.builtin.{bridge.__name__}"
    if any(entry[0][0] == uid for entry in django_signal.receivers):
        return
    django_signal.connect(bridge, weak=False, dispatch_uid=uid)

    def feed_while_muted(sender: object, **kwargs: Any) -> None:
        # A capture of the twin hears Django's send while that is muted.
        if is_muted(django_signal):
            bridge(sender, **kwargs)

    _twin_of[bridge]._add_feeder(django_signal, feed_while_muted)  # pyright: ignore[reportPrivateUsage]


def _got_request_exception(kwargs: dict[str, Any]) -> GotRequestException:
    # Django sends from inside its ``except`` block.
    return GotRequestException(
        request=kwargs.get("request"), exception=sys.exc_info()[1]
    )


_M = TypeVar("_M", bound=MigrateEvent)


def _migrate_event(event: type[_M]) -> Callable[[dict[str, Any]], _M]:
    def build(kwargs: dict[str, Any]) -> _M:
        return event(
            app_config=kwargs["app_config"],
            verbosity=kwargs["verbosity"],
            interactive=kwargs["interactive"],
            using=kwargs["using"],
            # Only ``migrate`` sends these; Django's own receivers default alike.
            apps=kwargs.get("apps", global_apps),
            plan=kwargs.get("plan"),
        )

    return build


_request_started = _bridge(
    request_started,
    lambda kw: RequestStarted(environ=kw.get("environ"), scope=kw.get("scope")),
)
_request_finished = _bridge(request_finished, lambda kw: RequestFinished())
_got_exception = _bridge(got_request_exception, _got_request_exception)
_setting_changed = _bridge(
    setting_changed,
    lambda kw: SettingChanged(
        setting=kw["setting"], value=kw["value"], enter=kw["enter"]
    ),
)
_pre_migrate = _bridge(pre_migrate, _migrate_event(PreMigrate))
_post_migrate = _bridge(post_migrate, _migrate_event(PostMigrate))
_connection_created = _bridge(
    connection_created, lambda kw: ConnectionCreated(connection=kw["connection"])
)
_user_logged_in = _bridge(
    user_logged_in,
    lambda kw: UserLoggedIn(request=kw.get("request"), user=kw["user"]),
)
_user_logged_out = _bridge(
    user_logged_out,
    lambda kw: UserLoggedOut(request=kw.get("request"), user=kw.get("user")),
)
_user_login_failed = _bridge(
    user_login_failed,
    lambda kw: UserLoginFailed(
        credentials=kw["credentials"], request=kw.get("request")
    ),
)


def connect_builtin_bridges() -> None:
    """Connect the bridges to Django's signals (idempotent).

    Called by the app's ``ready()``. The auth twins are bridged only when
    ``django.contrib.auth`` is installed; its signals are imported then, and
    not before.
    """
    _connect(core_signals.request_started, _request_started)
    _connect(core_signals.request_finished, _request_finished)
    _connect(core_signals.got_request_exception, _got_exception)
    _connect(core_signals.setting_changed, _setting_changed)
    _connect(model_signals.pre_migrate, _pre_migrate)
    _connect(model_signals.post_migrate, _post_migrate)
    _connect(backend_signals.connection_created, _connection_created)
    if global_apps.is_installed("django.contrib.auth"):
        from django.contrib.auth import signals as auth_signals

        _connect(auth_signals.user_logged_in, _user_logged_in)
        _connect(auth_signals.user_logged_out, _user_logged_out)
        _connect(auth_signals.user_login_failed, _user_login_failed)

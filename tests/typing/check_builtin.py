"""Type-checked by mypy and pyright, never run: receivers of Django's built-ins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig
from django.apps.registry import Apps
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from typing_extensions import assert_type

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.builtin import (
    ConnectionCreated,
    GotRequestException,
    MigrateEvent,
    PostMigrate,
    RequestStarted,
    SettingChanged,
    UserLoggedIn,
    UserLoggedOut,
    UserLoginFailed,
    connection_created,
    got_request_exception,
    post_migrate,
    pre_migrate,
    request_started,
    setting_changed,
    user_logged_in,
    user_logged_out,
    user_login_failed,
)

assert_type(setting_changed, TypedSignal[SettingChanged])
assert_type(post_migrate, TypedSignal[PostMigrate])

# -- receivers that must type-check ------------------------------------------


@receiver(setting_changed)
def on_setting(sender: object, *, payload: SettingChanged, **kwargs: object) -> None:
    assert_type(payload.setting, str)
    assert_type(payload.value, Any)
    assert_type(payload.enter, bool)


@receiver(request_started)
def on_request(sender: object, *, payload: RequestStarted, **kwargs: object) -> None:
    assert_type(payload.environ, Mapping[str, Any] | None)
    assert_type(payload.scope, Mapping[str, Any] | None)


@receiver(got_request_exception)
def on_error(sender: object, *, payload: GotRequestException, **kwargs: object) -> None:
    assert_type(payload.request, HttpRequest | None)
    assert_type(payload.exception, BaseException | None)


@receiver([pre_migrate, post_migrate])  # the base payload fits both
def on_migrate(sender: AppConfig, *, payload: MigrateEvent, **kwargs: object) -> None:
    assert_type(payload.app_config, AppConfig)
    assert_type(payload.apps, Apps)
    if payload.plan is not None:
        for migration, backwards in payload.plan:
            assert_type(backwards, bool)
            migration.app_label.upper()


@receiver(connection_created)
def on_connect(sender: object, *, payload: ConnectionCreated, **kwargs: object) -> None:
    assert_type(payload.connection, BaseDatabaseWrapper)


@receiver(user_logged_in)
def on_login(sender: object, *, payload: UserLoggedIn, **kwargs: object) -> None:
    assert_type(payload.user, AbstractBaseUser)


@receiver(user_logged_out)
def on_logout(sender: object, *, payload: UserLoggedOut, **kwargs: object) -> None:
    assert_type(payload.user, AbstractBaseUser | None)


@receiver(user_login_failed)
def on_failure(sender: str, *, payload: UserLoginFailed, **kwargs: object) -> None:
    assert_type(payload.credentials, Mapping[str, Any])


# -- receivers that must be rejected ------------------------------------------


def wrong_payload(
    sender: object, *, payload: UserLoggedIn, **kwargs: object
) -> None: ...


def post_only(sender: object, *, payload: PostMigrate, **kwargs: object) -> None: ...


receiver(setting_changed)(wrong_payload)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
setting_changed.connect(wrong_payload)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver(pre_migrate)(post_only)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def logged_out_user_is_optional(payload: UserLoggedOut) -> AbstractBaseUser:
    return payload.user  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


def payloads_are_frozen(payload: SettingChanged) -> None:
    payload.enter = False  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]

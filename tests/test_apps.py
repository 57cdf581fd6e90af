from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_typed_signals.conf import TypedSignalsSettings, get_settings
from tests.testapp import signals as testapp_signals


def test_signals_module_of_installed_apps_is_autodiscovered() -> None:
    # Nothing in the test suite imports tests.testapp.signals before Django
    # starts: its receiver is connected because the AppConfig imported it.
    before = list(testapp_signals.received)
    testapp_signals.pinged.send(None, testapp_signals.Pinged(3))
    assert testapp_signals.received == [*before, 3]
    [info] = testapp_signals.pinged.receivers_info()
    assert info.path == "tests.testapp.signals.record_ping"


def test_default_settings() -> None:
    assert get_settings() == TypedSignalsSettings()


@override_settings(TYPED_SIGNALS={"AUTODISCOVER_MODULES": ["events", "signals"]})
def test_settings_are_read() -> None:
    assert get_settings().autodiscover_modules == ("events", "signals")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"AUTODISCOVERY": True}, "unknown keys"),
        ({"AUTODISCOVER": "yes"}, "must be True or False"),
        ({"OBSERVERS": "a.b"}, "must be a list of strings"),
        ({"OBSERVERS": [1]}, "must be a list of strings"),
        (["AUTODISCOVER"], "must be a dict"),
    ],
)
def test_bad_settings_are_named(value: object, message: str) -> None:
    with (
        override_settings(TYPED_SIGNALS=value),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        get_settings()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("os.sep", r"'os\.sep' is not callable: it is str '/'"),
        ("os.no_such_name", r"'os\.no_such_name' cannot be imported: .*no_such_name"),
        ("no_such_module.observer", r"'no_such_module\.observer' cannot be imported"),
    ],
)
def test_bad_observer_path_names_setting_path_and_reason(
    path: str, reason: str
) -> None:
    from django.apps import apps

    from django_typed_signals._observe import observers

    before = observers()
    config = apps.get_app_config("django_typed_signals")
    with (
        override_settings(TYPED_SIGNALS={"OBSERVERS": [path]}),
        pytest.raises(
            ImproperlyConfigured, match=r"TYPED_SIGNALS\['OBSERVERS'\] entry " + reason
        ),
    ):
        config.ready()
    assert observers() == before


def test_observer_paths_are_imported_in_order() -> None:
    from django_typed_signals.conf import import_observers

    assert import_observers(("os.path.join", "os.getcwd")) == [os.path.join, os.getcwd]


def test_bridge_settings_have_documented_defaults() -> None:
    from django_typed_signals.conf import BridgeSettings

    bridge = get_settings().bridge
    assert bridge == BridgeSettings()
    assert (bridge.executor, bridge.lease_s, bridge.republish_after_s) == (
        "eager",
        60,
        30,
    )
    assert (bridge.publish_timeout_s, bridge.relay_interval_s) == (1, 1)


@override_settings(
    TYPED_SIGNALS={
        "BRIDGE": {"EXECUTOR": "local", "LEASE_S": 5, "ROUTES": {"mail": "email"}}
    }
)
def test_bridge_settings_are_read() -> None:
    bridge = get_settings().bridge
    assert (bridge.executor, bridge.lease_s, dict(bridge.routes)) == (
        "local",
        5.0,
        {"mail": "email"},
    )


@pytest.mark.parametrize(
    ("bridge", "message"),
    [
        ("eager", r"TYPED_SIGNALS\['BRIDGE'\] must be a dict"),
        ({"EXECUTER": "eager"}, r"unknown keys \['EXECUTER'\]"),
        (
            {"EXECUTOR": "rq"},
            r"'EXECUTOR'\] must be one of 'eager', 'local', 'celery', got 'rq'",
        ),
        ({"LEASE_S": "60"}, r"'LEASE_S'\] must be a number of seconds, got '60'"),
        ({"PUBLISH_TIMEOUT_S": 0}, r"'PUBLISH_TIMEOUT_S'\] must be > 0, got 0"),
        (
            {"ROUTES": {"mail": 1}},
            r"'ROUTES'\] must map signal group names to queue names",
        ),
    ],
)
def test_bad_bridge_settings_are_named(bridge: object, message: str) -> None:
    with (
        override_settings(TYPED_SIGNALS={"BRIDGE": bridge}),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        get_settings()


def test_settings_edited_in_place_are_read_again() -> None:
    value: dict[str, object] = {"BRIDGE": {"EXECUTOR": "eager"}}
    with override_settings(TYPED_SIGNALS=value):
        assert get_settings().bridge.executor == "eager"
        value["BRIDGE"] = {"EXECUTOR": "local"}
        assert get_settings().bridge.executor == "local"
        value["BRIDGE"] = {"EXECUTOR": "rq"}
        with pytest.raises(ImproperlyConfigured, match="'EXECUTOR'"):
            get_settings()
    assert get_settings() == TypedSignalsSettings()

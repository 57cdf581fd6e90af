"""The pytest plugin, end to end: pytest runs in a subprocess, in a project
that loads the plugin only through the package's ``pytest11`` entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Plugins the inner runs do without: Faker's (from factory_boy) is slow to load.
QUIET = ("-p", "no:cacheprovider", "-p", "no:faker")

INNER_TESTS = """
from dataclasses import dataclass

import pytest

from django_typed_signals import TypedSignal, receiver


@dataclass(frozen=True)
class Ping:
    n: int


ping = TypedSignal(Ping, name="inner.ping", groups=["inner"])
heard = []


@receiver(ping)
def hear(sender, *, payload, **kwargs):
    heard.append(payload.n)


@pytest.fixture(autouse=True)
def forget():
    heard.clear()


@pytest.fixture
def ping_in_setup():
    ping.send(None, Ping(0))


def test_muted_signals_mutes_for_the_rest_of_the_test(muted_signals):
    ping.send(None, Ping(1))
    muted_signals("inner")
    ping.send(None, Ping(2))
    assert heard == [1]


def test_muting_ended_with_the_previous_test():
    ping.send(None, Ping(3))
    assert heard == [3]


def test_capture_signal_records_until_the_test_ends(capture_signal, muted_signals):
    sent = capture_signal(ping)
    muted_signals(ping)
    ping.send(None, Ping(4))
    assert sent.payloads == [Ping(4)]
    assert heard == []


def test_capture_ended_with_the_previous_test():
    assert [info.receiver for info in ping.receivers_info()] == [hear]


@pytest.mark.mute_signals("inner")
def test_marker_mutes_the_test_and_its_fixtures(ping_in_setup):
    ping.send(None, Ping(5))
    assert heard == []


@pytest.mark.mute_signals(ping)
class TestMarkedClass:
    def test_marker_on_a_class(self):
        ping.send(None, Ping(6))
        assert heard == []


def test_marker_ended_with_the_previous_test(ping_in_setup):
    assert heard == [0]
"""

INNER_DJANGO_TESTS = """
from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save
from django.test import TestCase

from django_typed_signals import TypedSignal, receiver


@dataclass(frozen=True)
class Pong:
    n: int


pong = TypedSignal(Pong, name="inner.pong", groups=["inner-django"])
heard = []


@receiver(pong)
def hear(sender, *, payload, **kwargs):
    heard.append(payload.n)


@pytest.mark.django_db
def test_capture_signal_records_model_saves(capture_signal):
    sent = capture_signal(post_save)
    ContentType.objects.create(app_label="inner", model="thing")
    assert sent.one()["created"] is True
    assert sent.senders == [ContentType]


@pytest.mark.mute_signals("inner-django")
class MarkedTests(TestCase):
    def test_marker_applies_to_django_test_cases(self):
        pong.send(None, Pong(1))
        assert heard == []
"""

INNER_SETTINGS = """
SECRET_KEY = "inner"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_typed_signals"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
"""


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    # pytest-django exported the outer suite's settings; inner runs choose.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(test_inner=INNER_TESTS)
    return pytester


def test_fixtures_and_marker_without_django_configured(
    project: pytest.Pytester,
) -> None:
    project.makeini("[pytest]\n")

    result = project.runpytest_subprocess("-p", "no:django", *QUIET, "--strict-markers")

    result.assert_outcomes(passed=7)


def test_fixtures_and_marker_with_pytest_django(project: pytest.Pytester) -> None:
    project.makeini(
        "[pytest]\nDJANGO_SETTINGS_MODULE = inner_settings\npythonpath = .\n"
    )
    project.makepyfile(
        inner_settings=INNER_SETTINGS, test_inner_django=INNER_DJANGO_TESTS
    )

    result = project.runpytest_subprocess(*QUIET, "--strict-markers")

    result.assert_outcomes(passed=9)


def test_marker_arguments_are_checked_at_setup(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\n")
    project.makepyfile(
        test_marker_errors="""
        import pytest

        @pytest.mark.mute_signals("no-such-group")
        def test_unknown_group():
            pass

        @pytest.mark.mute_signals()
        def test_nothing_to_mute():
            pass

        @pytest.mark.mute_signals(group="inner")
        def test_keyword_arguments():
            pass
        """
    )

    result = project.runpytest_subprocess(
        "-p", "no:django", *QUIET, "test_marker_errors.py"
    )

    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*LookupError: mute(): unknown signal group 'no-such-group'*",
            "*TypeError: @pytest.mark.mute_signals takes group names or signals*",
        ]
    )


def test_loading_the_plugin_imports_no_models_and_reads_no_settings() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
        import django_typed_signals.testing.pytest_plugin
        from django.conf import settings
        print(settings.configured, "django.db.models" in sys.modules)
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.split() == ["False", "False"]

from __future__ import annotations

import unittest

import pytest
from django.db.models.signals import post_save
from django.dispatch import Signal as DjangoSignal
from django.test import SimpleTestCase

from django_typed_signals import Signal, _groups
from django_typed_signals._groups import muted_keys, unknown_group_references
from django_typed_signals.testing import MuteSignalsMixin
from tests.testing.django_runner_cases import (
    MutedGroupTests,
    MutedSignalTransactionTests,
    MutedSimpleTests,
)

# The classes above run here under pytest-django, and under Django's own test
# runner in test_django_runner.
__all__ = ["MutedGroupTests", "MutedSignalTransactionTests", "MutedSimpleTests"]

mixin_signal = Signal(name="mixin.signal", groups=["mixin-group"])
other_signal = Signal(name="mixin.other")

seen: list[tuple[str, frozenset[object]]] = []


class Recording(SimpleTestCase):
    """Notes what is muted at each step of a test class's life."""

    __test__ = False  # run by the tests below, not collected by pytest

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        seen.append(("setUpClass", muted_keys()))

    @classmethod
    def tearDownClass(cls) -> None:
        seen.append(("tearDownClass", muted_keys()))
        super().tearDownClass()

    def test_it(self) -> None:
        seen.append(("test", muted_keys()))


def run(case: type[unittest.TestCase]) -> unittest.TestResult:
    seen.clear()
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def test_class_mute_lasts_from_set_up_class_to_tear_down_class() -> None:
    class Muted(MuteSignalsMixin, Recording):
        muted_signal_groups = ("mixin-group",)
        muted_signals = (other_signal,)

    result = run(Muted)

    assert result.wasSuccessful(), result.errors
    expected = frozenset({"mixin-group", other_signal})
    assert seen == [
        ("setUpClass", expected),
        ("test", expected),
        ("tearDownClass", expected),
    ]
    assert muted_keys() == frozenset()


def test_class_mute_ends_when_set_up_class_fails() -> None:
    class Failing(Recording):
        @classmethod
        def setUpClass(cls) -> None:
            super().setUpClass()
            raise RuntimeError("set-up broke")

    class Muted(MuteSignalsMixin, Failing):
        muted_signal_groups = ("mixin-group",)

    result = run(Muted)

    [(_, error)] = result.errors
    assert "set-up broke" in error
    assert seen == [("setUpClass", frozenset({"mixin-group"}))]
    assert muted_keys() == frozenset()


def test_class_mute_ends_when_tear_down_class_fails() -> None:
    class Failing(Recording):
        @classmethod
        def tearDownClass(cls) -> None:
            super().tearDownClass()
            raise RuntimeError("tear-down broke")

    class Muted(MuteSignalsMixin, Failing):
        muted_signal_groups = ("mixin-group",)

    result = run(Muted)

    [(_, error)] = result.errors
    assert "tear-down broke" in error
    assert muted_keys() == frozenset()


def test_a_class_without_groups_or_signals_mutes_nothing() -> None:
    class Plain(MuteSignalsMixin, Recording):
        pass

    assert run(Plain).wasSuccessful()
    assert {keys for _, keys in seen} == {frozenset()}


def test_subclasses_keep_their_own_mute() -> None:
    class Parent(MuteSignalsMixin, Recording):
        muted_signal_groups = ("mixin-group",)

    class Child(Parent):
        muted_signals = (other_signal,)

    run(Parent)
    assert seen[1] == ("test", frozenset({"mixin-group"}))
    run(Child)
    assert seen[1] == ("test", frozenset({"mixin-group", other_signal}))
    assert muted_keys() == frozenset()


def test_unknown_group_fails_the_class_and_is_noted_for_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fresh registry, so that the system checks of other tests stay clean.
    monkeypatch.setattr(_groups, "_references", [])

    class Misspelt(MuteSignalsMixin, Recording):
        muted_signal_groups = ("mixin-group", "mixin-gorup")

    class Inheriting(Misspelt):
        pass

    assert unknown_group_references() == [
        (
            "mixin-gorup",
            f"{__name__}.test_unknown_group_fails_the_class_and_is_noted_for_the_"
            "checks.<locals>.Misspelt.muted_signal_groups",
        )
    ]
    for case in (Misspelt, Inheriting):
        [(_, error)] = run(case).errors
        assert "LookupError: mute(): unknown signal group 'mixin-gorup'" in error
        assert muted_keys() == frozenset()


def test_a_string_is_not_a_list_of_groups() -> None:
    with pytest.raises(TypeError, match=r"Bad\.muted_signal_groups must be a list"):

        class Bad(MuteSignalsMixin, SimpleTestCase):
            muted_signal_groups = "mixin-group"


def test_group_names_must_be_strings() -> None:
    with pytest.raises(TypeError, match="holds group names, got 3"):

        class Bad(MuteSignalsMixin, SimpleTestCase):
            muted_signal_groups = ("mixin-group", 3)  # type: ignore[assignment]


def test_muted_signals_must_be_signals() -> None:
    with pytest.raises(TypeError, match=r"Bad\.muted_signals must be a list"):

        class Bad(MuteSignalsMixin, SimpleTestCase):
            muted_signals = mixin_signal  # type: ignore[assignment]

    with pytest.raises(TypeError, match="holds signals, got 'mixin-group'"):

        class AlsoBad(MuteSignalsMixin, SimpleTestCase):
            muted_signals = ("mixin-group",)  # type: ignore[assignment]


def test_django_signals_are_muted_as_mute_allows() -> None:
    plain = DjangoSignal()

    class MutesPostSave(MuteSignalsMixin, Recording):
        muted_signals = (post_save,)

    class MutesPlain(MuteSignalsMixin, Recording):
        muted_signals = (plain,)

    assert run(MutesPostSave).wasSuccessful()
    assert seen[1] == ("test", frozenset({post_save}))
    [(_, error)] = run(MutesPlain).errors
    assert "is a plain django.dispatch.Signal" in error

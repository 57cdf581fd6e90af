"""``MuteSignalsMixin``: mute groups and signals for a whole test class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from django.dispatch import Signal as DjangoSignal

from .._groups import mute, note_group_references

if TYPE_CHECKING:
    # For the type checkers the mixin is a test case, so that it can call
    # super().setUpClass(); at runtime it stays out of the MRO's way.
    from django.test import SimpleTestCase as _TestCaseBase
else:
    _TestCaseBase = object

__all__ = ["MuteSignals", "MuteSignalsMixin"]


class MuteSignalsMixin(_TestCaseBase):
    """Mute signal groups and signals for every test of a Django test class.

    Muting starts before ``SimpleTestCase.setUpClass()``, so it covers fixture
    loading and ``setUpTestData()`` as well as each test, and ends after
    ``tearDownClass()``. A test can mute more with ``mute()``; ``capture()``
    still sees what muted signals send::

        class CheckoutTests(MuteSignalsMixin, TestCase):
            muted_signal_groups = ("billing",)
            muted_signals = (order_shipped,)

    Group names are checked when the class sets up (an unknown name fails the
    class with ``LookupError``) and by the system checks at startup.
    """

    muted_signal_groups: ClassVar[Sequence[str]] = ()
    """Names of the signal groups to mute."""
    muted_signals: ClassVar[Sequence[DjangoSignal]] = ()
    """Signals to mute: any signal that ``mute()`` accepts."""

    _class_mute: ClassVar[mute]  # set while the class runs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"{cls.__module__}.{cls.__qualname__}"
        groups = _sequence(cls.muted_signal_groups, f"{where}.muted_signal_groups")
        for name in groups:
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"{where}.muted_signal_groups holds group names, got {name!r}"
                )
        for signal in _sequence(cls.muted_signals, f"{where}.muted_signals"):
            if not isinstance(signal, DjangoSignal):
                raise TypeError(f"{where}.muted_signals holds signals, got {signal!r}")
        if "muted_signal_groups" in cls.__dict__:
            # Signals modules may not be imported yet: let the checks judge.
            names = cast("tuple[str, ...]", groups)
            note_group_references(names, where=f"{where}.muted_signal_groups")

    @classmethod
    def setUpClass(cls) -> None:
        """Mute, then set up the class (fixtures, ``setUpTestData()``)."""
        targets: tuple[str | DjangoSignal, ...] = (
            *cls.muted_signal_groups,
            *cls.muted_signals,
        )
        if not targets:
            super().setUpClass()
            return
        class_mute = mute(*targets)
        class_mute.__enter__()
        try:
            super().setUpClass()
        except BaseException:
            # unittest skips tearDownClass() when setUpClass() fails.
            class_mute.__exit__(None, None, None)
            raise
        cls._class_mute = class_mute

    @classmethod
    def tearDownClass(cls) -> None:
        """Tear down the class, then end its muting, even if that failed."""
        try:
            super().tearDownClass()
        finally:
            class_mute: mute | None = cls.__dict__.get("_class_mute")
            if class_mute is not None:
                del cls._class_mute
                class_mute.__exit__(None, None, None)


class MuteSignals(Protocol):
    """The ``muted_signals`` pytest fixture: mute until the test ends."""

    def __call__(self, *groups_or_signals: str | DjangoSignal) -> None: ...


def _sequence(value: object, where: str) -> tuple[object, ...]:
    if isinstance(value, (str, bytes, DjangoSignal)) or not isinstance(value, Sequence):
        raise TypeError(f"{where} must be a list or tuple, got {value!r}")
    return tuple(cast("Sequence[object]", value))

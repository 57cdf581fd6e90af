"""pytest fixtures and marker for ``django_typed_signals``.

pytest loads this module by itself (the ``pytest11`` entry point) in every
project where the package is installed, Django or not. So it imports no models
and reads no settings: Django's dispatcher is all it needs.

- ``muted_signals("billing", order_paid)``: mute until the test ends;
- ``capture_signal(order_paid)``: a ``Captured`` recording until the test ends;
- ``@pytest.mark.mute_signals("billing", order_paid)``: mute for the whole
  test, its function-scoped fixtures included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, TypeVar, overload

import pytest
from django.dispatch import Signal as DjangoSignal

from .._groups import mute, muted_var
from .._typed_signal import TypedSignal
from ._capture import Captured, CaptureSignal, capture
from ._mixins import MuteSignals

__all__ = ["capture_signal", "muted_signals", "pytest_configure"]

P = TypeVar("P")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "mute_signals(*groups_or_signals): mute these django_typed_signals "
        "groups or signals for the test and its function-scoped fixtures",
    )


@pytest.fixture
def muted_signals() -> Iterator[MuteSignals]:
    """A function that mutes groups or signals from its call to the test's end."""
    before = muted_var.get()

    def mute_until_teardown(*groups_or_signals: str | DjangoSignal) -> None:
        mute(*groups_or_signals).__enter__()

    yield mute_until_teardown
    # Restore the value rather than reset tokens: fixtures that set up after
    # this one and tear down before it may have muted too.
    muted_var.set(before)


class _CaptureUntilTeardown:
    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack

    @overload
    def __call__(self, signal: TypedSignal[P]) -> Captured[P]: ...  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    @overload
    def __call__(self, signal: DjangoSignal) -> Captured[dict[str, Any]]: ...
    def __call__(self, signal: DjangoSignal) -> Captured[Any]:
        return self._stack.enter_context(capture(signal))


@pytest.fixture
def capture_signal() -> Iterator[CaptureSignal]:
    """A function that starts a ``capture()`` lasting until the test's end."""
    with ExitStack() as stack:
        yield _CaptureUntilTeardown(stack)


@pytest.fixture(autouse=True)
def _mute_signals_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply ``@pytest.mark.mute_signals`` (on the test, class or module)."""
    targets: list[Any] = []
    for marker in request.node.iter_markers("mute_signals"):
        if marker.kwargs or not marker.args:
            raise TypeError(
                "@pytest.mark.mute_signals takes group names or signals as "
                f"positional arguments, got args={marker.args!r} "
                f"kwargs={marker.kwargs!r}"
            )
        targets.extend(marker.args)
    if not targets:
        yield
        return
    before = muted_var.get()
    mute(*targets).__enter__()
    try:
        yield
    finally:
        muted_var.set(before)

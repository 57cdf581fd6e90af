"""Recording what a signal sent: ``capture()`` and the send assertions.

A capture listens for the length of a ``with`` block. On this package's
signals and Django's adopted ones it is a tap (``django_typed_signals._taps``):
called before every receiver, still called while the signal is muted, and
never part of the receivers or of what the send returns, so a test can
silence a group's receivers, still see what was sent, and the code under test
gets the same responses. A capture of a typed twin (``lifecycle.post_save``,
``builtin.request_started``) also hears the Django send behind it when that
is muted. On other signals it is an ordinary strong receiver, called after
the receivers connected before it.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable, Generator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from django.dispatch import Signal as DjangoSignal

from .._signal import Signal
from .._typed_signal import TypedSignal

__all__ = [
    "CaptureSignal",
    "Captured",
    "assert_not_sent",
    "assert_sent",
    "capture",
]

P = TypeVar("P")

_SHOWN_SENDS = 20  # failure messages list at most this many sends

_repr = reprlib.Repr()
_repr.maxother = _repr.maxstring = 200
_repr.maxlevel = 3
_repr.maxdict = _repr.maxlist = _repr.maxtuple = 10  # all of a model signal's kwargs


class Captured(Generic[P]):
    """The sends of one signal seen inside a ``capture()`` block.

    For a ``TypedSignal[P]`` each payload is the ``P`` that was sent; for other
    signals it is the dict of keyword arguments (``signal`` and ``sender``
    left out).
    """

    def __init__(self, signal: DjangoSignal) -> None:
        if not isinstance(signal, DjangoSignal):
            raise TypeError(f"capture() takes a signal, got {signal!r}")
        self.signal = signal
        self._calls: list[tuple[object, P]] = []
        self._typed = isinstance(signal, TypedSignal)
        self._active = False

    # -- recording --------------------------------------------------------

    def _record(self, sender: object, **named: Any) -> None:
        # A receiver: Django passes ``signal=`` too, which is ours to drop.
        named.pop("signal", None)
        payload = named["payload"] if self._typed else named
        self._calls.append((sender, cast("P", payload)))

    def __enter__(self) -> Captured[P]:
        if self._active:
            raise RuntimeError(f"{self!r} is already recording")
        self._active = True
        # Signals that mute() can silence offer a tap: muting spares it, and
        # it stays out of the receivers and of what the send returns.
        add_tap = getattr(self.signal, "_add_tap", None)
        if add_tap is not None:
            add_tap(self._record)
        else:
            self.signal.connect(self._record, weak=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        remove_tap = getattr(self.signal, "_remove_tap", None)
        if remove_tap is not None:
            remove_tap(self._record)
        else:
            self.signal.disconnect(self._record)
        self._active = False

    # -- reading ----------------------------------------------------------

    @property
    def calls(self) -> list[tuple[object, P]]:
        """``(sender, payload)`` for each send, in the order they happened."""
        return list(self._calls)

    @property
    def payloads(self) -> list[P]:
        """The payload of each send, in order."""
        return [payload for _, payload in self._calls]

    @property
    def senders(self) -> list[object]:
        """The sender of each send, in order."""
        return [sender for sender, _ in self._calls]

    def one(self) -> P:
        """The payload of the only send; ``AssertionError`` unless exactly one."""
        if len(self._calls) != 1:
            raise AssertionError(
                f"expected {signal_name(self.signal)} to be sent exactly once; "
                f"it was {_sent(len(self._calls))}{describe_sends(self._calls)}"
            )
        return self._calls[0][1]

    def __len__(self) -> int:
        return len(self._calls)

    def __repr__(self) -> str:
        return f"<Captured {signal_name(self.signal)}: {_sent(len(self._calls))}>"


@overload
def capture(signal: TypedSignal[P]) -> Captured[P]: ...  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
@overload
def capture(signal: DjangoSignal) -> Captured[dict[str, Any]]: ...
def capture(signal: DjangoSignal) -> Captured[Any]:
    """Record the sends of ``signal`` inside a ``with`` block::

        with capture(order_paid) as sent:
            checkout(cart)
        assert sent.one().amount == Decimal("9.99")

    Sends from every thread are recorded, and sends of a muted signal too: a
    capture sees what was sent, whether or not receivers ran.
    """
    return Captured(signal)


class CaptureSignal(Protocol):
    """The ``capture_signal`` pytest fixture: ``capture()`` until the test ends."""

    @overload
    def __call__(self, signal: TypedSignal[P]) -> Captured[P]: ...  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    @overload
    def __call__(self, signal: DjangoSignal) -> Captured[dict[str, Any]]: ...


# -- assertions -----------------------------------------------------------


@overload
def assert_sent(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    signal: TypedSignal[P],
    count: int | None = None,
    where: Callable[[P], bool] | Mapping[str, object] | None = None,
) -> AbstractContextManager[Captured[P]]: ...
@overload
def assert_sent(
    signal: DjangoSignal,
    count: int | None = None,
    where: Callable[[dict[str, Any]], bool] | Mapping[str, object] | None = None,
) -> AbstractContextManager[Captured[dict[str, Any]]]: ...
def assert_sent(
    signal: DjangoSignal,
    count: int | None = None,
    where: Callable[[Any], bool] | Mapping[str, object] | None = None,
) -> AbstractContextManager[Captured[Any]]:
    """Fail unless the block sends ``signal`` (``count`` times, if given)::

        with assert_sent(order_paid, count=1, where=lambda p: p.amount == 10):
            checkout(cart)

    :param count: the exact number of matching sends; by default at least one.
    :param where: count only the sends whose payload matches: a predicate, or
        a mapping of attribute values (``where={"amount": 10}``).

    The failure message lists what was sent instead. The block's ``as`` target
    is the ``Captured`` record of every send.
    """
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or count < 0
    ):
        raise TypeError(f"assert_sent(): count must be an int >= 0, got {count!r}")
    return _asserting(signal, where, _matcher(signal, where), _expect_count(count))


@overload
def assert_not_sent(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    signal: TypedSignal[P],
    where: Callable[[P], bool] | Mapping[str, object] | None = None,
) -> AbstractContextManager[Captured[P]]: ...
@overload
def assert_not_sent(
    signal: DjangoSignal,
    where: Callable[[dict[str, Any]], bool] | Mapping[str, object] | None = None,
) -> AbstractContextManager[Captured[dict[str, Any]]]: ...
def assert_not_sent(
    signal: DjangoSignal,
    where: Callable[[Any], bool] | Mapping[str, object] | None = None,
) -> AbstractContextManager[Captured[Any]]:
    """Fail if the block sends ``signal`` (a matching send, with ``where``)."""
    return _asserting(signal, where, _matcher(signal, where), _expect_count(0))


def _expect_count(count: int | None) -> Callable[[int], str | None]:
    """A check of the number of matching sends: the expectation, if unmet."""

    def check(matching: int) -> str | None:
        if count is None:
            return None if matching else "to be sent"
        if matching == count:
            return None
        if count == 0:
            return "not to be sent"
        return f"to be sent {_times(count)}"

    return check


@contextmanager
def _asserting(
    signal: DjangoSignal,
    where: Callable[[Any], bool] | Mapping[str, object] | None,
    matches: Callable[[object], bool],
    check: Callable[[int], str | None],
) -> Generator[Captured[Any], None, None]:
    with capture(signal) as sent:
        yield sent
    # Reached only when the block did not raise: its own error comes first.
    calls = sent.calls
    matched = [matches(payload) for _, payload in calls]
    expectation = check(sum(matched))
    if expectation is None:
        return
    condition = "" if where is None else f" {_describe_where(where)}"
    summary = _sent(len(calls))
    if where is not None and calls:
        summary += f", {_matching(sum(matched))}"
    raise AssertionError(
        f"expected {signal_name(signal)} {expectation}{condition}; "
        f"it was {summary}{describe_sends(calls, matched if where else None)}"
    )


def _matcher(
    signal: DjangoSignal, where: Callable[[Any], bool] | Mapping[str, object] | None
) -> Callable[[object], bool]:
    if where is None:
        return lambda payload: True
    if callable(where):
        predicate = where
        return lambda payload: bool(predicate(payload))
    if not isinstance(where, Mapping):
        raise TypeError(
            f"where= takes a predicate or a mapping of attribute values, got {where!r}"
        )
    expected = dict(where)
    _check_attributes(signal, expected)
    return lambda payload: all(
        _field(payload, name) == value for name, value in expected.items()
    )


def _check_attributes(signal: DjangoSignal, expected: dict[str, object]) -> None:
    """Reject a misspelt ``where`` key now, not as a confusing mismatch later."""
    if not isinstance(signal, TypedSignal):
        return
    typed: TypedSignal[object] = signal  # pyright: ignore[reportUnknownVariableType]
    payload_type = typed.payload_type
    if not dataclasses.is_dataclass(payload_type):
        return  # other classes may set attributes anywhere: checked per send
    known = {field.name for field in dataclasses.fields(payload_type)}
    for name in expected:
        if name not in known and not hasattr(payload_type, name):
            raise AttributeError(
                f"where={{{name!r}: ...}}: {payload_type.__qualname__} payloads of "
                f"{signal_name(typed)} have no attribute {name!r}; "
                f"fields: {', '.join(sorted(known))}"
            )


def _field(payload: object, name: str) -> object:
    if isinstance(payload, Mapping):
        values: Mapping[str, object] = payload  # pyright: ignore[reportUnknownVariableType]
        if name not in values:
            raise KeyError(
                f"where={{{name!r}: ...}}: the send has no argument {name!r}; "
                f"it has {', '.join(sorted(values)) or 'none'}"
            )
        return values[name]
    try:
        return getattr(payload, name)
    except AttributeError:
        raise AttributeError(
            f"where={{{name!r}: ...}}: {type(payload).__qualname__} payload has "
            f"no attribute {name!r}"
        ) from None


# -- messages -------------------------------------------------------------


def signal_name(signal: DjangoSignal) -> str:
    """This package's signal name, or where a plain signal is defined."""
    if isinstance(signal, Signal):
        return signal.name
    from .._introspection import discover_signals

    try:
        discovered = discover_signals()
    except Exception:  # a name is a nicety: never fail an assertion over it
        discovered = []
    for name, found in discovered:
        if found is signal:
            return name
    return repr(signal)


def describe_sends(
    calls: list[tuple[object, Any]], matched: list[bool] | None = None
) -> str:
    """One line per send (``sender=..., payload=...``), or ``""`` for none."""
    lines: list[str] = []
    for index, (sender, payload) in enumerate(calls[:_SHOWN_SENDS]):
        mark = "" if matched is None else (" [matches]" if matched[index] else "")
        lines.append(
            f"\n  {index + 1}. sender={_repr.repr(sender)}, "
            f"payload={_repr.repr(payload)}{mark}"
        )
    if len(calls) > _SHOWN_SENDS:
        lines.append(f"\n  ... and {len(calls) - _SHOWN_SENDS} more")
    return ":" + "".join(lines) if lines else ""


def _describe_where(where: Callable[[Any], bool] | Mapping[str, object]) -> str:
    if callable(where):
        return f"where {getattr(where, '__qualname__', None) or repr(where)}"
    return f"where {_repr.repr(dict(where))}"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _sent(count: int) -> str:
    return f"sent {_times(count)}" if count else "never sent"


def _matching(count: int) -> str:
    return {0: "none matching", 1: "1 matching"}.get(count, f"{count} matching")

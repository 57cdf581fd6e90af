"""Named signal groups and context-local muting.

Muting is stored in a ``ContextVar`` so that it follows the code that asked for
it: another thread, or another asyncio task started outside the ``mute()``
block, keeps sending. Each signal precomputes the keys that mute it (itself and
its group names) so the check at send time is one set intersection.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
)
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

from django.dispatch import Signal as DjangoSignal

__all__ = [
    "SignalGroup",
    "is_mutable",
    "is_muted",
    "known_groups",
    "mute",
    "muted_keys",
    "muted_var",
    "note_group_references",
    "unknown_group_references",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Frozen set of group names and signal objects muted in the current context.
# The empty default keeps the common "nothing muted" check to one falsy test.
muted_var: ContextVar[frozenset[object]] = ContextVar(
    "django_typed_signals.muted", default=frozenset()
)

_groups_lock = threading.Lock()
_groups: dict[str, SignalGroup] = {}


@dataclass(frozen=True)
class SignalGroup:
    """A named set of signals that can be muted together.

    Signals join groups through their ``groups=`` argument, which declares the
    group implicitly; declare a group explicitly to give it a description or to
    reference it before any signal uses it.
    """

    name: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(
                f"SignalGroup name must be a non-empty string, got {self.name!r}"
            )
        with _groups_lock:
            existing = _groups.get(self.name)
            if existing is None or (self.description and not existing.description):
                _groups[self.name] = self


def declare_groups(names: Iterable[str], *, owner: str) -> frozenset[str]:
    """Register group names used by a signal and return them as a frozenset."""
    if isinstance(names, str):
        raise TypeError(
            f"{owner}: groups must be a list of names, not the string {names!r}"
        )
    result = frozenset(names)
    for name in result:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{owner}: group names must be strings, got {name!r}")
        if name not in _groups:
            SignalGroup(name)
    return result


_references_lock = threading.Lock()
_references: list[tuple[str, str]] = []


def note_group_references(names: Iterable[str], *, where: str) -> None:
    """Remember group names used at ``where`` (a dotted path) for system checks.

    For places that name groups before they can check them, such as test
    classes created at import time; ``unknown_group_references()`` reports
    the names no signal or ``SignalGroup`` declared.
    """
    with _references_lock:
        _references.extend((name, where) for name in names)


def unknown_group_references() -> list[tuple[str, str]]:
    """``(group name, where)`` for each noted name that is not declared."""
    with _references_lock:
        references = list(_references)
    declared = known_groups()
    return [(name, where) for name, where in references if name not in declared]


def known_groups() -> dict[str, SignalGroup]:
    """Return the declared groups by name (a copy)."""
    with _groups_lock:
        return dict(_groups)


def is_muted(signal: DjangoSignal) -> bool:
    """Whether ``signal`` (ours or an adopted Django signal) is muted here."""
    keys: frozenset[object] | None = getattr(signal, "_mute_keys", None)
    return keys is not None and not muted_var.get().isdisjoint(keys)


def muted_keys() -> frozenset[object]:
    """Return what is muted in the current context (group names and signals)."""
    return muted_var.get()


def is_mutable(signal: object) -> bool:
    """Whether ``mute()`` can silence ``signal``: ours, or an adopted Django one.

    Every such signal carries the keys that mute it in ``_mute_keys``.
    """
    return isinstance(getattr(signal, "_mute_keys", None), frozenset)


def _resolve(targets: tuple[str | DjangoSignal, ...]) -> frozenset[object]:
    keys: set[object] = set()
    for target in targets:
        if isinstance(target, str):
            if target not in _groups:
                known = ", ".join(sorted(_groups)) or "(none declared)"
                raise LookupError(
                    f"mute(): unknown signal group {target!r}; known groups: {known}"
                )
            keys.add(target)
        elif isinstance(target, DjangoSignal) and is_mutable(target):
            keys.add(target)
        elif isinstance(target, DjangoSignal):
            raise TypeError(
                f"mute(): {target!r} is a plain django.dispatch.Signal; only "
                "django_typed_signals signals, Django's built-in signals and "
                "group names can be muted"
            )
        else:
            raise TypeError(
                f"mute() takes group names or signals, got {type(target).__name__}: "
                f"{target!r}"
            )
    return frozenset(keys)


# The ``with mute(...)`` blocks open in the current context, innermost last.
# Each keeps its own token here rather than on the ``mute`` object, so one
# object (a module-level ``QUIET = mute("billing")``) can be entered by
# several threads or overlapping asyncio tasks at once.
_open_blocks: ContextVar[tuple[tuple[mute, Token[frozenset[object]]], ...]] = (
    ContextVar("django_typed_signals.open_mute_blocks", default=())
)


class mute:
    """Silence groups or signals in the current context.

    Works as a context manager (``with mute("billing"):``) and as a decorator
    of sync or async functions and generators (each step of a generator runs
    muted, not the code that iterates it). Nesting adds to what the outer
    block muted and restores it on exit. One ``mute`` object may be reused,
    also by concurrent threads and asyncio tasks. Unknown group names raise
    ``LookupError`` at once.
    """

    def __init__(self, *groups_or_signals: str | DjangoSignal) -> None:
        self._keys = _resolve(groups_or_signals)

    def __repr__(self) -> str:
        names = sorted(repr(key) for key in self._keys)
        return f"mute({', '.join(names)})"

    def __enter__(self) -> None:
        token = muted_var.set(muted_var.get() | self._keys)
        _open_blocks.set((*_open_blocks.get(), (self, token)))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        blocks = _open_blocks.get()
        for index in range(len(blocks) - 1, -1, -1):
            if blocks[index][0] is self:
                break
        else:
            raise RuntimeError(
                f"{self!r}: exited in a context that did not enter it (a thread "
                "or asyncio task other than the one that ran `with`)"
            )
        _open_blocks.set(blocks[:index] + blocks[index + 1 :])
        muted_var.reset(blocks[index][1])

    @overload
    def __call__(
        self, func: Callable[_P, Coroutine[Any, Any, _R]]
    ) -> Callable[_P, Coroutine[Any, Any, _R]]: ...
    @overload
    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]: ...
    def __call__(self, func: Callable[_P, Any]) -> Callable[_P, Any]:
        keys = self._keys
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                return _muted_generator(func(*args, **kwargs), keys)

            return generator_wrapper

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            def async_generator_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                return _muted_async_generator(func(*args, **kwargs), keys)

            return async_generator_wrapper

        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[_P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                with _Muted(keys):
                    return await async_func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            with _Muted(keys):
                return func(*args, **kwargs)

        return wrapper


class _Muted:
    """``with _Muted(keys):`` mutes ``keys`` for the block, in this context.

    A fresh object per block (its token is its own): for the decorators,
    where no ``mute`` object is shared between concurrent calls.
    """

    __slots__ = ("_keys", "_token")

    def __init__(self, keys: frozenset[object]) -> None:
        self._keys = keys

    def __enter__(self) -> None:
        self._token = muted_var.set(muted_var.get() | self._keys)

    def __exit__(self, *exc_info: object) -> None:
        muted_var.reset(self._token)


def _muted_generator(
    generator: Generator[Any, Any, Any], keys: frozenset[object]
) -> Generator[Any, Any, Any]:
    """Run each step of ``generator`` muted; pass sends, throws and close on."""
    step: Callable[[Any], Any] = generator.send
    argument: Any = None
    while True:
        try:
            with _Muted(keys):
                value = step(argument)
        except StopIteration as stop:
            return stop.value
        try:
            argument = yield value
            step = generator.send
        except GeneratorExit:
            with _Muted(keys):
                generator.close()
            raise
        except BaseException as exc:  # thrown in: let the generator handle it
            step, argument = generator.throw, exc


async def _muted_async_generator(
    generator: AsyncGenerator[Any, Any], keys: frozenset[object]
) -> AsyncGenerator[Any, Any]:
    """Run each step of an async ``generator`` muted; as ``_muted_generator``."""
    step: Callable[[Any], Awaitable[Any]] = generator.asend
    argument: Any = None
    while True:
        try:
            with _Muted(keys):
                value = await step(argument)
        except StopAsyncIteration:
            return
        try:
            argument = yield value
            step = generator.asend
        except GeneratorExit:
            with _Muted(keys):
                await generator.aclose()
            raise
        except BaseException as exc:
            step, argument = generator.athrow, exc

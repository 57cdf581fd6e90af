"""Receiver metadata and signature checks, for the dispatcher and tooling."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from types import CodeType, FunctionType, MethodType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

if TYPE_CHECKING:
    from .bridge._info import DeliveryInfo

__all__ = [
    "BridgedReceiver",
    "ReceiverInfo",
    "TypedReceiver",
    "check_receiver",
    "check_typed_receiver",
    "describe_callable",
    "format_location",
]

_P_contra = TypeVar("_P_contra", contravariant=True)

# Keyword arguments that every receiver of a signal may be called with.
_DISPATCH_KWARGS = frozenset({"signal", "sender"})


class TypedReceiver(Protocol[_P_contra]):
    """What a receiver of ``TypedSignal[P]`` must look like.

    ``def r(sender: object, *, payload: P, **kwargs: object) -> object``: the
    ``**kwargs`` keeps receivers working when Django passes more arguments
    (``signal=`` today).
    """

    # ``**kwargs: object`` (not ``Any``): pyright would otherwise let the
    # keyword arguments fill a misnamed required parameter such as ``data``.
    def __call__(
        self, sender: Any, *, payload: _P_contra, **kwargs: object
    ) -> object: ...  # pragma: no cover


class BridgedReceiver(Protocol[_P_contra]):
    """A receiver of ``TypedSignal[P]`` connected with ``run="celery"``: it may
    also take the ``delivery`` the worker passes (or leave it to ``**kwargs``)."""

    def __call__(
        self,
        sender: Any,
        *,
        payload: _P_contra,
        delivery: DeliveryInfo,
        **kwargs: object,
    ) -> object: ...  # pragma: no cover


@dataclass(frozen=True)
class ReceiverInfo:
    """One connected receiver, as ``Signal.receivers_info()`` reports it."""

    signal_name: str
    receiver: object | None
    path: str
    file: str | None
    line: int | None
    sender: object | None
    priority: int
    groups: frozenset[str]
    dispatch_uid: object | None
    is_async: bool
    weak: bool
    on_commit: bool
    run: str = "inline"
    """Who calls it: ``"inline"``, ``"on_commit"``, or a registered executor."""

    @property
    def location(self) -> str:
        """``file:line`` where the receiver is defined, or ``"?"``."""
        return format_location(self.file, self.line)


def format_location(file: str | None, line: int | None) -> str:
    """``file:line``, ``file`` or ``"?"``: where a receiver is defined."""
    if file is None:
        return "?"
    return file if line is None else f"{file}:{line}"


def describe_callable(obj: object) -> tuple[str, str | None, int | None]:
    """Return ``(dotted path, file, line)`` for any receiver-like object.

    Never raises: partials, bound methods, callable instances, lambdas and
    builtins all get the best description available.
    """
    target: Any = obj
    prefix = ""
    suffix = ""
    while isinstance(target, functools.partial):
        prefix, suffix = prefix + "partial(", suffix + ")"
        target = target.func
    func: Any = getattr(target, "__func__", target)  # bound methods
    if not hasattr(func, "__qualname__") and callable(func):  # callable instances
        func = type(func)
        suffix = "()" + suffix
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or repr(func)
    code = getattr(inspect.unwrap(func) if callable(func) else func, "__code__", None)
    if code is None and isinstance(func, type):
        call = inspect.getattr_static(func, "__call__", None)
        code = getattr(call, "__code__", None)
    file = code.co_filename if code is not None else None
    line = code.co_firstlineno if code is not None else None
    return f"{prefix}{module}.{qualname}{suffix}", file, line


class _Signature(NamedTuple):
    """What the checks need of a receiver's signature."""

    takes_var_keyword: bool
    required_by_name: tuple[str, ...]
    """Parameters without default that a keyword argument could fill."""


class Named(Protocol):
    """A signal, as the checks name it in their errors (only then)."""

    @property
    def name(self) -> str: ...


def check_receiver(signal: Named, receiver: object) -> None:
    """Raise a clear error when ``receiver`` cannot be called by a signal."""
    if not callable(receiver):
        # Django's own sentence first: code and tests match on it.
        raise TypeError(
            f"Signal receivers must be callable. {signal.name}: got "
            f"{type(receiver).__name__}: {receiver!r}"
        )
    signature = _signature(receiver)
    if signature is not None and not signature.takes_var_keyword:
        path = describe_callable(receiver)[0]
        raise ValueError(
            "Signal receivers must accept keyword arguments (**kwargs). "
            f"{signal.name}: receiver {path} does not; Django passes 'signal' "
            "and 'sender' and may add more"
        )


_TYPED_PASSES = _DISPATCH_KWARGS | {"payload"}
_NO_NAMES: frozenset[str] = frozenset()


def check_typed_receiver(
    signal: Named, receiver: object, also_passed: frozenset[str] = frozenset()
) -> None:
    """Reject receivers that require arguments a typed signal never passes.

    ``also_passed``: what the receiver's executor adds (the bridge's
    ``delivery=``).
    """
    signature = _signature(receiver)
    if signature is None:
        return
    for name in signature.required_by_name:
        if name not in _TYPED_PASSES and name not in also_passed:
            path = describe_callable(receiver)[0]
            raise ValueError(
                f"{signal.name}: receiver {path} requires argument "
                f"{name!r}, which the signal never passes; typed "
                "receivers take (sender, *, payload, **kwargs)"
            )


def _signature(receiver: object) -> _Signature | None:
    """The receiver's signature, read from its code object when it is a plain
    function or method (connect runs in tests and per request: ``inspect`` costs
    microseconds), else with ``inspect.signature``; ``None`` if it has none."""
    func: object = receiver.__func__ if type(receiver) is MethodType else receiver
    # A decorated function (functools.wraps) shows its wrapped signature to
    # inspect: leave those to it.
    if (
        type(func) is FunctionType
        and getattr(func, "__wrapped__", None) is None
        and getattr(func, "__signature__", None) is None
    ):
        return _function_signature(func, bound=func is not receiver)
    try:
        parameters = inspect.signature(receiver).parameters.values()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    except (TypeError, ValueError):  # builtins and C callables without signature
        return None
    by_name = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return _Signature(
        any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters),
        tuple(
            p.name
            for p in parameters
            if p.default is inspect.Parameter.empty and p.kind in by_name
        ),
    )


# Per code object (a test suite connects the same functions again and again),
# checked by identity since an id can be reused; bounded for generated code.
_by_code: dict[tuple[int, int, bool], tuple[CodeType, _Signature]] = {}
_BY_CODE_LIMIT = 4096


def _function_signature(func: FunctionType, *, bound: bool) -> _Signature:
    code = func.__code__
    defaults = len(func.__defaults__) if func.__defaults__ else 0
    kwdefaults = func.__kwdefaults__
    if kwdefaults:  # rare for receivers: not cached
        return _code_signature(code, defaults, frozenset(kwdefaults), bound)
    key = (id(code), defaults, bound)
    hit = _by_code.get(key)
    if hit is not None and hit[0] is code:
        return hit[1]
    signature = _code_signature(code, defaults, _NO_NAMES, bound)
    if len(_by_code) < _BY_CODE_LIMIT:
        _by_code[key] = (code, signature)
    return signature


def _code_signature(
    code: CodeType, defaults: int, kwdefaults: frozenset[str], bound: bool
) -> _Signature:
    names = code.co_varnames
    positional = code.co_argcount
    keyword_only = names[positional : positional + code.co_kwonlyargcount]
    first = code.co_posonlyargcount
    if bound:  # the instance fills the first parameter
        first = max(first, 1)
    positional_required = names[first : positional - defaults]
    return _Signature(
        bool(code.co_flags & inspect.CO_VARKEYWORDS),
        (
            *positional_required,
            *(name for name in keyword_only if name not in kwdefaults),
        ),
    )

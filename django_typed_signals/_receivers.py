"""The ``receiver`` decorator, receiver metadata and signature checks."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, TypeVar, cast, overload

from django.dispatch import Signal as DjangoSignal

if TYPE_CHECKING:
    from django.db.models import Model

    from ._signal import TypedSignal
    from .lifecycle._payloads import (
        M2MChanged,
        ModelEvent,
        PostDelete,
        PostSave,
        PreDelete,
        PreSave,
    )

__all__ = ["ReceiverInfo", "TypedReceiver", "describe_callable", "receiver"]

_P_contra = TypeVar("_P_contra", contravariant=True)
_P = TypeVar("_P")
_F = TypeVar("_F", bound=Callable[..., Any])

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


def check_receiver(signal_name: str, receiver: object) -> None:
    """Raise a clear error when ``receiver`` cannot be called by a signal."""
    if not callable(receiver):
        # Django's own sentence first: code and tests match on it.
        raise TypeError(
            f"Signal receivers must be callable. {signal_name}: got "
            f"{type(receiver).__name__}: {receiver!r}"
        )
    parameters = _parameters(receiver)
    if parameters is None:
        return
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        path = describe_callable(receiver)[0]
        raise ValueError(
            "Signal receivers must accept keyword arguments (**kwargs). "
            f"{signal_name}: receiver {path} does not; Django passes 'signal' "
            "and 'sender' and may add more"
        )


def check_typed_receiver(signal_name: str, receiver: object) -> None:
    """Reject receivers that require arguments a typed signal never passes."""
    parameters = _parameters(receiver)
    if parameters is None:
        return
    passed = _DISPATCH_KWARGS | {"payload"}
    for parameter in parameters:
        required = parameter.default is inspect.Parameter.empty
        if (
            required
            and parameter.name not in passed
            and parameter.kind
            in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ):
            path = describe_callable(receiver)[0]
            raise ValueError(
                f"{signal_name}: receiver {path} requires argument "
                f"{parameter.name!r}, which the signal never passes; typed "
                "receivers take (sender, *, payload, **kwargs)"
            )


def _parameters(receiver: object) -> Sequence[inspect.Parameter] | None:
    try:
        return list(inspect.signature(receiver).parameters.values())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    except (TypeError, ValueError):  # builtins and C callables without signature
        return None


_M = TypeVar("_M", bound="Model")
_E = TypeVar("_E", bound="ModelEvent[Any]")
_Decorator = Callable[[TypedReceiver[_P]], TypedReceiver[_P]]


# Lifecycle payload classes stand for the typed model signals; ``sender`` fixes
# the model type of the payload (``PostSave[Order]`` for ``sender=Order``).
@overload
def receiver(
    signal: type[PreSave[Any]],
    *,
    sender: type[_M],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PreSave[_M]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[PreSave[_M]]: ...
@overload
def receiver(
    signal: type[PostSave[Any]],
    *,
    sender: type[_M],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PostSave[_M]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[PostSave[_M]]: ...
@overload
def receiver(
    signal: type[PreDelete[Any]],
    *,
    sender: type[_M],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PreDelete[_M]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[PreDelete[_M]]: ...
@overload
def receiver(
    signal: type[PostDelete[Any]],
    *,
    sender: type[_M],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PostDelete[_M]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[PostDelete[_M]]: ...
@overload
def receiver(
    signal: type[M2MChanged[Any]],
    *,
    sender: type[Model],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[M2MChanged[Model]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[M2MChanged[Model]]: ...
@overload
def receiver(
    signal: type[_E],
    *,
    sender: None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[_E], bool] | None = None,
    match_subclasses: bool = False,
) -> Callable[[_F], _F]: ...
# ``[PreSave, PostSave]``: one receiver for both halves of a save.
@overload
def receiver(  # type: ignore[overload-overlap]  # before the mixed lists
    signal: Sequence[type[PreSave[Any]] | type[PostSave[Any]]],
    *,
    sender: type[_M],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PreSave[_M] | PostSave[_M]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[PreSave[_M] | PostSave[_M]]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # before the mixed lists
    signal: Sequence[type[PreDelete[Any]] | type[PostDelete[Any]]],
    *,
    sender: type[_M],
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PreDelete[_M] | PostDelete[_M]], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[PreDelete[_M] | PostDelete[_M]]: ...
@overload
def receiver(
    signal: Sequence[type[PreSave[Any]] | type[PostSave[Any]]],
    *,
    sender: None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PreSave[Model] | PostSave[Model]], bool] | None = None,
    match_subclasses: bool = False,
) -> Callable[[_F], _F]: ...
@overload
def receiver(
    signal: Sequence[type[PreDelete[Any]] | type[PostDelete[Any]]],
    *,
    sender: None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[PreDelete[Model] | PostDelete[Model]], bool] | None = None,
    match_subclasses: bool = False,
) -> Callable[[_F], _F]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # typed signals first
    signal: TypedSignal[_P] | Sequence[TypedSignal[_P]],
    *,
    sender: object | None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[_P], bool] | None = None,
    match_subclasses: bool = False,
) -> _Decorator[_P]: ...
@overload
def receiver(
    signal: DjangoSignal | Sequence[DjangoSignal],
    *,
    sender: object | None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: None = None,
    match_subclasses: bool = False,
) -> Callable[[_F], _F]: ...
# Any other mix of signals and payload classes; when= only with the above.
@overload
def receiver(
    signal: Sequence[DjangoSignal | type[ModelEvent[Any]]],
    *,
    sender: object | None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: None = None,
    match_subclasses: bool = False,
) -> Callable[[_F], _F]: ...
def receiver(
    signal: DjangoSignal
    | type[ModelEvent[Any]]
    | Sequence[DjangoSignal | type[ModelEvent[Any]]],
    *,
    sender: object | None = None,
    priority: int = 0,
    dispatch_uid: object | None = None,
    weak: bool = True,
    on_commit: bool = False,
    when: Callable[[Any], bool] | None = None,
    match_subclasses: bool = False,
) -> Callable[[_F], _F]:
    """Connect the decorated function to one signal or a list of signals.

    ``signal`` may also be a lifecycle payload class (``PostSave``...), which
    connects to the typed model signal for ``sender``, and a list may mix
    both: ``[PreSave, PostSave]``. Each gets its own connection with the same
    options. Plain ``django.dispatch.Signal`` instances are accepted too;
    ``priority``, ``on_commit``, ``when`` and ``match_subclasses`` need one of
    ours.
    """
    from ._signal import Signal, TypedSignal
    from .lifecycle._wiring import check_model_receiver, connect_model_receiver

    if isinstance(signal, (DjangoSignal, type)):
        items: list[object] = [signal]
    elif isinstance(signal, (list, tuple)):  # as Django's receiver()
        items = list(cast("Sequence[object]", signal))
    else:
        raise TypeError(_not_a_signal(signal))
    events: list[type[ModelEvent[Any]]] = []
    for each in items:
        if _is_event(each):
            events.append(each)
        elif not isinstance(each, DjangoSignal):
            raise TypeError(_not_a_signal(each))
        elif not isinstance(each, Signal) and (
            priority or on_commit or match_subclasses or when is not None
        ):
            raise TypeError(
                "receiver(): priority=, on_commit=, when= and match_subclasses= "
                f"need a django_typed_signals.Signal, {each!r} is a plain "
                "Django signal"
            )
        elif when is not None and not isinstance(each, TypedSignal):
            raise TypeError(f"receiver(): when= needs a TypedSignal, got {each!r}")

    def decorator(func: _F) -> _F:
        for event in events:  # all refused before any is connected
            check_model_receiver(event, func, sender=sender, when=when)
        for each in items:
            if _is_event(each):
                connect_model_receiver(
                    each,
                    func,
                    sender=sender,
                    when=when,
                    priority=priority,
                    dispatch_uid=dispatch_uid,
                    weak=weak,
                    on_commit=on_commit,
                    match_subclasses=match_subclasses,
                )
            elif isinstance(each, TypedSignal):
                typed = cast("TypedSignal[Any]", each)  # type: ignore[redundant-cast]
                typed.connect(
                    func,
                    sender=sender,
                    weak=weak,
                    dispatch_uid=dispatch_uid,
                    priority=priority,
                    on_commit=on_commit,
                    when=when,
                    match_subclasses=match_subclasses,
                )
            elif isinstance(each, Signal):
                each.connect(
                    func,
                    sender=sender,
                    weak=weak,
                    dispatch_uid=dispatch_uid,
                    priority=priority,
                    on_commit=on_commit,
                    match_subclasses=match_subclasses,
                )
            elif isinstance(each, DjangoSignal):
                each.connect(func, sender=sender, weak=weak, dispatch_uid=dispatch_uid)
        return func

    return decorator


def _is_event(value: object) -> TypeGuard[type[ModelEvent[Any]]]:
    """Whether ``value`` is a lifecycle payload class (``PostSave``...)."""
    from .lifecycle._payloads import ModelEvent

    return isinstance(value, type) and issubclass(value, ModelEvent)


def _not_a_signal(value: object) -> str:
    got = (
        f"the class {value.__qualname__}"
        if isinstance(value, type)
        else f"{type(value).__name__}: {value!r}"
    )
    return (
        "receiver() takes a signal, a lifecycle payload class (PostSave, ...) "
        f"or a list of them, got {got}"
    )

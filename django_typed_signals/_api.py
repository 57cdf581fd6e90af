"""``receiver()``: the decorator that connects a function to signals.

It sits above the dispatcher and the model layer. A lifecycle payload class
(``PostSave``...) stands for its typed signal through the event family that
``lifecycle`` registers, so this module imports no layer below the
dispatcher at run time. The options are declared once, in ``_options``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from django.dispatch import Signal as DjangoSignal

from ._options import AllConnectOptions, BridgedReceiverOptions, ReceiverOptions
from ._receivers import BridgedReceiver, TypedReceiver
from ._registry import EventFamily, event_family
from ._signal import Signal
from ._typed_signal import TypedSignal

if TYPE_CHECKING:
    from django.db.models import Model
    from typing_extensions import Unpack

    from .lifecycle._payloads import (
        M2MChanged,
        ModelEvent,
        PostDelete,
        PostSave,
        PreDelete,
        PreSave,
    )

__all__ = ["receiver"]

_P = TypeVar("_P")
_F = TypeVar("_F", bound=Callable[..., Any])
_M = TypeVar("_M", bound="Model")
_E = TypeVar("_E", bound="ModelEvent[Any]")
_Decorator = Callable[[TypedReceiver[_P]], TypedReceiver[_P]]
_Bridged = Callable[[BridgedReceiver[_P]], BridgedReceiver[_P]]


# Lifecycle payload classes stand for the typed model signals; ``sender`` fixes
# the model type of the payload (``PostSave[Order]`` for ``sender=Order``).
# With run="celery" first: the receiver may then require the worker's
# ``delivery`` (the plain overloads take ``run`` too, so these overlap them).
@overload
def receiver(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    signal: type[PreSave[Any]],
    *,
    run: Literal["celery"],
    sender: type[_M],
    when: Callable[[PreSave[_M]], bool] | None = None,
    **options: Unpack[BridgedReceiverOptions],
) -> _Bridged[PreSave[_M]]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    signal: type[PostSave[Any]],
    *,
    run: Literal["celery"],
    sender: type[_M],
    when: Callable[[PostSave[_M]], bool] | None = None,
    **options: Unpack[BridgedReceiverOptions],
) -> _Bridged[PostSave[_M]]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    signal: type[PreDelete[Any]],
    *,
    run: Literal["celery"],
    sender: type[_M],
    when: Callable[[PreDelete[_M]], bool] | None = None,
    **options: Unpack[BridgedReceiverOptions],
) -> _Bridged[PreDelete[_M]]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]
    signal: type[PostDelete[Any]],
    *,
    run: Literal["celery"],
    sender: type[_M],
    when: Callable[[PostDelete[_M]], bool] | None = None,
    **options: Unpack[BridgedReceiverOptions],
) -> _Bridged[PostDelete[_M]]: ...
@overload
def receiver(
    signal: type[PreSave[Any]],
    *,
    sender: type[_M],
    when: Callable[[PreSave[_M]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[PreSave[_M]]: ...
@overload
def receiver(
    signal: type[PostSave[Any]],
    *,
    sender: type[_M],
    when: Callable[[PostSave[_M]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[PostSave[_M]]: ...
@overload
def receiver(
    signal: type[PreDelete[Any]],
    *,
    sender: type[_M],
    when: Callable[[PreDelete[_M]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[PreDelete[_M]]: ...
@overload
def receiver(
    signal: type[PostDelete[Any]],
    *,
    sender: type[_M],
    when: Callable[[PostDelete[_M]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[PostDelete[_M]]: ...
@overload
def receiver(
    signal: type[M2MChanged[Any]],
    *,
    sender: type[Model],
    when: Callable[[M2MChanged[Model]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[M2MChanged[Model]]: ...
@overload
def receiver(
    signal: type[_E],
    *,
    sender: None = None,
    when: Callable[[_E], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> Callable[[_F], _F]: ...
# ``[PreSave, PostSave]``: one receiver for both halves of a save.
@overload
def receiver(  # type: ignore[overload-overlap]  # before the mixed lists
    signal: Sequence[type[PreSave[Any]] | type[PostSave[Any]]],
    *,
    sender: type[_M],
    when: Callable[[PreSave[_M] | PostSave[_M]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[PreSave[_M] | PostSave[_M]]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # before the mixed lists
    signal: Sequence[type[PreDelete[Any]] | type[PostDelete[Any]]],
    *,
    sender: type[_M],
    when: Callable[[PreDelete[_M] | PostDelete[_M]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[PreDelete[_M] | PostDelete[_M]]: ...
@overload
def receiver(
    signal: Sequence[type[PreSave[Any]] | type[PostSave[Any]]],
    *,
    sender: None = None,
    when: Callable[[PreSave[Model] | PostSave[Model]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> Callable[[_F], _F]: ...
@overload
def receiver(
    signal: Sequence[type[PreDelete[Any]] | type[PostDelete[Any]]],
    *,
    sender: None = None,
    when: Callable[[PreDelete[Model] | PostDelete[Model]], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> Callable[[_F], _F]: ...
# run="celery": the receiver may require the worker's ``delivery``.
@overload
def receiver(  # type: ignore[overload-overlap]  # pyright: ignore[reportOverlappingOverload]  # before the other typed signals
    signal: TypedSignal[_P] | Sequence[TypedSignal[_P]],
    *,
    run: Literal["celery"],
    sender: object | None = None,
    when: Callable[[_P], bool] | None = None,
    **options: Unpack[BridgedReceiverOptions],
) -> _Bridged[_P]: ...
@overload
def receiver(  # type: ignore[overload-overlap]  # typed signals first
    signal: TypedSignal[_P] | Sequence[TypedSignal[_P]],
    *,
    sender: object | None = None,
    when: Callable[[_P], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> _Decorator[_P]: ...
@overload
def receiver(
    signal: DjangoSignal | Sequence[DjangoSignal],
    *,
    sender: object | None = None,
    when: None = None,
    **options: Unpack[ReceiverOptions],
) -> Callable[[_F], _F]: ...
# Any other mix of signals and payload classes; when= only with the above.
@overload
def receiver(
    signal: Sequence[DjangoSignal | type[ModelEvent[Any]]],
    *,
    sender: object | None = None,
    when: None = None,
    **options: Unpack[ReceiverOptions],
) -> Callable[[_F], _F]: ...
def receiver(
    signal: DjangoSignal
    | type[ModelEvent[Any]]
    | Sequence[DjangoSignal | type[ModelEvent[Any]]],
    *,
    sender: object | None = None,
    when: Callable[[Any], bool] | None = None,
    **options: Unpack[ReceiverOptions],
) -> Callable[[_F], _F]:
    """Connect the decorated function to one signal or a list of signals.

    ``signal`` may also be a lifecycle payload class (``PostSave``...), which
    connects to the typed model signal for ``sender``, and a list may mix
    both: ``[PreSave, PostSave]``. Each gets its own connection with the same
    options. Plain ``django.dispatch.Signal`` instances are accepted too;
    ``priority``, ``on_commit``, ``when`` and ``match_subclasses`` need one of
    ours.
    """
    weak = options.get("weak", True)
    dispatch_uid = options.get("dispatch_uid")
    connect_options = cast(
        "AllConnectOptions",
        {k: v for k, v in options.items() if k not in ("weak", "dispatch_uid")},
    )
    if isinstance(signal, (DjangoSignal, type)):
        items: list[object] = [signal]
    elif isinstance(signal, (list, tuple)):  # as Django's receiver()
        items = list(cast("Sequence[object]", signal))
    else:
        raise TypeError(_not_a_signal(signal))
    families: list[EventFamily | None] = []  # one per item, None for a signal
    for each in items:
        family = event_family(each)
        families.append(family)
        if family is not None:
            continue
        if not isinstance(each, DjangoSignal):
            raise TypeError(_not_a_signal(each))
        elif not isinstance(each, Signal) and (connect_options or when is not None):
            raise TypeError(
                "receiver(): priority=, on_commit=, when= and match_subclasses= "
                f"need a django_typed_signals.Signal, {each!r} is a plain "
                "Django signal"
            )
        elif when is not None and not isinstance(each, TypedSignal):
            raise TypeError(f"receiver(): when= needs a TypedSignal, got {each!r}")

    def decorator(func: _F) -> _F:
        for each, family in zip(items, families, strict=True):
            if family is not None:  # all refused before any is connected
                family.check(cast("type[Any]", each), func, sender=sender, when=when)
        for each, family in zip(items, families, strict=True):
            target = family.signal_for(cast("type[Any]", each)) if family else each
            if isinstance(target, TypedSignal):
                typed = cast("TypedSignal[Any]", target)  # type: ignore[redundant-cast]
                typed.connect(
                    func, sender, weak, dispatch_uid, when=when, **connect_options
                )
            elif isinstance(target, Signal):
                target.connect(func, sender, weak, dispatch_uid, **connect_options)
            else:
                cast("DjangoSignal", target).connect(
                    func, sender=sender, weak=weak, dispatch_uid=dispatch_uid
                )
        return func

    return decorator


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

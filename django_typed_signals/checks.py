"""System checks for signals and their receivers, run by ``manage.py check``.

Every check is registered under the tag ``typed_signals`` (``TAG``), so
``manage.py check --tag typed_signals`` runs them alone. Message ids:

======================  =====================================================
id                      problem
======================  =====================================================
``typed_signals.E001``  a ``TypedSignal`` receiver's ``payload`` annotation
                        does not accept the signal's payload type
``typed_signals.W001``  a ``TypedSignal`` receiver's ``payload`` annotation
                        cannot be resolved, so E001 cannot judge it
``typed_signals.E002``  a receiver of any signal does not take ``**kwargs``
``typed_signals.E003``  a group name is referenced but never declared
``typed_signals.E004``  a receiver was ignored: its ``dispatch_uid`` was taken
``typed_signals.E301``  a ``run="celery"`` receiver's payload type cannot be
                        encoded (``bridge._checks``)
``typed_signals.E302``  ``TYPED_SIGNALS["BRIDGE"]["ROUTES"]`` routes a group
                        that no signal declares (``bridge._checks``)
``typed_signals.E303``  a ``queue=`` or routed queue that the Celery app does
                        not declare, while it declares its queues and does not
                        create missing ones (``bridge._checks``)
``typed_signals.E401``  a ``Transitions`` map (or ``initial=``) names a state
                        missing from the field's ``choices``
                        (``services._transition_checks``)
``typed_signals.E402``  a ``Transitions`` field is not a concrete field of
                        its model (``services._transition_checks``)
======================  =====================================================

Each layer of the package owns a range of ids, in the order of its layers:
``0xx`` dispatcher, receivers and groups (this module), ``1xx`` model hooks
(``lifecycle``), ``2xx`` Django built-ins, ``3xx`` the Celery bridge, ``4xx``
services, ``5xx`` testing support. A layer adds a check in its own ``checks``
module: one function decorated with ``@register(TAG)``, returning messages
with an id from its range; the module is imported by ``apps.py``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.dispatch import Signal as DjangoSignal

from ._groups import known_groups, unknown_group_references
from ._introspection import discover_signals, is_typed
from ._receivers import describe_callable
from ._registry import CHECKS_TAG
from ._signal import Signal
from ._typed_signal import TypedSignal

__all__ = [
    "TAG",
    "check_dispatch_uids",
    "check_group_references",
    "check_payload_annotations",
    "check_receivers_take_kwargs",
]

TAG = CHECKS_TAG
"""The tag of every check of this package: ``manage.py check --tag typed_signals``."""


class _Connected(NamedTuple):
    """A live receiver of one signal, described for messages."""

    signal_name: str
    receiver: Callable[..., Any]
    path: str
    location: str | None  # "file:line"

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.path}{where}"


# -- E001 / W001 ------------------------------------------------------------


@register(TAG)
def check_payload_annotations(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E001 and W001: ``payload`` annotations that cannot take the payload.

    Type checkers see this mistake for receivers connected with this package's
    ``@receiver``, not for those connected with Django's ``@receiver`` or with
    ``connect``; this check sees all of them.
    """
    messages: list[CheckMessage] = []
    for name, signal in discover_signals():
        if not isinstance(signal, TypedSignal):
            continue
        typed = typing.cast("TypedSignal[object]", signal)
        for connected in _receivers_of(name, typed, app_configs):
            message = _payload_message(connected, typed.payload_type)
            if message is not None:
                messages.append(message)
    return messages


def _payload_message(connected: _Connected, payload_type: type) -> CheckMessage | None:
    try:
        parameter = inspect.signature(connected.receiver).parameters.get("payload")
    except (TypeError, ValueError):  # no signature: builtins, C callables
        return None
    except NameError as error:  # annotations evaluated eagerly and failing
        return _unresolved(connected, "?", error)
    if parameter is None or parameter.annotation is inspect.Parameter.empty:
        return None
    raw: object = parameter.annotation
    globalns = _globals_of(connected.receiver)
    shown = raw if isinstance(raw, str) else _type_name(raw)
    try:
        accepted = _accepts(_resolve(raw, globalns), payload_type)
    except Exception as error:
        if not isinstance(raw, str):
            return _unresolved(connected, shown, error)
        try:
            # Only the outer names decide (``PostSave`` in ``PostSave[Order]``),
            # so a model imported only under TYPE_CHECKING does not matter.
            accepted = _accepts_source(raw, globalns, payload_type)
        except Exception:
            return _unresolved(connected, shown, error)
    if accepted:
        return None
    expected = _type_name(payload_type)
    return Error(
        f"Receiver {connected} of signal {connected.signal_name} annotates "
        f"payload as {shown}, but the signal sends {expected}.",
        hint=(
            f"Annotate the parameter as 'payload: {payload_type.__qualname__}' "
            "(or a base class of it), or connect the receiver to a signal that "
            f"sends {shown}."
        ),
        obj=connected.path,
        id="typed_signals.E001",
    )


def _unresolved(connected: _Connected, shown: str, error: Exception) -> CheckMessage:
    return CheckWarning(
        f"Receiver {connected} of signal {connected.signal_name}: its payload "
        f"annotation {shown!r} cannot be resolved ({type(error).__name__}: "
        f"{error}), so it is not checked against the signal's payload type.",
        hint=(
            "Import the names the annotation uses at runtime in the receiver's "
            "module (not only under TYPE_CHECKING), or silence typed_signals.W001."
        ),
        obj=connected.path,
        id="typed_signals.W001",
    )


class _AnnotationHolder:
    """Something ``typing.get_type_hints`` resolves one annotation on."""

    def __init__(self, annotation: object) -> None:
        self.__annotations__ = {"payload": annotation}


def _resolve(raw: object, globalns: dict[str, Any]) -> object:
    """Evaluate string annotations and forward references, as type checkers do."""
    return typing.get_type_hints(_AnnotationHolder(raw), globalns=globalns)["payload"]


def _globals_of(receiver: object) -> dict[str, Any]:
    """The module namespace that the receiver's annotations are written in."""
    target: object = receiver
    while isinstance(target, functools.partial):
        target = typing.cast("functools.partial[object]", target).func
    target = getattr(target, "__func__", target)  # bound methods
    if not inspect.isroutine(target) and not isinstance(target, type):
        target = type(target).__call__  # callable instances
    with contextlib.suppress(ValueError):  # a __wrapped__ cycle
        target = inspect.unwrap(typing.cast("Callable[..., object]", target))
    namespace: object = getattr(target, "__globals__", None)
    if isinstance(namespace, dict):
        return typing.cast("dict[str, Any]", namespace)
    module = sys.modules.get(getattr(target, "__module__", None) or "")
    return vars(module) if module is not None else {}


def _accepts(annotation: object, payload_type: type) -> bool:
    """Whether a parameter annotated ``annotation`` can take a ``payload_type``.

    Only a clear mismatch is refused; forms this cannot judge (protocols,
    literals, callables' signatures, unbound type variables) are accepted.
    """
    if annotation is Any or annotation is object:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_accepts(arg, payload_type) for arg in typing.get_args(annotation))
    if isinstance(annotation, TypeVar):
        if annotation.__bound__ is not None:
            return _accepts(annotation.__bound__, payload_type)
        constraints = annotation.__constraints__
        return not constraints or any(_accepts(c, payload_type) for c in constraints)
    supertype: object = getattr(annotation, "__supertype__", None)  # NewType
    if supertype is not None:
        return _accepts(supertype, payload_type)
    target = annotation if origin is None else origin  # PostSave[Order] -> PostSave
    if not isinstance(target, type) or getattr(target, "_is_protocol", False):
        return True
    try:
        return issubclass(payload_type, target)
    except TypeError:
        return True


def _accepts_source(source: str, globalns: dict[str, Any], payload_type: type) -> bool:
    """``_accepts`` for a string annotation, evaluating only its outer names.

    Raises when one of those names cannot be evaluated either.
    """
    return _accepts_node(ast.parse(source, mode="eval").body, globalns, payload_type)


def _accepts_node(node: ast.expr, globalns: dict[str, Any], payload_type: type) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _accepts_node(node.left, globalns, payload_type) or _accepts_node(
            node.right, globalns, payload_type
        )
    if isinstance(node, ast.Constant) and node.value is None:
        return False
    head = node.value if isinstance(node, ast.Subscript) else node
    code = compile(ast.Expression(head), "<annotation>", "eval")
    value: object = eval(code, dict(globalns))
    if isinstance(node, ast.Subscript) and (
        value is typing.Optional or value is typing.Union
    ):
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return any(_accepts_node(item, globalns, payload_type) for item in items)
    if isinstance(node, ast.Subscript) and value is typing.Annotated:
        first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
        return _accepts_node(first, globalns, payload_type)
    return _accepts(value, payload_type)


def _type_name(annotation: object) -> str:
    if typing.get_origin(annotation) is None and isinstance(annotation, type):
        if annotation.__module__ == "builtins":
            return annotation.__qualname__
        return f"{annotation.__module__}.{annotation.__qualname__}"
    return repr(annotation)


# -- E002 -------------------------------------------------------------------


@register(TAG)
def check_receivers_take_kwargs(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E002: receivers of any signal that do not accept ``**kwargs``.

    Django only checks this at connect time with ``DEBUG = True``; a receiver
    without it breaks as soon as a sender passes one more argument.
    """
    messages: list[CheckMessage] = []
    for name, signal in discover_signals():
        for connected in _receivers_of(name, signal, app_configs):
            try:
                parameters = inspect.signature(connected.receiver).parameters
            except (TypeError, ValueError, NameError):
                continue
            if any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
            ):
                continue
            messages.append(
                Error(
                    f"Receiver {connected} of signal {name} does not accept **kwargs.",
                    hint=(
                        "Add **kwargs to its parameters: signals call receivers "
                        "with keyword arguments ('signal', 'sender' and their "
                        "own), and may add more."
                    ),
                    obj=connected.path,
                    id="typed_signals.E002",
                )
            )
    return messages


# -- E003 -------------------------------------------------------------------


@register(TAG)
def check_group_references(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E003: group names referenced (e.g. by ``MuteSignalsMixin``) but undeclared."""
    unknown = sorted(set(unknown_group_references()))
    if not unknown:
        return []
    known = ", ".join(repr(name) for name in sorted(known_groups())) or "none"
    return [
        Error(
            f"Signal group {name!r} used by {where} is not declared.",
            hint=(
                f"Known groups: {known}. A group is declared by a signal's "
                f"groups= or by SignalGroup({name!r}); check the spelling."
            ),
            obj=where,
            id="typed_signals.E003",
        )
        for name, where in unknown
        if _in_apps(where, app_configs)
    ]


# -- E004 -------------------------------------------------------------------


@register(TAG)
def check_dispatch_uids(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E004: receivers ignored because another one took their ``dispatch_uid``.

    Only this package's signals record such connections; Django's own signals
    drop them without a trace.
    """
    messages: list[CheckMessage] = []
    for name, signal in discover_signals():
        if not is_typed(signal):
            continue
        rejected = typing.cast(Signal, signal).rejected_connections()
        if not rejected:
            continue
        live = {c.path: c for c in _receivers_of(name, signal, None)}
        seen: set[tuple[str, str, str, int]] = set()
        for record in rejected:
            key = (
                repr(record.dispatch_uid),
                record.receiver_path,
                record.kept_receiver_path,
                id(record.sender),
            )
            if key in seen or not _in_apps(record.receiver_path, app_configs):
                continue
            seen.add(key)
            kept = live.get(record.kept_receiver_path)
            messages.append(
                Error(
                    f"Receiver {_with_location(record.receiver_path)} was not "
                    f"connected to signal {name}: dispatch_uid "
                    f"{record.dispatch_uid!r} is already used by "
                    f"{kept or record.kept_receiver_path} for "
                    f"{_sender_name(record.sender)}.",
                    hint=(
                        "Django keeps the first receiver connected with a "
                        "dispatch_uid and ignores later ones; give each receiver "
                        "its own dispatch_uid."
                    ),
                    obj=record.receiver_path,
                    id="typed_signals.E004",
                )
            )
    return messages


def _with_location(path: str) -> str:
    """``path (file:line)`` when the dotted path leads to a loaded object."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        target: object = sys.modules.get(".".join(parts[:split]))
        if target is None:
            continue
        for attr in parts[split:]:
            target = getattr(target, attr, None)
        if target is not None:
            _, file, line = describe_callable(target)
            if file is not None:
                return f"{path} ({file}:{line})" if line else f"{path} ({file})"
        break
    return path


def _sender_name(sender: object) -> str:
    if sender is None:
        return "any sender"
    if isinstance(sender, type):
        return f"sender {sender.__module__}.{sender.__qualname__}"
    return f"sender {sender!r:.80}"


# -- receivers ---------------------------------------------------------------


def _receivers_of(
    name: str, signal: DjangoSignal, app_configs: Sequence[AppConfig] | None
) -> list[_Connected]:
    """The live receivers of ``signal``, one entry per receiver object.

    Reads Django's ``receivers`` list, whose entries are ``(key, receiver,
    is_async)`` in Django 5.2 and ``(key, receiver, sender_ref, is_async)``
    from Django 6.0; ``receiver`` is a weak reference unless connected with
    ``weak=False``.
    """
    with signal.lock:
        entries: list[tuple[Any, ...]] = list(signal.receivers)
    found: list[_Connected] = []
    seen: set[int] = set()
    for entry in entries:
        receiver: object = entry[1]
        if isinstance(receiver, weakref.ReferenceType):
            receiver = typing.cast("weakref.ReferenceType[Any]", receiver)()  # type: ignore[redundant-cast]
        if receiver is None or id(receiver) in seen or not callable(receiver):
            continue
        sender_ref: object = entry[2] if len(entry) == 4 else None
        if isinstance(sender_ref, weakref.ReferenceType) and sender_ref() is None:
            continue  # its sender is gone: Django will drop it
        seen.add(id(receiver))
        path, file, line = describe_callable(receiver)
        if not _in_apps(path, app_configs):
            continue
        location = None if file is None else f"{file}:{line}" if line else file
        found.append(_Connected(name, receiver, path, location))
    return found


def _in_apps(path: str, app_configs: Iterable[AppConfig] | None) -> bool:
    """Whether dotted ``path`` belongs to one of ``app_configs`` (all if None)."""
    if app_configs is None:
        return True
    while path.startswith("partial("):
        path = path[len("partial(") :]
    return any(
        path == app.name or path.startswith(f"{app.name}.") for app in app_configs
    )

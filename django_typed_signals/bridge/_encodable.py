"""``check_encodable()``: whether a payload type can travel, read from its
annotations, for the system check that runs at startup (not at the first send).
"""

# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from typing import Any, Final

from django.db.models import Model

from ..lifecycle._baseline import NOT_LOADED
from ..lifecycle._payloads import (
    FieldChange,
)
from ._encoding import (
    Refused,
    class_path,
    constructor_needs,
    model_label,
    type_name,
    version_of,
)

__all__ = ["check_encodable"]


# --- static check ---------------------------------------------------------

_SCALARS: Final[frozenset[object]] = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        str,
        bytes,
        decimal.Decimal,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timedelta,
        uuid.UUID,
        FieldChange,
        type(NOT_LOADED),
    }
)
_SEQUENCES: Final[frozenset[object]] = frozenset(
    {list, tuple, frozenset, collections.abc.Sequence}
)
_MAPPINGS: Final[frozenset[object]] = frozenset(
    {dict, collections.abc.Mapping, types.MappingProxyType}
)
_SETS: Final[frozenset[object]] = frozenset(
    {set, collections.abc.Set, collections.abc.MutableSet}
)
_UNIONS: Final[frozenset[object]] = frozenset({typing.Union, types.UnionType})


def check_encodable(payload_type: type) -> list[str]:
    """What in ``payload_type``'s annotations cannot travel; empty when fine.

    Static: walks the annotations (dataclass fields, containers, unions), so
    a ``run="celery"`` receiver is refused at startup, not at its first send.
    ``Any``, ``object`` and type variables are accepted: their values are
    checked when sent.
    """
    problems: list[str] = []
    _check(payload_type, "payload", problems, set())
    return problems


def _check(tp: Any, path: str, problems: list[str], seen: set[type]) -> None:
    if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
        return
    if tp in _SCALARS:
        return
    supertype = getattr(tp, "__supertype__", None)  # NewType
    if supertype is not None:
        _check(supertype, path, problems, seen)
        return
    origin = typing.get_origin(tp)
    if origin is not None:
        _check_generic(tp, origin, typing.get_args(tp), path, problems, seen)
        return
    if tp in _SEQUENCES or tp in _MAPPINGS or tp is type:
        return  # bare: items are as unknown as Any
    if tp in _SETS:
        problems.append(f"{path} ({type_name(tp)}): sets are not supported")
        return
    if not isinstance(tp, type):
        problems.append(f"{path} ({tp!r}): not a type that can be checked")
        return
    _check_class(tp, path, problems, seen)


def _check_generic(
    tp: Any,
    origin: Any,
    args: tuple[Any, ...],
    path: str,
    problems: list[str],
    seen: set[type],
) -> None:
    if origin in _UNIONS:
        for arm in args:
            _check(arm, path, problems, seen)
    elif origin is typing.Literal:
        for literal in args:
            if not (
                literal is None
                or type(literal) in (bool, int, str)
                or isinstance(literal, enum.Enum)
            ):
                problems.append(
                    f"{path} ({tp!r}): literal {literal!r} is not supported"
                )
    elif origin in _SEQUENCES:
        for arg in args:
            if arg is not Ellipsis:
                _check(arg, f"{path}[]", problems, seen)
    elif origin in _MAPPINGS:
        if args:
            key, value = args
            if not (key is str or key is Any or isinstance(key, typing.TypeVar)):
                problems.append(f"{path} ({tp!r}): dict keys must be str")
            _check(value, f"{path}[]", problems, seen)
    elif origin is type:
        return  # classes travel by name; which one is known when sent
    elif origin is typing.ClassVar:
        return
    elif origin in _SETS:
        problems.append(f"{path} ({tp!r}): sets are not supported")
    elif isinstance(origin, type) and dataclasses.is_dataclass(origin):
        _check_class(origin, path, problems, seen)  # PostSave[Order] and the like
    else:
        problems.append(f"{path} ({tp!r}): this type is not supported")


def _type_hints(tp: type) -> dict[str, Any]:
    """``get_type_hints``, also for classes re-exported under another
    ``__module__``: their dataclass ``__init__`` keeps the defining module's
    globals."""
    try:
        return typing.get_type_hints(tp)
    except NameError:
        namespace: dict[str, Any] = {}
        for base in reversed(tp.__mro__):
            init = base.__dict__.get("__init__")
            namespace.update(getattr(init, "__globals__", {}))
        return typing.get_type_hints(tp, localns=namespace)


def _check_class(tp: type, path: str, problems: list[str], seen: set[type]) -> None:
    def refuse(reason: str) -> None:
        problems.append(f"{path} ({type_name(tp)}): {reason}")

    if issubclass(tp, enum.Enum) or dataclasses.is_dataclass(tp):
        try:
            class_path(tp, instances=True)
        except Refused as err:
            refuse(err.reason)
            return
    if issubclass(tp, enum.Enum):
        return
    if issubclass(tp, Model):
        try:
            model_label(tp, instances=True)
        except Refused as err:
            refuse(err.reason)
        return
    if dataclasses.is_dataclass(tp):
        if tp in seen:
            return
        seen.add(tp)
        try:
            version_of(tp)
        except Refused as err:
            refuse(err.reason)
        fields = dataclasses.fields(tp)
        needed = constructor_needs(tp) - {f.name for f in fields}
        if needed:
            refuse(
                f"the constructor needs {', '.join(sorted(needed))}, "
                "which are not fields (InitVar)"
            )
            # Refused already; and Python 3.10's get_type_hints() cannot
            # resolve a string InitVar annotation at all.
            return
        try:
            hints = _type_hints(tp)
        except Exception as exc:  # NameError and friends from user annotations
            refuse(f"its annotations cannot be resolved: {exc}")
            return
        for f in fields:
            _check(hints.get(f.name, Any), f"{path}.{f.name}", problems, seen)
        return
    if issubclass(tp, tuple):
        refuse("named tuples and tuple subclasses are not supported (use a dataclass)")
    elif issubclass(tp, (set, frozenset)):
        refuse("sets are not supported")
    elif issubclass(tp, (str, int, float, dict, list)):
        return  # travel as their base type
    elif issubclass(tp, datetime.date):
        refuse("subclasses of date and datetime are not supported")
    else:
        refuse("this type is not supported")

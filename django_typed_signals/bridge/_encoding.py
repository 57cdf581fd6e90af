"""One send as JSON: encoded in the request, decoded in the worker.

``encode_send`` runs inside the caller's transaction, so a payload that
cannot travel fails there, naming the signal, the field path and the type,
and nothing is written. ``decode_send`` turns a stored row back into the
sender and the keyword arguments; a row that can no longer be read raises
``DecodingError`` with the reason, so the delivery goes dead instead of
crashing the worker. A ``DatabaseError`` while re-reading a row is not a
decoding error: it propagates, and the delivery runs again later.

The format. A send is ``{"v": 1, "s": <sender>, "k": {<name>: <value>}}``, plus
``"a"``, the audit context (``encode_audit``), when one was set.
``None``, bools, ints, finite floats, strings and lists are stored as JSON
has them; a dict with str keys is a JSON object. Every other value is an
object whose ``"$t"`` key names its kind:

==========  ==============================================================
``$t``      value
==========  ==============================================================
``dec``     ``Decimal``: ``"v"`` its ``str()``
``dt``      ``datetime``: ``"v"`` ISO 8601 (naive stays naive), ``"z"`` the
            zone key of a ``ZoneInfo``
``date``    ``date``: ``"v"`` ISO 8601
``time``    ``time``: ``"v"`` ISO 8601, ``"z"`` as for ``dt``
``td``      ``timedelta``: ``"v"`` ``[days, seconds, microseconds]``
``uuid``    ``UUID``: ``"v"`` its ``str()``
``b``       ``bytes`` (and ``memoryview``, decoded as bytes): ``"v"`` base64
``f``       a float JSON cannot keep exactly (-0.0, magnitude >= 1e16,
            which PostgreSQL's ``jsonb`` would turn into an int): ``"v"``
            its ``repr()``
``s0``      a string holding NUL, which ``jsonb`` refuses: ``"v"`` its parts
``tup``     tuple: ``"v"`` the items
``fset``    frozenset: ``"v"`` the items
``dict``    a dict with a ``"$t"`` or NUL key: ``"v"`` ``[[key, value], ...]``
``map``     ``MappingProxyType`` (``changes`` of model events): ``"v"`` the dict
``enum``    an Enum member: ``"c"`` the class, ``"v"`` the member's value
``cls``     a class: ``"c"``
``mc``      a model class: ``"m"`` its label (``"app_label.ModelName"``)
``m``       a model instance, by reference: ``"m"`` label, ``"pk"``, ``"db"``
            the alias it came from; decoded by reading the row again
``ms``      a model instance, by value, for the payloads whose row is gone
            or not written yet after the commit (``instance`` and
            ``origin`` of ``PreSave``, ``PreDelete``, ``PostDelete``):
            ``"m"``, ``"db"``, ``"f"`` ``{attname: value}`` of the loaded
            fields, ``"a"`` true when ``_state.adding`` was
``dc``      a dataclass instance: ``"c"`` the class, ``"f"`` ``{field:
            value}``, ``"v"`` its ``__typed_signals_version__`` when not 1
``qs``      the ``origin`` of a ``QuerySet.delete()``: ``"m"`` label, ``"db"``;
            decoded as the model's empty queryset there (its rows are gone)
``fc``      ``FieldChange``: ``"o"`` old, ``"n"`` new
``nl``      the ``NOT_LOADED`` marker
==========  ==============================================================

Classes are named ``"module:qualname"`` and must be importable by that name.
Subclasses of str, int and float (not enums) travel as the base type, like
``json.dumps`` does; dict and list subclasses as dict and list. Key order is
kept by SQLite, not by PostgreSQL's ``jsonb``.
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# ``dataclasses.is_dataclass`` narrows to ``type[DataclassInstance]``, which
# pyright then reports as partially unknown wherever it is passed on.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import inspect
import math
import sys
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from django.apps import apps
from django.db import router
from django.db.models import Model, QuerySet

from .._audit import AuditContext
from ..lifecycle._baseline import NOT_LOADED, is_expression
from ..lifecycle._payloads import (
    FieldChange,
    PostDelete,
    PreDelete,
    PreSave,
)

__all__ = [
    "FORMAT",
    "TAG",
    "DecodingError",
    "EncodingError",
    "Refused",
    "Unreadable",
    "class_path",
    "constructor_needs",
    "encode_audit",
    "encode_send",
    "field_path",
    "model_label",
    "type_name",
    "version_of",
]

FORMAT: Final = 1
"""The ``"v"`` of a stored send; a row of another format is not guessed at."""

TAG: Final = "$t"

# Payload types whose model instances are stored by value: once the
# transaction commits, their row is gone (deletes) or holds what the save
# wrote, not the instance as it was at the event (pre_save).
_SNAPSHOT_FIELDS: Final[tuple[tuple[type, frozenset[str]], ...]] = (
    (PreSave, frozenset({"instance"})),
    (PreDelete, frozenset({"instance", "origin"})),
    (PostDelete, frozenset({"instance", "origin"})),
)


class EncodingError(TypeError):
    """A send that cannot be stored; raised at send time, in the request."""


class DecodingError(ValueError):
    """A stored send that can no longer be read; the delivery goes dead."""


class Refused(Exception):
    """Raised deep in encoding; each level adds its part of the path.

    ``value`` is what could not be encoded; ``instance_of`` names the type
    when only the type is at hand (a class is checked before any instance).
    """

    def __init__(
        self, value: object, reason: str, *, instance_of: type | None = None
    ) -> None:
        super().__init__(reason)
        if instance_of is not None:
            self.type_name = type_name(instance_of)
        elif isinstance(value, type):  # a class value is named as such
            self.type_name = f"class {type_name(value)}"
        else:
            self.type_name = type_name(type(value))
        self.reason = reason
        self.path: list[str] = []  # innermost first


class Unreadable(Exception):
    """Raised deep in decoding; each level adds its part of the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def type_name(tp: object) -> str:
    if not isinstance(tp, type):
        return repr(tp)
    if tp.__module__ == "builtins":
        return tp.__qualname__
    return f"{tp.__module__}.{tp.__qualname__}"


def field_path(root: str, path: list[str]) -> str:
    return root + "".join(reversed(path))


# --- public API -----------------------------------------------------------


def encode_send(
    signal_name: str, sender: object, named: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON-ready form of one send: ``named`` are the receiver's kwargs
    (``{"payload": ...}`` for a ``TypedSignal``), without signal and sender.

    Raises ``EncodingError`` naming the signal, the field and the type;
    nothing partial is ever returned.
    """
    encoded_sender = _encoded(signal_name, "", "sender", sender, _encode_sender)
    arguments = {
        name: _encoded(signal_name, "", name, value, _encode)
        for name, value in named.items()
    }
    return {"v": FORMAT, "s": encoded_sender, "k": arguments}


def _encoded(
    signal_name: str,
    whose: str,
    name: str,
    value: object,
    encode: Callable[[Any], Any],
) -> Any:
    """``encode(value)``, or the ``EncodingError`` naming the field path."""
    try:
        return encode(value)
    except Refused as err:
        raise EncodingError(
            f"{signal_name}: cannot encode {whose}{field_path(name, err.path)} "
            f"({err.type_name}): {err.reason}"
        ) from None


def encode_audit(signal_name: str, context: AuditContext) -> dict[str, Any]:
    """The audit context a send happened under, for ``"a"`` of a stored send.

    The actor (and an organization that is a model) travel by reference,
    like model payloads; ``tags`` as a sorted list.
    """
    fields = {
        "actor": context.actor,
        "organization": context.organization,
        "trace_id": context.trace_id,
        "extra": dict(context.extra),
    }
    encoded: dict[str, Any] = {"tags": sorted(context.tags)}
    for name, value in fields.items():
        encoded[name] = _encoded(
            signal_name, "the audit context's ", name, value, _encode
        )
    return encoded


# --- encoding -------------------------------------------------------------

_Encoder = Callable[[Any], Any]


def _encode(value: Any) -> Any:
    """The JSON-ready form of ``value``; the hot path, kept flat."""
    tp = type(value)
    if tp is str:
        return value if "\x00" not in value else _encode_nul_str(value)
    if tp is int or tp is bool or value is None:
        return value
    encoder = _ENCODERS.get(tp)
    if encoder is not None:
        return encoder(value)
    return _encoder_for(value)(value)


def _encode_nul_str(value: str) -> dict[str, Any]:
    return {TAG: "s0", "v": value.split("\x00")}


def _encode_float(value: float) -> Any:
    if value - value != 0.0:  # NaN or infinite
        raise Refused(value, "NaN and infinite floats are not supported")
    if -1e16 < value < 1e16 and (value != 0.0 or math.copysign(1.0, value) > 0):
        return value
    return {TAG: "f", "v": repr(value)}


def _encode_list(value: list[Any]) -> list[Any]:
    try:
        return [_encode(item) for item in value]
    except Refused:
        raise _locate(value) from None


def _encode_items(value: tuple[Any, ...] | frozenset[Any]) -> list[Any]:
    try:
        return [_encode(item) for item in value]
    except Refused:
        raise _locate(value) from None


def _locate(items: Any) -> Refused:
    """Encode ``items`` again, one by one, to name the failing index."""
    for index, item in enumerate(items):
        try:
            _encode(item)
        except Refused as err:
            err.path.append(f"[{index}]")
            return err
    raise AssertionError("unreachable: the items encoded the second time")


def _encode_dict(value: Mapping[Any, Any]) -> Any:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            if not isinstance(key, str) or isinstance(key, enum.Enum):
                err = Refused(key, "dict keys must be str")
                err.path.append(f"[{key!r}]")
                raise err
            key = str(key)
        if key == TAG or "\x00" in key:
            return _encode_escaped_dict(value)
        try:
            out[key] = _encode(item)
        except Refused as err:
            err.path.append(f"[{key!r}]")
            raise
    return out


def _encode_escaped_dict(value: Mapping[Any, Any]) -> dict[str, Any]:
    pairs: list[list[Any]] = []
    for key, item in value.items():
        try:
            pairs.append([_encode(str(key)), _encode(item)])
        except Refused as err:
            err.path.append(f"[{key!r}]")
            raise
    return {TAG: "dict", "v": pairs}


def _encode_datetime(value: datetime.datetime) -> dict[str, Any]:
    out = {TAG: "dt", "v": value.isoformat()}
    if type(value.tzinfo) is ZoneInfo:
        out["z"] = value.tzinfo.key
    return out


def _encode_time(value: datetime.time) -> dict[str, Any]:
    out = {TAG: "time", "v": value.isoformat()}
    if type(value.tzinfo) is ZoneInfo:
        out["z"] = value.tzinfo.key
    return out


def _refuse_set(value: object) -> Any:
    raise Refused(value, "sets are not supported (use a frozenset, tuple or list)")


_ENCODERS: dict[type, _Encoder] = {
    float: _encode_float,
    list: _encode_list,
    dict: _encode_dict,
    tuple: lambda v: {TAG: "tup", "v": _encode_items(v)},
    frozenset: lambda v: {TAG: "fset", "v": _encode_items(v)},
    types.MappingProxyType: lambda v: {TAG: "map", "v": _encode_dict(v)},
    decimal.Decimal: lambda v: {TAG: "dec", "v": str(v)},
    datetime.datetime: _encode_datetime,
    datetime.date: lambda v: {TAG: "date", "v": v.isoformat()},
    datetime.time: _encode_time,
    datetime.timedelta: lambda v: {
        TAG: "td",
        "v": [v.days, v.seconds, v.microseconds],
    },
    uuid.UUID: lambda v: {TAG: "uuid", "v": str(v)},
    bytes: lambda v: {TAG: "b", "v": base64.b64encode(v).decode("ascii")},
    memoryview: lambda v: {TAG: "b", "v": base64.b64encode(v).decode("ascii")},
    FieldChange: lambda v: {TAG: "fc", "o": _encode(v.old), "n": _encode(v.new)},
    type(NOT_LOADED): lambda v: {TAG: "nl"},
    set: _refuse_set,
}
"""Encoders by exact type; ``_encoder_for`` adds classes as it meets them."""


def _encoder_for(value: object) -> _Encoder:
    """The encoder of a type not seen yet, cached when it is a class's."""
    tp = type(value)
    if isinstance(value, type):
        encoder: _Encoder = _encode_class
    elif isinstance(value, enum.Enum):
        encoder = _enum_encoder(cast("type[enum.Enum]", tp))
    elif isinstance(value, Model):
        encoder = _model_encoder(type(value))
    elif dataclasses.is_dataclass(value):
        encoder = _dataclass_encoder(tp)
    elif isinstance(value, str):
        encoder = _as_str
    elif isinstance(value, int):
        encoder = int.__int__  # an exact int, whatever the subclass's __int__
    elif isinstance(value, float):
        encoder = _as_float
    elif isinstance(value, dict):
        encoder = _encode_dict
    elif isinstance(value, list):
        encoder = _encode_list
    elif isinstance(value, tuple):
        raise Refused(
            value,
            "named tuples and tuple subclasses are not supported (use a dataclass)",
        )
    elif isinstance(value, (set, frozenset)):
        raise Refused(value, "sets are not supported (use a frozenset, tuple or list)")
    elif isinstance(value, datetime.date):
        raise Refused(value, "subclasses of date and datetime are not supported")
    else:
        raise Refused(value, "this type is not supported")
    _ENCODERS[tp] = encoder
    return encoder


def _as_str(value: str) -> Any:
    # str.__str__ gives an exact str; str(value) may give value back
    # (SafeString.__str__ returns self).
    return _encode(str.__str__(value))


def _as_float(value: float) -> Any:
    return _encode_float(float.__float__(value))


def class_path(cls: type, *, instances: bool) -> str:
    """``module:qualname`` of ``cls``, checked to import back to ``cls``."""
    module, qualname = cls.__module__, cls.__qualname__
    of = cls if instances else None
    if "<locals>" in qualname:
        raise Refused(cls, "the class is not importable", instance_of=of)
    if module == "__main__":
        raise Refused(
            cls,
            "the class is defined in __main__, which a worker cannot import",
            instance_of=of,
        )
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not cls:
        raise Refused(
            cls,
            f"the class is not importable as {module}.{qualname}",
            instance_of=of,
        )
    return f"{module}:{qualname}"


def model_label(model: type[Model], *, instances: bool) -> str:
    meta = model._meta
    registered = apps.all_models.get(meta.app_label, {}).get(meta.model_name or "")
    if registered is not model:
        raise Refused(
            model,
            "the model is not registered in the app registry",
            instance_of=model if instances else None,
        )
    return meta.label


_CLASSES: dict[type, dict[str, Any]] = {}


def _encode_class(cls: type) -> dict[str, Any]:
    found = _CLASSES.get(cls)
    if found is None:
        if issubclass(cls, Model) and not cls._meta.abstract:
            found = {TAG: "mc", "m": model_label(cls, instances=False)}
        else:
            found = {TAG: "cls", "c": class_path(cls, instances=False)}
        _CLASSES[cls] = found
    return dict(found)


def _encode_sender(sender: object) -> Any:
    if sender is None:
        return None
    if not isinstance(sender, type):
        raise Refused(
            sender, "the sender must be a model class, an importable class or None"
        )
    return _encode_class(sender)


def _enum_encoder(cls: type[enum.Enum]) -> _Encoder:
    path = class_path(cls, instances=True)

    def encode_enum(member: enum.Enum) -> dict[str, Any]:
        try:
            value = _encode(member.value)
        except Refused as err:
            err.path.append(".value")
            raise
        return {TAG: "enum", "c": path, "v": value}

    return encode_enum


def _model_encoder(model: type[Model]) -> _Encoder:
    label = model_label(model, instances=True)

    def encode_model(instance: Model) -> dict[str, Any]:
        pk = instance.pk
        if pk is None:
            raise Refused(
                instance,
                "the instance is not saved (pk is None); model instances "
                "travel as references",
            )
        try:
            encoded_pk = _encode(pk)
        except Refused as err:
            err.path.append(".pk")
            raise
        db = instance._state.db or router.db_for_write(model, instance=instance)
        return {TAG: "m", "m": label, "pk": encoded_pk, "db": db}

    return encode_model


def _encode_snapshot(instance: Model) -> dict[str, Any]:
    """``instance`` by value: the concrete fields it has loaded."""
    model = type(instance)
    label = model_label(model, instances=True)
    loaded = instance.__dict__
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        attname = field.attname
        if attname in loaded and not is_expression(loaded[attname]):
            try:
                values[attname] = _encode(loaded[attname])
            except Refused as err:
                err.path.append(f".{attname}")
                raise
    db = instance._state.db or router.db_for_write(model, instance=instance)
    out: dict[str, Any] = {TAG: "ms", "m": label, "db": db, "f": values}
    if instance._state.adding:
        out["a"] = True
    return out


def _encode_deleted_query(query: QuerySet[Model]) -> dict[str, Any]:
    """The ``origin`` of ``QuerySet.delete()``: its model and database only.

    After the commit its rows are gone, so the filter would find nothing:
    the worker gets the model's empty queryset on that database.
    """
    return {
        TAG: "qs",
        "m": model_label(query.model, instances=True),
        "db": query.db,
    }


def _dataclass_encoder(cls: type) -> _Encoder:
    path = class_path(cls, instances=True)
    version = version_of(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    needed = constructor_needs(cls) - set(names)
    if needed:
        raise Refused(
            cls,
            f"the constructor needs {', '.join(sorted(needed))}, which are not "
            "fields (InitVar), so it cannot be called again in the worker",
            instance_of=cls,
        )
    snapshot = frozenset().union(
        *(fields for base, fields in _SNAPSHOT_FIELDS if issubclass(cls, base))
    )
    head: dict[str, Any] = {TAG: "dc", "c": path}
    if version != 1:
        head["v"] = version

    def encode_dataclass(obj: object) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in names:
            value = getattr(obj, name)
            try:
                if name in snapshot and isinstance(value, Model):
                    values[name] = _encode_snapshot(value)
                elif name in snapshot and isinstance(value, QuerySet):
                    values[name] = _encode_deleted_query(cast("QuerySet[Model]", value))
                else:
                    values[name] = _encode(value)
            except Refused as err:
                err.path.append(f".{name}")
                raise
        out = dict(head)
        out["f"] = values
        return out

    return encode_dataclass


def version_of(cls: type) -> int:
    version = getattr(cls, "__typed_signals_version__", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise Refused(
            cls,
            f"__typed_signals_version__ must be an int, got {version!r}",
            instance_of=cls,
        )
    return version


def constructor_needs(cls: type) -> set[str]:
    """The parameters ``cls(...)`` cannot do without."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind
        in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }

"""Reading a stored send back in the worker: the inverse of ``_encoding``.

See ``_encoding`` for the format. Every way a row can have become unreadable
(a model or row gone, a dataclass changed, a class moved) is a
``DecodingError`` with a readable reason; a database error propagates, so an
outage delays a delivery instead of killing it.
"""

# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false
# pyright: reportUnknownArgumentType=false

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import importlib
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router
from django.db.models import DEFERRED, Model, QuerySet

from .._audit import EMPTY, AuditContext
from ..lifecycle._baseline import NOT_LOADED
from ..lifecycle._payloads import (
    NO_CHANGES,
    FieldChange,
)
from ._encoding import (
    FORMAT,
    TAG,
    DecodingError,
    Unreadable,
    constructor_needs,
    field_path,
)

__all__ = ["decode_audit", "decode_send"]


def decode_send(data: Mapping[str, Any]) -> tuple[object, dict[str, Any]]:
    """The sender and the keyword arguments of a stored send.

    Model instances are read again from the primary database. Raises
    ``DecodingError`` naming what is missing; a ``DatabaseError`` propagates.
    """
    if not isinstance(data, Mapping) or data.get("v") != FORMAT:
        version = data.get("v") if isinstance(data, Mapping) else None
        raise DecodingError(
            f"not a stored send of format {FORMAT} (format {version!r})"
        )
    arguments = data.get("k")
    if type(arguments) is not dict:
        raise DecodingError("malformed stored send: no keyword arguments")
    named: dict[str, Any] = {}
    where = "sender"
    try:
        sender = _decode(data.get("s"))
        for where, value in arguments.items():  # where: names errors
            named[where] = _decode(value)
    except Unreadable as err:
        raise DecodingError(
            f"cannot decode {field_path(where, err.path)}: {err.reason}"
        ) from None
    return sender, named


def decode_audit(data: Mapping[str, Any]) -> AuditContext:
    """The audit context a stored send happened under (empty when none).

    Its actor (and an organization that is a model instance) is read again
    like a model payload; one deleted since makes the row undecodable
    (``DecodingError``), as a deleted payload row does.
    """
    stored = data.get("a")
    if stored is None:
        return EMPTY
    if type(stored) is not dict:
        raise DecodingError("malformed stored send: the audit context is not an object")
    where = "actor"
    try:
        decoded: dict[str, Any] = {}
        for where in ("actor", "organization", "trace_id", "extra"):
            decoded[where] = _decode(stored.get(where))
        where = "tags"
        context = AuditContext(
            actor=decoded["actor"],
            organization=decoded["organization"],
            tags=frozenset(stored.get("tags") or ()),
            trace_id=decoded["trace_id"],
            extra=decoded["extra"] or {},
        )
    except Unreadable as err:
        raise DecodingError(
            f"cannot decode the audit context's {field_path(where, err.path)}: "
            f"{err.reason}"
        ) from None
    except TypeError as err:
        raise DecodingError(
            f"cannot decode the audit context's {where}: {err}"
        ) from None
    return context


# --- decoding -------------------------------------------------------------

_Decoder = Callable[[dict[str, Any]], Any]


def _decode(value: Any) -> Any:
    tp = type(value)
    if tp is dict:
        tag = value.get(TAG)
        if tag is None:
            return _decode_plain_dict(value)
        decoder = _DECODERS.get(tag)
        if decoder is None:
            raise Unreadable(f"unknown value kind {tag!r}")
        try:
            return decoder(value)
        except (Unreadable, DatabaseError):
            raise
        except Exception as exc:  # malformed data: a reason, never a crash
            raise Unreadable(f"malformed {tag!r} value: {exc!r}") from None
    if tp is list:
        return _decode_list(value)
    return value


def _decode_plain_dict(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        try:
            out[key] = _decode(item)
        except Unreadable as err:
            err.path.append(f"[{key!r}]")
            raise
    return out


def _decode_list(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for index, item in enumerate(value):
        try:
            out.append(_decode(item))
        except Unreadable as err:
            err.path.append(f"[{index}]")
            raise
    return out


def _decode_items(data: dict[str, Any]) -> list[Any]:
    items = data["v"]
    if type(items) is not list:
        raise Unreadable(f"malformed {data[TAG]!r} value: items are not a list")
    return _decode_list(items)


def _decode_escaped_dict(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in data["v"]:
        decoded_key = _decode(key)
        try:
            out[decoded_key] = _decode(item)
        except Unreadable as err:
            err.path.append(f"[{decoded_key!r}]")
            raise
    return out


def _decode_map(data: dict[str, Any]) -> Mapping[str, Any]:
    inner = _decode(data["v"])
    if type(inner) is not dict:
        raise Unreadable("malformed 'map' value: not a dict")
    return types.MappingProxyType(inner) if inner else NO_CHANGES


def _decode_datetime(data: dict[str, Any]) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(data["v"])
    zone = data.get("z")
    return value if zone is None else value.astimezone(_zone(zone))


def _decode_time(data: dict[str, Any]) -> datetime.time:
    value = datetime.time.fromisoformat(data["v"])
    zone = data.get("z")
    return value if zone is None else value.replace(tzinfo=_zone(zone))


def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ValueError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise Unreadable(f"unknown time zone {key!r}") from exc
    except KeyError:
        raise Unreadable(f"unknown time zone {key!r}") from None


def _decode_float(data: dict[str, Any]) -> float:
    value = float(data["v"])
    if value - value != 0.0:
        raise Unreadable(f"malformed 'f' value: {data['v']!r}")
    return value


_IMPORTED: dict[str, object] = {}


def _import(path: str) -> object:
    """The object at ``module:qualname``; cached, as workers decode many rows."""
    found = _IMPORTED.get(path)
    if found is not None:
        return found
    module_name, _, qualname = path.partition(":")
    try:
        found = importlib.import_module(module_name)
    except ImportError as exc:
        raise Unreadable(f"class {path} is not importable: {exc}") from None
    for part in qualname.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise Unreadable(
                f"class {path} is not importable: {module_name} has no {qualname}"
            ) from None
    if not isinstance(found, type):
        raise Unreadable(f"{path} is not a class")
    _IMPORTED[path] = found
    return found


def _decode_class(data: dict[str, Any]) -> type:
    return cast("type", _import(data["c"]))


def _decode_enum(data: dict[str, Any]) -> enum.Enum:
    cls = _import(data["c"])
    if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
        raise Unreadable(f"{data['c']} is not an Enum")
    value = _decode(data["v"])
    try:
        return cls(value)
    except ValueError:
        raise Unreadable(f"{data['c']} has no member with value {value!r}") from None


def _model_of(label: str) -> type[Model]:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise Unreadable(f"model {label} no longer exists") from None


def _read_alias(model: type[Model], stored: object) -> str:
    """The primary database of ``model``: the routers' ``db_for_write``;
    when none decides, the database the instance came from."""
    for each in router.routers:
        method = getattr(each, "db_for_write", None)
        if method is not None:
            chosen = method(model)
            if chosen:
                return cast(str, chosen)
    alias = stored if isinstance(stored, str) else DEFAULT_DB_ALIAS
    if alias not in connections.settings:
        raise Unreadable(f"database {alias!r} is not configured")
    return alias


def _decode_model(data: dict[str, Any]) -> Model:
    label = data["m"]
    model = _model_of(label)
    pk = _decode(data["pk"])
    alias = _read_alias(model, data.get("db"))
    try:
        return model._base_manager.db_manager(alias).get(pk=pk)
    except ObjectDoesNotExist:
        raise Unreadable(
            f"{label} with pk={pk!r} no longer exists (database {alias!r})"
        ) from None


def _decode_deleted_query(data: dict[str, Any]) -> QuerySet[Model]:
    """A ``QuerySet.delete()`` origin: the model's empty queryset on its database."""
    manager: Any = _model_of(data["m"])._default_manager
    return cast("QuerySet[Model]", manager.db_manager(data["db"]).none())


def _decode_snapshot(data: dict[str, Any]) -> Model:
    label = data["m"]
    model = _model_of(label)
    stored: dict[str, Any] = data["f"]
    concrete = model._meta.concrete_fields
    unknown = stored.keys() - {f.attname for f in concrete}
    if unknown:
        raise Unreadable(f"{label} has no field {', '.join(sorted(unknown))} any more")
    values: list[Any] = []
    for field in concrete:
        if field.attname in stored:
            try:
                values.append(_decode(stored[field.attname]))
            except Unreadable as err:
                err.path.append(f".{field.attname}")
                raise
        else:
            values.append(DEFERRED)
    instance = model(*values)
    instance._state.adding = bool(data.get("a", False))
    instance._state.db = data.get("db") or DEFAULT_DB_ALIAS
    return instance


@dataclasses.dataclass(frozen=True)
class _DataclassPlan:
    cls: type
    version: int
    init: frozenset[str]
    later: frozenset[str]
    required: frozenset[str]


_PLANS: dict[str, _DataclassPlan] = {}


def _plan_of(path: str) -> _DataclassPlan:
    plan = _PLANS.get(path)
    if plan is not None:
        return plan
    cls = _import(path)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise Unreadable(f"{path} is not a dataclass")
    version = getattr(cls, "__typed_signals_version__", 1)
    fields = dataclasses.fields(cls)
    init = frozenset(f.name for f in fields if f.init)
    plan = _DataclassPlan(
        cls=cls,
        version=version,
        init=init,
        later=frozenset(f.name for f in fields if not f.init),
        required=frozenset(constructor_needs(cls) & init),
    )
    _PLANS[path] = plan
    return plan


def _decode_dataclass(data: dict[str, Any]) -> object:
    path: str = data["c"]
    plan = _plan_of(path)
    stored_version = data.get("v", 1)
    if stored_version != plan.version:
        raise Unreadable(
            f"{path} is at version {plan.version}, the stored payload has "
            f"version {stored_version}"
        )
    stored: dict[str, Any] = data["f"]
    unknown = stored.keys() - plan.init - plan.later
    if unknown:
        raise Unreadable(f"{path} has no field {', '.join(sorted(unknown))} any more")
    missing = plan.required - stored.keys()
    if missing:
        raise Unreadable(
            f"field {', '.join(sorted(missing))} of {path} is missing from the "
            "stored payload"
        )
    arguments: dict[str, Any] = {}
    later: dict[str, Any] = {}
    for name, item in stored.items():
        try:
            value = _decode(item)
        except Unreadable as err:
            err.path.append(f".{name}")
            raise
        (arguments if name in plan.init else later)[name] = value
    try:
        obj = plan.cls(**arguments)
    except DatabaseError:
        raise
    except Exception as exc:
        raise Unreadable(f"{path}(...) failed: {exc!r}") from None
    for name, value in later.items():
        object.__setattr__(obj, name, value)
    return obj


_DECODERS: dict[str, _Decoder] = {
    "dec": lambda d: decimal.Decimal(d["v"]),
    "dt": _decode_datetime,
    "date": lambda d: datetime.date.fromisoformat(d["v"]),
    "time": _decode_time,
    "td": lambda d: datetime.timedelta(*d["v"]),
    "uuid": lambda d: uuid.UUID(d["v"]),
    "b": lambda d: base64.b64decode(d["v"], validate=True),
    "f": _decode_float,
    "s0": lambda d: "\x00".join(d["v"]),
    "tup": lambda d: tuple(_decode_items(d)),
    "fset": lambda d: frozenset(_decode_items(d)),
    "dict": _decode_escaped_dict,
    "map": _decode_map,
    "enum": _decode_enum,
    "cls": _decode_class,
    "mc": lambda d: _model_of(d["m"]),
    "m": _decode_model,
    "ms": _decode_snapshot,
    "dc": _decode_dataclass,
    "qs": _decode_deleted_query,
    "fc": lambda d: FieldChange(old=_decode(d["o"]), new=_decode(d["n"])),
    "nl": lambda d: NOT_LOADED,
}

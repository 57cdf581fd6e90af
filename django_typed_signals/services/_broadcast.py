"""``broadcast()``: a typed payload to a Django Channels group, after the commit.

The receivers that only tell WebSocket clients what changed call
``broadcast(group, payload)``. The payload is converted at the call, inside
the caller's transaction, so a value a channel layer cannot carry fails
there, naming the payload class, the field path and the type; the
``group_send`` waits for the commit (at once outside a transaction, never
after a rollback), and one that fails then is logged with the group, not
raised out of the commit. Consumers get ``{"type": event_type, "payload":
data}``, so the default ``"signal.payload"`` calls their ``signal_payload()``.

What the payload becomes, recursively: a dataclass a dict of its fields by
name; a model instance its pk (clients look the row up, or ignore it; the
instance itself cannot travel); ``datetime``/``date``/``time`` their ISO 8601
text; ``Decimal`` and ``UUID`` ``str()``; an Enum member its value; a list,
tuple, set or frozenset a list (sets sorted when their items sort, so the
order is the same in every process); a mapping with str keys a dict; str,
int, finite float, bool and None themselves. Anything else is refused.

Channels is an optional extra (``django-typed-signals[channels]``): this
module imports without it, and ``broadcast()`` then says what to install.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import logging
import math
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Model

from .._observe import commit_alias

if TYPE_CHECKING:
    from channels.layers import BaseChannelLayer

__all__ = ["abroadcast", "broadcast", "to_message"]

logger = logging.getLogger("django_typed_signals.services")

DEFAULT_CHANNEL_LAYER: Final = "default"
"""``channels.DEFAULT_CHANNEL_LAYER``, without importing Channels."""

DEFAULT_EVENT_TYPE: Final = "signal.payload"

Plain: TypeAlias = "bool | int | float | str | list[Plain] | dict[str, Plain] | None"
"""What a payload becomes: msgpack and JSON carry it as it is."""

_SUPPORTED = (
    "dataclasses, model instances (sent as their pk), datetime, date, time, "
    "Decimal, UUID, Enum, list, tuple, set, frozenset, dicts with str keys, "
    "str, int, finite float, bool and None"
)


def _type_name(value: object) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class _Refused(Exception):
    """A value ``_plain`` cannot convert; ``to_message`` names the payload."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason


def _plain(value: object, path: str) -> Plain:
    # Enum before str/int: IntEnum and StrEnum members are ints and strs too.
    if isinstance(value, enum.Enum):
        return _plain(value.value, path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # SafeString and other subclasses travel as str
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(path, f"the float {value!r}, which JSON cannot carry")
        return float(value)
    if isinstance(value, Model):
        if value.pk is None:
            raise _Refused(path, f"an unsaved {_type_name(value)} (its pk is None)")
        return _plain(value.pk, path)
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name), f"{path}.{field.name}")
            for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        result: dict[str, Plain] = {}
        for key, item in cast("Mapping[object, object]", value).items():
            if not isinstance(key, str):
                raise _Refused(
                    f"{path}[{key!r}]", f"a key of type {_type_name(key)} (not str)"
                )
            result[str(key)] = _plain(item, f"{path}[{key!r}]")
        return result
    if isinstance(value, (list, tuple)):
        sequence = cast("list[object] | tuple[object, ...]", value)
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(sequence)]
    if isinstance(value, (set, frozenset)):
        members = cast("set[object] | frozenset[object]", value)
        items: list[Any] = [_plain(item, f"{path}[*]") for item in members]
        try:
            return sorted(items)
        except TypeError:  # mixed types: the set's own order
            return items
    raise _Refused(path, f"a {_type_name(value)}")


def to_message(
    payload: object, *, event_type: str = DEFAULT_EVENT_TYPE
) -> dict[str, Plain]:
    """The message ``broadcast()`` sends: ``{"type": event_type, "payload": ...}``.

    For tests of consumers, and for code that calls ``group_send`` itself.

    :raises TypeError: naming the payload class, the field path and the type
        of the first value that cannot be converted.
    """
    if not isinstance(event_type, str) or not event_type or event_type[0] == "_":
        # Channels dispatches "a.b" to the consumer's a_b(); "_..." it refuses.
        raise ValueError(
            f"broadcast event_type must be a non-empty str not starting with "
            f"'_' (Channels calls the consumer method it names), got {event_type!r}"
        )
    root = type(payload).__qualname__
    try:
        data = _plain(payload, root)
    except _Refused as refused:
        raise TypeError(
            f"cannot broadcast {_type_name(payload)}: {refused.path} is "
            f"{refused.reason}; payloads may hold {_SUPPORTED}"
        ) from None
    return {"type": event_type, "payload": data}


def _channel_layer(alias: str, group: str) -> BaseChannelLayer:
    """The layer ``alias``, once ``group`` is known to be a name it accepts."""
    try:
        from channels.layers import get_channel_layer
    except ImportError as error:
        raise ImproperlyConfigured(
            "broadcast() needs Django Channels: install django-typed-signals[channels]"
        ) from error
    channel_layer = get_channel_layer(alias)
    if channel_layer is None:
        raise ImproperlyConfigured(
            f"broadcast(): no channel layer {alias!r} in the CHANNEL_LAYERS "
            f"setting (configure one, or pass layer= an alias it has)"
        )
    if not isinstance(group, str):
        raise TypeError(f"broadcast group must be a str, got {group!r}")
    try:
        channel_layer.require_valid_group_name(group)
    except TypeError as error:
        raise ValueError(f"broadcast group {group!r} is refused: {error}") from None
    return channel_layer


def _schedule(
    channel_layer: BaseChannelLayer,
    group: str,
    message: dict[str, Plain],
    using: str | None,
) -> None:
    def send_after_commit() -> None:
        try:
            async_to_sync(channel_layer.group_send)(group, message)
        except Exception:
            # The commit happened; its caller must not see the broadcast fail.
            logger.exception(
                "broadcast to group %r (%s) failed after the commit",
                group,
                message["type"],
            )

    transaction.on_commit(send_after_commit, using=using, robust=True)


def broadcast(
    group: str,
    payload: object,
    *,
    event_type: str = DEFAULT_EVENT_TYPE,
    using: str | None = None,
    layer: str = DEFAULT_CHANNEL_LAYER,
) -> None:
    """Send ``payload`` to the Channels ``group`` once the transaction commits.

    Converted now (see the module docstring), sent with ``group_send`` after
    the commit on ``using`` (inside a ``@service``, its database); a failure
    then is logged on ``django_typed_signals.services``. From async code, use
    ``abroadcast()``.

    :param event_type: the message's ``"type"`` (not ``type=``, which would
        shadow the builtin): ``"signal.payload"`` calls a consumer's
        ``signal_payload(event)``.
    :param layer: the ``CHANNEL_LAYERS`` alias.
    :raises TypeError: the payload holds a value that cannot be sent.
    :raises ValueError: ``group`` is not a valid Channels group name.
    :raises ImproperlyConfigured: Channels is not installed, or ``layer`` is
        not configured.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            f"broadcast() to {group!r} called from a running event loop; "
            f"use 'await abroadcast(...)' in async code"
        )
    message = to_message(payload, event_type=event_type)
    channel_layer = _channel_layer(layer, group)
    _schedule(channel_layer, group, message, commit_alias(using))


async def abroadcast(
    group: str,
    payload: object,
    *,
    event_type: str = DEFAULT_EVENT_TYPE,
    using: str | None = None,
    layer: str = DEFAULT_CHANNEL_LAYER,
) -> None:
    """``broadcast()`` for async code: converted now, sent at once.

    The event loop's thread holds no transaction, so the message goes out
    with ``await group_send`` and its errors are raised. Inside an async
    ``@service`` (or with ``using=``), the transaction is held by the thread
    Django's async ORM calls run in: the send is scheduled there and waits
    for that commit, as ``broadcast()``'s does (a failure then is logged).
    """
    message = to_message(payload, event_type=event_type)
    channel_layer = _channel_layer(layer, group)
    alias = commit_alias(using)
    if alias is None:
        await channel_layer.group_send(group, message)
    else:
        await sync_to_async(_schedule, thread_sensitive=True)(
            channel_layer, group, message, alias
        )

"""Running one delivery row: claim it, decode it, call the receiver, record it.

Every executor ends here, whoever holds the row (the sending process after
the commit, the relay, a Celery worker, ``testing.drain()``): so each runs
the same encode/store/claim/decode path, and a delivery's effect happens once
however often its message arrives.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any, Literal, cast

from django.db import transaction
from django.utils.module_loading import import_string

from .._connections import Connection, deref
from .._observe import report
from .._registry import all_signals
from .._signal import Signal
from . import _outbox
from ._decoding import decode_send
from ._encoding import DecodingError
from ._info import DeliveryInfo

__all__ = ["Outcome", "options_of", "run_delivery"]

logger = logging.getLogger("django_typed_signals.bridge")


Outcome = Literal["done", "retrying", "dead", "skipped"]
"""``skipped``: another worker holds the row, or it is finished already."""


def run_delivery(
    delivery_id: int, *, lease_s: float, using: str | None = None
) -> Outcome:
    """Claim and run one delivery; never raises for what the receiver does.

    ``lease_s`` is the default lease; a receiver's ``lease=`` wins.
    """
    claim = _outbox.claim(delivery_id, lease_s=lease_s, using=using)
    if claim is None:
        return "skipped"
    delivery = claim.delivery
    try:
        signal = _signal_named(delivery.signal)
        receiver = _receiver_at(delivery.receiver)
        sender, named = decode_send(delivery.payload)
    except DecodingError as exc:
        _outbox.bury(claim, f"cannot decode the delivery: {exc}", using=using)
        return "dead"
    info = DeliveryInfo(id=delivery.pk, attempt=delivery.attempts, key=delivery.key)
    options = options_of(signal, receiver, sender)
    started = perf_counter()
    try:
        if options.get("atomic"):
            with transaction.atomic(using=using):
                receiver(signal=signal, sender=sender, delivery=info, **named)
                if not _outbox.complete(claim, using=using):
                    # Another worker took the row over: roll the effect back.
                    raise _LostLease
        else:
            receiver(signal=signal, sender=sender, delivery=info, **named)
            _outbox.complete(claim, using=using)
    except _LostLease:
        return "skipped"
    except Exception as exc:
        report(signal, receiver, sender, started, exc)
        error = "".join(traceback.format_exception(exc))
        logger.warning(
            "delivery %s of %s failed: %s", delivery.pk, delivery.receiver, exc
        )
        return _outbox.fail(claim, error, using=using) or "skipped"
    report(signal, receiver, sender, started, None)
    return "done"


class _LostLease(Exception):
    """The row's lease was taken by another worker while this one ran."""


def options_of(
    signal: Signal, receiver: Callable[..., Any], sender: object
) -> Mapping[str, object]:
    """The bridge options (``atomic=``, ``lease=``...) ``receiver`` connected with.

    Read from the live connection, so a deploy that changes them applies to
    rows written before it. Several connections (stacked decorators): the one
    for this sender, else the first.
    """
    found: list[Connection] = [
        c
        for c in list(signal._connections.values())  # pyright: ignore[reportPrivateUsage]
        if c.run == "celery" and deref(c.receiver) is receiver
    ]
    for connection in found:
        if deref(connection.sender) is sender:
            return connection.run_options
    return found[0].run_options if found else {}


def _signal_named(name: str) -> Signal:
    for signal in all_signals():
        if signal.name == name:
            return signal
    raise DecodingError(f"no signal named {name!r} in this process")


def _receiver_at(path: str) -> Callable[..., Any]:
    try:
        found: object = import_string(path)
    except ImportError as exc:
        raise DecodingError(f"receiver {path!r} cannot be imported: {exc}") from exc
    if not callable(found):
        raise DecodingError(f"receiver {path!r} is not callable")
    return cast("Callable[..., Any]", found)

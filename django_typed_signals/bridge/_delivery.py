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
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal, cast

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from .._audit import audit_var
from .._connections import Connection, deref
from .._observe import handle_error, observers, tell_observers
from .._registry import all_signals
from .._signal import Signal
from . import _breaker, _outbox
from ._decoding import decode_audit, decode_send
from ._encoding import DecodingError
from ._info import DeliveryCall, DeliveryInfo

__all__ = ["Outcome", "connection_of", "run_delivery"]

logger = logging.getLogger("django_typed_signals.bridge")


Outcome = Literal["done", "retrying", "dead", "skipped"]
"""``skipped``: another worker holds the row, it is finished already, or its
receiver is paused by the circuit breaker (the row waits, its attempt unspent)."""


def run_delivery(
    delivery_id: int, *, lease_s: float, using: str | None = None
) -> Outcome:
    """Claim and run one delivery; never raises for what the receiver does.

    ``lease_s`` is the default lease; a receiver's ``lease=`` wins. A
    receiver whose circuit breaker is open gets its row back untouched: the
    row waits for the pause to end, its attempt not counted (``skipped``).
    Observers get a ``DeliveryCall`` per run.
    """
    claimed_at = timezone.now()
    claim = _outbox.claim(delivery_id, lease_s=lease_s, using=using, now=claimed_at)
    if claim is None:
        return "skipped"
    delivery = claim.delivery
    admission = _breaker.admit(delivery.receiver, lease_s=lease_s, using=using)
    if admission.verdict == "wait":
        until = admission.paused_until or claimed_at
        _outbox.release(claim, until=until, using=using)
        return "skipped"
    run = _Run(claim, max(0.0, (claimed_at - delivery.available_at).total_seconds()))
    started = perf_counter()
    signal: Signal | None = None
    receiver: Callable[..., Any] | None = None
    try:
        # The receiver first: importing its module defines the signal.
        receiver = _receiver_at(delivery.receiver)
        signal = _signal_named(delivery.signal)
        sender, named = decode_send(delivery.payload)
        context = decode_audit(delivery.payload)
    except DecodingError as exc:
        duration = perf_counter() - started
        buried = _outbox.bury(claim, f"cannot decode the delivery: {exc}", using=using)
        if signal is not None and receiver is not None:
            # Without the signal or the receiver there is nobody to report to.
            outcome: Outcome = "dead" if buried else "skipped"
            run.report(signal, receiver, None, duration, exc, outcome)
        return "dead"
    except DatabaseError as exc:
        # Re-reading the payload's rows failed, not the payload: a failed
        # attempt that retries after its backoff (should recording it fail
        # too, the lease runs out and the next claim counts it). The receiver
        # did not run, so its circuit breaker does not count it.
        return run.fail(
            exc,
            perf_counter() - started,
            signal,
            receiver,
            None,
            using=using,
            step="reading the payload",
        )
    info = DeliveryInfo(id=delivery.pk, attempt=delivery.attempts, key=delivery.key)
    connection = connection_of(signal, receiver, sender)
    options: Mapping[str, object] = (
        connection.run_options if connection is not None else {}
    )
    guards = connection.guards if connection is not None else ()
    own_lease = cast("float | None", options.get("lease"))
    # Known only now that the receiver is: the claim took the default.
    if (
        own_lease is not None
        and own_lease != lease_s
        and not _outbox.extend(claim, lease_s=float(own_lease), using=using)
    ):
        return "skipped"
    named["delivery"] = info
    started = perf_counter()
    token = audit_var.set(context)
    try:
        if options.get("atomic"):
            with transaction.atomic(using=using):
                _call(receiver, signal, sender, named, guards)
                if not _outbox.complete(claim, using=using):
                    # Another worker took the row over: roll the effect back.
                    raise _LostLease
        else:
            _call(receiver, signal, sender, named, guards)
            _outbox.complete(claim, using=using)
    except _LostLease:
        run.report(signal, receiver, sender, perf_counter() - started, None, "skipped")
        return "skipped"
    except Exception as exc:
        outcome = run.fail(
            exc, perf_counter() - started, signal, receiver, sender, using=using
        )
        _breaker.record_failure(delivery.receiver, using=using, trial=admission.trial)
        return outcome
    finally:
        audit_var.reset(token)
    run.report(signal, receiver, sender, perf_counter() - started, None, "done")
    if admission.tracked:
        _breaker.record_success(delivery.receiver, using=using)
    return "done"


@dataclass(frozen=True, slots=True)
class _Run:
    """One claimed delivery, as far as its report needs it."""

    claim: _outbox.Claim
    queue_latency: float

    def fail(
        self,
        exc: Exception,
        duration: float,
        signal: Signal | None,
        receiver: Callable[..., Any] | None,
        sender: object,
        *,
        using: str | None,
        step: str | None = None,
    ) -> Outcome:
        """Log a failed attempt, record it in the row (backoff, or dead on the
        last attempt) and report it; what became of the row.

        ``step`` names what failed when it was not the receiver; it leads the
        log line and the traceback kept as ``last_error``.
        """
        delivery = self.claim.delivery
        error = "".join(traceback.format_exception(exc))
        if step is None:
            logger.warning(
                "delivery %s of %s failed: %s", delivery.pk, delivery.receiver, exc
            )
        else:
            logger.warning(
                "delivery %s of %s: %s failed: %s",
                delivery.pk,
                delivery.receiver,
                step,
                exc,
            )
            error = f"{step} failed: {error}"
        outcome = _outbox.fail(self.claim, error, using=using) or "skipped"
        if signal is not None and receiver is not None:
            # Without the signal or the receiver there is nobody to report to.
            self.report(signal, receiver, sender, duration, exc, outcome)
        return outcome

    def report(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        sender: object,
        duration: float,
        exception: BaseException | None,
        outcome: Outcome,
    ) -> None:
        """Tell the signal's error handler and the observers about the run.

        As ``_observe.report()`` does for a receiver call, with a
        ``DeliveryCall``; built only while observers are registered.
        """
        handle_error(signal, receiver, exception)
        if not observers():
            return
        tell_observers(
            DeliveryCall(
                signal,
                receiver,
                sender,
                duration,
                exception,
                delivery_id=self.claim.delivery.pk,
                attempt=self.claim.attempt,
                outcome=outcome,
                queue_latency=self.queue_latency,
            )
        )


class _LostLease(Exception):
    """The row's lease was taken by another worker while this one ran."""


def _call(
    receiver: Callable[..., Any],
    signal: Signal,
    sender: object,
    named: dict[str, Any],
    guards: tuple[Callable[[], AbstractContextManager[object]], ...],
) -> None:
    """The receiver call, inside the guards its connection has (read-only)."""
    if not guards:
        receiver(signal=signal, sender=sender, **named)
        return
    with ExitStack() as stack:
        for guard in guards:
            stack.enter_context(guard())
        receiver(signal=signal, sender=sender, **named)


def connection_of(
    signal: Signal, receiver: Callable[..., Any], sender: object
) -> Connection | None:
    """The connection ``receiver`` was made with: its bridge options
    (``atomic=``, ``lease=``...) and guards.

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
            return connection
    return found[0] if found else None


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

"""``run="celery"``: the executor that turns a receiver call into a delivery row.

Registering it imports no model. At send time, inside the caller's
transaction, the send is encoded and one row is written per receiver; an
encoding error fails the send right there and writes nothing. After the
commit the fast path hands the rows on (for now ``EXECUTOR = "eager"`` runs
them in this process; the relay and Celery take them in the other modes). A
rollback drops the rows with the data.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, transaction

from .._observe import database_of, unwrap
from .._receivers import describe_callable
from .._registry import PendingCall, register_executor
from .._signal import Signal
from ..conf import get_settings
from ._encoding import encode_send

__all__ = ["OutboxExecutor", "executor"]

logger = logging.getLogger("django_typed_signals.bridge")

DEFAULT_MAX_ATTEMPTS = 8


class OutboxExecutor:
    """Writes deliveries at send time; runs or publishes them after commit."""

    options = frozenset({"queue", "atomic", "max_attempts", "lease"})
    passes = frozenset({"delivery"})

    def check(
        self,
        signal: Signal,
        receiver: Callable[..., Any],
        is_async: bool,
        run_options: Mapping[str, object],
    ) -> None:
        path = describe_callable(receiver)[0]
        # At decoration time the name is not bound yet: judge by where the
        # function is defined (module level, a real module), not by importing.
        target = unwrap(receiver)
        module = getattr(target, "__module__", None)
        qualname = getattr(target, "__qualname__", "")
        if (
            not isinstance(module, str)
            or module == "__main__"
            or "<locals>" in qualname
            or "<lambda>" in qualname
            or not inspect.isfunction(target)
        ):
            raise ValueError(
                f"{signal.name}: run='celery' needs a receiver the worker can "
                f"import by its dotted path; {path} is not one (a module-level "
                "function is)"
            )
        if is_async:
            raise ValueError(
                f"{signal.name}: run='celery' takes synchronous receivers; {path} "
                "is async"
            )
        queue = run_options.get("queue")
        if queue is not None and (not isinstance(queue, str) or not queue):
            raise TypeError(
                f"{signal.name}: queue= must be a queue name, got {queue!r}"
            )
        attempts = run_options.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise TypeError(
                f"{signal.name}: max_attempts= must be an int >= 1, got {attempts!r}"
            )
        atomic = run_options.get("atomic", False)
        if not isinstance(atomic, bool):
            raise TypeError(
                f"{signal.name}: atomic= must be True or False, got {atomic!r}"
            )
        lease = run_options.get("lease")
        if lease is not None and (
            isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease <= 0
        ):
            raise TypeError(
                f"{signal.name}: lease= must be a number of seconds > 0, got {lease!r}"
            )

    def submit(self, call: PendingCall) -> object:
        # Delivery rows need the app registry: imported at the first send, so
        # that receivers can be declared (and this executor registered) before.
        from . import _outbox
        from ._delivery import run_delivery

        signal = call.signal
        encoded = encode_send(signal.name, call.sender, call.named)
        options = call.run_options
        bridge = get_settings().bridge
        queue = options.get("queue") or next(
            (bridge.routes[g] for g in sorted(signal.groups) if g in bridge.routes), ""
        )
        using = database_of(call.named.get("payload")) or DEFAULT_DB_ALIAS
        [delivery] = _outbox.write_deliveries(
            [
                _outbox.NewDelivery(
                    signal=signal.name,
                    receiver=describe_callable(call.receiver)[0],
                    payload=encoded,
                    queue=str(queue),
                    max_attempts=cast(
                        int, options.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
                    ),
                    key=uuid.uuid4().hex,
                )
            ],
            using=using,
        )
        lease = float(cast("float | None", options.get("lease")) or bridge.lease_s)
        delivery_id = delivery.pk

        def hand_on() -> None:
            if get_settings().bridge.executor == "eager":
                run_delivery(delivery_id, lease_s=lease, using=using)
            # "local" and "celery": the relay (and the broker) take it from here.

        # robust: the data is committed; a failing hand-on must not undo that.
        transaction.on_commit(hand_on, using=using, robust=True)
        return None


executor = OutboxExecutor()
register_executor("celery", executor)

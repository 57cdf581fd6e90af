"""``run="celery"``: the executor that turns a receiver call into a delivery row.

Registering it imports no model. At send time, inside the caller's
transaction, the send is encoded and one row is written per receiver; an
encoding error fails the send right there and writes nothing. After the
commit the fast path hands each row on: ``EXECUTOR = "celery"`` queues it
for the publisher thread (the request does not wait for the broker; what it
does not take is the relay's), ``"eager"`` runs it in this process,
``"local"`` leaves it to the relay. A rollback drops the rows with the data.
"""

from __future__ import annotations

import inspect
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction

from .._audit import current_context
from .._observe import commit_alias, database_of, unwrap
from .._receivers import describe_callable
from .._registry import PendingCall, register_executor
from .._signal import Signal
from ..conf import get_settings
from ._encoding import encode_audit, encode_send
from ._publish import PUBLISHER_THREAD, Message, publish_soon

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

        signal = call.signal
        encoded = encode_send(signal.name, call.sender, call.named)
        context = current_context()
        if context:
            encoded["a"] = encode_audit(signal.name, context)
        options = call.run_options
        bridge = get_settings().bridge
        queue = str(
            options.get("queue")
            or next(
                (bridge.routes[g] for g in sorted(signal.groups) if g in bridge.routes),
                "",
            )
        )
        using = _database_for(call.named.get("payload"))
        publishing = bridge.executor == "celery"
        [delivery] = _outbox.write_deliveries(
            [
                _outbox.NewDelivery(
                    signal=signal.name,
                    receiver=describe_callable(call.receiver)[0],
                    payload=encoded,
                    queue=queue,
                    max_attempts=cast(
                        int, options.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
                    ),
                    key=uuid.uuid4().hex,
                )
            ],
            using=using,
            published=publishing,
        )
        lease = float(cast("float | None", options.get("lease")) or bridge.lease_s)
        delivery_id: int = delivery.pk
        # Closures, not functools.partial: Django 5.2's robust on_commit logs
        # a failing callback by its __qualname__, which a partial lacks.
        if publishing:
            message = Message(delivery_id, queue, using)
            bound_s = bridge.publish_timeout_s

            def hand_on() -> None:
                _publish_fast(message, bound_s)
        else:

            def hand_on() -> None:
                _run_eagerly(delivery_id, lease, using)

        # robust: the data is committed; a failing hand-on must not undo that.
        transaction.on_commit(hand_on, using=using, robust=True)
        return None


def _database_for(payload: object) -> str:
    """Where the rows go: into the transaction the send happens in.

    A model payload names its database; else the enclosing ``@service``'s.
    Otherwise the one database with an open transaction, so that
    ``atomic(using="other")`` keeps its rows (and their run) until its own
    commit; else where the router writes deliveries.
    """
    declared = commit_alias(database_of(payload))
    if declared is not None:
        return declared
    open_blocks = [alias for alias in connections if connections[alias].in_atomic_block]
    if len(open_blocks) == 1:
        return open_blocks[0]
    from ..models import Delivery

    return router.db_for_write(Delivery) or DEFAULT_DB_ALIAS


def _run_eagerly(delivery_id: int, lease_s: float, using: str) -> None:
    """After the commit, in this process: ``"eager"``, or the relay's later."""
    from ._delivery import run_delivery

    if get_settings().bridge.executor == "eager":
        run_delivery(delivery_id, lease_s=lease_s, using=using)
    # "local": the relay runs it; "celery" (changed since the send): the relay
    # publishes it, as the row was written unpublished.


def _publish_fast(message: Message, bound_s: float) -> None:
    """The fast path: queue the message for the publisher thread, right after
    the commit; the request does not wait for the broker."""
    if not publish_soon([message], bound_s=bound_s, on_failure=_leave_to_relay):
        _leave_to_relay([message])


def _leave_to_relay(messages: Sequence[Message]) -> None:
    """Mark rows the broker did not take for the relay's next pass (rather
    than after ``REPUBLISH_AFTER_S``, which covers it should this fail)."""
    from . import _due

    by_database: dict[str, list[int]] = {}
    for message in messages:
        by_database.setdefault(message.using, []).append(message.delivery_id)
    on_publisher_thread = threading.current_thread().name == PUBLISHER_THREAD
    for using, ids in by_database.items():
        try:
            _due.mark_unpublished(ids, using=using)
        except DatabaseError as exc:
            logger.warning(
                "deliveries %s: not published, and not marked for the relay (%s): "
                "they are republished after REPUBLISH_AFTER_S",
                ids,
                exc,
            )
        finally:
            if on_publisher_thread:  # rare: no connection kept open for it
                connections[using].close()


executor = OutboxExecutor()
register_executor("celery", executor)

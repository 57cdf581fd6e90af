"""Handing delivery ids to Celery: one message per row, the id its only argument.

The broker is called on one thread per process, the publisher thread. The
request after its commit only queues its messages there (``publish_soon()``)
and goes on: it never waits for the broker. A broker call that runs longer
than ``PUBLISH_TIMEOUT_S`` (a broker that accepts and never answers), or one
that failed less than ``FAILURE_REST_S`` ago, makes callers skip the broker
and leave their rows to the relay. What the broker did not take is handed
back (``on_failure``) for the relay; a message published twice runs once,
since the worker claims the row. Celery is imported only here, and only
when publishing.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Protocol, cast

from django.db import DEFAULT_DB_ALIAS
from django.utils.module_loading import import_string

from ..conf import get_settings

__all__ = [
    "DATABASE_HEADER",
    "EXIT_DRAIN_S",
    "FAILURE_REST_S",
    "PUBLISHER_THREAD",
    "TASK_NAME",
    "Message",
    "PublishError",
    "publish",
    "publish_in_background",
    "publish_soon",
]

logger = logging.getLogger("django_typed_signals.bridge")

TASK_NAME = "django_typed_signals.deliver"
"""The Celery task's registered name (``django_typed_signals.tasks.deliver``)."""

DATABASE_HEADER = "typed_signals_database"
"""Message header naming the rows' database, sent only when it is not ``default``."""


FAILURE_REST_S = 1.0
"""After a failed publish, the fast path leaves rows to the relay this long."""

PUBLISHER_THREAD = "typed-signals-publisher"

EXIT_DRAIN_S = 2.0
"""At interpreter exit, how long queued publishes may still take."""


class PublishError(Exception):
    """The broker did not take a message (down, refusing, or Celery missing).

    ``sent`` counts the messages before it that the broker took.
    """

    def __init__(self, message: str, *, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class Message:
    """One delivery to announce: its id, its queue ("" = Celery's default)."""

    delivery_id: int
    queue: str
    using: str = DEFAULT_DB_ALIAS


class _Sender(Protocol):
    def send_task(self, name: str, *args: Any, **kwargs: Any) -> object: ...


def _celery_app() -> _Sender:
    """The project's Celery app, found from any thread.

    ``CELERY_APP`` when set. Else Celery's ``current_app``, but that is per
    thread: on a thread other than the one that imported the project's
    ``celery.py`` it is an unconfigured fallback app; then the one app the
    process created is the project's.
    """
    path = get_settings().bridge.celery_app
    if path is not None:
        try:
            return cast(_Sender, import_string(path))
        except ImportError as exc:
            raise PublishError(
                f"TYPED_SIGNALS['BRIDGE']['CELERY_APP'] {path!r} cannot be "
                f"imported: {exc}"
            ) from exc
    try:
        from celery import _state as celery_state
    except ImportError as exc:
        raise PublishError(
            "TYPED_SIGNALS['BRIDGE']['EXECUTOR'] is 'celery' but Celery is not "
            "installed: pip install 'django-typed-signals[celery]'"
        ) from exc
    state: Any = celery_state  # its stubs leave out the names used here
    app: Any = state.get_current_app()
    if app is not state.default_app or app.main != "default":
        return cast(_Sender, app)
    created = [a for a in state._get_active_apps() if a is not app]
    if len(created) == 1:
        return cast(_Sender, created[0])
    return cast(_Sender, app)


def publish(messages: Sequence[Message]) -> None:
    """Send one ``deliver`` message per delivery, in order, on this thread.

    Raises ``PublishError`` at the first message the broker does not take;
    the ones before it were sent. No retry here: the relay is the retry.
    """
    if not messages:
        return
    app = _celery_app()
    for sent, message in enumerate(messages):
        options: dict[str, Any] = {"retry": False}
        if message.queue:
            options["queue"] = message.queue
        if message.using != DEFAULT_DB_ALIAS:
            options["headers"] = {DATABASE_HEADER: message.using}
        try:
            app.send_task(TASK_NAME, args=[message.delivery_id], **options)
        except Exception as exc:
            raise PublishError(
                f"the broker did not take delivery {message.delivery_id}: "
                f"{type(exc).__name__}: {exc}",
                sent=sent,
            ) from exc


@dataclass
class _Job:
    messages: Sequence[Message]
    bound_s: float
    """How long its broker call may take before callers stop queueing."""
    on_failure: Callable[[Sequence[Message]], None] | None = None
    """Called on the publisher thread with what the broker did not take."""
    queued: float = field(default_factory=monotonic)
    started: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    abandoned: bool = False
    """Its caller stopped waiting and left the rows to the relay."""

    def unsent(self) -> Sequence[Message]:
        """What the broker did not take (all of it before the job ran)."""
        error = self.error
        if error is None and self.done.is_set():
            return ()
        sent = error.sent if isinstance(error, PublishError) else 0
        return self.messages[sent:]


class _PublisherThread:
    """A daemon thread that runs ``publish()`` for jobs it is handed."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.current: _Job | None = None
        """The job whose broker call runs now."""
        self.resting_until = 0.0
        """After a failed call, until when callers skip the broker."""
        self.pid = os.getpid()
        threading.Thread(target=self._serve, name=PUBLISHER_THREAD, daemon=True).start()

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            if job.abandoned or not job.messages:  # abandoned: the relay's now
                job.done.set()
                continue
            self.current = job
            job.started = monotonic()
            try:
                if job.started < self.resting_until:
                    # Queued before the failure: hand it back, don't retry now.
                    raise PublishError("the broker failed just before; not tried")
                publish(job.messages)
            except BaseException as exc:  # reported to the waiter
                job.error = exc
                self.resting_until = max(
                    self.resting_until, monotonic() + FAILURE_REST_S
                )
                logger.warning(
                    "publishing %d deliveries failed, left to the relay: %s",
                    len(job.unsent()),
                    exc,
                )
                if job.on_failure is not None:
                    _report_failure(job)
            finally:
                self.current = None
                job.done.set()

    @property
    def hung(self) -> bool:
        """A broker call has run longer than its bound (or its caller gave up)."""
        job = self.current
        if job is None or job.started is None:
            return False
        return job.abandoned or monotonic() - job.started > job.bound_s

    def available(self) -> bool:
        """Whether a caller should hand it a job now."""
        return not self.hung and monotonic() >= self.resting_until

    def drain(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the queued jobs (at interpreter exit)."""
        marker = _Job((), bound_s=timeout_s)
        self.jobs.put(marker)
        marker.done.wait(timeout_s)


def _report_failure(job: _Job) -> None:
    assert job.on_failure is not None
    try:
        job.on_failure(job.unsent())
    except Exception:
        logger.exception("handling a failed publish failed")


_thread: _PublisherThread | None = None
_thread_lock = threading.Lock()


def _publisher() -> _PublisherThread:
    global _thread
    current = _thread
    if current is not None and current.pid == os.getpid():
        return current
    with _thread_lock:  # one per process: a forked child starts its own
        if _thread is None or _thread.pid != os.getpid():
            _thread = _PublisherThread()
            atexit.register(_thread.drain, EXIT_DRAIN_S)
        return _thread


def publish_soon(
    messages: Sequence[Message],
    *,
    bound_s: float,
    on_failure: Callable[[Sequence[Message]], None],
) -> bool:
    """Hand ``messages`` to the publisher thread and return at once.

    ``False`` (nothing queued) while a broker call has run longer than
    ``bound_s``, or for ``FAILURE_REST_S`` after one failed: the caller
    leaves the rows to the relay. A later failure of this job calls
    ``on_failure`` with the messages the broker did not take, on the
    publisher thread. Never raises.
    """
    publisher = _publisher()
    if not publisher.available():
        return False
    publisher.jobs.put(_Job(messages, bound_s=bound_s, on_failure=on_failure))
    return True


def publish_in_background(messages: Sequence[Message], *, timeout_s: float) -> int:
    """Publish on the publisher thread, waiting at most ``timeout_s``.

    Returns how many of ``messages``, from the first, the broker took: all
    of them, or fewer when it failed, 0 when it did not answer in time (the
    job may still complete later). 0 at once, without calling the broker,
    while a call that timed out still hangs, and for ``FAILURE_REST_S``
    after a failed one. Never raises.
    """
    publisher = _publisher()
    if not publisher.available():
        return 0
    job = _Job(messages, bound_s=timeout_s)
    publisher.jobs.put(job)
    if not job.done.wait(timeout_s):
        job.abandoned = True
        logger.warning(
            "the broker did not answer within %ss: %d deliveries left to the relay",
            timeout_s,
            len(messages),
        )
        return 0
    return len(messages) - len(job.unsent())

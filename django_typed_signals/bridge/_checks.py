"""System checks of the Celery bridge (ids ``typed_signals.E3xx``).

They run with ``manage.py check`` (and so at ``runserver`` and ``migrate``),
which is the point: a payload that cannot travel or a queue Celery does not
know is found at startup, not at the first send or in the relay.

=======================  ====================================================
id                       problem
=======================  ====================================================
``typed_signals.E301``   a ``run="celery"`` receiver's payload type cannot be
                         encoded for its delivery row
``typed_signals.E302``   ``TYPED_SIGNALS["BRIDGE"]["ROUTES"]`` maps a group
                         that no signal declares
``typed_signals.E303``   a ``queue=`` or a route's queue that the Celery app
                         does not declare, while it declares its queues and
                         does not create missing ones
=======================  ====================================================
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, register

from .._connections import deref
from .._groups import known_groups
from .._receivers import describe_callable
from .._registry import CHECKS_TAG, all_signals
from .._signal import Signal
from .._typed_signal import TypedSignal
from ..conf import get_settings
from ._encodable import check_encodable

__all__ = ["TAG", "check_celery_queues", "check_encodable_payloads", "check_routes"]

TAG = CHECKS_TAG
"""``django_typed_signals.checks.TAG`` (that module is a layer above the bridge)."""

_ROUTES = "TYPED_SIGNALS['BRIDGE']['ROUTES']"


class _CeleryReceiver(NamedTuple):
    """A live ``run="celery"`` connection, described for messages."""

    signal: Signal
    receiver: Callable[..., Any]
    path: str
    location: str | None  # "file:line"
    run_options: Mapping[str, object]

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.path}{where}"


def _celery_receivers(app_configs: Sequence[AppConfig] | None) -> list[_CeleryReceiver]:
    """Every live ``run="celery"`` receiver, once per (signal, receiver,
    queue), ordered by signal name and receiver path so messages come out
    stable. Stacked connections for other senders differ at most by queue."""
    found: dict[tuple[int, int, object], _CeleryReceiver] = {}
    for signal in all_signals():
        with signal.lock:
            connections = list(signal._connections.values())  # pyright: ignore[reportPrivateUsage]
        for connection in connections:
            if connection.run != "celery" or connection.is_dead():
                continue
            receiver: Callable[..., Any] | None = deref(connection.receiver)
            if receiver is None:
                continue
            key = (id(signal), id(receiver), connection.run_options.get("queue"))
            if key in found:
                continue
            path, file, line = describe_callable(receiver)
            if _in_apps(path, app_configs):
                location = None if file is None else f"{file}:{line}" if line else file
                found[key] = _CeleryReceiver(
                    signal, receiver, path, location, connection.run_options
                )
    return sorted(
        found.values(),
        key=lambda r: (r.signal.name, r.path, str(r.run_options.get("queue"))),
    )


def _in_apps(path: str, app_configs: Iterable[AppConfig] | None) -> bool:
    """Whether dotted ``path`` belongs to one of ``app_configs`` (all if None)."""
    if app_configs is None:
        return True
    return any(
        path == app.name or path.startswith(f"{app.name}.") for app in app_configs
    )


# -- E301 -------------------------------------------------------------------


@register(TAG)
def check_encodable_payloads(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E301: ``run="celery"`` receivers whose payload type cannot travel.

    Read from the annotations of a ``TypedSignal``'s payload type (the
    lifecycle signals are ``TypedSignal``s of their payload classes), so
    the send that would fail with ``EncodingError`` is found at startup.
    Receivers of a plain ``Signal`` have no static payload type: their
    arguments are only checked when sent.
    """
    problems_of: dict[type, list[str]] = {}
    seen: set[tuple[int, int]] = set()
    messages: list[CheckMessage] = []
    for found in _celery_receivers(app_configs):
        key = (id(found.signal), id(found.receiver))
        any_signal: Signal = found.signal
        if not isinstance(any_signal, TypedSignal) or key in seen:
            continue
        seen.add(key)
        signal = typing.cast("TypedSignal[object]", any_signal)
        payload_type: type = signal.payload_type
        problems = problems_of.get(payload_type)
        if problems is None:
            problems = problems_of[payload_type] = check_encodable(payload_type)
        messages.extend(
            Error(
                f"Receiver {found} of signal {signal.name} is connected with "
                f"run='celery', but its payload cannot travel: {problem}.",
                hint=(
                    "A delivery row stores model instances, dataclasses, enums, "
                    "dates and times, decimals, UUIDs, lists, tuples, frozensets "
                    "and dicts with str keys (see 'What travels' in the bridge "
                    "docs); change the field's type, or run the receiver inline."
                ),
                obj=found.path,
                id="typed_signals.E301",
            )
            for problem in problems
        )
    return messages


# -- E302 -------------------------------------------------------------------


@register(TAG)
def check_routes(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E302: routes for groups that no signal (or ``SignalGroup``) declares.

    Such a route never applies: a misspelt group sends its receivers to the
    default queue without a word.
    """
    groups = known_groups()
    known = ", ".join(repr(name) for name in sorted(groups)) or "none"
    return [
        Error(
            f"{_ROUTES} routes signal group {group!r} to queue {queue!r}, but no "
            "signal declares that group.",
            hint=(
                f"Known groups: {known}. A group is declared by a signal's "
                "groups= or by SignalGroup(); check the spelling."
            ),
            obj=_ROUTES,
            id="typed_signals.E302",
        )
        for group, queue in sorted(get_settings().bridge.routes.items())
        if group not in groups
    ]


# -- E303 -------------------------------------------------------------------


@register(TAG)
def check_celery_queues(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E303: ``queue=`` values and routed queues that Celery does not declare.

    Only when the project declares its queues (``task_queues``) and Celery
    does not create missing ones (``task_create_missing_queues = False``):
    then publishing to any other queue raises ``QueueNotFound``, after the
    commit, for every send. Skipped when Celery is not installed or no queues
    are declared. An error, not a warning: under those settings the queue
    cannot work.
    """
    declared = _declared_queues()
    if declared is None:
        return []
    shown = ", ".join(repr(name) for name in sorted(declared)) or "none"
    hint = (
        f"Declared queues: {shown}. Add the queue to the Celery setting "
        "task_queues, or set task_create_missing_queues = True."
    )
    messages: list[CheckMessage] = []
    for found in _celery_receivers(app_configs):
        queue = found.run_options.get("queue")
        if isinstance(queue, str) and queue and queue not in declared:
            messages.append(
                Error(
                    f"Receiver {found} of signal {found.signal.name} uses "
                    f"queue {queue!r}, which the Celery app does not declare.",
                    hint=hint,
                    obj=found.path,
                    id="typed_signals.E303",
                )
            )
    for group, queue in sorted(get_settings().bridge.routes.items()):
        if queue not in declared:
            messages.append(
                Error(
                    f"{_ROUTES} routes signal group {group!r} to queue {queue!r}, "
                    "which the Celery app does not declare.",
                    hint=hint,
                    obj=_ROUTES,
                    id="typed_signals.E303",
                )
            )
    return messages


def _declared_queues() -> frozenset[str] | None:
    """The queue names Celery declares, or None when any queue will do.

    Read from the current Celery app's configuration; when it declares no
    queues (the project's Celery module is not imported in this process, so
    the current app is Celery's default one), from the ``CELERY_``-prefixed
    Django settings that ``config_from_object("django.conf:settings",
    namespace="CELERY")`` would give it.
    """
    try:
        from celery import current_app
    except ImportError:  # Celery is an optional dependency
        return None
    conf = current_app.conf
    queues: object = conf.task_queues
    create_missing: object = conf.task_create_missing_queues
    if not queues:
        queues = getattr(django_settings, "CELERY_TASK_QUEUES", None)
        create_missing = getattr(
            django_settings, "CELERY_TASK_CREATE_MISSING_QUEUES", True
        )
    if not queues or create_missing:
        return None
    return frozenset(_queue_names(queues))


def _queue_names(queues: object) -> list[str]:
    """Names from ``task_queues``: kombu ``Queue`` objects, or a dict by name."""
    if isinstance(queues, Mapping):
        return [str(name) for name in typing.cast("Mapping[object, object]", queues)]
    if not isinstance(queues, Iterable):
        return []
    names: list[str] = []
    for queue in typing.cast("Iterable[object]", queues):
        name: object = queue if isinstance(queue, str) else getattr(queue, "name", None)
        if isinstance(name, str):
            names.append(name)
    return names

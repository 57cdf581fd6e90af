"""The ``TYPED_SIGNALS`` setting, read in one place, with documented defaults.

.. code-block:: python

    TYPED_SIGNALS = {
        # Import each installed app's ``signals`` module at startup.
        "AUTODISCOVER": True,
        # Module names imported from every installed app when autodiscovering.
        "AUTODISCOVER_MODULES": ["signals"],
        # Dotted paths of observers, see ``add_observer()``.
        "OBSERVERS": [],
        # Signal groups whose receivers are side-effect-only: they may read
        # the database, never write to it (``receiver(..., read_only=True)``
        # declares one receiver; ``read_only=False`` opts one out).
        "READ_ONLY_GROUPS": [],
        # What a read-only receiver's write does: "raise" (ReadOnlyReceiverError,
        # the statement does not run), "warn" (a logged warning, it runs) or
        # "off". None: "raise" when DEBUG is on or under Django's test
        # environment, else "warn".
        "READ_ONLY_RECEIVERS": None,
        # The bridge: receivers connected with run="celery".
        "BRIDGE": {
            # Who runs the delivery rows: "eager" (in the sending process, right
            # after the commit: no broker, no worker), "local" (the
            # signal_relay process) or "celery" (a Celery worker).
            "EXECUTOR": "eager",
            # Seconds a claimed delivery stays with its worker (lease= per
            # receiver overrides it).
            "LEASE_S": 60,
            # Seconds after which a published, unclaimed delivery is published
            # again (messages lost inside the broker).
            "REPUBLISH_AFTER_S": 30,
            # Seconds a fast-path broker call may hang before requests stop
            # queueing behind it (they never wait for the broker).
            "PUBLISH_TIMEOUT_S": 1,
            # Seconds between two passes of the relay.
            "RELAY_INTERVAL_S": 1,
            # Signal group -> Celery queue, for receivers without queue=.
            "ROUTES": {},
            # The circuit breaker: after FAILURES failed deliveries in a row,
            # a receiver's deliveries wait PAUSE_S seconds (nothing is
            # dropped), then one trial delivery closes or re-opens it.
            "BREAKER": {"FAILURES": 5, "PAUSE_S": 60},
            # Dotted path of the project's Celery app ("proj.celery.app").
            # None: the app the process created (Celery's current app).
            "CELERY_APP": None,
        },
    }
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = ["BridgeSettings", "TypedSignalsSettings", "get_settings", "import_observers"]

EXECUTORS = ("eager", "local", "celery")
READ_ONLY_MODES = ("raise", "warn", "off")


@dataclass(frozen=True)
class BridgeSettings:
    """The validated ``TYPED_SIGNALS["BRIDGE"]`` setting."""

    executor: str = "eager"
    lease_s: float = 60.0
    republish_after_s: float = 30.0
    publish_timeout_s: float = 1.0
    relay_interval_s: float = 1.0
    routes: Mapping[str, str] = field(default_factory=dict[str, str])
    breaker_failures: int = 5
    """``BREAKER["FAILURES"]``: failed deliveries in a row that pause a receiver."""
    breaker_pause_s: float = 60.0
    """``BREAKER["PAUSE_S"]``: seconds a paused receiver's deliveries wait."""
    celery_app: str | None = None
    """``CELERY_APP``: dotted path of the Celery app that publishes."""


@dataclass(frozen=True)
class TypedSignalsSettings:
    """The validated ``TYPED_SIGNALS`` setting."""

    autodiscover: bool = True
    autodiscover_modules: tuple[str, ...] = ("signals",)
    observers: tuple[str, ...] = ()
    read_only_groups: frozenset[str] = frozenset()
    read_only_receivers: str | None = None
    """``"raise"``, ``"warn"``, ``"off"``, or None for the DEBUG/tests default."""
    bridge: BridgeSettings = field(default_factory=BridgeSettings)


def _strings(key: str, value: object) -> tuple[str, ...]:
    items: list[object] = (
        list(cast("list[object] | tuple[object, ...]", value))
        if isinstance(value, (list, tuple))
        else []
    )
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(item, str) for item in items
    ):
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS[{key!r}] must be a list of strings, got {value!r}"
        )
    return tuple(cast("list[str]", items))


_last: tuple[object, TypedSignalsSettings] | None = None


def get_settings() -> TypedSignalsSettings:
    """Read and validate ``settings.TYPED_SIGNALS``.

    The bridge reads it on every send to a ``run="celery"`` receiver: the last
    valid result is reused while the setting compares equal to a copy taken
    then, so ``override_settings`` and in-place edits are both seen.
    """
    global _last
    value: object = getattr(django_settings, "TYPED_SIGNALS", {})
    last = _last
    if last is not None and last[0] == value:
        return last[1]
    found = _validated(value)
    _last = (copy.deepcopy(value), found)
    return found


def _validated(value: object) -> TypedSignalsSettings:
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"TYPED_SIGNALS must be a dict, got {value!r}")
    raw = cast("dict[str, object]", value)
    known = {
        "AUTODISCOVER",
        "AUTODISCOVER_MODULES",
        "BRIDGE",
        "OBSERVERS",
        "READ_ONLY_GROUPS",
        "READ_ONLY_RECEIVERS",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS has unknown keys {unknown}; valid keys: {sorted(known)}"
        )
    defaults = TypedSignalsSettings()
    autodiscover = raw.get("AUTODISCOVER", defaults.autodiscover)
    if not isinstance(autodiscover, bool):
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS['AUTODISCOVER'] must be True or False, got {autodiscover!r}"
        )
    read_only = raw.get("READ_ONLY_RECEIVERS")
    if read_only is not None and read_only not in READ_ONLY_MODES:
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS['READ_ONLY_RECEIVERS'] must be one of "
            f"{', '.join(map(repr, READ_ONLY_MODES))} or None, got {read_only!r}"
        )
    return TypedSignalsSettings(
        autodiscover=autodiscover,
        autodiscover_modules=_strings(
            "AUTODISCOVER_MODULES",
            raw.get("AUTODISCOVER_MODULES", defaults.autodiscover_modules),
        ),
        observers=_strings("OBSERVERS", raw.get("OBSERVERS", defaults.observers)),
        read_only_groups=frozenset(
            _strings("READ_ONLY_GROUPS", raw.get("READ_ONLY_GROUPS", []))
        ),
        read_only_receivers=read_only,
        bridge=_bridge(raw.get("BRIDGE", {})),
    )


def _bridge(value: object) -> BridgeSettings:
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS['BRIDGE'] must be a dict, got {value!r}"
        )
    raw = cast("dict[str, object]", value)
    numbers = {
        "LEASE_S": "lease_s",
        "REPUBLISH_AFTER_S": "republish_after_s",
        "PUBLISH_TIMEOUT_S": "publish_timeout_s",
        "RELAY_INTERVAL_S": "relay_interval_s",
    }
    known = {"BREAKER", "CELERY_APP", "EXECUTOR", "ROUTES", *numbers}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS['BRIDGE'] has unknown keys {unknown}; valid keys: "
            f"{sorted(known)}"
        )
    executor = raw.get("EXECUTOR", BridgeSettings.executor)
    if executor not in EXECUTORS:
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS['BRIDGE']['EXECUTOR'] must be one of "
            f"{', '.join(map(repr, EXECUTORS))}, got {executor!r}"
        )
    values: dict[str, float] = {}
    for key, attribute in numbers.items():
        number = raw.get(key, getattr(BridgeSettings, attribute))
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ImproperlyConfigured(
                f"TYPED_SIGNALS['BRIDGE'][{key!r}] must be a number of seconds, "
                f"got {number!r}"
            )
        if not number > 0:
            raise ImproperlyConfigured(
                f"TYPED_SIGNALS['BRIDGE'][{key!r}] must be > 0, got {number!r}"
            )
        values[attribute] = float(number)
    routes = raw.get("ROUTES", {})
    if not isinstance(routes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v
        for k, v in cast("dict[object, object]", routes).items()
    ):
        raise ImproperlyConfigured(
            "TYPED_SIGNALS['BRIDGE']['ROUTES'] must map signal group names to "
            f"queue names (strings), got {routes!r}"
        )
    failures, pause_s = _breaker(raw.get("BREAKER", {}))
    celery_app = raw.get("CELERY_APP")
    if celery_app is not None and (
        not isinstance(celery_app, str) or "." not in celery_app
    ):
        raise ImproperlyConfigured(
            "TYPED_SIGNALS['BRIDGE']['CELERY_APP'] must be the dotted path of a "
            f"Celery app, such as 'proj.celery.app', or None; got {celery_app!r}"
        )
    return BridgeSettings(
        celery_app=celery_app,
        executor=str(executor),
        routes=dict(cast("dict[str, str]", routes)),
        breaker_failures=failures,
        breaker_pause_s=pause_s,
        **values,
    )


def _breaker(value: object) -> tuple[int, float]:
    """``BRIDGE["BREAKER"]`` as ``(failures, pause_s)``."""
    where = "TYPED_SIGNALS['BRIDGE']['BREAKER']"
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{where} must be a dict, got {value!r}")
    raw = cast("dict[str, object]", value)
    known = {"FAILURES", "PAUSE_S"}
    unknown = sorted(set(raw) - known, key=repr)
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown keys {unknown}; valid keys: {sorted(known)}"
        )
    failures = raw.get("FAILURES", BridgeSettings.breaker_failures)
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise ImproperlyConfigured(
            f"{where}['FAILURES'] must be an integer >= 1 (failed deliveries in a "
            f"row), got {failures!r}"
        )
    pause_s = raw.get("PAUSE_S", BridgeSettings.breaker_pause_s)
    if isinstance(pause_s, bool) or not isinstance(pause_s, (int, float)):
        raise ImproperlyConfigured(
            f"{where}['PAUSE_S'] must be a number of seconds, got {pause_s!r}"
        )
    if not 0 < pause_s < float("inf"):
        raise ImproperlyConfigured(
            f"{where}['PAUSE_S'] must be > 0 and finite, got {pause_s!r}"
        )
    return failures, float(pause_s)


def import_observers(paths: tuple[str, ...]) -> list[Callable[..., Any]]:
    """Import the ``OBSERVERS`` dotted paths; a bad one names the setting and why."""
    found: list[Callable[..., Any]] = []
    for path in paths:
        try:
            observer: object = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"TYPED_SIGNALS['OBSERVERS'] entry {path!r} cannot be imported: {exc}"
            ) from exc
        if not callable(observer):
            raise ImproperlyConfigured(
                f"TYPED_SIGNALS['OBSERVERS'] entry {path!r} is not callable: it is "
                f"{type(observer).__name__} {observer!r:.100}; an observer is called "
                "with a ReceiverCall after each receiver call"
            )
        found.append(cast("Callable[..., Any]", observer))
    return found

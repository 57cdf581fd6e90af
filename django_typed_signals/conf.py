"""The ``TYPED_SIGNALS`` setting, read in one place, with documented defaults.

.. code-block:: python

    TYPED_SIGNALS = {
        # Import each installed app's ``signals`` module at startup.
        "AUTODISCOVER": True,
        # Module names imported from every installed app when autodiscovering.
        "AUTODISCOVER_MODULES": ["signals"],
        # Dotted paths of observers, see ``add_observer()``.
        "OBSERVERS": [],
    }
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = ["TypedSignalsSettings", "get_settings", "import_observers"]


@dataclass(frozen=True)
class TypedSignalsSettings:
    """The validated ``TYPED_SIGNALS`` setting."""

    autodiscover: bool = True
    autodiscover_modules: tuple[str, ...] = ("signals",)
    observers: tuple[str, ...] = ()


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


def get_settings() -> TypedSignalsSettings:
    """Read and validate ``settings.TYPED_SIGNALS``."""
    value: object = getattr(django_settings, "TYPED_SIGNALS", {})
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"TYPED_SIGNALS must be a dict, got {value!r}")
    raw = cast("dict[str, object]", value)
    known = {"AUTODISCOVER", "AUTODISCOVER_MODULES", "OBSERVERS"}
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
    return TypedSignalsSettings(
        autodiscover=autodiscover,
        autodiscover_modules=_strings(
            "AUTODISCOVER_MODULES",
            raw.get("AUTODISCOVER_MODULES", defaults.autodiscover_modules),
        ),
        observers=_strings("OBSERVERS", raw.get("OBSERVERS", defaults.observers)),
    )


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

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

from dataclasses import dataclass

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["TypedSignalsSettings", "get_settings"]


@dataclass(frozen=True)
class TypedSignalsSettings:
    autodiscover: bool = True
    autodiscover_modules: tuple[str, ...] = ("signals",)
    observers: tuple[str, ...] = ()


def _strings(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ImproperlyConfigured(
            f"TYPED_SIGNALS[{key!r}] must be a list of strings, got {value!r}"
        )
    for item in value:
        if not isinstance(item, str):
            raise ImproperlyConfigured(
                f"TYPED_SIGNALS[{key!r}] must be a list of strings, got item {item!r}"
            )
    return tuple(value)


def get_settings() -> TypedSignalsSettings:
    """Read and validate ``settings.TYPED_SIGNALS``."""
    raw = getattr(django_settings, "TYPED_SIGNALS", {})
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"TYPED_SIGNALS must be a dict, got {raw!r}")
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

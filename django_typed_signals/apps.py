"""App wiring: autodiscovery of ``signals`` modules and configured observers."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules, import_string

from .conf import get_settings


class TypedSignalsConfig(AppConfig):
    """Connects configured observers and imports apps' ``signals`` modules."""

    name = "django_typed_signals"

    def ready(self) -> None:
        """Wire observers and autodiscover signal modules (see ``conf``)."""
        from ._observe import add_observer

        config = get_settings()
        for path in config.observers:
            add_observer(import_string(path))
        if config.autodiscover:
            # Users write no ready() boilerplate: each installed app's
            # ``signals`` module is imported once the app registry is ready.
            autodiscover_modules(*config.autodiscover_modules)

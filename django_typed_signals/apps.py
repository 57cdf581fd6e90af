"""App wiring: groups for Django's signals, observers, autodiscovery."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

from .conf import get_settings, import_observers


class TypedSignalsConfig(AppConfig):
    """Prepares signals at startup; see ``conf`` for the settings."""

    name = "django_typed_signals"

    def ready(self) -> None:
        """Adopt Django's signals, bridge the built-in twins, add observers,
        import ``signals`` modules."""
        from . import bridge, checks  # noqa: F401  # pyright: ignore[reportUnusedImport]  # run="celery", system checks
        from ._adoption import adopt_django_signals
        from ._observe import add_observer
        from .builtin import connect_builtin_bridges
        from .lifecycle._wiring import connect_pending_bridges
        from .services._read_only import install, note_read_only_groups

        install()  # read_only= on receivers, before any signals module connects
        note_read_only_groups()
        adopt_django_signals()
        connect_builtin_bridges()
        config = get_settings()
        for observer in import_observers(config.observers):
            add_observer(observer)
        if config.autodiscover:
            # Users write no ready() boilerplate: each installed app's
            # ``signals`` module is imported once the app registry is ready.
            autodiscover_modules(*config.autodiscover_modules)
        connect_pending_bridges()

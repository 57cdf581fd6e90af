"""Make Django's own signals mutable by group, without replacing them.

Django creates its signals at import time, long before this app is ready, and
other code holds references to them. Instead of replacing the objects, each
one gets a subclass of its own class that adds the same context-local mute
check our signals do, so ``mute("model")`` also silences receivers that were
connected to ``post_save`` with plain ``django.dispatch``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from django.dispatch import Signal as DjangoSignal

from ._groups import SignalGroup, declare_groups, is_mutable, muted_var
from ._taps import SEND_METHODS, Taps, tapped

__all__ = ["adopt", "adopt_django_signals", "is_adopted"]

_lock = threading.Lock()
_classes: dict[type[DjangoSignal], type[DjangoSignal]] = {}

GROUPS = {
    "model": "Django's model signals (pre/post save and delete, m2m_changed, "
    "pre/post init) and the typed lifecycle payloads",
    "request": "request_started, request_finished, got_request_exception",
    "settings": "setting_changed",
    "migrate": "pre_migrate, post_migrate",
    "db": "connection_created",
    "auth": "user_logged_in, user_logged_out, user_login_failed",
}


class MuteAware(Taps, DjangoSignal):
    """Mixed into a Django signal's class: the mute check of our signals.

    Taps (for ``testing.capture``) hear every send first, also while the
    signal is muted, and never appear among the receivers or responses.
    """

    _mute_keys: frozenset[object]

    def _live_receivers(
        self, sender: Any
    ) -> tuple[list[Callable[..., Any]], list[Callable[..., Any]]]:
        muted = muted_var.get()
        if muted and not muted.isdisjoint(self._mute_keys):
            return [], []
        return super()._live_receivers(sender)

    def _taps_changed(self) -> None:
        # Twins of the send methods call the taps first; see ``_taps``.
        if self._tap_receivers:
            for name in SEND_METHODS:
                method = getattr(type(self), name).__get__(self)
                setattr(self, name, tapped(method, self._call_taps))
        else:
            for name in SEND_METHODS:
                delattr(self, name)


is_adopted = is_mutable
"""Whether ``signal`` can be muted (ours, or an adopted Django signal)."""


def adopt(signal: DjangoSignal, *groups: str) -> None:
    """Let ``mute()`` silence ``signal`` by itself or by any of ``groups``."""
    keys = declare_groups(groups, owner=f"adopt({signal!r})")
    with _lock:
        if is_adopted(signal):
            # Not vars(signal): on CPython 3.11 a materialised instance dict
            # slows every attribute load in the signal's send.
            adopted_signal = cast(MuteAware, signal)
            adopted_signal._mute_keys |= keys  # pyright: ignore[reportPrivateUsage]
            return
        cls = type(signal)
        adopted = _classes.get(cls)
        if adopted is None:
            adopted = type(f"MuteAware{cls.__name__}", (MuteAware, cls), {})
            adopted.__module__ = cls.__module__
            _classes[cls] = adopted
        signal._mute_keys = frozenset((signal, *keys))  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
        signal.__class__ = adopted


def adopt_django_signals() -> None:
    """Adopt Django's built-in signals into their groups (idempotent)."""
    from django.apps import apps
    from django.core import signals as core
    from django.db.backends import signals as backends
    from django.db.models import signals as models

    for name, description in GROUPS.items():
        SignalGroup(name, description)
    model_signals: tuple[DjangoSignal, ...] = (
        models.pre_init,
        models.post_init,
        models.pre_save,
        models.post_save,
        models.pre_delete,
        models.post_delete,
        models.m2m_changed,
    )
    for signal in model_signals:
        adopt(signal, "model")
    for signal in (
        core.request_started,
        core.request_finished,
        core.got_request_exception,
    ):
        adopt(signal, "request")
    adopt(core.setting_changed, "settings")
    adopt(models.pre_migrate, "migrate")
    adopt(models.post_migrate, "migrate")
    adopt(backends.connection_created, "db")
    if apps.is_installed("django.contrib.auth"):
        from django.contrib.auth import signals as auth

        for signal in (
            auth.user_logged_in,
            auth.user_logged_out,
            auth.user_login_failed,
        ):
            adopt(signal, "auth")

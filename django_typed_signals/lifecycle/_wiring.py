"""From Django's model signals to typed payloads, for the models that listen.

A bridge receiver is connected to Django's signal once per (event, model) that
has a typed receiver, so saves of other models do not pay for the lifecycle
layer at all. The bridge builds the payload (with ``changes``) and sends it on
the typed signal, where priorities, conditions, ``on_commit`` and muting apply.
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model
from django.db.models import signals as django_signals
from django.dispatch import Signal as DjangoSignal

from .._groups import is_muted
from .._receivers import describe_callable
from .._registry import ConnectRequest, register_event_family
from .._typed_signal import TypedSignal
from ._conditions import Condition
from ._payloads import (
    M2MAction,
    M2MChanged,
    ModelEvent,
    PostDelete,
    PostSave,
    PreDelete,
    PreSave,
)
from ._tracking import changes, model_subclasses, saved_changes, track_changes

__all__ = [
    "check_model_receiver",
    "m2m_changed",
    "post_delete",
    "post_save",
    "pre_delete",
    "pre_save",
]

# Senders are model classes, as for Django's own model signals: cache by them.
pre_save: TypedSignal[PreSave[Any]] = TypedSignal(
    PreSave, name="lifecycle.pre_save", groups=["model"], use_caching=True
)
post_save: TypedSignal[PostSave[Any]] = TypedSignal(
    PostSave, name="lifecycle.post_save", groups=["model"], use_caching=True
)
pre_delete: TypedSignal[PreDelete[Any]] = TypedSignal(
    PreDelete, name="lifecycle.pre_delete", groups=["model"], use_caching=True
)
post_delete: TypedSignal[PostDelete[Any]] = TypedSignal(
    PostDelete, name="lifecycle.post_delete", groups=["model"], use_caching=True
)
m2m_changed: TypedSignal[M2MChanged[Any]] = TypedSignal(
    M2MChanged, name="lifecycle.m2m_changed", groups=["model"], use_caching=True
)


def _updated(update_fields: Iterable[str] | None) -> frozenset[str] | None:
    return None if update_fields is None else frozenset(update_fields)


# Defaults for what Django always passes: other code sometimes sends these
# signals by hand with fewer arguments, and that must not break the bridge.


def _pre_save_payload(
    sender: type[Model],
    instance: Model,
    raw: bool = False,
    using: str = DEFAULT_DB_ALIAS,
    update_fields: Iterable[str] | None = None,
    **kwargs: object,
) -> PreSave[Model]:
    updated = _updated(update_fields)
    return PreSave(
        instance=instance,
        using=using,
        created=instance._state.adding,
        update_fields=updated,
        raw=raw,
        changes=changes(instance, updated),
    )


def _post_save_payload(
    sender: type[Model],
    instance: Model,
    created: bool = False,
    raw: bool = False,
    using: str = DEFAULT_DB_ALIAS,
    update_fields: Iterable[str] | None = None,
    **kwargs: object,
) -> PostSave[Model]:
    updated = _updated(update_fields)
    return PostSave(
        instance=instance,
        using=using,
        created=created,
        update_fields=updated,
        raw=raw,
        changes=saved_changes(instance, updated),
    )


def _pre_delete_payload(
    sender: type[Model],
    instance: Model,
    using: str = DEFAULT_DB_ALIAS,
    origin: object = None,
    **kwargs: object,
) -> PreDelete[Model]:
    return PreDelete(instance=instance, using=using, origin=origin)


def _post_delete_payload(
    sender: type[Model],
    instance: Model,
    using: str = DEFAULT_DB_ALIAS,
    origin: object = None,
    **kwargs: object,
) -> PostDelete[Model]:
    return PostDelete(instance=instance, using=using, origin=origin)


def _m2m_changed_payload(
    sender: type[Model],
    instance: Model,
    action: str,
    reverse: bool = False,
    model: type[Model] = Model,
    pk_set: Iterable[Any] | None = None,
    using: str = DEFAULT_DB_ALIAS,
    **kwargs: object,
) -> M2MChanged[Model]:
    return M2MChanged(
        instance=instance,
        using=using,
        action=cast("M2MAction", action),
        reverse=reverse,
        model=model,
        pk_set=None if pk_set is None else frozenset(pk_set),
    )


class _Route:
    """One Django model signal, bridged to its typed twin.

    The bridge is connected to Django's signal per model that has receivers,
    and once for all models when a receiver has no sender; then the
    per-model connections step aside so nothing is sent twice.
    """

    def __init__(
        self,
        event: type[ModelEvent[Any]],
        typed: TypedSignal[Any],
        django_signal: DjangoSignal,
        build: Callable[..., ModelEvent[Any]],
    ) -> None:
        self.event = event
        self.typed = typed
        self.django_signal = django_signal
        self.build = build
        self.every_model = False
        self.models: set[type[Model]] = set()
        typed._add_feeder(django_signal, self.feed)  # pyright: ignore[reportPrivateUsage]
        typed._add_connect_hook(self.connecting)  # pyright: ignore[reportPrivateUsage]

    def connecting(self, request: ConnectRequest) -> None:
        """Every connection to the typed signal, by ``receiver()`` or not:
        refuse what cannot work, track the condition's fields, and bridge
        Django's signal for the sender once the connection is made."""
        model = check_model_receiver(
            self.event, request.receiver, sender=request.sender, when=request.when
        )
        condition = _condition(request.when)
        subclasses = bool(request.options.get("match_subclasses"))

        def connected() -> None:
            if condition is not None and condition.fields and model is not None:
                track_changes(model, *sorted(condition.fields))
            _bridge(self.event, model, subclasses=subclasses)

        request.on_connected.append(connected)

    def send(self, sender: type[Model], **kwargs: Any) -> None:
        self.typed.send(sender, self.build(sender, **kwargs))

    def feed(self, sender: type[Model], **kwargs: Any) -> None:
        """A tap of Django's signal while the typed one is captured.

        It sends what the connected route does not: saves while Django's
        signal is muted, and saves of models that no typed receiver asked
        for. So ``capture(lifecycle.post_save)`` records every save.
        """
        if is_muted(self.django_signal) or not (
            self.every_model or sender in self.models
        ):
            self.typed.send(sender, self.build(sender, **kwargs))

    def send_for_model(self, sender: type[Model], **kwargs: Any) -> None:
        if not self.every_model:  # else send() is connected and does it
            self.typed.send(sender, self.build(sender, **kwargs))

    def connect(self, sender: type[Model] | None) -> None:
        label = "*" if sender is None else sender._meta.label
        self.django_signal.connect(
            self.send if sender is None else self.send_for_model,
            sender=sender,
            weak=False,
            dispatch_uid=f"django_typed_signals.lifecycle.{self.event.__name__}:{label}",
        )
        if sender is None:
            self.every_model = True
        else:
            self.models.add(sender)


_ROUTES: dict[type[ModelEvent[Any]], _Route] = {
    route.event: route
    for route in (
        _Route(PreSave, pre_save, django_signals.pre_save, _pre_save_payload),
        _Route(PostSave, post_save, django_signals.post_save, _post_save_payload),
        _Route(PreDelete, pre_delete, django_signals.pre_delete, _pre_delete_payload),
        _Route(
            PostDelete, post_delete, django_signals.post_delete, _post_delete_payload
        ),
        _Route(
            M2MChanged, m2m_changed, django_signals.m2m_changed, _m2m_changed_payload
        ),
    )
}

_bridge_lock = threading.Lock()
_pending: list[tuple[type[ModelEvent[Any]], type[Model]]] = []


def typed_signal_for(event: type[ModelEvent[Any]]) -> TypedSignal[Any]:
    """The typed signal that carries ``event`` payloads."""
    return _ROUTES[event].typed


def _bridge(
    event: type[ModelEvent[Any]], sender: type[Model] | None, subclasses: bool
) -> None:
    """Connect the bridge for ``event`` to Django's signal for ``sender``."""
    route = _ROUTES[event]
    senders: list[type[Model] | None] = [sender]
    if subclasses and sender is not None:
        if not apps.models_ready:
            with _bridge_lock:
                _pending.append((event, sender))
        else:
            senders += model_subclasses(sender)
    for each in senders:
        route.connect(each)


def connect_pending_bridges() -> None:
    """Bridge subclasses of senders connected before the models were ready."""
    with _bridge_lock:
        pending = list(_pending)
        _pending.clear()
    for event, sender in pending:
        _bridge(event, sender, subclasses=True)


_SAVE_EVENTS: frozenset[type[ModelEvent[Any]]] = frozenset({PreSave, PostSave})


def check_model_receiver(
    event: type[ModelEvent[Any]],
    receiver: Callable[..., Any],
    *,
    sender: object,
    when: Callable[[Any], bool] | None,
) -> type[Model] | None:
    """Refuse what the typed model signals cannot take; return the model.

    Checked before anything is connected, so a refused ``receiver()`` leaves
    the signals as they were.
    """
    if event not in _ROUTES:
        raise TypeError(
            f"receiver(): {event!r} is not a lifecycle payload; use one of "
            f"{', '.join(e.__name__ for e in _ROUTES)}"
        )
    model: type[Model] | None = None
    if sender is not None:
        if not (isinstance(sender, type) and issubclass(sender, Model)):
            raise TypeError(
                f"receiver({event.__name__}): sender must be a model class or "
                f"None, got {sender!r}"
            )
        model = sender
    condition = _condition(when)
    if condition is None:
        return model
    # There changed() would never match and ~created() always: refuse it.
    if condition.needs_save and event not in _SAVE_EVENTS:
        raise TypeError(
            f"receiver({event.__name__}, when={condition!r}): changed() and "
            f"created() read a save's changes; {event.__name__} payloads have "
            f"none (receiver {describe_callable(receiver)[0]})"
        )
    if condition.fields and model is None:
        raise TypeError(
            f"receiver({event.__name__}, when={condition!r}): conditions on "
            "fields need sender=<model class>"
        )
    return model


def _condition(when: Callable[[Any], bool] | None) -> Condition[Any] | None:
    return when if isinstance(when, Condition) else None


class _ModelEvents:
    """The lifecycle payload classes, as ``receiver()`` takes them."""

    def signal_for(self, event: type[Any]) -> TypedSignal[Any]:
        if event not in _ROUTES:
            raise TypeError(
                f"receiver(): {event!r} is not a lifecycle payload; use one of "
                f"{', '.join(e.__name__ for e in _ROUTES)}"
            )
        return _ROUTES[event].typed

    def check(
        self,
        event: type[Any],
        receiver: Callable[..., Any],
        *,
        sender: object,
        when: Callable[[Any], bool] | None,
    ) -> None:
        check_model_receiver(event, receiver, sender=sender, when=when)


register_event_family(ModelEvent, _ModelEvents())

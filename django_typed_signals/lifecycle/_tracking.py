"""Change tracking: a baseline of chosen fields, taken where Django loads rows.

Costs are paid only by tracked models and only for tracked fields:

* ``from_db`` (every row a queryset loads) stores one dict in the instance
  ``__dict__``: immutable values as they are, mutable ones (JSON lists and
  dicts) frozen with ``marshal``, far cheaper than ``deepcopy``;
* nothing in ``__init__``, no descriptors, no ``__setattr__``: attribute reads
  and writes stay at plain speed;
* changes are computed when a signal is sent, so ``on_commit`` receivers
  still see them; ``save_base`` moves the baseline forward after each save,
  even when the model signals are muted.

An instance that never came from the database (``Order()``) has no baseline
until its first save.
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import copy
import datetime
import decimal
import marshal
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field, Model

from ._payloads import NO_CHANGES, FieldChange

__all__ = ["changes", "track_changes", "tracked_fields"]

# Instance attribute holding {attname: frozen value}; a class attribute holds
# {attname: field name} for the tracked fields (inherited by subclasses).
BASELINE = "_typed_signals_baseline"
TRACKED = "_typed_signals_tracked"

_IMMUTABLE: frozenset[type] = frozenset(
    {
        str,
        int,
        float,
        bool,
        type(None),
        bytes,
        decimal.Decimal,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timedelta,
        uuid.UUID,
        frozenset,
    }
)

_install_lock = threading.Lock()


class _Frozen:
    """A mutable value kept as bytes (or a deep copy when marshal can't)."""

    __slots__ = ("data", "marshalled")

    def __init__(self, value: Any) -> None:
        try:
            self.data: object = marshal.dumps(value)
            self.marshalled = True
        except ValueError:  # objects marshal does not know
            self.data = copy.deepcopy(value)
            self.marshalled = False

    def thaw(self) -> object:
        if self.marshalled:
            return marshal.loads(cast(bytes, self.data))
        return copy.deepcopy(self.data)


def _freeze(value: object) -> object:
    return value if type(value) in _IMMUTABLE else _Frozen(value)


def _thaw(value: object) -> object:
    return value.thaw() if type(value) is _Frozen else value


def tracked_fields(model: type[Model]) -> Mapping[str, str]:
    """``{attname: field name}`` of the fields tracked on ``model``."""
    return cast("Mapping[str, str]", getattr(model, TRACKED, None) or {})


def _resolve(model: type[Model], names: Iterable[str]) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            known = sorted(
                f.name for f in model._meta.concrete_fields if isinstance(f, Field)
            )
            raise FieldDoesNotExist(
                f"{model._meta.label} has no field {name!r} to track; "
                f"fields: {', '.join(known)}"
            ) from None
        if not isinstance(field, Field) or field.many_to_many or not field.concrete:
            raise ValueError(
                f"{model._meta.label}.{name} cannot be tracked: only concrete "
                "fields are (many-to-many changes arrive as M2MChanged)"
            )
        resolved[field.attname] = field.name
    return resolved


def track_changes(model: type[Model], *fields: str) -> None:
    """Track ``fields`` of ``model`` (all concrete fields if none are named).

    Receivers with ``changed(...)`` conditions do this for the fields they
    name; call it yourself to read ``payload.changes`` of other fields.
    """
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"track_changes() takes a model class, got {model!r}")
    names = fields or [f.name for f in model._meta.concrete_fields if not f.primary_key]
    wanted = _resolve(model, names)
    with _install_lock:
        current = dict(tracked_fields(model))
        if wanted.keys() <= current.keys() and TRACKED in vars(model):
            return
        current.update(wanted)
        setattr(model, TRACKED, current)
        _install(model)


def _install(model: type[Model]) -> None:
    """Wrap ``from_db``, ``refresh_from_db`` and ``save_base`` of ``model`` once.

    Subclasses (proxies, child models) inherit the wrappers, which read the
    tracked fields from the class they are called on.
    """
    if getattr(model, "_typed_signals_installed", False):
        return
    original_from_db = model.from_db.__func__  # type: ignore[attr-defined]
    original_refresh = model.refresh_from_db
    original_save_base = model.save_base

    def from_db(
        cls: type[Model],
        /,
        db: str,
        field_names: Sequence[str],
        values: Sequence[object],
        **kwargs: Any,  # Django 6.1 adds fetch_mode=; pass on what comes
    ) -> Model:
        instance = original_from_db(cls, db, field_names, values, **kwargs)
        loaded = instance.__dict__
        loaded[BASELINE] = {
            attname: _freeze(loaded[attname])
            for attname in getattr(cls, TRACKED)
            if attname in loaded
        }
        return cast(Model, instance)

    def refresh_from_db(
        self: Model,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        fields = list(fields) if fields is not None else None
        original_refresh(self, using=using, fields=fields, **kwargs)
        reset_baseline(self, fields)

    def save_base(
        self: Model,
        raw: bool = False,
        force_insert: Any = False,
        force_update: bool = False,
        using: str | None = None,
        update_fields: Iterable[str] | None = None,
    ) -> None:
        original_save_base(
            self,
            raw=raw,
            force_insert=force_insert,
            force_update=force_update,
            using=using,
            update_fields=update_fields,
        )
        # After post_save went out: the saved values are the new baseline.
        reset_baseline(self, update_fields)

    replacements: dict[str, object] = {
        "from_db": classmethod(from_db),
        "refresh_from_db": refresh_from_db,
        "save_base": save_base,
        "_typed_signals_installed": True,
    }
    for attr, value in replacements.items():
        setattr(model, attr, value)


def reset_baseline(instance: Model, fields: Iterable[str] | None = None) -> None:
    """Take the current values as the new baseline (all or some fields)."""
    tracked = tracked_fields(type(instance))
    if not tracked:
        return
    current = vars(instance)
    baseline: dict[str, object] = current.setdefault(BASELINE, {})
    if fields is None:
        chosen: Iterable[str] = tracked
    else:
        by_name = {name: attname for attname, name in tracked.items()}
        chosen = [by_name.get(f, f) for f in fields]
    for attname in chosen:
        if attname in tracked and attname in current:
            baseline[attname] = _freeze(current[attname])


def changes(
    instance: Model, fields: Iterable[str] | None = None
) -> Mapping[str, FieldChange]:
    """Tracked fields of ``instance`` that differ from the baseline.

    Keys are field names. Deferred fields that were never loaded, and
    instances without a baseline (never loaded nor saved), report nothing.
    With ``fields`` (names, as in ``update_fields``) only those are compared.
    """
    current = vars(instance)
    baseline: dict[str, object] | None = current.get(BASELINE)
    if not baseline:
        return NO_CHANGES
    tracked = tracked_fields(type(instance))
    only = frozenset(fields) if fields is not None else None
    found: dict[str, FieldChange] = {}
    for attname, frozen in baseline.items():
        name = tracked.get(attname, attname)
        if (only is not None and name not in only and attname not in only) or (
            attname not in current
        ):
            continue
        old = _thaw(frozen)
        new = current[attname]
        if old != new:
            found[name] = FieldChange(old, new)
    return found

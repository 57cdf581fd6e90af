"""Change tracking: a baseline of chosen fields, taken where Django loads rows.

Costs are paid only by tracked models and only for tracked fields:

* ``from_db`` (every row a queryset loads) stores one tuple in the instance
  ``__dict__``, taken with one ``itemgetter`` call: values as they are, except
  in fields that may hold mutable ones (JSON lists and dicts), which are
  frozen with ``marshal``, far cheaper than ``deepcopy``;
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, cast

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Field, Model

from ._payloads import NO_CHANGES, FieldChange

__all__ = ["changes", "track_changes", "tracked_fields"]

# Instance attribute holding a tuple of (frozen) values, in the order of the
# plan's attnames. Class attributes, inherited by subclasses: TRACKED holds
# {attname: field name}, PLAN the _Plan built from it. Fields are only ever
# added at the end, so a baseline taken before is a prefix that still lines up.
BASELINE = "_typed_signals_baseline"
TRACKED = "_typed_signals_tracked"
PLAN = "_typed_signals_plan"

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

# Django's own fields (these exact classes, not subclasses: a CharField
# subclass may well return a list) whose values are always immutable.
_IMMUTABLE_FIELDS: frozenset[type[Field[Any, Any]]] = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.BigIntegerField,
        models.BooleanField,
        models.CharField,
        models.DateField,
        models.DateTimeField,
        models.DecimalField,
        models.DurationField,
        models.EmailField,
        models.FloatField,
        models.GenericIPAddressField,
        models.IntegerField,
        models.PositiveBigIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.SlugField,
        models.SmallIntegerField,
        models.TextField,
        models.TimeField,
        models.URLField,
        models.UUIDField,
    }
)

_install_lock = threading.Lock()


class _Missing:
    """The one ``NOT_LOADED`` marker: copies and unpickling keep its identity."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_LOADED"

    def __reduce__(self) -> str:
        return "NOT_LOADED"  # pickled as a reference to this module's global

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _Missing:
        return self


NOT_LOADED: Final = _Missing()
"""The baseline of a deferred field that was not loaded."""

_DEEP_COPY: Final = object()

# A frozen value is a tuple: (marshal bytes,) or (deep copy, _DEEP_COPY). A
# tuple is never kept as it is (it is not in _IMMUTABLE), so this is unambiguous.


def _freeze(value: Any) -> object:
    if type(value) in _IMMUTABLE:
        return value
    if hasattr(value, "resolve_expression"):  # F() + 1 saved: value unknown
        return NOT_LOADED
    try:
        return (marshal.dumps(value),)
    except ValueError:  # objects marshal does not know
        return (copy.deepcopy(value), _DEEP_COPY)


def _thaw(value: object) -> object:
    if type(value) is not tuple:
        return value
    frozen: tuple[Any, ...] = value
    if len(frozen) == 1:
        return marshal.loads(frozen[0])
    return copy.deepcopy(frozen[0])


def _may_be_mutable(field: Field[Any, Any]) -> bool:
    if isinstance(field, models.ForeignKey):  # its attname holds the target's pk
        return _may_be_mutable(field.target_field)
    return type(field) not in _IMMUTABLE_FIELDS


class _Plan:
    """How to take the baseline of one model's tracked fields, fast."""

    __slots__ = ("attnames", "fields", "freeze_at", "snapshot")

    def __init__(self, model: type[Model], tracked: Mapping[str, str]) -> None:
        self.attnames = tuple(tracked)
        fields = [model._meta.get_field(name) for name in tracked.values()]
        self.fields: tuple[Any, ...] = tuple(fields)
        # Positions whose value may be mutable: checked (and frozen) per row.
        self.freeze_at = tuple(
            i
            for i, field in enumerate(fields)
            if isinstance(field, Field) and _may_be_mutable(field)
        )
        self.snapshot: Callable[[dict[str, Any]], tuple[Any, ...]]
        if len(self.attnames) == 1:
            get_one = itemgetter(self.attnames[0])
            self.snapshot = lambda loaded: (get_one(loaded),)
        else:  # one C call: KeyError when a field is deferred
            self.snapshot = itemgetter(*self.attnames)

    def take(self, loaded: dict[str, Any]) -> tuple[object, ...]:
        """The baseline of an instance ``__dict__`` (``from_db`` inlines this)."""
        try:
            values = self.snapshot(loaded)
        except KeyError:
            return self.take_partial(loaded)
        return self.freeze(values) if self.freeze_at else values

    def take_partial(self, loaded: dict[str, Any]) -> tuple[object, ...]:
        """The baseline when some fields are deferred: nothing to compare them with."""
        return tuple(
            _freeze(loaded[attname]) if attname in loaded else NOT_LOADED
            for attname in self.attnames
        )

    def freeze(self, values: tuple[object, ...]) -> tuple[object, ...]:
        """``values`` with the ones at ``freeze_at`` frozen if mutable."""
        frozen = list(values)
        for i in self.freeze_at:
            frozen[i] = _freeze(frozen[i])
        return tuple(frozen)


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
        setattr(model, PLAN, _Plan(model, current))
        _install(model)
        # Subclasses (proxies, child models) whose own plan was built before
        # inherit the new fields too, whatever order apps track them in.
        for sub in _all_subclasses(model):
            if TRACKED in vars(sub):
                own = dict(vars(sub)[TRACKED])
                added = {a: n for a, n in current.items() if a not in own}
                if added:
                    own.update(added)  # appended: old baselines stay a prefix
                    setattr(sub, TRACKED, own)
                    setattr(sub, PLAN, _Plan(sub, own))


def _all_subclasses(model: type[Model]) -> list[type[Model]]:
    found: list[type[Model]] = []
    todo = list(model.__subclasses__())
    while todo:
        sub = todo.pop()
        if sub not in found:
            found.append(sub)
            todo.extend(sub.__subclasses__())
    return found


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
        # _Plan.take(), inlined: this runs for every row a queryset loads.
        plan: _Plan = getattr(cls, PLAN)
        try:
            baseline = plan.snapshot(loaded)
        except KeyError:
            baseline = plan.take_partial(loaded)
        else:
            if plan.freeze_at:
                baseline = plan.freeze(baseline)
        loaded[BASELINE] = baseline
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
        if self._state.adding:  # an insert (a copy with pk=None too): no "old"
            vars(self).pop(BASELINE, None)
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
    model = type(instance)
    plan: _Plan | None = getattr(model, PLAN, None)
    if plan is None:
        return
    current = vars(instance)
    if fields is None:
        baseline = plan.take(current)
        for value in baseline:
            if type(value) not in _IMMUTABLE and hasattr(value, "resolve_expression"):
                break  # an expression was saved: that field's value is unknown
        else:
            if NOT_LOADED not in baseline:
                current[BASELINE] = baseline
                return
        chosen: frozenset[str] | None = None
    else:
        by_name = {name: attname for attname, name in tracked_fields(model).items()}
        chosen = frozenset(by_name.get(f, f) for f in fields)
    # A field not saved (or not loaded) keeps the baseline it had.
    old: tuple[object, ...] = current.get(BASELINE) or ()
    current[BASELINE] = tuple(
        _freeze(current[attname])
        if (chosen is None or attname in chosen) and attname in current
        else (old[i] if i < len(old) else NOT_LOADED)
        for i, attname in enumerate(plan.attnames)
    )


def changes(
    instance: Model, fields: Iterable[str] | None = None
) -> Mapping[str, FieldChange]:
    """Tracked fields of ``instance`` that differ from the baseline.

    Keys are field names. Deferred fields that were never loaded, and
    instances without a baseline (never loaded nor saved), report nothing.
    With ``fields`` (names, as in ``update_fields``) only those are compared.
    """
    current = vars(instance)
    baseline: tuple[object, ...] | None = current.get(BASELINE)
    if not baseline:
        return NO_CHANGES
    model = type(instance)
    tracked = tracked_fields(model)
    plan: _Plan = getattr(model, PLAN)
    attnames = plan.attnames
    only = frozenset(fields) if fields is not None else None
    found: dict[str, FieldChange] = {}
    # A baseline taken before more fields were tracked is shorter: a prefix.
    for attname, field, frozen in zip(attnames, plan.fields, baseline, strict=False):
        name = tracked[attname]
        if (
            frozen is NOT_LOADED
            or attname not in current
            or (only is not None and name not in only and attname not in only)
        ):
            continue
        old = _thaw(frozen)
        new = current[attname]
        if old != new and not _same_after_conversion(field, old, new):
            found[name] = FieldChange(old, new)
    return found


# Fields whose to_python() is cheap and turns text into the loaded type, so
# "0.00" on a DecimalField or a UUID's text on a foreign key is no change.
_CONVERTIBLE: tuple[type[Field[Any, Any]], ...] = (
    models.UUIDField,
    models.DecimalField,
    models.IntegerField,
    models.AutoField,
    models.DateField,  # DateTimeField too
    models.FloatField,
    models.BooleanField,
)


def _same_after_conversion(field: Any, old: object, new: object) -> bool:
    """Whether ``new``, of another type than ``old``, is ``old`` in other words."""
    if old is None or new is None or type(old) is type(new):
        return False
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if not isinstance(field, _CONVERTIBLE):
        return False
    try:
        return bool(field.to_python(new) == old)
    except (ValueError, TypeError, ValidationError):
        return False


def saved_changes(
    instance: Model, fields: Iterable[str] | None = None
) -> Mapping[str, FieldChange]:
    """``changes()`` of a save that just wrote, then the baseline moves on.

    Called as ``post_save`` goes out, so receivers that save the instance
    again see only the changes of their own save.
    """
    found = changes(instance, fields)
    if BASELINE in vars(instance):
        reset_baseline(instance, fields)
    return found

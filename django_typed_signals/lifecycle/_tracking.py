"""Change tracking: a baseline of chosen fields, taken where Django loads rows.

Costs are paid only by tracked models and only for tracked fields, and what
``from_db`` (every row a queryset loads) keeps per row allocates as little as
can be, since every object the cyclic GC tracks makes its collections run more
often:

* one tracked field: its value itself, no container; several: one tuple, taken
  with one ``itemgetter`` call on the instance ``__dict__``;
* fields that may hold mutable values (JSON lists and dicts) are frozen
  together with one ``marshal.dumps``, far cheaper than ``deepcopy``: bytes,
  which the GC does not track;
* nothing in ``__init__``, no ``__setattr__``, no descriptor on the read path:
  attribute reads and writes stay at plain speed; a deferred field that is
  loaded later (on access, by ``refresh_from_db()``, or for all peers at once
  with Django 6.1's ``FETCH_PEERS``) gets its baseline as it loads;
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
import inspect
import marshal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Field, Model
from django.db.models.query_utils import DeferredAttribute

from ._baseline import (
    BASELINE,
    FROZEN,
    NOT_LOADED,
    PLAN,
    SAVED,
    TRACKED,
    Plan,
    baseline_entries,
    thaw,
)
from ._payloads import NO_CHANGES, FieldChange

__all__ = ["changes", "track_changes", "tracked_fields"]

_install_lock = threading.Lock()


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
        setattr(model, PLAN, Plan(model, current))
        _install(model)
        _hook_deferred_loads(model, current)
        # Subclasses (proxies, child models) whose own plan was built before
        # inherit the new fields too, whatever order apps track them in.
        for sub in model_subclasses(model):
            if TRACKED in vars(sub):
                own = dict(vars(sub)[TRACKED])
                added = {a: n for a, n in current.items() if a not in own}
                if added:
                    own.update(added)  # appended: old baselines stay a prefix
                    setattr(sub, TRACKED, own)
                    setattr(sub, PLAN, Plan(sub, own))


def model_subclasses(model: type[Model]) -> list[type[Model]]:
    """Every subclass of ``model`` (proxies, children), registered yet or not."""
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
    # Django 6.1 passes fetch_mode= to a from_db() that takes it; an older
    # override that does not is called without it.
    parameters = inspect.signature(original_from_db).parameters
    pass_fetch_mode = "fetch_mode" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )

    def from_db(
        cls: Any,
        db: str,
        field_names: Sequence[str],
        values: Sequence[object],
        *,
        fetch_mode: object = None,
    ) -> Any:  # the instance; Any keeps this hot path free of cast() calls
        if fetch_mode is None or not pass_fetch_mode:
            instance = original_from_db(cls, db, field_names, values)
        else:
            instance = original_from_db(
                cls, db, field_names, values, fetch_mode=fetch_mode
            )
        loaded = instance.__dict__
        # Plan.take(), inlined and without the expression checks (values
        # from the database are none): this runs for every row loaded.
        plan: Plan = cls._typed_signals_plan
        try:
            baseline = plan.get(loaded)
        except KeyError:  # a tracked field is deferred
            plan.update(loaded, None)
            return instance
        if plan.single and type(baseline) is tuple:
            baseline = (baseline,)
        loaded[BASELINE] = baseline
        get_mutable = plan.get_mutable
        if get_mutable is not None:
            mutable = get_mutable(loaded)
            if plan.mutable_single:
                mutable = (mutable,)
            try:
                loaded[FROZEN] = marshal.dumps(mutable)
            except ValueError:
                loaded[FROZEN] = copy.deepcopy(mutable)
        return instance

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
        loaded = vars(self)
        if self._state.adding:  # an insert (a copy with pk=None too): no "old"
            loaded.pop(BASELINE, None)
            loaded.pop(FROZEN, None)
        loaded.pop(SAVED, None)
        original_save_base(
            self,
            raw=raw,
            force_insert=force_insert,
            force_update=force_update,
            using=using,
            update_fields=update_fields,
        )
        # The saved values are the new baseline, unless saved_changes() moved
        # it already as post_save went out.
        if loaded.pop(SAVED, None) is None:
            reset_baseline(self, update_fields)

    replacements: dict[str, object] = {
        "from_db": classmethod(from_db),
        "refresh_from_db": refresh_from_db,
        "save_base": save_base,
        "_typed_signals_installed": True,
    }
    for attr, value in replacements.items():
        setattr(model, attr, value)


def _hook_deferred_loads(model: type[Model], tracked: Iterable[str]) -> None:
    """Give fields that Django 6.1 loads for many instances at once a baseline.

    ``FETCH_PEERS`` sets a deferred field on every peer instance without
    ``refresh_from_db()``; the field's descriptor on ``model`` is replaced by
    one whose ``fetch_many()`` takes their baselines after. Its ``__get__``
    is Django's, so reads cost what they did.
    """
    if not hasattr(DeferredAttribute, "fetch_many"):
        return  # Django 5.2: deferred loads go through refresh_from_db()
    for attname in tracked:
        descriptor = next(
            (vars(k)[attname] for k in model.__mro__ if attname in vars(k)), None
        )
        if not isinstance(descriptor, DeferredAttribute) or isinstance(
            descriptor, _BaselineOnFetch
        ):
            continue
        hooked = copy.copy(descriptor)
        hooked.__class__ = _hooked_class(type(descriptor))
        setattr(model, attname, hooked)


class _BaselineOnFetch:
    """Marks the descriptors ``_hook_deferred_loads`` installed."""

    __slots__ = ()


_hooked: dict[type[DeferredAttribute], type[DeferredAttribute]] = {}


def _hooked_class(base: type[DeferredAttribute]) -> type[DeferredAttribute]:
    """``base`` with a ``fetch_many()`` that takes the fetched baselines after."""
    if base in _hooked:
        return _hooked[base]
    original_fetch_many = cast(
        "Callable[[DeferredAttribute, list[Model]], None]", base.fetch_many
    )

    def fetch_many(self: DeferredAttribute, instances: list[Model]) -> None:
        attname: str = self.field.attname
        loading = [i for i in instances if attname not in vars(i)]
        original_fetch_many(self, instances)
        for instance in loading:
            loaded = vars(instance)
            plan: Plan | None = getattr(type(instance), PLAN, None)
            if attname in loaded and plan is not None and attname in plan.position:
                plan.update(loaded, (plan.position[attname],))

    hooked = type(base.__name__, (base, _BaselineOnFetch), {"fetch_many": fetch_many})
    _hooked[base] = hooked
    return hooked


def reset_baseline(instance: Model, fields: Iterable[str] | None = None) -> None:
    """Take the current values as the new baseline (all or some fields)."""
    plan: Plan | None = getattr(type(instance), PLAN, None)
    if plan is None:
        return
    loaded = vars(instance)
    if fields is None:
        if not plan.take(loaded):  # deferred fields or expressions
            plan.update(loaded, None)
        return
    position = plan.position
    chosen = {position[f] for f in fields if f in position}
    if len(chosen) == len(plan.attnames) and plan.take(loaded):
        return  # every tracked field was saved: as fast as a full save
    if chosen:  # a field not saved (or not loaded) keeps the baseline it had
        plan.update(loaded, sorted(chosen))


def changes(
    instance: Model, fields: Iterable[str] | None = None
) -> Mapping[str, FieldChange]:
    """Tracked fields of ``instance`` that differ from the baseline.

    Keys are field names. Deferred fields that were never loaded, and
    instances without a baseline (never loaded nor saved), report nothing.
    With ``fields`` (names, as in ``update_fields``) only those are compared.
    """
    current = vars(instance)
    if BASELINE not in current:
        return NO_CHANGES
    model = type(instance)
    tracked = tracked_fields(model)
    plan: Plan = getattr(model, PLAN)
    mutable_at = plan.mutable_at
    old_mutable: tuple[object, ...] | None = None
    only = frozenset(fields) if fields is not None else None
    found: dict[str, FieldChange] = {}
    # A baseline taken before more fields were tracked is shorter: a prefix.
    for i, (attname, field, old) in enumerate(
        zip(plan.attnames, plan.fields, baseline_entries(current), strict=False)
    ):
        name = tracked[attname]
        if (
            old is NOT_LOADED
            or attname not in current
            or (only is not None and name not in only and attname not in only)
        ):
            continue
        if i in mutable_at:
            if old_mutable is None:
                old_mutable = thaw(current.get(FROZEN))
            j = mutable_at[i]
            if j >= len(old_mutable):
                continue
            old = old_mutable[j]
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
    again see only the changes of their own save; ``save_base`` then leaves
    the baseline as it is.
    """
    found = changes(instance, fields)
    loaded = vars(instance)
    if BASELINE in loaded:
        reset_baseline(instance, fields)
        loaded[SAVED] = True
    return found

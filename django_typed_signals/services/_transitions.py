"""Allowed state changes of one model field, checked on every save.

.. code-block:: python

    ARTICLE_STATUS = Transitions(
        Article,
        "status",
        {"draft": {"review"}, "review": {"draft", "published"}},
    ).guard()

``guard()`` connects a typed ``PreSave`` receiver, so ``save()`` from any
caller (views, the admin, shells, services) is checked; an invalid change
raises ``InvalidTransition`` before the row is written. The old value comes
from the lifecycle layer's tracking baseline, so the check costs no query,
except for rows whose baseline is unknown (loaded before the field was
tracked, loaded with the field deferred, or built as ``Article(pk=...)``):
those are read with one query.

Not covered, because Django sends no ``pre_save`` for them:

* ``QuerySet.update()``: nothing sees the instances; check what you update.
* ``bulk_create()`` / ``bulk_update()``: call ``check_all(instances)`` first.
* raw saves (``loaddata``): fixtures hold states, not transitions.
* saves while the ``"model"`` group or ``lifecycle.pre_save`` is muted.

A refused ``save()`` raises out of the view; in the admin that is an error
page (the change view's transaction rolls back). Call ``validate(self)`` in
the model's ``clean()`` for a form error instead. ``unguard()`` (tests) and
``forget()`` (also leaves the system check's registry) undo ``guard()``.
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import enum
import threading
from collections.abc import Hashable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar, cast

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Field, Model

from ..lifecycle import PreSave, changes, track_changes
from ..lifecycle._baseline import BASELINE, NOT_LOADED, PLAN, Plan, baseline_entries
from ..lifecycle._wiring import pre_save

__all__ = [
    "GUARD_PRIORITY",
    "InvalidTransition",
    "Transitions",
    "all_transitions",
]

M = TypeVar("M", bound=Model)

GUARD_PRIORITY: Final = -1000
"""Guards run before other typed ``PreSave`` receivers (lower runs first), so
none of them acts on a save that is about to be refused."""

_registry_lock = threading.Lock()
_registry: list[Transitions[Any]] = []


def all_transitions() -> list[Transitions[Any]]:
    """Every ``Transitions`` created in the process and not forgotten."""
    with _registry_lock:
        return list(_registry)


def _sorted(states: Iterable[Any]) -> list[Any]:
    """Sorted by value; by ``repr`` when the values do not compare (mixed types)."""
    listed: list[Any] = list(states)
    try:
        return sorted(listed)
    except TypeError:
        return sorted(listed, key=repr)


def _plain(state: Any) -> Any:
    """``Status.DRAFT`` as ``"draft"``: choices members read as their values
    in messages and lists (they compare and hash as them)."""
    return state.value if isinstance(state, enum.Enum) else state


class InvalidTransition(ValidationError):
    """A change of a guarded field that its ``Transitions`` does not allow.

    A ``ValidationError``, so forms and DRF serializers that call the check
    (or ``allowed()``-driven code) show it like any other validation error.
    ``old`` is ``None`` and ``created`` true when a new row would start in
    a state that is not an initial one.
    """

    def __init__(
        self,
        *,
        model: str,
        field: str,
        old: object,
        new: object,
        allowed: list[Any],
        created: bool = False,
    ) -> None:
        old, new = _plain(old), _plain(new)
        self.model = model
        self.field = field
        self.old = old
        self.new = new
        self.allowed = allowed
        self.created = created
        listed = ", ".join(repr(s) for s in allowed) or "none"
        if created:
            message = (
                f"{model}.{field}: a new row cannot start as {new!r}; "
                f"initial states: {listed}"
            )
        else:
            message = (
                f"{model}.{field}: cannot change from {old!r} to {new!r}; "
                f"allowed from {old!r}: {listed}"
            )
        # No params: state values may hold "%", which ValidationError would
        # try to format.
        super().__init__(message, code="invalid_transition")

    def __str__(self) -> str:
        return str(self.messages[0])


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


_UNKNOWN: Final = _Unknown()  # no baseline: the old value must be read
_NO_ROW: Final = _Unknown()  # the database has no row: a creation


class Transitions(Generic[M]):
    """The states ``field`` of ``model`` may move between.

    :param transitions: ``{state: states it may change to}``; a state that
        is not a key has no way out (terminal). Staying in a state is
        always allowed.
    :param initial: the states a new row may start in. Default: the field's
        default if it has one, else every state the map names.
    """

    def __init__(
        self,
        model: type[M],
        field: str,
        transitions: Mapping[Any, Iterable[Any]],
        *,
        initial: Iterable[Any] | None = None,
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, Model)):
            raise TypeError(f"Transitions() takes a model class, got {model!r}")
        if not isinstance(field, str) or not field:
            raise TypeError(
                f"Transitions({model.__name__}): field must be a name, got {field!r}"
            )
        where = f"Transitions({model._meta.label}, {field!r})"
        if not isinstance(transitions, Mapping):
            raise TypeError(
                f"{where}: transitions must be a mapping of state -> iterable "
                f"of states, got {type(transitions).__name__}: {transitions!r:.200}"
            )
        normalized: dict[Any, frozenset[Any]] = {}
        for state, targets in transitions.items():
            normalized[_state(where, state)] = _states(
                where, f"the targets of {state!r}", targets
            )
        self.model: type[M] = model
        self.field_name = field
        self.transitions: Mapping[Any, frozenset[Any]] = MappingProxyType(normalized)
        self._initial: frozenset[Any] | None = (
            None if initial is None else _states(where, "initial", initial)
        )
        self._lock = threading.Lock()
        self._guarded = False
        self._dispatch_uid = f"django_typed_signals.services.transitions:{id(self)}"
        with _registry_lock:
            _registry.append(self)

    def __repr__(self) -> str:
        return f"<Transitions {self.model._meta.label}.{self.field_name}>"

    # -- the field and its states -------------------------------------------

    @property
    def field(self) -> Field[Any, Any]:
        """The model field; ``FieldDoesNotExist`` (or ``TypeError``) names the
        problem that the system check reports as E402."""
        label = self.model._meta.label
        try:
            found = self.model._meta.get_field(self.field_name)
        except FieldDoesNotExist:
            raise FieldDoesNotExist(
                f"{self!r}: {label} has no field {self.field_name!r}"
            ) from None
        if not isinstance(found, Field) or not found.concrete or found.many_to_many:
            raise TypeError(
                f"{self!r}: {label}.{self.field_name} is not a concrete field "
                "(transitions need a column)"
            )
        return found

    @property
    def states(self) -> frozenset[Any]:
        """Every state the map names, as a key or a target."""
        named = set(self.transitions)
        for targets in self.transitions.values():
            named |= targets
        return frozenset(named)

    @property
    def initial(self) -> frozenset[Any]:
        """The states a new row may start in (see the class docstring)."""
        if self._initial is not None:
            return self._initial
        field = self.field
        if field.has_default():
            return frozenset({_plain(field.get_default())})
        return self.states

    # -- checks -------------------------------------------------------------

    def check(self, old: object, new: object) -> None:
        """Raise ``InvalidTransition`` unless ``old`` may change to ``new``."""
        if old == new:
            return
        allowed = self.transitions.get(old, frozenset())
        if new not in allowed:
            raise InvalidTransition(
                model=self.model._meta.label,
                field=self.field_name,
                old=old,
                new=new,
                allowed=_sorted(allowed),
            )

    def check_initial(self, new: object) -> None:
        """Raise ``InvalidTransition`` unless a new row may start as ``new``."""
        initial = self.initial
        if new not in initial:
            raise InvalidTransition(
                model=self.model._meta.label,
                field=self.field_name,
                old=None,
                new=new,
                allowed=_sorted(initial),
                created=True,
            )

    def allowed(self, instance: M) -> list[Any]:
        """The states ``instance`` may move to next, sorted (for forms and APIs).

        For an unsaved instance, the initial states. The current state is not
        listed unless the map names it; staying there is always allowed.
        """
        self._own(instance, "allowed")
        if instance._state.adding:
            return _sorted(self.initial)
        current = getattr(instance, self.field.attname)
        return _sorted(self.transitions.get(current, frozenset()))

    def check_all(
        self, instances: Iterable[M], fields: Iterable[str] | None = None
    ) -> None:
        """Check instances about to be written without ``save()``.

        Call it before ``bulk_update(instances, fields)`` (pass the same
        ``fields``) or ``bulk_create(instances)``: each instance's change of
        the field since it was loaded or saved is checked, new instances
        against the initial states; the first bad one raises. Rows whose
        baseline is unknown are read in one query. ``QuerySet.update()`` has
        no instances and is not covered.
        """
        field = self.field
        if fields is not None:
            wanted = set(fields)
            if field.name not in wanted and field.attname not in wanted:
                return
        listed = list(instances)
        for instance in listed:
            self._own(instance, "check_all")
        unknown: dict[str, list[M]] = {}
        for instance in listed:
            new = getattr(instance, field.attname)
            if self._inserts(instance):
                self.check_initial(new)
                continue
            old = self._tracked_old(instance)
            if old is _UNKNOWN:
                db = instance._state.db or DEFAULT_DB_ALIAS
                unknown.setdefault(db, []).append(instance)
            else:
                self.check(old, new)
        for using, pending in unknown.items():
            rows = cast(
                "Iterable[tuple[Any, Any]]",
                self.model._base_manager.using(using)
                .filter(pk__in=[i.pk for i in pending])
                .values_list("pk", field.attname),
            )
            stored = dict(rows)
            for instance in pending:
                new = getattr(instance, field.attname)
                if instance.pk in stored:  # else bulk_update() writes nothing
                    self.check(stored[instance.pk], new)

    # -- the guard ----------------------------------------------------------

    def guard(self) -> Transitions[M]:
        """Check every ``save()`` of the model (and its subclasses); chainable.

        Idempotent. Tracks the field so the old value is known without a
        query. ``unguard()`` undoes it (for tests).
        """
        with self._lock:
            if self._guarded:
                return self
            track_changes(self.model, self.field_name)
            pre_save.connect(
                self._on_pre_save,
                sender=self.model,
                weak=False,
                dispatch_uid=self._dispatch_uid,
                priority=GUARD_PRIORITY,
                match_subclasses=True,
            )
            self._guarded = True
        return self

    def unguard(self) -> Transitions[M]:
        """Stop checking saves (the field stays tracked); chainable."""
        with self._lock:
            if self._guarded:
                pre_save.disconnect(sender=self.model, dispatch_uid=self._dispatch_uid)
                self._guarded = False
        return self

    @property
    def guarded(self) -> bool:
        return self._guarded

    def forget(self) -> None:
        """Unguard and drop from the registry the system check reads (tests)."""
        self.unguard()
        with _registry_lock:
            if self in _registry:
                _registry.remove(self)

    def validate(self, instance: M, *, using: str | None = None) -> None:
        """Check ``instance``'s pending change now, as its ``save()`` would.

        For ``Model.clean()``: the admin and model forms then show the error
        on the form, where a refused ``save()`` is an error page.
        """
        self._own(instance, "validate")
        self._check_save(instance, using or instance._state.db or DEFAULT_DB_ALIAS)

    def _own(self, instance: object, method: str) -> None:
        """Refuse an instance of another model, naming ``method``."""
        if not isinstance(instance, self.model):
            raise TypeError(
                f"{self!r}.{method}(): got a {type(instance).__name__} "
                f"instance: {instance!r}"
            )

    def _on_pre_save(
        self, sender: type[M], *, payload: PreSave[M], **kwargs: object
    ) -> None:
        if payload.raw:
            return
        field = self.field
        updated = payload.update_fields
        if (
            updated is not None
            and field.name not in updated
            and field.attname not in updated
        ):
            return  # the field is not written
        self._check_save(payload.instance, payload.using)

    def _check_save(self, instance: Model, using: str) -> None:
        new = getattr(instance, self.field.attname)
        if self._inserts(instance):
            self.check_initial(new)
            return
        old = self._tracked_old(instance)
        if old is _UNKNOWN:
            old = self._stored(instance, using)
        if old is _NO_ROW:
            self.check_initial(new)
        else:
            self.check(old, new)

    # -- where the old value comes from -------------------------------------

    def _inserts(self, instance: Model) -> bool:
        """Whether saving ``instance`` surely inserts, as Django decides it:
        adding, and no primary key value or one its field generates."""
        if not instance._state.adding:
            return False
        pk_field = instance._meta.pk
        return instance.pk is None or (
            pk_field is not None
            and (pk_field.has_default() or pk_field.has_db_default())
        )

    def _tracked_old(self, instance: Model) -> object:
        """The field's baseline value, or ``_UNKNOWN`` when it has none."""
        field = self.field
        loaded = vars(instance)
        plan: Plan | None = getattr(type(instance), PLAN, None)
        if plan is None or BASELINE not in loaded or field.attname not in loaded:
            return _UNKNOWN
        position = plan.position.get(field.attname)
        entries = baseline_entries(loaded)
        if (
            position is None
            or position >= len(entries)
            or entries[position] is NOT_LOADED
        ):
            return _UNKNOWN
        change = changes(instance, [field.name]).get(field.name)
        return change.old if change is not None else loaded[field.attname]

    def _stored(self, instance: Model, using: str) -> object:
        """The value in the database, or ``_NO_ROW``: one query."""
        rows = list(
            cast(
                "Iterable[object]",
                type(instance)
                ._base_manager.using(using)
                .filter(pk=instance.pk)
                .values_list(self.field.attname, flat=True)[:1],
            )
        )
        return rows[0] if rows else _NO_ROW


def _state(where: str, state: object) -> Any:
    if not isinstance(state, Hashable):
        raise TypeError(f"{where}: a state must be hashable, got {state!r}")
    return _plain(state)


def _states(where: str, what: str, states: object) -> frozenset[Any]:
    if isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
        raise TypeError(
            f"{where}: {what} must be an iterable of states (a set or list), "
            f"got {type(states).__name__}: {states!r:.200}"
        )
    listed: Iterable[object] = states
    return frozenset(_state(where, s) for s in listed)

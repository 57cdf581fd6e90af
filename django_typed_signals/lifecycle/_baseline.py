"""How a baseline is kept on an instance: the plan of a model's tracked
fields, the values stored per row, and how they are frozen and compared.

Kept apart from ``_tracking`` (which installs the hooks that take and move
baselines) so each stays small; see ``_tracking``'s docstring for the costs.
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

import copy
import datetime
import decimal
import marshal
import uuid
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any, Final, cast

from django.db import models
from django.db.models import Field, Model

# Instance attributes. BASELINE: the value of the one tracked field, or a
# tuple of them in the order of the plan's attnames (a value that is itself a
# tuple is always kept in a tuple, so the two cannot be confused). FROZEN: the
# values at the plan's mutable positions, as marshal bytes of a tuple (or a
# deep-copied tuple when marshal cannot take them); BASELINE then only says
# whether those fields were loaded. SAVED: set while post_save goes out, once
# the baseline moved for that save. Class attributes, inherited by
# subclasses: TRACKED holds {attname: field name}, PLAN the Plan built from
# it. Fields are only ever added at the end, so a baseline taken before is a
# prefix that still lines up.
BASELINE = "_typed_signals_baseline"
FROZEN = "_typed_signals_frozen"
SAVED = "_typed_signals_saved"
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


def is_expression(value: object) -> bool:
    """Whether ``value`` is an expression (``F("n") + 1``): its result is unknown."""
    return type(value) not in _IMMUTABLE and hasattr(value, "resolve_expression")


def freeze(values: tuple[Any, ...]) -> object:
    """A copy of ``values`` that later in-place edits of them cannot reach."""
    try:
        return marshal.dumps(values)
    except ValueError:  # objects marshal does not know
        return copy.deepcopy(values)


def thaw(frozen: object) -> tuple[object, ...]:
    """Fresh copies of the values ``freeze`` kept (``()`` for none)."""
    if type(frozen) is bytes:
        return cast("tuple[object, ...]", marshal.loads(frozen))
    if type(frozen) is tuple:
        return copy.deepcopy(cast("tuple[object, ...]", frozen))
    return ()


def baseline_entries(loaded: dict[str, Any]) -> tuple[object, ...]:
    """The ``BASELINE`` of an instance ``__dict__``: one entry per field, a prefix."""
    if BASELINE not in loaded:
        return ()
    baseline = loaded[BASELINE]
    if type(baseline) is tuple:
        return cast("tuple[object, ...]", baseline)
    return (baseline,)


def may_be_mutable(field: Field[Any, Any]) -> bool:
    if isinstance(field, models.ForeignKey):  # its attname holds the target's pk
        return may_be_mutable(field.target_field)
    return type(field) not in _IMMUTABLE_FIELDS


class Plan:
    """How to take the baseline of one model's tracked fields, fast."""

    __slots__ = (
        "attnames",
        "fields",
        "get",
        "get_mutable",
        "mutable_at",
        "mutable_single",
        "position",
        "single",
    )

    def __init__(self, model: type[Model], tracked: Mapping[str, str]) -> None:
        self.attnames = tuple(tracked)
        fields = [model._meta.get_field(name) for name in tracked.values()]
        self.fields: tuple[Any, ...] = tuple(fields)
        # attname or field name -> index in attnames.
        self.position: dict[str, int] = {}
        for i, (attname, name) in enumerate(tracked.items()):
            self.position[name] = self.position[attname] = i
        self.single = len(self.attnames) == 1
        # One C call: the value itself for one field, else a tuple; KeyError
        # when a field is deferred.
        self.get: Callable[[dict[str, Any]], Any] = itemgetter(*self.attnames)
        # Index in attnames -> index in the FROZEN tuple, for the fields whose
        # values may be mutable.
        self.mutable_at: dict[int, int] = {}
        for i, field in enumerate(fields):
            if not isinstance(field, Field) or may_be_mutable(field):
                self.mutable_at[i] = len(self.mutable_at)
        mutable = [self.attnames[i] for i in self.mutable_at]
        self.mutable_single = len(mutable) == 1
        self.get_mutable: Callable[[dict[str, Any]], Any] | None = (
            itemgetter(*mutable) if mutable else None
        )

    def take(self, loaded: dict[str, Any]) -> bool:
        """Take the whole baseline of ``loaded``; False if it cannot be done fast.

        ``from_db`` inlines this. It cannot when a tracked field is deferred or
        holds an expression: ``update()`` then keeps what it must.
        """
        try:
            baseline = self.get(loaded)
        except KeyError:
            return False
        if self.single:
            if is_expression(baseline):
                return False
            if type(baseline) is tuple:
                baseline = (baseline,)
        elif any(is_expression(value) for value in baseline):
            return False
        loaded[BASELINE] = baseline
        get_mutable = self.get_mutable
        if get_mutable is not None:
            values = get_mutable(loaded)
            loaded[FROZEN] = freeze((values,) if self.mutable_single else values)
        return True

    def update(self, loaded: dict[str, Any], positions: Iterable[int] | None) -> None:
        """Take the baseline of the fields at ``positions`` (None: all).

        A field that is not loaded (or holds an expression) keeps the
        baseline it had, or gets ``NOT_LOADED``.
        """
        old = baseline_entries(loaded)
        count = len(self.attnames)
        entries = [old[i] if i < len(old) else NOT_LOADED for i in range(count)]
        chosen = range(count) if positions is None else positions
        # The frozen values are thawed and frozen again only if one changes.
        refreeze = any(i in self.mutable_at for i in chosen)
        old_mutable = thaw(loaded.get(FROZEN)) if refreeze else ()
        mutable: list[object] = [
            old_mutable[j] if j < len(old_mutable) else None
            for j in range(len(self.mutable_at))
        ]
        for i in chosen:
            attname = self.attnames[i]
            if attname not in loaded:
                continue  # deferred: nothing to compare with
            value = loaded[attname]
            if is_expression(value):
                entries[i] = NOT_LOADED
                continue
            entries[i] = value
            j = self.mutable_at.get(i)
            if j is not None:
                mutable[j] = value
        if self.single and type(entries[0]) is not tuple:
            loaded[BASELINE] = entries[0]
        else:
            loaded[BASELINE] = tuple(entries)
        if refreeze:
            loaded[FROZEN] = freeze(tuple(mutable))

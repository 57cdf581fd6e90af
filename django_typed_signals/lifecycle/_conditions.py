"""Conditions that decide, before a receiver is called, whether it runs.

``changed("status", to="paid") & ~created()`` is a ``Condition``: a callable
on the payload that also knows which fields it needs tracked, so connecting a
receiver with it switches on tracking for exactly those fields.
"""

# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

if TYPE_CHECKING:
    from django.db.models import Model
    from typing_extensions import TypeVar as DefaultTypeVar

    from ._payloads import PostSave, PreSave

    # Bare ``Condition`` and ``Condition(lambda p: ..., "...")`` mean any payload.
    _P_contra = DefaultTypeVar("_P_contra", contravariant=True, default=Any)
else:  # typing.TypeVar takes default= only from Python 3.13
    _P_contra = TypeVar("_P_contra", contravariant=True)

__all__ = ["Condition", "changed", "created"]

_P = TypeVar("_P")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class Condition(Generic[_P_contra]):
    """A test on a payload of type ``P``; combine with ``&``, ``|`` and ``~``.

    The type parameter lets type checkers refuse a condition on payloads it
    cannot read: ``changed()`` and ``created()`` are
    ``Condition[PreSave[Model] | PostSave[Model]]``.
    """

    __slots__ = ("description", "fields", "needs_save", "test")

    test: Callable[[_P_contra], bool]
    description: str
    fields: frozenset[str]
    """Field names that must be tracked for this condition to work."""
    needs_save: bool
    """Reads ``changes`` or ``created``, which only save payloads have."""

    def __init__(
        self,
        test: Callable[[_P_contra], bool],
        description: str,
        fields: frozenset[str] = frozenset(),
        *,
        needs_save: bool = False,
    ) -> None:
        self.test = test
        self.description = description
        self.fields = fields
        self.needs_save = needs_save

    def __call__(self, payload: _P_contra) -> bool:
        return self.test(payload)

    def __and__(self: Condition[_P], other: Condition[_P]) -> Condition[_P]:
        first, second = self.test, other.test
        return Condition(
            lambda p: first(p) and second(p),
            f"({self.description} & {other.description})",
            self.fields | other.fields,
            needs_save=self.needs_save or other.needs_save,
        )

    def __or__(self: Condition[_P], other: Condition[_P]) -> Condition[_P]:
        first, second = self.test, other.test
        return Condition(
            lambda p: first(p) or second(p),
            f"({self.description} | {other.description})",
            self.fields | other.fields,
            needs_save=self.needs_save or other.needs_save,
        )

    def __invert__(self) -> Condition[_P_contra]:
        test = self.test
        return Condition(
            lambda p: not test(p),
            f"~{self.description}",
            self.fields,
            needs_save=self.needs_save,
        )

    def __repr__(self) -> str:
        return self.description


def changed(
    field: str, *, to: object = MISSING, frm: object = MISSING
) -> Condition[PreSave[Model] | PostSave[Model]]:
    """The save changed ``field`` (optionally from ``frm`` and/or to ``to``).

    Only tracked changes count: a created instance has no previous values, so
    combine with ``created()`` to also match inserts.
    """
    if not isinstance(field, str) or not field:
        raise TypeError(f"changed() takes a field name, got {field!r}")

    # "customer_id" (an attname) means the field "customer", the key changes use.
    names: dict[Any, str] = {}

    def test(payload: Any) -> bool:
        # getattr: a payload without changes (a delete) is no change, not a crash.
        changes: Any = getattr(payload, "changes", None)
        if changes is None:
            return False
        change = changes.get(field)
        if change is None and field.endswith("_id"):
            model: Any = type(getattr(payload, "instance", None))
            name = names.get(model)
            if name is None:
                try:
                    found: Any = model._meta.get_field(field).name
                    name = names[model] = str(found)
                except Exception:  # not a field of this model: no change
                    name = names[model] = field
            change = changes.get(name)
        return (
            change is not None
            and (to is MISSING or change.new == to)
            and (frm is MISSING or change.old == frm)
        )

    parts = [repr(field)]
    parts += [f"frm={frm!r}"] if frm is not MISSING else []
    parts += [f"to={to!r}"] if to is not MISSING else []
    return Condition(
        test, f"changed({', '.join(parts)})", frozenset({field}), needs_save=True
    )


def created() -> Condition[PreSave[Model] | PostSave[Model]]:
    """The save inserts a new row (on ``PreSave``: Django will try to insert)."""
    return Condition(
        lambda payload: bool(getattr(payload, "created", False)),
        "created()",
        needs_save=True,
    )

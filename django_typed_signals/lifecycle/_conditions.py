"""Conditions that decide, before a receiver is called, whether it runs.

``changed("status", to="paid") & ~created()`` is a ``Condition``: a callable
on the payload that also knows which fields it needs tracked, so connecting a
receiver with it switches on tracking for exactly those fields.
"""

# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["Condition", "changed", "created"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class Condition:
    """A test on a payload; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ("description", "fields", "test")

    test: Callable[[Any], bool]
    description: str
    fields: frozenset[str]
    """Field names that must be tracked for this condition to work."""

    def __init__(
        self,
        test: Callable[[Any], bool],
        description: str,
        fields: frozenset[str] = frozenset(),
    ) -> None:
        self.test = test
        self.description = description
        self.fields = fields

    def __call__(self, payload: Any) -> bool:
        return self.test(payload)

    def __and__(self, other: Condition) -> Condition:
        first, second = self.test, other.test
        return Condition(
            lambda p: first(p) and second(p),
            f"({self.description} & {other.description})",
            self.fields | other.fields,
        )

    def __or__(self, other: Condition) -> Condition:
        first, second = self.test, other.test
        return Condition(
            lambda p: first(p) or second(p),
            f"({self.description} | {other.description})",
            self.fields | other.fields,
        )

    def __invert__(self) -> Condition:
        test = self.test
        return Condition(lambda p: not test(p), f"~{self.description}", self.fields)

    def __repr__(self) -> str:
        return self.description


def changed(field: str, *, to: object = MISSING, frm: object = MISSING) -> Condition:
    """The save changed ``field`` (optionally from ``frm`` and/or to ``to``).

    Only tracked changes count: a created instance has no previous values, so
    combine with ``created()`` to also match inserts.
    """
    if not isinstance(field, str) or not field:
        raise TypeError(f"changed() takes a field name, got {field!r}")

    # "customer_id" (an attname) means the field "customer", the key changes use.
    names: dict[Any, str] = {}

    def test(payload: Any) -> bool:
        change = payload.changes.get(field)
        if change is None and field.endswith("_id"):
            model: Any = type(payload.instance)
            name = names.get(model)
            if name is None:
                try:
                    found: Any = model._meta.get_field(field).name
                    name = names[model] = str(found)
                except Exception:  # not a field of this model: no change
                    name = names[model] = field
            change = payload.changes.get(name)
        return (
            change is not None
            and (to is MISSING or change.new == to)
            and (frm is MISSING or change.old == frm)
        )

    parts = [repr(field)]
    parts += [f"frm={frm!r}"] if frm is not MISSING else []
    parts += [f"to={to!r}"] if to is not MISSING else []
    return Condition(test, f"changed({', '.join(parts)})", frozenset({field}))


def created() -> Condition:
    """The save inserts a new row."""
    return Condition(lambda payload: bool(payload.created), "created()")

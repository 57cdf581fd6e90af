"""Typed payloads for Django's model signals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, TypeVar

from django.db.models import Model

__all__ = [
    "FieldChange",
    "M2MChanged",
    "ModelEvent",
    "PostDelete",
    "PostSave",
    "PreDelete",
    "PreSave",
]

M = TypeVar("M", bound=Model, covariant=True)

NO_CHANGES: Mapping[str, FieldChange] = MappingProxyType({})


def _no_changes() -> Mapping[str, FieldChange]:
    return NO_CHANGES


@dataclass(frozen=True)
class FieldChange:
    """One tracked field's value when loaded (or last saved) and now.

    Foreign keys are compared and reported by their ``*_id`` value.
    """

    old: Any
    new: Any


@dataclass(frozen=True)
class ModelEvent(Generic[M]):
    """Base of the model payloads: the instance and the database alias."""

    __typed_signals_using__: ClassVar[str] = "using"
    """``on_commit`` receivers wait for the commit on this payload's ``using``."""

    instance: M
    using: str


@dataclass(frozen=True)
class PreSave(ModelEvent[M]):
    """Sent before ``save()`` writes; ``changes`` are the tracked fields' edits.

    ``created`` is ``instance._state.adding``: whether Django will try to
    insert. Before the query nobody knows more: ``Tag(pk=existing.pk).save()``
    is ``created`` here and updates the row, so ``PostSave.created`` is false.
    """

    created: bool
    """Whether Django will try to insert (``instance._state.adding``)."""
    update_fields: frozenset[str] | None
    raw: bool
    changes: Mapping[str, FieldChange] = field(default_factory=_no_changes)


@dataclass(frozen=True)
class PostSave(ModelEvent[M]):
    """Sent after ``save()`` wrote; ``changes`` are what this save changed."""

    created: bool
    """Whether the save inserted a row."""
    update_fields: frozenset[str] | None
    raw: bool
    changes: Mapping[str, FieldChange] = field(default_factory=_no_changes)


@dataclass(frozen=True)
class PreDelete(ModelEvent[M]):
    """Sent before an instance is deleted, cascades included."""

    origin: object = None
    """The model instance or queryset whose deletion started this one."""


@dataclass(frozen=True)
class PostDelete(ModelEvent[M]):
    """Sent after an instance is deleted, cascades included."""

    origin: object = None


M2MAction = Literal[
    "pre_add", "post_add", "pre_remove", "post_remove", "pre_clear", "post_clear"
]


@dataclass(frozen=True)
class M2MChanged(ModelEvent[M]):
    """A many-to-many relation changed; the sender is the ``through`` model.

    ``instance`` is the object whose relation changed (the related side when
    ``reverse`` is true), ``model`` the class of the objects added or removed,
    ``pk_set`` their primary keys (``None`` for clear actions).
    """

    action: M2MAction
    reverse: bool
    model: type[Model]
    pk_set: frozenset[Any] | None

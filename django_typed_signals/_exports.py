"""Public names show where users import them from, not the private module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress


def show_public_module(
    module: str, names: Iterable[str], namespace: Mapping[str, object]
) -> None:
    """Set ``__module__`` of ``names`` defined in ``module``'s private modules.

    Reprs, docs and tooling then say ``django_typed_signals.lifecycle.PostSave``
    rather than ``django_typed_signals.lifecycle._payloads.PostSave``.
    """
    for name in names:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith(f"{module}._"):
            with suppress(AttributeError, TypeError):  # aliases, e.g. ErrorHandler
                obj.__module__ = module

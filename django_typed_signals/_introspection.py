"""Finding every signal in the process, for tooling and system checks."""

from __future__ import annotations

import sys

from django.dispatch import Signal as DjangoSignal

from ._signal import Signal, all_signals

__all__ = ["discover_signals"]


def discover_signals() -> list[tuple[str, DjangoSignal]]:
    """Every signal reachable from a loaded module, with its dotted name.

    Module-level ``django.dispatch.Signal`` instances (Django's built-ins and
    custom ones) are found by scanning ``sys.modules``; signals of this package
    are found even where no module attribute holds them, and go by ``.name``.
    A signal imported into several modules is named after the most likely
    home: a module called ``signals``, else the shortest module path.
    """
    found: dict[int, tuple[tuple[bool, int, str], str, DjangoSignal]] = {}
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attr, value in list(namespace.items()):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if not isinstance(value, DjangoSignal):
                continue
            rank = (
                module_name.rpartition(".")[2] != "signals",
                module_name.count("."),
                module_name,
            )
            known = found.get(id(value))
            if known is None or rank < known[0]:
                found[id(value)] = (rank, f"{module_name}.{attr}", value)
    named = {key: (name, signal) for key, (_, name, signal) in found.items()}
    for signal in all_signals():
        named[id(signal)] = (signal.name, signal)
    return sorted(named.values(), key=lambda item: item[0])


def is_typed(signal: DjangoSignal) -> bool:
    """Whether ``signal`` is one of this package's signals."""
    return isinstance(signal, Signal)

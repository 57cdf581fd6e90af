"""System checks of ``Transitions`` maps (ids ``typed_signals.E40x``).

A map that names a state the field cannot hold, or a field that is not
there, would only fail on the first save that reaches it; ``manage.py
check`` finds it at startup.

=======================  ====================================================
id                       problem
=======================  ====================================================
``typed_signals.E401``   a state in the map (a key, a target or an initial
                         state) is not one of the field's ``choices``
``typed_signals.E402``   the field is not a concrete field of the model
=======================  ====================================================
"""

# django-stubs types ``Model._meta`` and friends in ways pyright reports as
# partially unknown; mypy (with the Django plugin) checks these members.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import FieldDoesNotExist

from .._registry import CHECKS_TAG
from ._transitions import Transitions, all_transitions

__all__ = ["check_transitions"]


@register(CHECKS_TAG)
def check_transitions(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[CheckMessage]:
    """E401 and E402 for every ``Transitions`` of the given apps (all if None)."""
    wanted = None if app_configs is None else {a.label for a in app_configs}
    messages: list[CheckMessage] = []
    for transitions in all_transitions():
        if wanted is None or transitions.model._meta.app_label in wanted:
            messages += _check_one(transitions)
    return messages


def _check_one(transitions: Transitions[Any]) -> list[CheckMessage]:
    model = transitions.model
    label = model._meta.label
    try:
        field = transitions.field
    except (FieldDoesNotExist, TypeError) as error:
        concrete = sorted(f.name for f in model._meta.concrete_fields)
        return [
            Error(
                str(error),
                hint=f"Name one of the concrete fields of {label}: "
                f"{', '.join(concrete)}.",
                obj=model,
                id="typed_signals.E402",
            )
        ]
    if not field.choices:
        return []
    choices = {value for value, _ in field.flatchoices}
    keys = set(transitions.transitions)
    targets = {t for ts in transitions.transitions.values() for t in ts} - keys
    # Each unknown state once: an initial state the map names is reported there.
    places = [
        ("key", keys),
        ("target", targets),
        ("initial state", set(transitions.initial) - keys - targets),
    ]
    messages: list[CheckMessage] = []
    for kind, states in places:
        for state in sorted(states - choices, key=repr):
            messages.append(
                Error(
                    f"{transitions!r}: {kind} {state!r} is not one of the "
                    f"choices of {label}.{field.name}.",
                    hint="Choices: "
                    + ", ".join(repr(c) for c in sorted(choices, key=repr))
                    + ".",
                    obj=model,
                    id="typed_signals.E401",
                )
            )
    return messages

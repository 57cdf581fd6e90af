"""``manage.py list_receivers``: every signal in the process and its receivers.

Formats: ``table`` (for people), ``json`` (schema version 1, see
docs/list_receivers.md) and ``mermaid`` (a ``graph LR`` for Markdown); they
are rendered by ``_formats``. This module reads the options and filters.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_typed_signals._groups import known_groups
from django_typed_signals._introspection import (
    ReceiverRow,
    SignalDescription,
    describe_signals,
    is_internal,
)
from django_typed_signals.management.commands._formats import (
    DEFAULT_WIDTH,
    FORMATS,
    PathShortener,
    render_json,
    render_mermaid,
    render_table,
)


class Command(BaseCommand):
    """``manage.py list_receivers``: see ``docs/list_receivers.md``."""

    help = (
        "List every signal and its receivers: dotted path, file:line, sender, "
        "priority, groups, dispatch_uid, mode, weak or strong, muted state. "
        "This package's own bridge receivers are left out unless --internal."
    )
    # An introspection tool must work while system checks fail: it is how
    # one finds the receiver they complain about.
    requires_system_checks: list[str] | tuple[str, ...] | Literal["__all__"] = ()

    def add_arguments(self, parser: CommandParser) -> None:
        """Filters (repeatable), internal receivers, output format, width."""
        parser.add_argument(
            "--app",
            action="append",
            default=[],
            dest="apps",
            metavar="LABEL",
            help="Receivers defined in this installed app, or whose sender is "
            "one of its models. Repeat to widen.",
        )
        parser.add_argument(
            "--signal",
            action="append",
            default=[],
            dest="signals",
            metavar="NAME",
            help="A signal's dotted name or its last part (post_save). "
            "Repeat to widen.",
        )
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            dest="models",
            metavar="APP_LABEL.MODEL",
            help="Receivers connected with this model as sender. Repeat to widen.",
        )
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            dest="groups",
            metavar="NAME",
            help="Signals in this signal group. Repeat to widen.",
        )
        parser.add_argument(
            "--internal",
            action="store_true",
            help="Also list the receivers django_typed_signals connects itself: "
            "the bridges from Django's signals to the typed ones.",
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default="table",
            help="Output format (default: table).",
        )
        parser.add_argument(
            "--width",
            type=int,
            default=DEFAULT_WIDTH,
            help=f"Table width in columns (default: {DEFAULT_WIDTH}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Describe the signals, apply the filters, print the chosen format."""
        descriptions = describe_signals()
        selection = Selection.resolve(
            descriptions,
            app_labels=options["apps"],
            signal_names=options["signals"],
            model_labels=options["models"],
            group_names=options["groups"],
            internal=options["internal"],
        )
        selected = selection.apply(descriptions)
        paths = PathShortener(_base_dir())
        output_format: str = options["format"]
        table = ""
        if output_format == "json":
            self.stdout.write(render_json(selected, paths))
        elif output_format == "mermaid":
            self.stdout.write(render_mermaid(selected, paths))
        else:
            table = render_table(
                selected, paths, width=options["width"], heading=self._heading
            )
            if table:
                self.stdout.write(table)
        if not any(d.receivers for d in selected):
            message = (
                "No receivers match the filters"
                if selection.active
                else "No receivers are connected"
            )
            message += _hidden_note(selection, descriptions) + "."
            if output_format == "table":
                self.stdout.write(f"\n{message}" if table else message)
            else:  # stdout stays a valid document; this is no error
                self.stderr.write(message, style_func=str)

    def _heading(self, text: str) -> str:
        return self.style.MIGRATE_HEADING(text)


def _hidden_note(
    selection: Selection, descriptions: Sequence[SignalDescription]
) -> str:
    """`` (2 internal receivers hidden; --internal lists them)``, or ``""``.

    Said only when nothing is listed, so an empty result is never a puzzle.
    """
    if selection.internal:
        return ""
    widened = replace(selection, internal=True).apply(descriptions)
    count = sum(len(d.receivers) for d in widened)
    if not count:
        return ""
    if count == 1:
        return " (1 internal receiver hidden; --internal lists it)"
    return f" ({count} internal receivers hidden; --internal lists them)"


# -- filters --------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Filters resolved against what is installed and connected."""

    apps: tuple[AppConfig, ...] = ()
    signals: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    internal: bool = False
    """Keep this package's own receivers (see ``is_internal``)."""

    @property
    def active(self) -> bool:
        """Whether a filter narrows the listing (``internal`` only widens it)."""
        return bool(self.apps or self.signals or self.models or self.groups)

    @classmethod
    def resolve(
        cls,
        descriptions: Sequence[SignalDescription],
        *,
        app_labels: Iterable[str] = (),
        signal_names: Iterable[str] = (),
        model_labels: Iterable[str] = (),
        group_names: Iterable[str] = (),
        internal: bool = False,
    ) -> Selection:
        """Check every filter value; raise ``CommandError`` naming bad ones."""
        return cls(
            apps=tuple(_resolve_app(label) for label in app_labels),
            signals=frozenset(
                name
                for value in signal_names
                for name in _resolve_signal(value, descriptions)
            ),
            models=frozenset(_resolve_model(label) for label in model_labels),
            groups=frozenset(_resolve_group(name) for name in group_names),
            internal=internal,
        )

    def apply(
        self, descriptions: Sequence[SignalDescription]
    ) -> list[SignalDescription]:
        """The selected signals, each with only its selected receivers.

        ``--signal`` and ``--group`` choose signals; ``--app`` and ``--model``
        choose receivers, and drop the signals left without any. Internal
        receivers go unless ``internal``; a signal that had only those stays,
        as one without receivers, when no receiver filter is given.
        """
        selected: list[SignalDescription] = []
        for description in descriptions:
            if self.signals and description.name not in self.signals:
                continue
            if self.groups and self.groups.isdisjoint(description.groups):
                continue
            rows = description.receivers
            if not self.internal:
                rows = tuple(r for r in rows if not is_internal(r))
            if self.apps or self.models:
                rows = tuple(r for r in rows if self._keeps(r))
                if not rows:
                    continue
            if len(rows) != len(description.receivers):
                description = replace(description, receivers=rows)
            selected.append(description)
        return selected

    def _keeps(self, row: ReceiverRow) -> bool:
        if self.models and row.sender_model not in self.models:
            return False
        if self.apps:
            return any(_in_app(row, app) for app in self.apps)
        return True


def _in_app(row: ReceiverRow, app: AppConfig) -> bool:
    module = row.module or ""
    if module == app.name or module.startswith(f"{app.name}."):
        return True
    return (
        row.sender_model is not None and row.sender_model.partition(".")[0] == app.label
    )


def _resolve_app(label: str) -> AppConfig:
    try:
        return apps.get_app_config(label)
    except LookupError:
        labels = sorted(config.label for config in apps.get_app_configs())
        raise CommandError(_unknown("app label", label, labels)) from None


def _resolve_signal(value: str, descriptions: Sequence[SignalDescription]) -> list[str]:
    names = [d.name for d in descriptions]
    matches = [n for n in names if value in (n, n.rpartition(".")[2])]
    if not matches:
        short_names = sorted({n.rpartition(".")[2] for n in names})
        close = difflib.get_close_matches(value, names + short_names, n=5)
        raise CommandError(_unknown("signal", value, names, close=close))
    return matches


def _resolve_model(label: str) -> str:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        labels = sorted(
            m._meta.label  # pyright: ignore[reportUnknownMemberType]
            for m in apps.get_models()
        )
        raise CommandError(
            _unknown("model", label, labels, hint="use app_label.ModelName")
        ) from None
    model_label: str = model._meta.label
    return model_label


def _resolve_group(name: str) -> str:
    groups = known_groups()
    if name not in groups:
        raise CommandError(_unknown("signal group", name, sorted(groups)))
    return name


def _unknown(
    kind: str,
    value: str,
    choices: Sequence[str],
    *,
    close: Sequence[str] | None = None,
    hint: str = "",
) -> str:
    """``Unknown <kind> 'x'.`` with close matches, else every valid choice."""
    message = f"Unknown {kind} {value!r}"
    message += f" ({hint})." if hint else "."
    if close is None:
        close = difflib.get_close_matches(value, choices, n=5)
    if close:
        return f"{message} Did you mean: {', '.join(close)}?"
    if not choices:
        return f"{message} There are none."
    return f"{message} Valid choices: {', '.join(choices)}."


# -- paths ----------------------------------------------------------------


def _base_dir() -> Path:
    base_dir: object = getattr(settings, "BASE_DIR", None)
    if isinstance(base_dir, (str, os.PathLike)):
        return Path(base_dir)  # pyright: ignore[reportUnknownArgumentType]
    return Path.cwd()

"""Rendering for ``manage.py list_receivers``: table, JSON and Mermaid.

Each renderer takes the selected ``SignalDescription`` objects and a
``PathShortener``; none reads settings or options, so each is testable on
hand-made rows.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from django_typed_signals._introspection import ReceiverRow, SignalDescription
from django_typed_signals._receivers import format_location

JSON_VERSION = 1
FORMATS = ("table", "json", "mermaid")
DEFAULT_WIDTH = 100

# Directory names that mark installed third-party code: paths inside them are
# shown from their import root, even when the virtualenv is in the project.
_INSTALLED_DIRS = frozenset({"site-packages", "dist-packages"})


# -- paths ----------------------------------------------------------------


class PathShortener:
    """Shows source files relative to the project, else to their import root.

    ``shop/signals.py`` for the project's files, ``django/db/models/base.py``
    for installed packages; absolute only when neither applies.
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir: Path = Path(os.path.realpath(base_dir))
        roots = {Path(os.path.realpath(entry)) for entry in sys.path if entry}
        self._roots = sorted(roots, key=lambda root: len(root.parts), reverse=True)

    def __call__(self, file: str | None) -> str | None:
        if file is None or not os.path.isabs(file):  # "<string>", "<frozen ...>"
            return file
        path = Path(os.path.realpath(file))
        if path.is_relative_to(self.base_dir):
            relative = path.relative_to(self.base_dir)
            if _INSTALLED_DIRS.isdisjoint(relative.parts):
                return relative.as_posix()
        for root in self._roots:
            if path.is_relative_to(root):
                return path.relative_to(root).as_posix()
        return path.as_posix()

    def location(self, row: ReceiverRow) -> str:
        """The row's ``file:line``, shortened."""
        return format_location(self(row.file), row.line)


# -- table ----------------------------------------------------------------


def shorten_end(text: str, width: int) -> str:
    """``head...``: for reprs and ids, whose start says the most."""
    if len(text) <= width:
        return text
    return text[:width] if width <= 3 else text[: width - 3] + "..."


def shorten_start(text: str, width: int) -> str:
    """``...tail``: for file paths, whose end says the most."""
    if len(text) <= width:
        return text
    return text[-width:] if width <= 3 else "..." + text[-(width - 3) :]


def shorten_dotted(text: str, width: int) -> str:
    """Abbreviate leading parts (``d.u.translation.reset_cache``) to fit.

    Packages go first, then the part before the last (module or class); the
    last part stays whole. What still does not fit loses its start.
    """
    if len(text) <= width:
        return text
    parts = text.split(".")
    for index in range(len(parts) - 2):
        if parts[index].isidentifier():
            parts[index] = parts[index][0]
            if len(".".join(parts)) <= width:
                return ".".join(parts)
    shorter = ".".join(parts)
    if len(parts) > 1 and parts[-2].isidentifier():
        shortest = ".".join([*parts[:-2], parts[-2][0], parts[-1]])
        if len(shortest) <= width:
            return shortest
    return shorten_start(shorter, width)


@dataclass
class _Column:
    title: str
    cells: list[str]
    shorten: Callable[[str, int], str] | None = None  # None: never shortened
    minimum: int = 0
    weight: int = 0  # how much cutting one of its cells costs, see _fit()
    right: bool = False
    width: int = 0


_INDENT = "  "
_GAP = "  "


def render_table(
    descriptions: Sequence[SignalDescription],
    paths: PathShortener,
    *,
    width: int = DEFAULT_WIDTH,
    heading: Callable[[str], str] = str,
) -> str:
    """Receivers grouped by signal, in aligned columns fitted to ``width``.

    Signals without receivers are named in one line at the end.
    """
    with_receivers = [d for d in descriptions if d.receivers]
    empty = [d.name for d in descriptions if not d.receivers]
    rows = [row for d in with_receivers for row in d.receivers]
    lines: list[str] = []
    if rows:
        columns = _columns(rows, paths)
        _fit(columns, width)
        start = 0
        for description in with_receivers:
            if lines:
                lines.append("")
            lines.append(heading(_signal_heading(description)))
            lines.append(_line([c.title for c in columns], columns))
            for index in range(start, start + len(description.receivers)):
                lines.append(_line([c.cells[index] for c in columns], columns))
            start += len(description.receivers)
    if empty:
        if lines:
            lines.append("")
        lines.extend(
            textwrap.wrap(
                f"Signals without receivers: {', '.join(empty)}.",
                width=max(width, 20),
                subsequent_indent=_INDENT,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    if rows:
        signals = len(with_receivers)
        lines.extend(
            [
                "",
                f"{len(rows)} receiver{'s' * (len(rows) != 1)} on "
                f"{signals} signal{'s' * (signals != 1)}.",
            ]
        )
    return "\n".join(lines)


def _signal_heading(description: SignalDescription) -> str:
    details: list[str] = []
    if description.payload_type:
        details.append(f"payload {description.payload_type}")
    elif not description.typed:
        details.append("Django signal")
    if description.groups:
        details.append(f"groups: {', '.join(description.groups)}")
    if description.muted:
        details.append("muted")
    return f"{description.name} ({'; '.join(details)})" if details else description.name


def _columns(rows: Sequence[ReceiverRow], paths: PathShortener) -> list[_Column]:
    columns = [
        _Column(
            "PRIO",
            ["-" if r.priority is None else str(r.priority) for r in rows],
            right=True,
        ),
        _Column("RECEIVER", [r.path for r in rows], shorten_dotted, 24, weight=3),
        _Column("SENDER", [r.sender for r in rows], shorten_end, 10, weight=2),
        _Column("MODE", [r.mode for r in rows]),
        _Column("REF", ["weak" if r.weak else "strong" for r in rows]),
    ]
    # Rare columns appear only when a listed receiver needs them.
    if any(r.dispatch_uid is not None for r in rows):
        uids = [r.dispatch_uid or "-" for r in rows]
        columns.append(_Column("UID", uids, shorten_end, 8, weight=1))
    if any(r.muted for r in rows):
        columns.append(_Column("MUTED", ["yes" if r.muted else "no" for r in rows]))
    locations = [paths.location(r) for r in rows]
    columns.append(_Column("LOCATION", locations, shorten_start, 16, weight=2))
    for column in columns:
        column.width = max(len(column.title), *(len(cell) for cell in column.cells))
    return columns


def _fit(columns: list[_Column], width: int) -> None:
    """Narrow columns one character at a time until the table fits ``width``.

    Each step narrows the column where it costs least: the number of cells
    it cuts, times how much the column matters. A column made wide by one
    long cell gives way first. A table that still does not fit at every
    column's minimum runs wider rather than cut names to nothing.
    """
    used = len(_INDENT) + sum(c.width for c in columns)
    excess = used + len(_GAP) * (len(columns) - 1) - width
    lengths = {id(c): [len(cell) for cell in c.cells] for c in columns}

    def cost(column: _Column) -> int:
        cut = sum(1 for n in lengths[id(column)] if n >= column.width)
        return column.weight * cut

    while excess > 0:
        candidates = [c for c in columns if c.shorten and c.width > c.minimum]
        if not candidates:
            return
        cheapest = min(candidates, key=cost)  # ties: the leftmost column
        cheapest.width -= 1
        excess -= 1


def _line(cells: Sequence[str], columns: Sequence[_Column]) -> str:
    parts: list[str] = []
    for cell, column in zip(cells, columns, strict=True):
        text = column.shorten(cell, column.width) if column.shorten else cell
        width = column.width
        parts.append(text.rjust(width) if column.right else text.ljust(width))
    return (_INDENT + _GAP.join(parts)).rstrip()


# -- JSON -----------------------------------------------------------------


def render_json(descriptions: Sequence[SignalDescription], paths: PathShortener) -> str:
    """The documented schema, version ``JSON_VERSION``; keys sorted."""
    document = {
        "version": JSON_VERSION,
        "signals": [
            {
                "name": d.name,
                "typed": d.typed,
                "payload_type": d.payload_type,
                "groups": list(d.groups),
                "receivers": [_receiver_json(row, paths) for row in d.receivers],
            }
            for d in descriptions
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True)


def _receiver_json(row: ReceiverRow, paths: PathShortener) -> dict[str, object]:
    data = asdict(row)
    del data["signal"]  # the enclosing signal says it
    data["groups"] = list(row.groups)
    data["file"] = paths(row.file)
    return data


# -- Mermaid --------------------------------------------------------------

# Mermaid decodes "#<code>;" in quoted labels. "<" and ">" would otherwise
# be read as HTML ("<lambda>" vanishes), '"' would end the label.
_MERMAID_ESCAPES = str.maketrans(
    {
        "#": "#35;",
        '"': "#34;",
        "&": "#38;",
        "<": "#60;",
        ">": "#62;",
        "`": "#96;",
        "|": "#124;",
        "\n": " ",
        "\r": " ",
    }
)


def mermaid_label(*lines: str) -> str:
    """A quoted Mermaid label: each line escaped, joined with ``<br/>``."""
    return '"' + "<br/>".join(line.translate(_MERMAID_ESCAPES) for line in lines) + '"'


def render_mermaid(
    descriptions: Sequence[SignalDescription], paths: PathShortener
) -> str:
    """``graph LR`` from each signal (stadium) to its receivers (boxes).

    A receiver connected to several signals is one node; what sets a
    connection apart from the defaults (sender, priority, mode, ...) labels
    its edge. Node ids are ``s<n>`` and ``r<n>``, always valid.
    """
    lines = ["graph LR"]
    receiver_ids: dict[tuple[str, str], str] = {}
    signal_count = 0
    for description in descriptions:
        if not description.receivers:
            continue
        signal_count += 1
        signal_id = f"s{signal_count}"
        signal_lines = [description.name]
        if description.groups:
            signal_lines.append(f"groups: {', '.join(description.groups)}")
        lines.append(f"    {signal_id}([{mermaid_label(*signal_lines)}])")
        for row in description.receivers:
            location = paths.location(row)
            receiver_id = receiver_ids.get((row.path, location))
            if receiver_id is None:
                receiver_id = f"r{len(receiver_ids) + 1}"
                receiver_ids[row.path, location] = receiver_id
                lines.append(f"    {receiver_id}[{mermaid_label(row.path, location)}]")
            details = _edge_details(row)
            arrow = f" -->|{mermaid_label(details)}| " if details else " --> "
            lines.append(f"    {signal_id}{arrow}{receiver_id}")
    empty = [d.name for d in descriptions if not d.receivers]
    if empty:
        lines.append(f"%% signals without receivers: {', '.join(empty)}")
    return "\n".join(lines)


def _edge_details(row: ReceiverRow) -> str:
    details: list[str] = []
    if row.sender != "any":
        details.append(f"sender {row.sender}")
    if row.priority:
        details.append(f"priority {row.priority}")
    if row.mode != "sync":
        details.append(row.mode)
    if not row.weak:
        details.append("strong")
    if row.dispatch_uid is not None:
        details.append(f"uid {row.dispatch_uid}")
    if row.muted:
        details.append("muted")
    return ", ".join(details)

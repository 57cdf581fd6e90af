from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from django_typed_signals._introspection import ReceiverRow, SignalDescription
from django_typed_signals.management.commands._formats import (
    PathShortener,
    mermaid_label,
    render_mermaid,
    render_table,
    shorten_dotted,
    shorten_end,
    shorten_start,
)

REPO = Path(__file__).resolve().parents[3]


def make_row(path: str, file: str, line: int = 1) -> ReceiverRow:
    return ReceiverRow(
        signal="tests.s",
        path=path,
        module=None,
        file=file,
        line=line,
        sender="any",
        sender_model=None,
        priority=0,
        groups=(),
        dispatch_uid=None,
        is_async=False,
        mode="sync",
        weak=True,
        muted=False,
    )


# -- table ----------------------------------------------------------------


def test_table_narrows_the_column_where_it_cuts_fewest_cells() -> None:
    rows = [
        make_row(f"shop.receivers.handler_{n}", str(REPO / f"shop/module_{n}.py"))
        for n in range(5)
    ]
    rows.append(make_row("shop.receivers." + "x" * 60, str(REPO / "shop/module_5.py")))
    signal = SignalDescription("tests.s", True, None, (), False, tuple(rows))
    table = render_table([signal], PathShortener(REPO)).splitlines()
    assert all(len(line) <= 100 for line in table)
    for n in range(5):  # the one long path gave way; the others stay whole
        assert f"shop.receivers.handler_{n}" in table[2 + n]
        assert f"shop/module_{n}.py:1" in table[2 + n]
    assert " ...xxx" in table[7] and "shop/module_5.py:1" in table[7]


def test_render_table_of_nothing_is_empty() -> None:
    assert render_table([], PathShortener(REPO)) == ""


# -- Mermaid --------------------------------------------------------------


def test_mermaid_labels_escape_what_mermaid_would_read() -> None:
    assert (
        mermaid_label('a"b', "<c>&#`|\nd")
        == '"a#34;b<br/>#60;c#62;#38;#35;#96;#124; d"'
    )


def test_mermaid_lists_signals_without_receivers_in_a_comment() -> None:
    empty = SignalDescription("tests.empty", True, None, (), False, ())
    assert render_mermaid([empty], PathShortener(REPO)) == (
        "graph LR\n%% signals without receivers: tests.empty"
    )


# -- shortening -----------------------------------------------------------


def test_dotted_paths_lose_leading_packages_first() -> None:
    path = "django.utils.translation.trans_real.reset_cache"
    assert shorten_dotted(path, 60) == path
    assert shorten_dotted(path, 35) == "d.u.t.trans_real.reset_cache"
    assert shorten_dotted(path, 40) == "d.u.translation.trans_real.reset_cache"
    assert shorten_dotted(path, 20) == "d.u.t.t.reset_cache"
    assert shorten_dotted(path, 12) == "...set_cache"


def test_file_paths_keep_their_end_and_reprs_their_start() -> None:
    assert shorten_start("django/db/__init__.py:57", 12) == "...t__.py:57"
    assert shorten_end("<object object>", 10) == "<object..."
    assert shorten_end("short", 10) == "short"


def test_paths_are_shown_from_the_project_else_from_the_import_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    installed = project / ".venv" / "lib" / "site-packages"
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setattr(sys, "path", [str(installed), str(elsewhere / "lib")])
    shorten = PathShortener(project)
    assert shorten(str(project / "shop" / "signals.py")) == "shop/signals.py"
    assert shorten(str(installed / "django" / "db" / "a.py")) == "django/db/a.py"
    assert shorten(str(elsewhere / "lib" / "x.py")) == "x.py"
    outside = (tmp_path / "other" / "y.py").resolve()
    assert shorten(str(outside)) == outside.as_posix()
    assert shorten("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>"
    assert shorten(None) is None


def test_locations_without_a_line_show_the_file() -> None:
    row = replace(make_row("p", str(REPO / "x.py")), line=None)
    assert PathShortener(REPO).location(row) == "x.py"
    assert PathShortener(REPO).location(replace(row, file=None)) == "?"

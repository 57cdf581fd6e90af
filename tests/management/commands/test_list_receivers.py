from __future__ import annotations

import functools
import gc
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models.signals import post_save

from django_typed_signals import Signal, TypedSignal, mute
from django_typed_signals.management.commands._formats import FORMATS
from django_typed_signals.management.commands.list_receivers import Command
from tests.testapp.models import Note
from tests.testapp.signals import Pinged

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "example_project"
SNAPSHOTS = REPO / "tests" / "snapshots"
HERE = __name__


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("list_receivers", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def on_note_saved(sender: object, **kwargs: object) -> None:
    pass


@pytest.fixture
def note_receiver() -> Iterator[None]:
    """A receiver outside testapp, connected with testapp's model as sender."""
    post_save.connect(on_note_saved, sender=Note, dispatch_uid="note-saved")
    yield
    post_save.disconnect(sender=Note, dispatch_uid="note-saved")


# -- table ----------------------------------------------------------------


def test_table_groups_receivers_under_their_signal() -> None:
    everything, err = run()
    assert (
        "django.core.signals.request_finished (Django signal; groups: request)"
        in everything
    )
    assert re.search(r"^\d+ receivers on \d+ signals\.$", everything, re.MULTILINE)
    assert err == ""
    out, _ = run("--signal", "testapp.pinged")
    lines = out.splitlines()
    start = lines.index(
        "testapp.pinged (payload tests.testapp.signals.Pinged; groups: testapp)"
    )
    header = lines[start + 1].split()
    assert header[:5] == ["PRIO", "RECEIVER", "SENDER", "MODE", "REF"]
    assert header[-1] == "LOCATION"
    assert re.fullmatch(
        r"\s+0  tests\.testapp\.signals\.record_ping\s+any\s+sync\s+weak\s+.*"
        r"tests/testapp/signals\.py:\d+",
        lines[start + 2],
    )
    assert lines[start + 3 :] == ["", "1 receiver on 1 signal."]


def test_table_names_signals_without_receivers_in_one_sentence() -> None:
    first = TypedSignal(Pinged, name="tests.listed.nobody_listens")
    second = TypedSignal(Pinged, name="tests.listed.nobody_either")
    out, _ = run(
        "--signal", first.name, "--signal", second.name, "--signal", "testapp.pinged"
    )
    assert "testapp.pinged (" in out
    assert (
        "Signals without receivers: tests.listed.nobody_either, "
        "tests.listed.nobody_listens." in out
    )


def test_table_fits_the_width() -> None:
    signal = TypedSignal(Pinged, name="tests.a_signal_with_a_rather_long_name")

    class AReceiverClassWithAVeryLongNameIndeed:
        def __call__(
            self, sender: object, *, payload: Pinged, **kwargs: object
        ) -> None:
            pass

    handler = AReceiverClassWithAVeryLongNameIndeed()
    signal.connect(handler, dispatch_uid="a-dispatch-uid-that-goes-on-and-on")
    out, _ = run("--signal", signal.name)
    [header, row] = out.splitlines()[1:3]
    assert len(header) <= 100 and len(row) <= 100, out
    assert re.search(r" \.\.\.\S*LongNameIndeed\(\) ", row)
    assert " a-dis... " in row  # cut to its minimum first: it matters least
    assert re.search(r" \.\.\.\S*\.py:\d+$", row)
    wide, _ = run("--signal", signal.name, "--width", "300")
    assert f"{HERE}.{AReceiverClassWithAVeryLongNameIndeed.__qualname__}()" in wide


def test_table_shows_uid_and_muted_columns_only_when_needed(
    note_receiver: None,
) -> None:
    plain, _ = run("--signal", "testapp.pinged")
    assert "UID" not in plain and "MUTED" not in plain
    with_uid, _ = run("--model", "testapp.Note", "--width", "300")
    assert "UID" in with_uid and "note-saved" in with_uid
    with mute("testapp"):
        muted, _ = run("--signal", "testapp.pinged")
    assert "MUTED" in muted
    assert (
        "testapp.pinged (payload tests.testapp.signals.Pinged; groups: testapp; muted)"
        in muted
    )


# -- filters --------------------------------------------------------------


def test_signal_filter_takes_the_dotted_name_or_its_last_part() -> None:
    signal = TypedSignal(Pinged, name="tests.listed.only_here_and_now")
    by_short, _ = run("--signal", "only_here_and_now", "--format", "json")
    by_full, _ = run("--signal", signal.name, "--format", "json")
    assert by_short == by_full
    names = [s["name"] for s in json.loads(by_short)["signals"]]
    assert names == ["tests.listed.only_here_and_now"]


def test_app_filter_keeps_receivers_defined_in_the_app_or_sent_by_its_models(
    note_receiver: None,
) -> None:
    out, _ = run("--app", "testapp", "--format", "json")
    paths = {r["path"] for s in json.loads(out)["signals"] for r in s["receivers"]}
    assert "tests.testapp.signals.record_ping" in paths
    assert f"{HERE}.on_note_saved" in paths
    assert not any(p.startswith("django.") for p in paths)


def test_model_filter_keeps_receivers_with_that_sender(note_receiver: None) -> None:
    out, _ = run("--model", "testapp.note", "--format", "json")
    found = [
        (s["name"], r["sender"], r["dispatch_uid"])
        for s in json.loads(out)["signals"]
        for r in s["receivers"]
        if r["path"] == f"{HERE}.on_note_saved"
    ]
    assert found == [
        ("django.db.models.signals.post_save", "testapp.Note", "note-saved")
    ]
    senders = {r["sender"] for s in json.loads(out)["signals"] for r in s["receivers"]}
    assert senders == {"testapp.Note"}


def test_group_filter_keeps_the_group_signals() -> None:
    out, _ = run("--group", "testapp", "--format", "json")
    assert [s["name"] for s in json.loads(out)["signals"]] == ["testapp.pinged"]


def test_group_filter_finds_django_signals_adopted_into_the_group() -> None:
    out, _ = run("--group", "request", "--format", "json")
    assert {s["name"] for s in json.loads(out)["signals"]} >= {
        "django.core.signals.got_request_exception",
        "django.core.signals.request_finished",
        "django.core.signals.request_started",
    }


def test_filters_of_one_kind_widen_and_kinds_narrow(note_receiver: None) -> None:
    both, _ = run(
        "--signal", "testapp.pinged", "--signal", "post_save", "--format", "json"
    )
    names = {s["name"] for s in json.loads(both)["signals"]}
    assert {"testapp.pinged", "django.db.models.signals.post_save"} <= names
    narrowed, _ = run(
        "--signal", "testapp.pinged", "--signal", "post_save", "--model", "testapp.Note"
    )
    assert "on_note_saved" in narrowed and "record_ping" not in narrowed


def test_nothing_matching_is_said_and_is_not_an_error() -> None:
    out, err = run("--signal", "request_started", "--app", "testapp")
    assert out.strip() == "No receivers match the filters."
    assert err == ""


def test_nothing_matching_keeps_json_and_mermaid_parseable() -> None:
    out, err = run(
        "--signal", "request_started", "--app", "testapp", "--format", "json"
    )
    assert json.loads(out) == {"signals": [], "version": 1}
    assert err.strip() == "No receivers match the filters."
    out, err = run(
        "--signal", "request_started", "--app", "testapp", "--format", "mermaid"
    )
    assert out.strip() == "graph LR"
    assert err.strip() == "No receivers match the filters."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "testap"], "Unknown app label 'testap'. Did you mean: testapp?"),
        (["--app", "zzz"], "Unknown app label 'zzz'. Valid choices: "),
        (["--signal", "post_sav"], "Unknown signal 'post_sav'. Did you mean: "),
        (["--signal", "qqqqqq"], "Unknown signal 'qqqqqq'. Valid choices: "),
        (["--model", "testapp.Nte"], "Did you mean: testapp.Note"),
        (["--model", "Note"], "Unknown model 'Note' (use app_label.ModelName)."),
        (
            ["--group", "testap"],
            "Unknown signal group 'testap'. Did you mean: testapp?",
        ),
    ],
)
def test_unknown_filter_values_are_errors_naming_the_choices(
    args: list[str], message: str
) -> None:
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert message in str(raised.value)


def test_unknown_values_list_every_valid_choice_when_none_is_close() -> None:
    with pytest.raises(CommandError) as raised:
        run("--app", "zzz")
    assert "testapp" in str(raised.value) and "contenttypes" in str(raised.value)


# -- internal receivers ---------------------------------------------------

BRIDGE = "django_typed_signals.builtin.bridge_request_finished"


def is_internal_module(module: str | None) -> bool:
    return module is not None and module.startswith("django_typed_signals.")


@pytest.mark.parametrize("output_format", FORMATS)
def test_internal_receivers_are_hidden_unless_asked_for(output_format: str) -> None:
    args = ["--signal", "request_finished", "--format", output_format]
    hidden, _ = run(*args, "--width", "300")
    shown, _ = run(*args, "--width", "300", "--internal")
    assert "django.db.close_old_connections" in hidden
    assert "django.db.close_old_connections" in shown
    assert BRIDGE not in hidden and "builtin.py" not in hidden
    assert BRIDGE in shown


def test_hiding_internal_receivers_removes_only_their_rows() -> None:
    # Receivers and signals earlier tests left as garbage must not vanish
    # between the two listings.
    gc.collect()
    everything = json.loads(run("--format", "json", "--internal")[0])
    default = json.loads(run("--format", "json")[0])
    internal: set[str] = set()
    for signal in everything["signals"]:
        rows = signal["receivers"]
        internal |= {r["path"] for r in rows if is_internal_module(r["module"])}
        signal["receivers"] = [r for r in rows if not is_internal_module(r["module"])]
    assert internal >= {
        "django_typed_signals.builtin.bridge_request_started",
        "django_typed_signals.builtin.bridge_request_finished",
        "django_typed_signals.builtin.bridge_got_request_exception",
        "django_typed_signals.builtin.bridge_setting_changed",
        "django_typed_signals.builtin.bridge_pre_migrate",
        "django_typed_signals.builtin.bridge_post_migrate",
        "django_typed_signals.builtin.bridge_connection_created",
        "django_typed_signals.builtin.bridge_user_logged_in",
        "django_typed_signals.builtin.bridge_user_logged_out",
        "django_typed_signals.builtin.bridge_user_login_failed",
    }
    # Same signals, same order: a signal left with no rows is still listed.
    assert default == everything


def test_a_signal_with_only_internal_receivers_is_listed_without_receivers() -> None:
    name = "django.db.backends.signals.connection_created"
    hidden, _ = run("--signal", name)
    assert hidden.splitlines() == [
        f"Signals without receivers: {name}.",
        "",
        "No receivers match the filters "
        "(1 internal receiver hidden; --internal lists it).",
    ]
    shown, _ = run("--signal", name, "--internal", "--width", "300")
    assert "django_typed_signals.builtin.bridge_connection_created" in shown
    assert "hidden" not in shown


def test_nothing_left_but_internal_receivers_says_how_many_are_hidden() -> None:
    out, err = run("--app", "django_typed_signals", "--format", "json")
    assert json.loads(out)["signals"] == []
    count = re.fullmatch(
        r"No receivers match the filters \((\d+) internal receivers hidden; "
        r"--internal lists them\)\.\n",
        err,
    )
    assert count is not None, err
    shown, err = run("--app", "django_typed_signals", "--format", "json", "--internal")
    rows = [r for s in json.loads(shown)["signals"] for r in s["receivers"]]
    assert len(rows) == int(count[1]) and err == ""
    assert all(is_internal_module(r["module"]) for r in rows)


def defined_in(module: str) -> Callable[..., None]:
    def handler(sender: object, **kwargs: object) -> None:
        pass

    handler.__module__ = module
    return handler


def test_internal_means_defined_in_the_package_not_connected_through_it() -> None:
    signal = Signal(name="tests.listed.internal_or_not")
    signal.connect(
        functools.partial(defined_in("django_typed_signals.builtin")), weak=False
    )
    signal.connect(defined_in("django_typed_signals"), weak=False)
    signal.connect(defined_in("django_typed_signals_extras.receivers"), weak=False)
    signal.connect(functools.partial(on_note_saved), weak=False)

    def modules(*args: str) -> list[str | None]:
        out, _ = run("--signal", signal.name, "--format", "json", *args)
        return [r["module"] for s in json.loads(out)["signals"] for r in s["receivers"]]

    assert modules() == ["django_typed_signals_extras.receivers", HERE]
    assert modules("--internal") == [
        "django_typed_signals.builtin",
        "django_typed_signals",
        "django_typed_signals_extras.receivers",
        HERE,
    ]


def test_help_describes_the_internal_flag() -> None:
    parser = Command().create_parser("manage.py", "list_receivers")
    text = " ".join(parser.format_help().split())
    assert (
        "--internal Also list the receivers django_typed_signals connects itself: "
        "the bridges from Django's signals to the typed ones." in text
    )
    assert "bridge receivers are left out unless --internal" in text


# -- JSON -----------------------------------------------------------------


def test_json_follows_the_documented_schema() -> None:
    out, _ = run("--format", "json")
    document = json.loads(out)
    assert out == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert set(document) == {"version", "signals"} and document["version"] == 1
    signals = {s["name"]: s for s in document["signals"]}
    assert set(signals["testapp.pinged"]) == {
        "name",
        "typed",
        "payload_type",
        "groups",
        "receivers",
    }
    [receiver] = signals["testapp.pinged"]["receivers"]
    assert receiver == {
        "path": "tests.testapp.signals.record_ping",
        "module": "tests.testapp.signals",
        "file": "tests/testapp/signals.py",
        "line": receiver["line"],
        "sender": "any",
        "sender_model": None,
        "priority": 0,
        "groups": ["testapp"],
        "dispatch_uid": None,
        "is_async": False,
        "mode": "sync",
        "weak": True,
        "muted": False,
    }
    assert isinstance(receiver["line"], int)
    builtin = signals["django.db.models.signals.post_save"]
    assert (builtin["typed"], builtin["payload_type"], builtin["groups"]) == (
        False,
        None,
        ["model"],
    )


def test_json_paths_of_installed_packages_start_at_their_import_root() -> None:
    out, _ = run("--signal", "request_finished", "--format", "json")
    files = {r["file"] for s in json.loads(out)["signals"] for r in s["receivers"]}
    assert "django/db/__init__.py" in files


# -- Mermaid --------------------------------------------------------------


def test_mermaid_draws_signals_to_receivers() -> None:
    out, _ = run("--signal", "testapp.pinged", "--format", "mermaid")
    lines = out.splitlines()
    assert lines[0] == "graph LR"
    assert lines[1] == '    s1(["testapp.pinged<br/>groups: testapp"])'
    assert re.fullmatch(
        r'    r1\["tests\.testapp\.signals\.record_ping<br/>'
        r'tests/testapp/signals\.py:\d+"\]',
        lines[2],
    )
    assert lines[3] == "    s1 --> r1"


def test_mermaid_shares_a_receiver_between_signals_and_labels_edges() -> None:
    first = TypedSignal(Pinged, name='tests.listed.first "quoted" <signal>')
    second = TypedSignal(Pinged, name="tests.listed.second")

    def both(sender: object, *, payload: Pinged, **kwargs: object) -> None:
        pass

    first.connect(both, priority=5, sender=Note)
    second.connect(both, weak=False, on_commit=True)
    out, _ = run("--signal", first.name, "--signal", second.name, "--format", "mermaid")
    assert out.count("    r1[") == 1 and "r2" not in out
    assert '    s1(["tests.listed.first #34;quoted#34; #60;signal#62;"])' in out
    assert '    s1 -->|"sender testapp.Note, priority 5"| r1' in out
    assert '    s2 -->|"on_commit, strong"| r1' in out
    assert "#60;locals#62;.both" in out


def test_mermaid_node_ids_are_plain_identifiers() -> None:
    out, _ = run("--format", "mermaid")
    node = r"[sr]\d+"
    for line in out.splitlines()[1:]:
        if line.startswith("%%"):
            continue
        assert re.fullmatch(
            rf'    ({node}(\(\[".*"\]\)|\[".*"\])|{node} -->(\|".*"\|)? {node})', line
        ), line


# -- the example project, as a user runs it ---------------------------------


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("output_format", "snapshot"),
    [("table", "shop.table.txt"), ("json", "shop.json"), ("mermaid", "shop.mmd")],
)
def test_example_project_output_matches_snapshot(
    output_format: str, snapshot: str
) -> None:
    result = manage("list_receivers", "--app", "shop", "--format", output_format)
    assert result.returncode == 0, result.stderr
    output = result.stdout.replace(str(REPO), "<repo>")
    path = SNAPSHOTS / f"list_receivers.{snapshot}"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(output, encoding="utf-8")
    assert output == path.read_text(encoding="utf-8"), (
        f"{path.name} is out of date; rerun with UPDATE_SNAPSHOTS=1 and review"
    )


@pytest.mark.parametrize("output_format", FORMATS)
def test_example_project_lists_its_lifecycle_bridge_only_with_internal(
    output_format: str,
) -> None:
    args = ["list_receivers", "--app", "shop", "--format", output_format]
    default = manage(*args, "--width", "300")
    internal = manage(*args, "--width", "300", "--internal")
    assert default.returncode == internal.returncode == 0, internal.stderr
    route = "django_typed_signals.lifecycle._wiring._Route.send_for_model"
    assert "django_typed_signals/" not in default.stdout
    assert route in internal.stdout
    assert "django_typed_signals/lifecycle/_wiring.py" in internal.stdout
    assert "shop.signals.status_paid" in default.stdout
    assert "shop.signals.status_paid" in internal.stdout


def test_example_project_exit_status_is_1_for_an_unknown_filter() -> None:
    result = manage("list_receivers", "--app", "shopp")
    assert result.returncode == 1
    assert "Unknown app label 'shopp'. Did you mean: shop?" in result.stderr


def test_example_project_exit_status_is_0_when_nothing_matches() -> None:
    result = manage("list_receivers", "--app", "shop", "--signal", "request_started")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No receivers match the filters.\n"

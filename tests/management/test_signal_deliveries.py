"""``manage.py signal_deliveries`` against a real database (SQLite or PostgreSQL).

The command reads the clock, so rows are placed around the real ``now``:
leases and backoffs an hour long make each state certain while the test runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_typed_signals.bridge._breaker import paused_receivers, record_failure
from django_typed_signals.bridge._due import mark_published
from django_typed_signals.bridge._outbox import (
    NewDelivery,
    claim,
    complete,
    fail,
    write_deliveries,
)
from django_typed_signals.models import Delivery
from tests.bridge import receivers

Status = Delivery.Status
HOUR = timedelta(hours=1)
EMAIL = "shop.receivers.email"
AUDIT = "shop.receivers.audit"
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
ROOT = Path(__file__).resolve().parents[2]
JSON_KEYS = {
    "pending",
    "running",
    "retrying",
    "done",
    "dead",
    "oldest_pending_age_s",
    "paused_receivers",
}


def run(*args: str) -> str:
    out = StringIO()
    call_command("signal_deliveries", *args, stdout=out)
    return out.getvalue()


def row(
    status: str,
    *,
    receiver: str = EMAIL,
    ago: timedelta = timedelta(0),
    signal: str = "shop.order_paid",
    **kwargs: Any,
) -> Delivery:
    """A row written ``ago`` before now, moved to ``status``.

    ``expired``: written three hours ago, claimed two hours ago under a
    one-minute lease;
    ``published``: handed to the broker and not claimed.
    """
    now = timezone.now()
    if status == "expired":
        ago = max(ago, 3 * HOUR)
    if status == "dead":
        kwargs["max_attempts"] = 1
    (written,) = write_deliveries(
        [NewDelivery(signal=signal, receiver=receiver, payload={}, **kwargs)],
        now=now - ago,
    )
    if status == "published":
        mark_published([written.pk], now=now)
    elif status != "pending":
        lease_s = 60 if status == "expired" else 3600
        claimed_at = now - 2 * HOUR if status == "expired" else now
        got = claim(written.pk, lease_s=lease_s, now=claimed_at)
        assert got is not None
        if status == "done":
            assert complete(got, now=now - ago)
        elif status == "dead":
            assert fail(got, "boom", now=now) == "dead"
        elif status == "retrying":  # failed "in an hour": the backoff ends later
            assert fail(got, "boom", now=now + HOUR) == "retrying"
    return Delivery.objects.get(pk=written.pk)


def pause(receiver: str) -> None:
    with override_settings(TYPED_SIGNALS={"BRIDGE": {"BREAKER": {"FAILURES": 1}}}):
        assert record_failure(receiver)


def every_state() -> dict[str, Any]:
    """One row per state (three pending kinds) and a paused receiver."""
    for status in ("published", "expired", "running", "retrying", "done", "dead"):
        row(status)
    row("pending", ago=timedelta(seconds=100))
    pause(AUDIT)
    return {
        "pending": 3,
        "running": 1,
        "retrying": 1,
        "done": 1,
        "dead": 1,
        "paused_receivers": [AUDIT],
    }


# --- status -------------------------------------------------------------------


@pytest.mark.django_db
def test_status_json_counts_every_state() -> None:
    expected = every_state()

    found = json.loads(run("status", "--json"))

    assert set(found) == JSON_KEYS
    age = found.pop("oldest_pending_age_s")
    assert found == expected
    # The expired claim has been runnable longest: since its lease ended.
    assert 7140 <= age < 7240


@pytest.mark.django_db
def test_status_json_of_an_empty_table() -> None:
    out = run("status", "--json")

    assert out.count("\n") == 1
    assert json.loads(out) == {
        "pending": 0,
        "running": 0,
        "retrying": 0,
        "done": 0,
        "dead": 0,
        "oldest_pending_age_s": None,
        "paused_receivers": [],
    }


@pytest.mark.django_db
def test_status_table_is_aligned_and_lists_paused_receivers() -> None:
    every_state()
    for _ in range(10):
        row("done")

    lines = run("status").splitlines()

    assert [line.split()[:2] for line in lines[:5]] == [
        ["pending", "3"],
        ["running", "1"],
        ["retrying", "1"],
        ["done", "11"],
        ["dead", "1"],
    ]
    assert lines[0].startswith("pending   3  (oldest waiting 1h 59m)")
    assert {len(line.split("  (")[0]) for line in lines[:5]} == {len("done     11")}
    assert lines[5:] == ["paused receivers (1):", f"  {AUDIT}"]


@pytest.mark.django_db
def test_status_table_says_when_no_receiver_is_paused() -> None:
    assert run("status").splitlines()[-1] == "paused receivers: none"


# --- requeue ------------------------------------------------------------------


@pytest.mark.django_db
def test_requeue_dead_runs_every_dead_row_again_and_resumes_its_receivers() -> None:
    dead = [row("dead"), row("dead", receiver=AUDIT)]
    done = row("done")
    pause(EMAIL)
    pause(AUDIT)
    pause("shop.receivers.other")

    out = run("requeue", "--dead")

    assert out.splitlines() == ["Requeued 2 deliveries.", "Resumed 2 paused receivers."]
    for before in dead:
        after = Delivery.objects.get(pk=before.pk)
        assert (after.status, after.attempts, after.finished_at) == ("pending", 0, None)
    assert Delivery.objects.get(pk=done.pk).status == Status.DONE
    assert paused_receivers() == ["shop.receivers.other"]


@pytest.mark.django_db
def test_requeue_ids_says_which_rows_it_left_alone_and_why() -> None:
    dead = row("dead", receiver=AUDIT)
    expired = row("expired")
    retrying = row("retrying")
    done = row("done", receiver="shop.receivers.done")
    running = row("running", receiver="shop.receivers.running")
    for receiver in (AUDIT, EMAIL, "shop.receivers.done", "shop.receivers.running"):
        pause(receiver)
    missing = running.pk + 100

    out = run(
        "requeue", "--id", str(dead.pk), str(expired.pk), str(done.pk),
        "--id", str(running.pk), str(missing), str(retrying.pk),
    )  # fmt: skip

    assert out.splitlines() == [
        "Requeued 3 deliveries.",
        f"Left delivery {done.pk} alone: it is done (replay runs a done delivery "
        "again).",
        f"Left delivery {running.pk} alone: it is running under a live lease.",
        f"Left delivery {missing} alone: no such delivery.",
        "Resumed 2 paused receivers.",
    ]
    for pk in (dead.pk, expired.pk, retrying.pk):
        after = Delivery.objects.get(pk=pk)
        assert (after.status, after.attempts, after.lease_token) == ("pending", 0, None)
    assert Delivery.objects.get(pk=done.pk).status == Status.DONE
    assert Delivery.objects.get(pk=running.pk).lease_token == running.lease_token
    assert paused_receivers() == ["shop.receivers.done", "shop.receivers.running"]


@pytest.mark.django_db
def test_requeue_of_nothing_says_so_and_resumes_nothing() -> None:
    done = row("done")
    pause(EMAIL)

    assert run("requeue", "--dead").splitlines() == ["Requeued 0 deliveries."]
    assert run("requeue", "--id", str(done.pk)).splitlines()[0] == (
        "Requeued 0 deliveries."
    )
    assert paused_receivers() == [EMAIL]


@pytest.mark.django_db
@pytest.mark.parametrize("args", [(), ("--dead", "--id", "1")])
def test_requeue_takes_exactly_one_of_dead_and_id(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError, match=r"exactly one of --dead .* and --id N"):
        run("requeue", *args)


def test_requeue_ids_must_be_integers() -> None:
    with pytest.raises(CommandError, match="--id: invalid int value: 'seven'"):
        run("requeue", "--id", "seven")


# --- replay -------------------------------------------------------------------

SHIPPED = "tests.bridge.shipped"
ON_SHIPPED = f"{receivers.__name__}.on_shipped"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=dt_timezone.utc)


def finished_at(created: datetime) -> Delivery:
    (written,) = write_deliveries(
        [
            NewDelivery(
                signal=SHIPPED, receiver=ON_SHIPPED, payload={"at": str(created)}
            )
        ],
        now=created,
    )
    got = claim(written.pk, lease_s=60, now=created)
    assert got is not None and complete(got, now=created)
    return written


@pytest.mark.django_db
def test_replay_reads_naive_times_in_the_current_time_zone() -> None:
    early, late = finished_at(T0), finished_at(T0 + HOUR)

    with timezone.override("Europe/Paris"):  # UTC+1 in January: 12:30 UTC
        out = run(
            "replay", "--signal", SHIPPED, "--receiver", ON_SHIPPED,
            "--since", "2026-01-05T13:30",
        )  # fmt: skip

    assert out == f"Replayed 1 delivery of {SHIPPED} to {ON_SHIPPED}.\n"
    [copy] = Delivery.objects.filter(pk__gt=late.pk)
    assert copy.payload == late.payload != early.payload


@pytest.mark.django_db
def test_replay_takes_aware_times_and_counts_in_the_output() -> None:
    finished_at(T0)
    finished_at(T0 + HOUR)

    out = run(
        "replay", "--signal", SHIPPED, "--receiver", ON_SHIPPED,
        "--since", "2026-01-05T12:00:00+00:00", "--until", "2026-01-05T14:00+01:00",
    )  # fmt: skip

    assert out.startswith("Replayed 1 delivery of")
    # The copy waits to run: only the two finished rows are replayed again.
    assert run("replay", "--signal", SHIPPED, "--receiver", ON_SHIPPED).startswith(
        "Replayed 2 deliveries of"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), r"--since must be an ISO 8601 .* got 'yesterday'"),
        (("--until", "2026-13-01"), r"--until must be an ISO 8601 .* got '2026-13-01'"),
        (
            ("--since", "2026-01-05", "--until", "2026-01-04"),
            r"--since \(2026-01-05\) must be before --until \(2026-01-04\)",
        ),
        (
            ("--receiver", "shop.receivers.gone"),
            r"receiver 'shop\.receivers\.gone' is not connected to signal "
            r"'tests\.bridge\.shipped' with run='celery'",
        ),
    ],
)
def test_replay_refuses_bad_input(args: tuple[str, ...], message: str) -> None:
    finished_at(T0)
    with pytest.raises(CommandError, match=message):
        run("replay", "--signal", SHIPPED, "--receiver", ON_SHIPPED, *args)
    assert Delivery.objects.count() == 1


def test_replay_needs_signal_and_receiver() -> None:
    with pytest.raises(CommandError, match="--signal, --receiver"):
        run("replay")


# --- prune --------------------------------------------------------------------


@pytest.mark.django_db
def test_prune_deletes_only_old_done_rows() -> None:
    old = timedelta(days=10)
    row("done", ago=old)
    kept = [row(s, ago=old) for s in ("pending", "retrying", "dead", "running")]
    kept.append(row("done", ago=timedelta(days=1)))

    out = run("prune", "--older-than", "5")

    assert out == "Pruned 1 done delivery finished more than 5 days ago.\n"
    assert sorted(Delivery.objects.values_list("pk", flat=True)) == [r.pk for r in kept]
    assert run("prune", "--older-than", "0.5").startswith("Pruned 1 done delivery")
    assert run("prune", "--older-than", "0").startswith("Pruned 0 done deliveries")


@pytest.mark.parametrize("days", ["-1", "abc", "nan", "inf", ""])
def test_prune_refuses_a_bad_number_of_days(days: str) -> None:
    with pytest.raises(CommandError, match=f"--older-than must be a number of days "
                       f">= 0, got {days!r}"):  # fmt: skip
        run("prune", f"--older-than={days}")


# --- common -------------------------------------------------------------------


def test_an_unknown_database_is_refused() -> None:
    with pytest.raises(
        CommandError, match=r"Unknown --database 'nope'\. Valid choices"
    ):
        run("status", "--database", "nope")


@pytest.mark.django_db
def test_database_option_chooses_the_alias() -> None:
    row("dead")
    assert json.loads(run("status", "--json", "--database", "default"))["dead"] == 1


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError, match=r"required: .*status"):
        run()


def command_line(*args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "django", "signal_deliveries", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL (TYPED_SIGNALS_TEST_DB=postgres): another process "
    "cannot see the test's in-memory SQLite database",
)
@pytest.mark.django_db(transaction=True)
def test_status_json_from_the_command_line() -> None:
    expected = every_state()
    name = connection.settings_dict["NAME"]

    done = command_line(
        "status",
        "--json",
        env={"TYPED_SIGNALS_TEST_DB": "postgres", "PGDATABASE": name},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    found = json.loads(done.stdout)
    assert set(found) == JSON_KEYS
    found.pop("oldest_pending_age_s")
    assert found == expected


def test_bad_input_exits_1_from_the_command_line() -> None:
    done = command_line("prune", "--older-than", "-1")

    assert done.returncode == 1
    assert done.stdout == ""
    assert "--older-than must be a number of days >= 0, got '-1'" in done.stderr

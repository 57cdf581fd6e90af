"""The circuit breaker: a receiver that keeps failing is paused, its rows wait
with their attempts intact, and it resumes by itself or on ``resume()``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_typed_signals.bridge import _breaker
from django_typed_signals.bridge._delivery import run_delivery
from django_typed_signals.conf import BridgeSettings, get_settings
from django_typed_signals.models import BreakerState, Delivery
from django_typed_signals.testing import drain
from tests.bridge import receivers
from tests.bridge.receivers import Paid
from tests.testapp.models import Order

FLAKY = "tests.bridge.receivers.on_flaky"
PAID = "tests.bridge.receivers.on_paid"


def _local(failures: int = 3, pause_s: float = 60) -> override_settings:
    return override_settings(
        TYPED_SIGNALS={
            "BRIDGE": {
                "EXECUTOR": "local",
                "BREAKER": {"FAILURES": failures, "PAUSE_S": pause_s},
            }
        }
    )


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    receivers.calls.clear()
    receivers.flaky_switch["failing"] = True
    yield
    receivers.flaky_switch["failing"] = True


def _send_flaky(count: int) -> list[int]:
    order = Order.objects.create()
    for _ in range(count):
        receivers.flaky.send(Order, Paid(order, Decimal(1)))
    return list(Delivery.objects.filter(receiver=FLAKY).values_list("pk", flat=True))


def _flaky_rows() -> list[tuple[str, int]]:
    return list(
        Delivery.objects.filter(receiver=FLAKY)
        .order_by("pk")
        .values_list("status", "attempts")
    )


def _end_the_pause(ago_s: float = 1) -> None:
    """Move the pause and the waiting rows into the past, as time passing would."""
    past = timezone.now() - timedelta(seconds=ago_s)
    BreakerState.objects.update(paused_until=past)
    Delivery.objects.exclude(status__in=("done", "dead")).update(available_at=past)


# Settings


def test_the_breaker_settings_default_to_five_failures_and_a_minute() -> None:
    bridge = get_settings().bridge
    assert (bridge.breaker_failures, bridge.breaker_pause_s) == (5, 60.0)
    assert BridgeSettings().breaker_failures == 5


@override_settings(TYPED_SIGNALS={"BRIDGE": {"BREAKER": {"FAILURES": 2}}})
def test_the_breaker_settings_are_read_each_key_on_its_own() -> None:
    bridge = get_settings().bridge
    assert (bridge.breaker_failures, bridge.breaker_pause_s) == (2, 60.0)
    with override_settings(TYPED_SIGNALS={"BRIDGE": {"BREAKER": {"PAUSE_S": 0.5}}}):
        bridge = get_settings().bridge
        assert (bridge.breaker_failures, bridge.breaker_pause_s) == (5, 0.5)


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        ([5, 60], r"\['BREAKER'\] must be a dict, got \[5, 60\]"),
        ({"FAILURE": 3}, r"\['BREAKER'\] has unknown keys \['FAILURE'\]; valid keys"),
        ({"FAILURES": 0}, r"\['FAILURES'\] must be an integer >= 1 .*got 0"),
        ({"FAILURES": 2.5}, r"\['FAILURES'\] must be an integer >= 1 .*got 2\.5"),
        ({"FAILURES": True}, r"\['FAILURES'\] must be an integer >= 1 .*got True"),
        ({"PAUSE_S": "60"}, r"\['PAUSE_S'\] must be a number of seconds, got '60'"),
        ({"PAUSE_S": 0}, r"\['PAUSE_S'\] must be > 0 and finite, got 0"),
        ({"PAUSE_S": float("inf")}, r"\['PAUSE_S'\] must be > 0 and finite, got inf"),
    ],
)
def test_bad_breaker_settings_are_named(breaker: object, message: str) -> None:
    with (
        override_settings(TYPED_SIGNALS={"BRIDGE": {"BREAKER": breaker}}),
        pytest.raises(
            ImproperlyConfigured, match=r"TYPED_SIGNALS\['BRIDGE'\]\['BREAKER'\]"
        ) as raised,
    ):
        get_settings()
    assert raised.match(message)


# The state functions


@pytest.mark.django_db(transaction=True)
@_local(failures=2, pause_s=30)
def test_failures_in_a_row_open_the_breaker_for_the_pause() -> None:
    now = timezone.now()
    assert not _breaker.record_failure(FLAKY, now=now)
    assert not _breaker.is_paused(FLAKY, now=now)
    assert _breaker.record_failure(FLAKY, now=now)  # the second: it opens
    assert _breaker.is_paused(FLAKY, now=now + timedelta(seconds=29))
    assert not _breaker.is_paused(FLAKY, now=now + timedelta(seconds=31))
    assert _breaker.paused_receivers(now=now) == [FLAKY]
    assert _breaker.paused_receivers(now=now + timedelta(seconds=31)) == []
    # A failure during the pause (a run claimed before it opened) neither
    # re-opens nor lengthens it.
    assert not _breaker.record_failure(FLAKY, now=now + timedelta(seconds=10))
    state = BreakerState.objects.get()
    assert state.consecutive_failures == 3
    assert state.paused_until == now + timedelta(seconds=30)


@pytest.mark.django_db(transaction=True)
@_local(failures=3)
def test_a_success_forgets_the_failures() -> None:
    now = timezone.now()
    _breaker.record_failure(FLAKY, now=now)
    _breaker.record_failure(FLAKY, now=now)
    _breaker.record_success(FLAKY, now=now)
    assert BreakerState.objects.count() == 0
    assert not _breaker.record_failure(FLAKY, now=now)  # counting from 1 again
    assert BreakerState.objects.get().consecutive_failures == 1


@pytest.mark.django_db(transaction=True)
@_local(failures=1, pause_s=10)
def test_after_the_pause_one_trial_runs_and_its_failure_reopens_at_once() -> None:
    now = timezone.now()
    assert _breaker.record_failure(FLAKY, now=now)
    assert _breaker.admit(FLAKY, lease_s=5, now=now).verdict == "wait"
    later = now + timedelta(seconds=11)
    trial = _breaker.admit(FLAKY, lease_s=5, now=later)
    assert (trial.verdict, trial.trial) == ("run", True)
    # While the trial runs, the other workers keep waiting.
    other = _breaker.admit(FLAKY, lease_s=5, now=later)
    assert (other.verdict, other.trial) == ("wait", False)
    assert other.paused_until == later + timedelta(seconds=5)
    assert _breaker.record_failure(FLAKY, now=later, trial=True)
    assert BreakerState.objects.get().paused_until == later + timedelta(seconds=10)


@pytest.mark.django_db(transaction=True)
@_local(failures=1, pause_s=10)
def test_a_trial_whose_worker_vanished_hands_the_trial_on() -> None:
    now = timezone.now()
    _breaker.record_failure(FLAKY, now=now)
    first = now + timedelta(seconds=11)
    assert _breaker.admit(FLAKY, lease_s=5, now=first).trial
    # No answer from the trial before its lease ended: the next one tries.
    assert _breaker.admit(FLAKY, lease_s=5, now=first + timedelta(seconds=6)).trial


@pytest.mark.django_db(transaction=True)
@_local(failures=1)
def test_resume_closes_the_named_breakers_or_all() -> None:
    now = timezone.now()
    for path in (FLAKY, PAID, "tests.other"):
        _breaker.record_failure(path, now=now)
    assert _breaker.resume(["tests.unknown"]) == 0
    assert _breaker.resume([FLAKY]) == 1
    assert _breaker.paused_receivers(now=now) == [PAID, "tests.other"]
    assert _breaker.resume() == 2
    assert _breaker.paused_receivers(now=now) == []
    # Resumed with a fresh count.
    assert set(BreakerState.objects.values_list("consecutive_failures", flat=True)) == {
        0
    }
    with pytest.raises(TypeError, match="wrap it in a list"):
        _breaker.resume(FLAKY)


ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL (TYPED_SIGNALS_TEST_DB=postgres): SQLite has no "
    "row locks and serializes every writer",
)
@pytest.mark.django_db(transaction=True)
@_local(failures=3)
def test_concurrent_failures_all_count_and_open_the_breaker_once() -> None:
    # No row yet: all race to INSERT it; the losers hit the unique
    # constraint and increment instead.
    workers = 8
    start = threading.Barrier(workers)
    opened: list[bool] = []
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            start.wait(timeout=10)
            opened.append(_breaker.record_failure(FLAKY))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fail) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(opened) == [False] * (workers - 1) + [True]
    assert BreakerState.objects.get().consecutive_failures == workers


# End to end through run_delivery


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_is_paused_and_its_rows_wait_with_their_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _local(failures=3, pause_s=60):
        _send_flaky(5)
        order = Order.objects.create()
        receivers.paid.send(Order, Paid(order, Decimal(2)))
        with caplog.at_level(logging.WARNING, logger="django_typed_signals.bridge"):
            outcomes = [(d.receiver, d.outcome) for d in drain()]
        assert outcomes == [
            (FLAKY, "retrying"),
            (FLAKY, "retrying"),
            (FLAKY, "retrying"),  # the third failure in a row opens the breaker
            (FLAKY, "skipped"),
            (FLAKY, "skipped"),
            (PAID, "done"),  # another receiver is not affected
        ]
        assert _breaker.paused_receivers() == [FLAKY]
        assert _breaker.is_paused(FLAKY)
        assert not _breaker.is_paused(PAID)
        assert _flaky_rows() == [("retrying", 1)] * 3 + [("pending", 0)] * 2
        state = BreakerState.objects.get()
        assert state.paused_until is not None
        waiting = Delivery.objects.filter(receiver=FLAKY, status="pending")
        assert {row.available_at for row in waiting} == {state.paused_until}
        assert {row.published_at for row in waiting} == {None}
        # Retries that come due during the pause wait too, attempts unspent.
        Delivery.objects.filter(status="retrying").update(
            available_at=timezone.now() - timedelta(seconds=1)
        )
        assert {d.outcome for d in drain()} == {"skipped"}
        assert _flaky_rows() == [("retrying", 1)] * 3 + [("pending", 0)] * 2
    assert [name for name, _ in receivers.calls].count("flaky") == 3
    [opened] = [r for r in caplog.records if "circuit breaker opened" in r.message]
    assert opened.levelno == logging.WARNING
    assert FLAKY in opened.message
    assert "after 3 failed deliveries in a row" in opened.message
    assert "wait 60.0s" in opened.message


@pytest.mark.django_db(transaction=True)
def test_after_the_pause_a_successful_trial_closes_it_and_everything_runs() -> None:
    with _local(failures=2, pause_s=60):
        _send_flaky(4)
        drain()
        assert _breaker.paused_receivers() == [FLAKY]
        receivers.flaky_switch["failing"] = False  # the service is back
        _end_the_pause()
        assert _breaker.paused_receivers() == []
        outcomes = [d.outcome for d in drain()]
    assert outcomes == ["done"] * 4
    assert BreakerState.objects.count() == 0
    assert _flaky_rows() == [("done", 2), ("done", 2), ("done", 1), ("done", 1)]


@pytest.mark.django_db(transaction=True)
def test_after_the_pause_a_failing_trial_reopens_it_at_once() -> None:
    with _local(failures=2, pause_s=60):
        _send_flaky(4)
        drain()
        receivers.calls.clear()
        _end_the_pause()
        outcomes = [d.outcome for d in drain()]
        # One trial ran and failed; the others went back to wait.
        assert outcomes == ["retrying", "skipped", "skipped", "skipped"]
        assert len(receivers.calls) == 1
        assert _breaker.is_paused(FLAKY)
        state = BreakerState.objects.get()
        assert state.consecutive_failures == 3
        assert state.paused_until is not None
        assert state.paused_until > timezone.now() + timedelta(seconds=50)
        assert _flaky_rows() == [
            ("retrying", 2),
            ("retrying", 1),
            ("pending", 0),
            ("pending", 0),
        ]


@pytest.mark.django_db(transaction=True)
def test_a_resumed_receiver_runs_its_requeued_rows() -> None:
    from django_typed_signals.bridge import _operations

    with _local(failures=1, pause_s=60):
        ids = _send_flaky(3)
        drain()
        assert _flaky_rows() == [("retrying", 1), ("pending", 0), ("pending", 0)]
        receivers.flaky_switch["failing"] = False
        assert _breaker.resume([FLAKY]) == 1
        assert _operations.requeue(ids=ids) == 3
        outcomes = [d.outcome for d in drain()]
    assert outcomes == ["done"] * 3
    assert _flaky_rows() == [("done", 1)] * 3


@pytest.mark.django_db(transaction=True)
def test_a_short_pause_ends_by_itself() -> None:
    with _local(failures=1, pause_s=0.05):
        _send_flaky(2)
        assert [d.outcome for d in drain()] == ["retrying", "skipped"]
        receivers.flaky_switch["failing"] = False
        time.sleep(0.1)
        assert _breaker.paused_receivers() == []
        Delivery.objects.filter(status="retrying").update(available_at=timezone.now())
        assert sorted(d.outcome for d in drain()) == ["done", "done"]
    assert BreakerState.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_healthy_receiver_costs_one_breaker_read_a_second_and_no_write() -> None:
    _breaker.forget_healthy()
    with _local():
        order = Order.objects.create()
        for n in (1, 2):
            receivers.paid.send(Order, Paid(order, Decimal(n)))
        first, second = Delivery.objects.order_by("pk")
        with CaptureQueriesContext(connection) as queries:
            assert run_delivery(first.pk, lease_s=60) == "done"
            assert run_delivery(second.pk, lease_s=60) == "done"
    table = BreakerState._meta.db_table
    touching = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert len(touching) == 1  # the second delivery trusts the first's read
    assert touching[0].lstrip().upper().startswith("SELECT")


@pytest.mark.django_db(transaction=True)
def test_a_failure_in_this_process_ends_the_trust_at_once() -> None:
    _breaker.forget_healthy()
    assert _breaker.admit(FLAKY, lease_s=5).verdict == "run"  # trusted healthy now
    with override_settings(TYPED_SIGNALS={"BRIDGE": {"BREAKER": {"FAILURES": 1}}}):
        assert _breaker.record_failure(FLAKY)
    assert _breaker.admit(FLAKY, lease_s=5).verdict == "wait"


@pytest.mark.django_db(transaction=True)
def test_decoding_failures_do_not_count_as_receiver_failures() -> None:
    with _local(failures=1):
        order = Order.objects.create()
        receivers.flaky.send(Order, Paid(order, Decimal(1)))
        order.delete()  # the row no longer decodes: dead, not a receiver failure
        assert [d.outcome for d in drain()] == ["dead"]
    assert BreakerState.objects.count() == 0

"""Read-only receivers: writes on any database are caught, reads are not, and
receivers that are not read-only get no guard at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connections, transaction
from django.test import override_settings

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.models import Delivery
from django_typed_signals.services import ReadOnlyReceiverError
from django_typed_signals.services._read_only import (
    is_write,
    read_only_mode,
    stop_guarding_every_connection,
)
from django_typed_signals.testing import drain
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db(databases=["default", "other"])


@dataclass(frozen=True)
class Changed:
    text: str


def signal_named(name: str, *groups: str) -> TypedSignal[Changed]:
    return TypedSignal(Changed, name=name, groups=list(groups) or ["read-only-tests"])


def test_an_orm_write_raises_naming_receiver_signal_and_statement() -> None:
    signal = signal_named("tests.read_only.orm")

    @receiver(signal, read_only=True, weak=False)
    def broadcast_change(sender: object, *, payload: Changed, **kwargs: object) -> None:
        Note.objects.create(text=payload.text)

    # atomic(): the refused statement marks the enclosing transaction for
    # rollback, as any failed query does; the savepoint takes that mark.
    with pytest.raises(ReadOnlyReceiverError) as caught, transaction.atomic():
        signal.send(None, Changed("x"))
    error = caught.value
    assert "broadcast_change" in error.receiver
    assert error.signal == "tests.read_only.orm"
    assert error.statement.upper().startswith('INSERT INTO "TESTAPP_NOTE"')
    assert error.using == "default"
    assert "broadcast_change" in str(error) and "tests.read_only.orm" in str(error)
    assert not Note.objects.exists()  # the statement never ran


def test_raw_sql_and_a_second_database_are_caught_too() -> None:
    note = Note.objects.using("other").create(text="before")
    signal = signal_named("tests.read_only.raw")
    statements: dict[str, Callable[[], object]] = {
        "update": lambda: (
            connections["other"]
            .cursor()
            .execute("UPDATE testapp_note SET text = 'after'")
        ),
        "delete": lambda: Note.objects.using("other").all().delete(),
        "ddl": lambda: (
            connections["default"]
            .cursor()
            .execute("CREATE TABLE read_only_probe (id integer)")
        ),
    }
    which: list[str] = []

    @receiver(signal, read_only=True, weak=False)
    def clean_cache(sender: object, *, payload: Changed, **kwargs: object) -> None:
        statements[payload.text]()
        which.append(payload.text)

    for kind, start, using in [
        ("update", "UPDATE", "other"),
        ("delete", "DELETE", "other"),
        ("ddl", "CREATE TABLE", "default"),
    ]:
        with (
            pytest.raises(ReadOnlyReceiverError) as caught,
            transaction.atomic(using="default"),
            transaction.atomic(using="other"),
        ):
            signal.send(None, Changed(kind))
        assert caught.value.statement.upper().startswith(start), kind
        assert caught.value.using == using
    assert which == []
    assert Note.objects.using("other").get().text == note.text


def test_reads_and_transaction_control_stay_allowed() -> None:
    Note.objects.create(text="a")
    signal = signal_named("tests.read_only.reads")
    counted: list[int] = []

    @receiver(signal, read_only=True, weak=False)
    def log_change(sender: object, *, payload: Changed, **kwargs: object) -> None:
        with transaction.atomic():  # a savepoint: not a write
            counted.append(Note.objects.filter(text=payload.text).count())
        with connections["other"].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM testapp_note")
            counted.append(cursor.fetchone()[0])

    signal.send(None, Changed("a"))
    assert counted == [1, 0]


def test_the_guard_ends_with_the_call() -> None:
    signal = signal_named("tests.read_only.ends")

    @receiver(signal, read_only=True, weak=False)
    def look(sender: object, *, payload: Changed, **kwargs: object) -> None:
        Note.objects.count()

    signal.send(None, Changed("a"))
    Note.objects.create(text="after the send")  # not inside the receiver
    assert all(not c.execute_wrappers for c in connections.all())


def test_receivers_that_are_not_read_only_get_no_guard() -> None:
    signal = signal_named("tests.read_only.plain")

    @receiver(signal, weak=False)
    def save_it(sender: object, *, payload: Changed, **kwargs: object) -> None:
        Note.objects.create(text=payload.text)

    signal.send(None, Changed("kept"))
    assert Note.objects.filter(text="kept").exists()
    [connection] = signal._connections.values()
    assert connection.guards == ()
    assert not signal._slow_path  # the send path Django itself takes


def test_groups_listed_in_the_setting_make_their_receivers_read_only() -> None:
    with override_settings(TYPED_SIGNALS={"READ_ONLY_GROUPS": ["broadcast"]}):
        signal = signal_named("tests.read_only.group", "broadcast")

        @receiver(signal, weak=False)
        def push(sender: object, *, payload: Changed, **kwargs: object) -> None:
            Note.objects.create(text=payload.text)

        @receiver(signal, read_only=False, weak=False)
        def allowed(sender: object, *, payload: Changed, **kwargs: object) -> None:
            Note.objects.create(text="opted out")

    with pytest.raises(ReadOnlyReceiverError, match="push"), transaction.atomic():
        signal.send(None, Changed("x"))
    signal.disconnect(push)
    signal.send(None, Changed("x"))
    assert list(Note.objects.values_list("text", flat=True)) == ["opted out"]


def test_warn_logs_and_lets_the_write_through(caplog: pytest.LogCaptureFixture) -> None:
    signal = signal_named("tests.read_only.warn")

    @receiver(signal, read_only=True, weak=False)
    def sloppy(sender: object, *, payload: Changed, **kwargs: object) -> None:
        Note.objects.create(text=payload.text)

    with (
        override_settings(TYPED_SIGNALS={"READ_ONLY_RECEIVERS": "warn"}),
        caplog.at_level(logging.WARNING, "django_typed_signals.services"),
    ):
        signal.send(None, Changed("written"))
    assert Note.objects.filter(text="written").exists()
    [record] = caplog.records
    assert "sloppy" in record.getMessage() and "INSERT" in record.getMessage()

    with override_settings(TYPED_SIGNALS={"READ_ONLY_RECEIVERS": "off"}):
        signal.send(None, Changed("also written"))
    assert Note.objects.count() == 2


def test_the_default_mode_raises_under_debug_or_tests_and_warns_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert read_only_mode() == "raise"  # pytest-django set up the test environment
    from django.core import mail

    monkeypatch.delattr(mail, "outbox")
    with override_settings(DEBUG=False):
        assert read_only_mode() == "warn"
    with override_settings(DEBUG=True):
        assert read_only_mode() == "raise"


def test_a_bad_read_only_value_is_refused() -> None:
    signal = signal_named("tests.read_only.bad")

    def look(sender: object, *, payload: Changed, **kwargs: object) -> None: ...

    with pytest.raises(TypeError, match=r"read_only= must be True or False, got 'yes'"):
        signal.connect(look, read_only="yes")  # type: ignore[arg-type]


@pytest.fixture
def guarding_every_connection() -> Generator[None, None, None]:
    """Turn off afterwards the process-wide check an async receiver turns on."""
    yield
    stop_guarding_every_connection()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("guarding_every_connection")
def test_an_async_receiver_is_caught_in_the_orm_thread() -> None:
    """As under Django's ASGI handler: each request's ORM calls run in a thread
    of its own (``ThreadSensitiveContext``), whose connections are new."""
    signal = signal_named("tests.read_only.async")

    @receiver(signal, read_only=True, weak=False)
    async def push(sender: object, *, payload: Changed, **kwargs: object) -> None:
        assert await Note.objects.acount() == 0  # reads pass
        await Note.objects.acreate(text=payload.text)

    async def main() -> None:
        async with ThreadSensitiveContext():
            try:
                await signal.asend(None, Changed("x"))
            finally:
                await sync_to_async(connections.close_all)()

    with pytest.raises(ReadOnlyReceiverError, match="push"):
        asyncio.run(main())
    assert not Note.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_on_commit_read_only_receiver_is_caught_after_the_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = signal_named("tests.read_only.on_commit")

    @receiver(signal, read_only=True, on_commit=True, weak=False)
    def later(sender: object, *, payload: Changed, **kwargs: object) -> None:
        Note.objects.create(text=payload.text)

    with caplog.at_level(logging.ERROR), transaction.atomic():
        signal.send(None, Changed("x"))
    assert not Note.objects.exists()
    assert any("read-only receiver" in str(r.exc_info) for r in caplog.records)


bridged = TypedSignal(
    Changed, name="tests.read_only.bridged", groups=["read-only-tests"]
)


@receiver(bridged, run="celery", read_only=True)
def bridged_writer(sender: object, *, payload: Changed, **kwargs: object) -> None:
    Note.objects.create(text=payload.text)


@pytest.mark.django_db(transaction=True)
@override_settings(TYPED_SIGNALS={"BRIDGE": {"EXECUTOR": "local"}})
def test_a_bridged_read_only_receiver_is_caught_in_the_worker() -> None:
    with transaction.atomic():
        bridged.send(None, Changed("x"))
    [run] = drain()
    assert run.outcome == "retrying"
    row = Delivery.objects.get()
    assert "ReadOnlyReceiverError" in row.last_error
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT 1", False),
        ("  select * from t", False),
        ("/* comment */ SELECT 1", False),
        ("-- note\nSELECT 1", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ('SAVEPOINT "s1"', False),
        ('RELEASE SAVEPOINT "s1"', False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("EXPLAIN SELECT 1", False),
        ("INSERT INTO t VALUES (1)", True),
        ("update t set a = 1", True),
        ("DELETE FROM t", True),
        ("WITH gone AS (DELETE FROM t RETURNING id) SELECT * FROM gone", True),
        ("EXPLAIN ANALYZE DELETE FROM t", True),
        ("TRUNCATE t", True),
        ("ALTER TABLE t ADD COLUMN b int", True),
        ("DROP TABLE t", True),
        ("COPY t FROM STDIN", True),
        ("VACUUM", True),
    ],
)
def test_which_statements_write(sql: str, writes: bool) -> None:
    assert is_write(sql) is writes


@pytest.mark.django_db(transaction=True)
def test_cleaning_a_database_cache_is_no_write() -> None:
    """Cache cleanup is a side effect receivers are for, DatabaseCache included."""
    from django.core.cache import caches
    from django.core.management import call_command

    database_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "typed_signals_test_cache",
        }
    }
    signal = signal_named("tests.read_only.cache")

    @receiver(signal, read_only=True, weak=False)
    def forget(sender: object, *, payload: Changed, **kwargs: object) -> None:
        caches["default"].delete(payload.text)
        caches["default"].set(f"{payload.text}-seen", 1)
        if payload.text == "and-a-note":
            Note.objects.create(text=payload.text)

    with override_settings(CACHES=database_cache):
        call_command("createcachetable", verbosity=0)
        try:
            caches["default"].set("device-1", "online")
            signal.send(None, Changed("device-1"))
            assert caches["default"].get("device-1") is None
            assert caches["default"].get("device-1-seen") == 1
            with pytest.raises(ReadOnlyReceiverError, match="INSERT"):
                signal.send(None, Changed("and-a-note"))
        finally:
            with connections["default"].cursor() as cursor:
                cursor.execute("DROP TABLE typed_signals_test_cache")
    assert not Note.objects.exists()

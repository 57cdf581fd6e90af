"""``broadcast()`` against real channel layers: in memory, and Redis.

The database tests use ``transactional_db``: commits and rollbacks really
happen (on PostgreSQL with ``TYPED_SIGNALS_TEST_DB=postgres``). Each test
gets a fresh layer: Channels caches layer instances per alias.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import BaseChannelLayer, channel_layers, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.test import override_settings

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.services import service
from django_typed_signals.services._broadcast import (
    DEFAULT_CHANNEL_LAYER as OUR_DEFAULT,
)
from django_typed_signals.services._broadcast import (
    abroadcast,
    broadcast,
    to_message,
)
from tests.bridge.workers import ROOT, free_port, require_redis
from tests.testapp.models import Note

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
Message = dict[str, Any]
T = TypeVar("T")


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclass(frozen=True)
class Battery:
    level: int
    checked: datetime.datetime


@dataclass(frozen=True)
class ReceiverStatus:
    receiver_id: uuid.UUID
    is_online: bool
    battery: Battery | None = None
    level: Level = Level.LOW
    channels: tuple[int, ...] = ()
    tags: frozenset[str] = frozenset()
    extra: dict[str, object] = field(default_factory=dict[str, object])


def status(**changes: Any) -> ReceiverStatus:
    return dataclasses.replace(
        ReceiverStatus(uuid.UUID(int=7), is_online=False), **changes
    )


def fresh_layers() -> None:
    channel_layers.backends.clear()


@pytest.fixture
def layer() -> Iterator[BaseChannelLayer]:
    """Channels' in-memory layer, new for the test."""
    fresh_layers()
    with override_settings(CHANNEL_LAYERS=IN_MEMORY):
        channel_layer = get_channel_layer()
        assert channel_layer is not None
        yield channel_layer
    fresh_layers()


@pytest.fixture
def redis_layer() -> Iterator[BaseChannelLayer]:
    """``channels_redis`` on the shared Redis, under a prefix of this test's own
    (its keys expire; nothing else in that Redis is read or removed)."""
    url = require_redis()
    config = {
        "hosts": [url],
        "prefix": f"dts-test-{uuid.uuid4().hex[:12]}:",
        "expiry": 10,
        "group_expiry": 60,
    }
    backend = "channels_redis.core.RedisChannelLayer"
    fresh_layers()
    with override_settings(
        CHANNEL_LAYERS={"default": {"BACKEND": backend, "CONFIG": config}}
    ):
        channel_layer = get_channel_layer()
        assert channel_layer is not None
        yield channel_layer
    fresh_layers()


class Listener:
    """One channel in ``group``, read from an event loop of its own, as a
    consumer's is in the ASGI server (a Redis layer's receive buffers belong
    to one loop; ``broadcast()`` sends from loops of its own)."""

    def __init__(self, layer: BaseChannelLayer, group: str) -> None:
        self.layer = layer
        self.group = group
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self.run(layer.new_channel())
        self.run(layer.group_add(group, self.channel))

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def receive(self, timeout_s: float = 2.0) -> Message | None:
        """The next message, or None when none comes within ``timeout_s``."""

        async def receive() -> Message | None:
            try:
                return await asyncio.wait_for(
                    self.layer.receive(self.channel), timeout_s
                )
            except asyncio.TimeoutError:
                return None

        return self.run(receive())

    def nothing_more(self) -> bool:
        return self.receive(timeout_s=0.2) is None

    def close(self) -> None:
        try:
            self.run(self.layer.group_discard(self.group, self.channel))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()  # a Redis layer closes this loop's connections


@pytest.fixture
def listen() -> Iterator[Callable[[BaseChannelLayer, str], Listener]]:
    listeners: list[Listener] = []

    def listen(layer: BaseChannelLayer, group: str) -> Listener:
        listeners.append(Listener(layer, group))
        return listeners[-1]

    yield listen
    for listener in listeners:
        listener.close()


def unique_group() -> str:
    return f"micboard_updates.{uuid.uuid4().hex[:8]}"


def payload_message(payload: object, event_type: str = "signal.payload") -> Message:
    return {"type": event_type, "payload": payload}


# --- after the commit, on both layers ------------------------------------


def round_trip(
    layer: BaseChannelLayer, listen: Callable[[BaseChannelLayer, str], Listener]
) -> None:
    group = unique_group()
    listener = listen(layer, group)

    with transaction.atomic():
        note = Note.objects.create(text="rx-1")
        broadcast(group, {"note": note, "online": True})
        assert listener.nothing_more()  # not before the commit
    assert listener.receive() == payload_message({"note": note.pk, "online": True})

    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast(group, {"online": False})
        raise RuntimeError("rollback")
    assert listener.nothing_more()  # not after a rollback

    with transaction.atomic():
        broadcast(group, status(), event_type="receiver.status")
        with transaction.atomic():  # a savepoint: still the outer commit
            broadcast(group, status(level=Level.HIGH), event_type="receiver.status")
        assert listener.nothing_more()
    first, second = listener.receive(), listener.receive()
    assert first is not None and second is not None
    assert (first["type"], first["payload"]["level"]) == ("receiver.status", "low")
    assert (second["type"], second["payload"]["level"]) == ("receiver.status", "high")
    assert listener.nothing_more()


@pytest.mark.django_db(transaction=True)
def test_in_memory_layer_gets_the_broadcast_after_the_commit_only(
    layer: BaseChannelLayer, listen: Callable[[BaseChannelLayer, str], Listener]
) -> None:
    round_trip(layer, listen)


@pytest.mark.django_db(transaction=True)
def test_redis_layer_gets_the_broadcast_after_the_commit_only(
    redis_layer: BaseChannelLayer,
    listen: Callable[[BaseChannelLayer, str], Listener],
) -> None:
    round_trip(redis_layer, listen)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_sends_at_once(
    layer: BaseChannelLayer, listen: Callable[[BaseChannelLayer, str], Listener]
) -> None:
    group = unique_group()
    listener = listen(layer, group)
    broadcast(group, [1, 2])
    assert listener.receive(timeout_s=0.2) == payload_message([1, 2])


@pytest.mark.django_db(transaction=True)
def test_the_payload_is_converted_when_broadcast_is_called(
    layer: BaseChannelLayer, listen: Callable[[BaseChannelLayer, str], Listener]
) -> None:
    group = unique_group()
    listener = listen(layer, group)
    extra: dict[str, object] = {"name": "before"}
    with transaction.atomic():
        broadcast(group, status(extra=extra))
        extra["name"] = "after"  # the request goes on changing its objects
    message = listener.receive()
    assert message is not None
    assert message["payload"]["extra"] == {"name": "before"}


@pytest.mark.django_db(transaction=True)
def test_a_typed_receiver_broadcasts_after_the_senders_commit(
    layer: BaseChannelLayer, listen: Callable[[BaseChannelLayer, str], Listener]
) -> None:
    group = unique_group()
    listener = listen(layer, group)
    status_changed = TypedSignal(ReceiverStatus, name="micboard.status_changed")

    @receiver(status_changed)
    def broadcast_status(
        sender: object, *, payload: ReceiverStatus, **kwargs: object
    ) -> None:
        broadcast(group, payload, event_type="receiver.status")

    with transaction.atomic():
        status_changed.send(Note, status(is_online=True))
        assert listener.nothing_more()
    message = listener.receive()
    assert message is not None
    assert message["type"] == "receiver.status"
    assert message["payload"]["receiver_id"] == str(uuid.UUID(int=7))
    assert message["payload"]["is_online"] is True


@pytest.mark.django_db(transaction=True)
def test_a_failing_group_send_is_logged_with_the_group_not_raised(
    caplog: pytest.LogCaptureFixture,
    listen: Callable[[BaseChannelLayer, str], Listener],
) -> None:
    # A real Redis layer whose server is not there: group_send fails.
    config = {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]}
    backend = "channels_redis.core.RedisChannelLayer"
    fresh_layers()
    group = unique_group()
    with (
        override_settings(
            CHANNEL_LAYERS={"default": {"BACKEND": backend, "CONFIG": config}}
        ),
        caplog.at_level(logging.ERROR, logger="django_typed_signals.services"),
    ):
        with transaction.atomic():
            note = Note.objects.create(text="kept")
            broadcast(group, {"note": note})
        # The commit happened and did not raise.
        assert Note.objects.filter(pk=note.pk).exists()
    fresh_layers()
    [record] = [r for r in caplog.records if r.name == "django_typed_signals.services"]
    assert group in record.getMessage()
    assert record.exc_info is not None


# --- conversion -----------------------------------------------------------


@pytest.mark.django_db
def test_payloads_become_plain_data() -> None:
    note = Note.objects.create(text="n")
    checked = datetime.datetime(2025, 3, 1, 12, 30, tzinfo=datetime.timezone.utc)
    payload = status(
        battery=Battery(level=80, checked=checked),
        channels=(1, 2),
        tags=frozenset({"b", "c", "a"}),
        extra={
            "note": note,
            "on": datetime.date(2025, 3, 1),
            "at": datetime.time(9, 5),
            "gain": Decimal("1.50"),
            "nothing": None,
            "ratio": 0.5,
        },
    )
    message = to_message(payload)
    assert message == {
        "type": "signal.payload",
        "payload": {
            "receiver_id": "00000000-0000-0000-0000-000000000007",
            "is_online": False,
            "battery": {"level": 80, "checked": "2025-03-01T12:30:00+00:00"},
            "level": "low",
            "channels": [1, 2],
            "tags": ["a", "b", "c"],
            "extra": {
                "note": note.pk,
                "on": "2025-03-01",
                "at": "09:05:00",
                "gain": "1.50",
                "nothing": None,
                "ratio": 0.5,
            },
        },
    }
    mixed = to_message({1, "x"})["payload"]  # unsortable: the set's order
    assert isinstance(mixed, list) and sorted(mixed, key=str) == [1, "x"]


@pytest.mark.parametrize(
    ("extra", "path", "what"),
    [
        ({"delay": datetime.timedelta(1)}, "['delay']", "datetime.timedelta"),
        ({"list": [1, b"raw"]}, "['list'][1]", "a bytes"),
        ({"by_id": {1: "a"}}, "['by_id'][1]", "a key of type int"),
        ({"note": Note(text="unsaved")}, "['note']", "unsaved tests.testapp"),
        ({"level": float("nan")}, "['level']", "the float nan"),
    ],
)
def test_unconvertible_values_fail_in_the_call_naming_path_and_type(
    extra: dict[str, object],
    path: str,
    what: str,
    layer: BaseChannelLayer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(TypeError) as info,
    ):
        broadcast("group", status(extra=extra))
    message = str(info.value)
    assert f"{__name__}.ReceiverStatus" in message
    assert f"ReceiverStatus.extra{path} is " in message
    assert what in message
    assert callbacks == []  # nothing scheduled


@pytest.mark.parametrize("group", ["has space", "x" * 100, "émoji", ""])
def test_a_group_channels_refuses_is_a_value_error_naming_it(
    group: str,
    layer: BaseChannelLayer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(ValueError, match="broadcast group") as info,
    ):
        broadcast(group, {"a": 1})
    assert repr(group) in str(info.value)
    assert callbacks == []


@pytest.mark.parametrize("event_type", ["", "_private"])
def test_an_event_type_no_consumer_can_handle_is_refused(
    event_type: str, layer: BaseChannelLayer
) -> None:
    with pytest.raises(ValueError, match="event_type"):
        broadcast("group", {}, event_type=event_type)


def test_an_unconfigured_layer_names_the_alias_and_the_setting() -> None:
    fresh_layers()
    with (
        override_settings(CHANNEL_LAYERS=IN_MEMORY),
        pytest.raises(ImproperlyConfigured, match=r"'realtime'.*CHANNEL_LAYERS"),
    ):
        broadcast("group", {}, layer="realtime")
    fresh_layers()


def test_the_default_layer_is_channels_default() -> None:
    assert OUR_DEFAULT == DEFAULT_CHANNEL_LAYER


def test_without_channels_the_module_imports_and_broadcast_says_what_to_install() -> (
    None
):
    code = (
        "import sys; sys.modules['channels'] = None\n"  # as if not installed
        "import django; django.setup()\n"
        "from django_typed_signals.services._broadcast import broadcast\n"
        "try:\n"
        "    broadcast('group', {})\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImproperlyConfigured")
    assert "django-typed-signals[channels]" in done.stdout


# --- async ----------------------------------------------------------------


def test_abroadcast_sends_at_once_from_async_code(layer: BaseChannelLayer) -> None:
    group = unique_group()

    async def main() -> tuple[Message, Message]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await abroadcast(group, status(), event_type="receiver.status")
        await abroadcast(group, {"n": 2})
        return await layer.receive(channel), await layer.receive(channel)

    first, second = asyncio.run(main())
    assert first["type"] == "receiver.status"
    assert first["payload"]["receiver_id"] == str(uuid.UUID(int=7))
    assert second == payload_message({"n": 2})


def test_abroadcast_converts_before_sending(layer: BaseChannelLayer) -> None:
    with pytest.raises(TypeError, match=r"ReceiverStatus\.extra\['d'\] is "):
        asyncio.run(abroadcast("group", status(extra={"d": datetime.timedelta()})))


def test_broadcast_in_a_running_event_loop_points_to_abroadcast(
    layer: BaseChannelLayer,
) -> None:
    async def main() -> None:
        broadcast("group", {})

    with pytest.raises(RuntimeError, match="abroadcast"):
        asyncio.run(main())


@pytest.mark.django_db(transaction=True)
def test_abroadcast_in_an_async_service_waits_for_its_commit(
    layer: BaseChannelLayer,
) -> None:
    group = unique_group()
    seen_in_body: list[Message | None] = []

    async def receive_or_none(channel: str) -> Message | None:
        try:
            return await asyncio.wait_for(layer.receive(channel), 0.2)
        except asyncio.TimeoutError:
            return None

    async def main() -> Message | None:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)

        @service
        async def go_offline() -> None:
            await abroadcast(group, status())
            seen_in_body.append(await receive_or_none(channel))

        try:
            await go_offline()
        finally:
            # The ORM's thread keeps its connection open; Django's ASGI
            # handler closes it at the end of each request, as this does.
            await sync_to_async(connections.close_all)()
        return await receive_or_none(channel)

    after = asyncio.run(main())
    assert seen_in_body == [None]
    assert after is not None
    assert after["payload"]["receiver_id"] == str(uuid.UUID(int=7))

"""Type-checked by mypy and pyright, never run: services, audit, transitions."""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import assert_type

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.services import (
    AuditContext,
    Transitions,
    audit,
    broadcast,
    current_context,
    service,
)
from tests.testapp.models import Article


@dataclass(frozen=True)
class DeviceSynced:
    device_id: int


device_synced = TypedSignal(DeviceSynced)


@service
def sync_device(*, device_id: int, status: str) -> int:
    device_synced.send_on_commit(None, DeviceSynced(device_id))
    return device_id


@service(using="default", tags=("audit:required",))
async def sync_later(*, device_id: int) -> str:
    await device_synced.asend_on_commit(None, DeviceSynced(device_id))
    return "ok"


assert_type(sync_device(device_id=1, status="online"), int)
sync_device(device_id="1", status="online")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def caller() -> None:
    assert_type(await sync_later(device_id=1), str)


@receiver(device_synced, read_only=True)
def push(sender: object, *, payload: DeviceSynced, **kwargs: object) -> None:
    broadcast(f"device-{payload.device_id}", payload)


@receiver(device_synced, run="celery", read_only=True, queue="sync")
def log_sync(sender: object, *, payload: DeviceSynced, **kwargs: object) -> None:
    assert_type(current_context(), AuditContext)


def not_a_flag(sender: object, *, payload: DeviceSynced, **kwargs: object) -> None: ...


device_synced.connect(not_a_flag, read_only="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

with audit(actor=None, tags=("api",)) as context:
    assert_type(context, AuditContext)
    assert_type(context.tags, frozenset[str])

article_status = Transitions(Article, "status", {"draft": {"review"}})
assert_type(article_status, Transitions[Article])
assert_type(article_status.guard(), Transitions[Article])
article_status.allowed(Article())
article_status.allowed(object())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

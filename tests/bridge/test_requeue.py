"""``requeue_rows()``: what ``signal_deliveries requeue`` and the admin share."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_typed_signals.bridge import _breaker
from django_typed_signals.bridge._outbox import NewDelivery, write_deliveries
from django_typed_signals.bridge._requeue import requeue_rows
from django_typed_signals.models import BreakerState, Delivery

pytestmark = pytest.mark.django_db
Status = Delivery.Status


def row(status: str, receiver: str, **changes: object) -> Delivery:
    (written,) = write_deliveries(
        [NewDelivery(signal="shop.paid", receiver=receiver, payload={})]
    )
    Delivery.objects.filter(pk=written.pk).update(status=status, attempts=2, **changes)
    return Delivery.objects.get(pk=written.pk)


def pause(*receivers: str) -> None:
    until = timezone.now() + timedelta(hours=1)
    for receiver in receivers:
        BreakerState.objects.create(
            receiver=receiver, consecutive_failures=5, paused_until=until
        )


@pytest.mark.parametrize("kwargs", [{}, {"ids": [1], "dead": True}])
def test_takes_ids_or_dead_exactly(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"ids=\[...\] or dead=True"):
        requeue_rows(using="default", **kwargs)  # type: ignore[arg-type]


def test_listed_rows_say_why_they_were_left_and_only_taken_receivers_resume() -> None:
    now = timezone.now()
    dead = row(Status.DEAD, "shop.r.dead")
    done = row(Status.DONE, "shop.r.done")
    live = row(Status.RUNNING, "shop.r.live", lease_until=now + timedelta(minutes=5))
    pause("shop.r.dead", "shop.r.done", "shop.r.live")

    got = requeue_rows(ids=[dead.pk, done.pk, live.pk, 999_999], using="default")

    assert (got.count, got.resumed) == (1, 1)
    assert got.left == {
        done.pk: "it is done (replay runs a done delivery again)",
        live.pk: "it is running under a live lease",
        999_999: "no such delivery",
    }
    assert Delivery.objects.get(pk=dead.pk).status == Status.PENDING
    assert _breaker.paused_receivers() == ["shop.r.done", "shop.r.live"]


def test_dead_takes_every_dead_row_and_resumes_their_receivers() -> None:
    first, second = row(Status.DEAD, "shop.r.a"), row(Status.DEAD, "shop.r.b")
    row(Status.RETRYING, "shop.r.c")
    pause("shop.r.a", "shop.r.c")

    got = requeue_rows(dead=True, using="default")

    assert (got.count, got.resumed, got.left) == (2, 1, {})
    assert {
        r.status for r in Delivery.objects.filter(pk__in=[first.pk, second.pk])
    } == {Status.PENDING}
    assert _breaker.paused_receivers() == ["shop.r.c"]

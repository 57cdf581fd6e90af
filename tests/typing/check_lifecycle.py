"""Type-checked by mypy and pyright, never run: typed model receivers."""

from __future__ import annotations

from django.db.models import Model
from typing_extensions import assert_type

from django_typed_signals import receiver
from django_typed_signals.bridge import DeliveryInfo
from django_typed_signals.lifecycle import (
    Condition,
    M2MChanged,
    PostDelete,
    PostSave,
    PreDelete,
    PreSave,
    changed,
    created,
    post_save,
)
from tests.testapp.models import Customer, Order, OrderTag


@receiver(PostSave, sender=Order, when=changed("status", to="paid"))
def on_paid(sender: type[Order], *, payload: PostSave[Order], **kwargs: object) -> None:
    assert_type(payload.instance, Order)
    assert_type(payload.created, bool)
    payload.changes["status"].old.upper()  # values are Any: compare freely


@receiver(PreSave, sender=Order, priority=-1, when=created() | changed("amount"))
def before(sender: type[Order], *, payload: PreSave[Order], **kwargs: object) -> None:
    assert_type(payload.instance, Order)


@receiver(PostSave, sender=Order, on_commit=True)
def base_payload(sender: object, *, payload: PostSave[Model], **kwargs: object) -> None:
    """Accepting PostSave[Model] for Order's events is fine (covariant)."""


@receiver(PostDelete, sender=Customer)
def gone(sender: object, *, payload: PostDelete[Customer], **kwargs: object) -> None:
    assert_type(payload.instance, Customer)


@receiver(M2MChanged, sender=OrderTag)
def tags(sender: object, *, payload: M2MChanged[Model], **kwargs: object) -> None:
    if payload.pk_set is not None:
        sorted(payload.pk_set)


@receiver(PostSave)
def every_model(sender: object, *, payload: PostSave[Model], **kwargs: object) -> None:
    """Without a sender: any model's saves."""


def wrong_model(
    sender: object, *, payload: PostSave[Customer], **kwargs: object
) -> None: ...


def wrong_event(
    sender: object, *, payload: PreSave[Order], **kwargs: object
) -> None: ...


def no_kwargs(sender: object, *, payload: PostSave[Order]) -> None: ...


receiver(PostSave, sender=Order)(wrong_model)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver(PostSave, sender=Order)(wrong_event)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver(PostSave, sender=Order)(no_kwargs)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def for_customers(payload: PostSave[Customer]) -> bool:
    return payload.created


receiver(PostSave, sender=Order, when=for_customers)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]


# Conditions carry the payload they read: changed() and created() read a save.
save_condition = changed("status") & ~created() | changed("amount", to=1)
assert_type(save_condition, Condition[PreSave[Model] | PostSave[Model]])
receiver(PostSave, sender=Order, when=changed("status") & ~created())
receiver(PreSave, sender=Order, when=save_condition)
receiver(PreDelete, sender=Order, when=lambda p: p.origin is None)
receiver(PreDelete, sender=Order, when=changed("status"))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
receiver(PostDelete, sender=Order, when=created())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
receiver(PreDelete, sender=Order, when=~created() & changed("note"))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
receiver(M2MChanged, sender=OrderTag, when=changed("tag"))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
receiver(PreDelete, when=created())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
receiver(PostSave, when=lambda p: p.created and p.changes == {})
receiver([PreSave, PostSave], when=changed("status") & ~created())


# A list of payload classes: the payload is either, typed for the sender.
@receiver([PreSave, PostSave], sender=Order, when=changed("status") | created())
def both_halves(
    sender: type[Order],
    *,
    payload: PreSave[Order] | PostSave[Order],
    **kwargs: object,
) -> None:
    assert_type(payload.instance, Order)
    assert_type(payload.created, bool)


@receiver((PreDelete, PostDelete), sender=Customer)
def going_and_gone(
    sender: object,
    *,
    payload: PreDelete[Customer] | PostDelete[Customer],
    **kwargs: object,
) -> None:
    assert_type(payload.instance, Customer)


# Any mix of signals and payload classes, checked at run time.
@receiver([post_save, PreSave], sender=Order, priority=1)
def mixed(sender: object, **kwargs: object) -> None: ...


receiver([PreSave, PostSave], sender=Order)(wrong_event)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
receiver([PreDelete, PostDelete], sender=Order, when=changed("status"))  # type: ignore[list-item]  # pyright: ignore[reportCallIssue, reportArgumentType]


@receiver(PostSave, sender=Order, run="celery", queue="email", atomic=True)
def in_worker(
    sender: type[Order],
    *,
    payload: PostSave[Order],
    delivery: DeliveryInfo,
    **kwargs: object,
) -> None:
    """A run="celery" lifecycle receiver may require the worker's delivery."""
    assert_type(payload.instance, Order)
    assert_type(delivery.key, str)


def needs_delivery(
    sender: type[Order],
    *,
    payload: PreDelete[Order],
    delivery: DeliveryInfo,
    **kwargs: object,
) -> None: ...


receiver(PreDelete, sender=Order, run="celery")(needs_delivery)
receiver(PreDelete, sender=Order)(needs_delivery)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

"""The shop's signals and their receivers.

django_typed_signals imports this module at startup (autodiscovery), so the
receivers below are connected without any ``AppConfig.ready()``.
"""

from dataclasses import dataclass
from decimal import Decimal

from django_typed_signals import TypedSignal, receiver
from django_typed_signals.bridge import DeliveryInfo
from django_typed_signals.lifecycle import PostSave, changed
from django_typed_signals.services import Transitions, current_context

from .models import Order


@dataclass(frozen=True)
class OrderPaid:
    order: Order
    amount: Decimal


order_paid = TypedSignal(OrderPaid, name="shop.order_paid", groups=["billing"])

# What the receivers did, in call order. The demo command prints and clears it.
journal: list[str] = []


# Defined first, runs second: priority decides the order (lower runs first).
@receiver(order_paid, priority=20)
def notify_warehouse(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
    journal.append(f"notify_warehouse (priority 20): ship order #{payload.order.pk}")


@receiver(order_paid, priority=10)
def record_revenue(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
    journal.append(f"record_revenue   (priority 10): book {payload.amount}")


@receiver(order_paid, priority=30, on_commit=True)
def email_receipt(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
    note = f"mail the receipt for order #{payload.order.pk}"
    journal.append(f"email_receipt    (priority 30, on_commit): {note}")


# A typed model event: runs only when a save moves the status to "paid", and
# knows the previous value without a query (changed() tracks the field).
@receiver(PostSave, sender=Order, when=changed("status", to=Order.Status.PAID))
def status_paid(
    sender: type[Order], *, payload: PostSave[Order], **kwargs: object
) -> None:
    change = payload.changes["status"]
    journal.append(
        f"status_paid      (PostSave[Order]): order #{payload.instance.pk} "
        f"{change.old} -> {change.new}"
    )


@dataclass(frozen=True)
class OrderShipped:
    order: Order
    carrier: str


order_shipped = TypedSignal(OrderShipped, name="shop.order_shipped", groups=["billing"])


# run="celery": a delivery row is written in the sender's transaction and the
# receiver runs after the commit, once. With no broker configured the bridge's
# default executor ("eager") runs the row in this process, right after commit.
@receiver(order_shipped, run="celery", max_attempts=3)
def track_parcel(
    sender: object, *, payload: OrderShipped, delivery: DeliveryInfo, **kwargs: object
) -> None:
    journal.append(
        f"track_parcel     (run='celery', delivery #{delivery.id}, attempt "
        f"{delivery.attempt}): order #{payload.order.pk} via {payload.carrier}"
    )


# Every save of an order is checked against these moves, the admin's included;
# orders start new, or paid when paid at checkout.
order_status = Transitions(
    Order,
    "status",
    {Order.Status.NEW: {Order.Status.PAID}},
    initial={Order.Status.NEW, Order.Status.PAID},
).guard()


# read_only=True: it may read the database, never write to it; it logs who
# acted (the audit context a service or AuditContextMiddleware set).
@receiver(order_paid, priority=40, read_only=True)
def audit_log(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
    context = current_context()
    journal.append(
        f"audit_log        (priority 40, read_only): order #{payload.order.pk} "
        f"paid; organization={context.organization} tags={sorted(context.tags)}"
    )

"""``manage.py demo``: a tour of django-typed-signals with the shop's signal."""

from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings

from django_typed_signals import mute
from django_typed_signals.models import Delivery
from django_typed_signals.services import (
    InvalidTransition,
    ReadOnlyReceiverError,
    audit,
)
from shop.models import Order
from shop.services import pay_order
from shop.signals import (
    OrderPaid,
    OrderShipped,
    journal,
    order_paid,
    order_shipped,
    order_status,
)


class Command(BaseCommand):
    help = "Send shop.order_paid in a few ways and show what the receivers did."

    def handle(self, *args: Any, **options: Any) -> None:
        self.heading(
            "1. a save that changes the status, then send() inside a transaction:"
            " priority order, on_commit later"
        )
        with transaction.atomic():
            order = Order.objects.create(amount=Decimal("9.99"))
            created = [order.pk]
            order.status = Order.Status.PAID
            order.save(update_fields=["status"])
            order_paid.send(Order, OrderPaid(order=order, amount=order.amount))
            self.report("before commit")
        self.report("after commit")

        self.heading("2. send_on_commit(): nothing runs until the transaction commits")
        with transaction.atomic():
            order = Order.objects.create(amount=Decimal("25.00"), status="paid")
            created.append(order.pk)
            paid = OrderPaid(order=order, amount=order.amount)
            order_paid.send_on_commit(Order, paid)
            self.report("before commit")
        self.report("after commit")

        self.heading('3. with mute("billing"): the signal is silenced')
        with mute("billing"):
            order_paid.send(Order, paid)
        self.report("inside mute()")

        self.heading("4. a payload of the wrong type is refused")
        # mypy rejects this call already; cast() hides it to show the runtime check.
        wrong = cast(Any, {"order": order, "amount": paid.amount})
        try:
            order_paid.send(Order, wrong)
        except TypeError as exc:
            self.stdout.write(f"  TypeError: {exc}")
        self.report("after the refused send")

        self.heading("5. order_paid.receivers_info()")
        for info in order_paid.receivers_info():
            where = f"{info.file}:{info.line}" if info.file else "?"
            flags = ", ".join(
                flag
                for flag, on in [
                    ("on_commit", info.on_commit),
                    ("async", info.is_async),
                    ("weak", info.weak),
                ]
                if on
            )
            self.stdout.write(
                f"  priority {info.priority:>3}  {info.path}\n"
                f"               groups={sorted(info.groups)} [{flags}]\n"
                f"               {where}"
            )

        self.heading(
            '6. run="celery": a delivery row in the transaction, run after commit'
        )
        with transaction.atomic():
            order_shipped.send(Order, OrderShipped(order=order, carrier="bike"))
            rows = Delivery.objects.filter(signal="shop.order_shipped")
            self.stdout.write(f"  delivery rows before commit: {_statuses(rows)}")
            self.report("before commit")
        self.report("after commit")
        self.stdout.write(f"  delivery rows after commit: {_statuses(rows)}")

        self.heading(
            '7. EXECUTOR "local": the rows wait for the relay, which runs them'
            " (no broker)"
        )
        with override_settings(TYPED_SIGNALS=_bridge_executor("local")):
            with transaction.atomic():
                order_shipped.send(Order, OrderShipped(order=order, carrier="van"))
            self.report("after commit")
            self.stdout.write(f"  delivery rows after commit: {_statuses(rows)}")
            call_command("signal_relay", "--once", stdout=self.stdout)
            self.report("after signal_relay --once")
            self.stdout.write(f"  delivery rows after the relay: {_statuses(rows)}")
            call_command("signal_deliveries", "status", stdout=self.stdout)

        self.heading(
            "8. services: @service pays the order in one transaction; receivers"
            " see the audit context"
        )
        order = Order.objects.create(amount=Decimal("12.50"))
        created.append(order.pk)
        with audit(organization="acme", tags=("demo",)):
            pay_order(order_id=order.pk)
        self.report("after pay_order()")
        try:
            pay_order(order_id=order.pk)
        except ValidationError as exc:
            self.stdout.write(f"  paying it again: ValidationError: {exc.message}")
        self.report("after the refused second payment (nothing sent)")
        order.refresh_from_db()
        self.stdout.write(
            f"  next states of order #{order.pk}: {order_status.allowed(order)}"
        )
        order.status = Order.Status.NEW
        try:
            order.save()
        except InvalidTransition as exc:
            self.stdout.write(f"  back to new: InvalidTransition: {exc.message}")

        def sloppy(sender: object, *, payload: OrderPaid, **kwargs: object) -> None:
            Order.objects.filter(pk=payload.order.pk).update(amount=0)

        order_paid.connect(sloppy, read_only=True)
        try:
            with transaction.atomic():
                order_paid.send(Order, OrderPaid(order=order, amount=order.amount))
        except ReadOnlyReceiverError as exc:
            self.stdout.write(f"  a read-only receiver that writes: {exc}")
        finally:
            order_paid.disconnect(sloppy)
        journal.clear()

        self.heading("Orders saved by this run")
        for saved in Order.objects.filter(pk__in=created).order_by("pk"):
            self.stdout.write(f"  {saved}")

    def heading(self, text: str) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(text))

    def report(self, moment: str) -> None:
        """Print what the receivers did since the last report, then forget it."""
        self.stdout.write(f"  {moment}:")
        for line in journal or ["(no receiver ran)"]:
            self.stdout.write(f"    {line}")
        journal.clear()


def _statuses(rows: Any) -> str:
    """``#id status`` of each delivery row, newest last."""
    found = [f"#{row.pk} {row.status}" for row in rows.order_by("pk")]
    return ", ".join(found) or "(none)"


def _bridge_executor(executor: str) -> dict[str, Any]:
    """This project's ``TYPED_SIGNALS`` with another bridge executor."""
    current: dict[str, Any] = settings.TYPED_SIGNALS
    return {**current, "BRIDGE": {**current.get("BRIDGE", {}), "EXECUTOR": executor}}

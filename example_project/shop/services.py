"""The shop's business logic: services write, receivers only react.

``pay_order`` checks and saves in one transaction and sends ``order_paid``
once it commits; the receivers in ``signals.py`` log, notify and mail.
"""

from django.core.exceptions import ValidationError

from django_typed_signals.services import service

from .models import Order
from .signals import OrderPaid, order_paid


@service(tags=("checkout",))
def pay_order(*, order_id: int) -> Order:
    """Mark an order paid; ``ValidationError`` if it is paid already."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status == Order.Status.PAID:
        raise ValidationError(f"order #{order.pk} is paid already")
    order.status = Order.Status.PAID
    order.save(update_fields=["status"])  # the Transitions guard checks this save
    order_paid.send_on_commit(Order, OrderPaid(order=order, amount=order.amount))
    return order

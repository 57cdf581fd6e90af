from django.apps import AppConfig


class ShopConfig(AppConfig):
    # No ready(): django_typed_signals imports shop/signals.py at startup.
    name = "shop"

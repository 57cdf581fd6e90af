from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "benchmarks.bridge_project.shop"
    label = "bridge_bench_shop"
    default_auto_field = "django.db.models.BigAutoField"

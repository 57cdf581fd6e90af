from __future__ import annotations

from django.apps import AppConfig


class TrackingAppConfig(AppConfig):
    name = "tracking_app"
    default_auto_field = "django.db.models.BigAutoField"

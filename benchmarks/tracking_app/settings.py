"""Settings for ``benchmarks/tracking.py``: in-memory SQLite, no middleware."""

from __future__ import annotations

SECRET_KEY = "benchmarks-only"
DEBUG = False  # no query log: it would grow with every row and save
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django_typed_signals",
    "tracking_app",
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

TYPED_SIGNALS = {"AUTODISCOVER": False}

# Every variant maps the one table on purpose.
SILENCED_SYSTEM_CHECKS = ["models.E028"]

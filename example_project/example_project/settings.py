"""Settings of the example project: a shop that sends typed signals."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-project-only-never-use-in-production"
DEBUG = True
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django_typed_signals",
    "shop",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# The defaults, spelled out: shop/signals.py is imported at startup.
TYPED_SIGNALS = {
    "AUTODISCOVER": True,
    "AUTODISCOVER_MODULES": ["signals"],
    "OBSERVERS": [],
    # run="celery" receivers: "eager" runs them here after the commit (no
    # broker); "local" leaves them to `manage.py signal_relay`; "celery" to
    # `celery -A example_project worker` (and the relay, for what it missed).
    "BRIDGE": {"EXECUTOR": os.environ.get("SHOP_BRIDGE_EXECUTOR", "eager")},
}

CELERY_BROKER_URL = os.environ.get("SHOP_BROKER_URL", "redis://127.0.0.1:6379/0")

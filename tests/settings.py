"""Settings for the test suite.

``TYPED_SIGNALS_TEST_DB=postgres`` runs the database tests against PostgreSQL
(127.0.0.1:5432 by default, see the ``PG*`` variables below); the default is
an in-memory SQLite database. A second database, ``other``, serves the
tests of ``using=`` and of work spread over two databases.
"""

from __future__ import annotations

import json
import os
from typing import Any

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_typed_signals",
    "tests.testapp",
]

_engine = os.environ.get("TYPED_SIGNALS_TEST_DB", "sqlite")
if _engine == "postgres":
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "typed_signals"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
    # Workers and relays keep their connections (CONN_MAX_AGE); tests don't.
    DATABASES["default"]["CONN_MAX_AGE"] = int(
        os.environ.get("TYPED_SIGNALS_TEST_CONN_MAX_AGE", "0")
    )
    DATABASES["other"] = {
        **DATABASES["default"],
        "NAME": f"{DATABASES['default']['NAME']}_other",
    }
elif _engine == "sqlite":
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
else:
    raise ValueError(
        f"TYPED_SIGNALS_TEST_DB must be 'sqlite' or 'postgres', got {_engine!r}"
    )

# The bridge tests start Celery workers with these set (tests/bridge/workers.py);
# the defaults need no server.
CELERY_BROKER_URL = os.environ.get("TYPED_SIGNALS_TEST_BROKER", "memory://")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TYPED_SIGNALS_TEST_QUEUE", "celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
if "TYPED_SIGNALS_TEST_SETTINGS" in os.environ:
    TYPED_SIGNALS = json.loads(os.environ["TYPED_SIGNALS_TEST_SETTINGS"])

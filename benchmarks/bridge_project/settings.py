"""Settings for ``benchmarks/bridge.py`` and its workers: PostgreSQL and Redis.

The benchmark process and its ``celery worker`` subprocesses read the same
environment: ``BRIDGE_BENCH_QUEUE`` (a queue name unique to the run, so that
nothing else consumes it), ``BRIDGE_BENCH_DB`` and ``BRIDGE_BENCH_REDIS``.
"""

from __future__ import annotations

import os

SECRET_KEY = "benchmarks-only"
DEBUG = False  # no query log
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django_typed_signals",
    "benchmarks.bridge_project.shop",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BRIDGE_BENCH_DB", "typed_signals_bench"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        # Persistent connections, as in production. Celery's Django fixup (5.5
        # and later) still closes every connection before and after each task
        # unless CELERY_DB_REUSE_MAX is set; left at Celery's default here, so
        # each task on either side opens one (about 3 ms on this machine, and
        # each table a fresh connection touches first costs about 0.5 ms).
        "CONN_MAX_AGE": 600,
    }
}

CELERY_BROKER_URL = os.environ.get("BRIDGE_BENCH_REDIS", "redis://127.0.0.1:6379/5")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BRIDGE_BENCH_QUEUE", "dts-bench")
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False  # no pidbox queue left in Redis

TYPED_SIGNALS = {
    "BRIDGE": {
        "EXECUTOR": "celery",
        "CELERY_APP": "benchmarks.bridge_project.celery.app",
    }
}

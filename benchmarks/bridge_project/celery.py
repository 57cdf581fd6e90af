"""``celery -A benchmarks.bridge_project worker``: the app both sides publish with."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bridge_project.settings")

app = Celery("bridge_bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # shop.tasks and django_typed_signals.tasks


@worker_ready.connect
def _say_ready(**kwargs: Any) -> None:
    # Celery logs its own "ready." at INFO; the benchmark runs workers at
    # WARNING, so that 10,000 "Task ... succeeded" lines cost neither side.
    print("bench worker ready.", flush=True)

"""The shop's Celery app, as in Celery's "First steps with Django".

``celery -A example_project worker`` runs the ``run="celery"`` receivers when
``SHOP_BRIDGE_EXECUTOR=celery``; the demo's default (``eager``) needs no broker.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""The project ``benchmarks/bridge.py`` runs: Celery's own Django layout.

Importing the package imports the Celery app, as ``proj/__init__.py`` does,
so that ``shared_task`` and the bridge publish through it.
"""

from __future__ import annotations

from .celery import app as celery_app

__all__ = ["celery_app"]

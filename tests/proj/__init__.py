"""The test project's Celery app, laid out as Celery's "First steps with Django"."""

from .celery import app as celery_app

__all__ = ["celery_app"]

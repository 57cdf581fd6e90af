"""``tests.settings`` with a test database of its own.

``test_django_runner`` runs Django's test runner in a subprocess while the
pytest session holds its test database: on PostgreSQL the two need different
names.
"""

from __future__ import annotations

import os

from tests import settings as _base

globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

_default: dict[str, object] = dict(_base.DATABASES["default"])
if _default["ENGINE"] == "django.db.backends.postgresql":
    _default["TEST"] = {"NAME": f"test_typed_signals_runner_{os.getpid()}"}
DATABASES = {"default": _default}

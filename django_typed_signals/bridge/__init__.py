"""The bridge: receivers connected with ``run="celery"`` run from delivery rows.

Importing this package registers the ``"celery"`` executor; the app's
``ready()`` does it, so users only write ``@receiver(..., run="celery")``.
"""

from __future__ import annotations

from .._exports import show_public_module
from ._checks import TAG as _TAG  # noqa: F401  # pyright: ignore[reportUnusedImport]  # registers the E3xx system checks
from ._encoding import DecodingError, EncodingError
from ._executor import executor as _executor  # noqa: F401  # pyright: ignore[reportUnusedImport]  # registers run="celery"
from ._info import DeliveryCall, DeliveryInfo

__all__ = ["DecodingError", "DeliveryCall", "DeliveryInfo", "EncodingError"]

show_public_module(__name__, __all__, globals())

"""The bridge: receivers connected with ``run="celery"`` run from delivery rows.

Importing this package registers the ``"celery"`` executor; the app's
``ready()`` does it, so users only write ``@receiver(..., run="celery")``.
"""

from __future__ import annotations

from .._exports import show_public_module
from ._encoding import DecodingError, EncodingError
from ._executor import executor as _executor  # noqa: F401  # pyright: ignore[reportUnusedImport]  # registers run="celery"
from ._info import DeliveryInfo

__all__ = ["DecodingError", "DeliveryInfo", "EncodingError"]

show_public_module(__name__, __all__, globals())

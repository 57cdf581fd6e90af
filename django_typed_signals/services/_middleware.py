"""``AuditContextMiddleware``: each request's actor and trace id, for receivers.

Put it after ``AuthenticationMiddleware``. The actor is ``request.user``
when authenticated (else None), the organization ``request.organization``
when a middleware before it set one, and the trace id the W3C
``traceparent`` header's trace-id, else ``X-Request-ID``. Sync and async:
under ASGI the user is read with ``request.auser()``, never blocking the
event loop.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import LazyObject

from .._audit import audit

__all__ = ["AuditContextMiddleware", "trace_id_of"]

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, bounded


def trace_id_of(request: HttpRequest) -> str | None:
    """The request's trace id: ``traceparent``'s trace-id, else ``X-Request-ID``.

    A malformed header is ignored (a trace id is for logs, not for trust).
    """
    traceparent = request.headers.get("traceparent", "").strip().lower()
    found = _TRACEPARENT.match(traceparent)
    if found and found.group(1) != "0" * 32:
        return found.group(1)
    request_id = request.headers.get("x-request-id", "").strip()
    return request_id if _REQUEST_ID.match(request_id) else None


def _actor(user: object) -> object:
    """The authenticated user itself (not ``request.user``'s lazy wrapper,
    which could not travel to a worker), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    if isinstance(user, LazyObject):
        wrapped: object = user._wrapped
        return wrapped
    return user


class AuditContextMiddleware:
    """Sets the audit context (``services.audit``) for the whole request."""

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.is_async: bool = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        user = getattr(request, "user", None)
        with audit(
            actor=_actor(user),
            organization=getattr(request, "organization", None),
            trace_id=trace_id_of(request),
        ):
            return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        auser = getattr(request, "auser", None)
        user = await auser() if auser is not None else getattr(request, "user", None)
        with audit(
            actor=_actor(user),
            organization=getattr(request, "organization", None),
            trace_id=trace_id_of(request),
        ):
            return await cast("Awaitable[HttpResponseBase]", self.get_response(request))

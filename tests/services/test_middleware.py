"""``AuditContextMiddleware``: each request's actor and trace id, sync and async,
and two concurrent requests never see each other's."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from asgiref.sync import iscoroutinefunction
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory, RequestFactory
from django.utils.functional import SimpleLazyObject

from django_typed_signals.services import AuditContextMiddleware, current_context
from django_typed_signals.services._middleware import trace_id_of

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def seen_by_view(request: HttpRequest) -> HttpResponse:
    context = current_context()
    response = HttpResponse()
    response.context = context  # type: ignore[attr-defined]
    return response


@pytest.mark.django_db
def test_a_sync_request_sets_actor_organization_and_trace_id() -> None:
    alice = User.objects.create_user("alice")
    request = RequestFactory().get("/", headers={"traceparent": TRACEPARENT})
    request.user = cast(Any, SimpleLazyObject(lambda: User.objects.get(pk=alice.pk)))
    request.organization = "acme"  # type: ignore[attr-defined]
    middleware = AuditContextMiddleware(seen_by_view)
    assert not iscoroutinefunction(middleware)
    context = middleware(request).context
    assert type(context.actor) is User and context.actor == alice  # unwrapped
    assert context.organization == "acme"
    assert context.trace_id == TRACE
    assert not current_context()


def test_anonymous_users_are_no_actor_and_x_request_id_is_the_fallback() -> None:
    request = RequestFactory().get("/", headers={"x-request-id": "req-42"})
    request.user = AnonymousUser()
    context = AuditContextMiddleware(seen_by_view)(request).context
    assert context.actor is None
    assert context.trace_id == "req-42"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"traceparent": TRACEPARENT, "x-request-id": "r"}, TRACE),
        ({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "garbage", "x-request-id": "r-1"}, "r-1"),
        ({"x-request-id": "has space"}, None),
        ({"x-request-id": "x" * 201}, None),
        ({}, None),
    ],
)
def test_trace_ids_come_from_well_formed_headers(
    headers: dict[str, str], expected: str | None
) -> None:
    assert trace_id_of(RequestFactory().get("/", headers=headers)) == expected


def test_no_auth_middleware_means_no_actor() -> None:
    context = AuditContextMiddleware(seen_by_view)(RequestFactory().get("/")).context
    assert context.actor is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_async_requests_keep_their_own_context() -> None:
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    both_in = asyncio.Event()
    inside: list[str] = []

    async def view(request: HttpRequest) -> HttpResponse:
        inside.append(request.path)
        if len(inside) == 2:
            both_in.set()
        await both_in.wait()  # both requests are in flight here
        await asyncio.sleep(0)
        response = HttpResponse()
        response.context = current_context()  # type: ignore[attr-defined]
        return response

    middleware = AuditContextMiddleware(view)
    assert iscoroutinefunction(middleware)

    def request_by(user: User, path: str, request_id: str) -> HttpRequest:
        request = AsyncRequestFactory().get(path, headers={"x-request-id": request_id})

        async def auser() -> User:
            return user

        request.auser = auser
        return request

    async def main() -> list[Any]:
        responses = await asyncio.gather(
            middleware(request_by(alice, "/a", "req-a")),
            middleware(request_by(bob, "/b", "req-b")),
        )
        return [(r.context.actor, r.context.trace_id) for r in responses]

    assert asyncio.run(main()) == [(alice, "req-a"), (bob, "req-b")]

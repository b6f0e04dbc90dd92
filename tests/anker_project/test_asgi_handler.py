"""The ASGI handler: requests borrow pooled threads, sync views run their chain in one hop, and
what a client sees is the same as with Django's own handler."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.core.signals import request_started
from rest_framework_simplejwt.tokens import RefreshToken

from anker_project.asgi import django_asgi_app
from anker_project.asgi_handler import ExecutorPool, PooledASGIHandler
from jobs.models import JobApiKey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def request_threads() -> Any:
    """The names of the threads each request's thread-sensitive code ran on (request_started's
    sync receivers run there, as the request's ORM work does)."""
    names: list[str] = []

    def record(**_: Any) -> None:
        names.append(threading.current_thread().name)

    request_started.connect(record, weak=False)
    yield names
    request_started.disconnect(record)


async def me(token: str, app: Any = django_asgi_app) -> Any:
    communicator = HttpCommunicator(
        app, "GET", "/api/v1/auth/me", headers=[(b"authorization", f"Bearer {token}".encode()), (b"host", b"127.0.0.1")]
    )
    return await communicator.get_response(timeout=20)


async def test_sequential_requests_reuse_one_pooled_thread(alice: Any, request_threads: list[str]) -> None:
    token = await sync_to_async(lambda: str(RefreshToken.for_user(alice).access_token))()

    answers = [await me(token) for _ in range(5)]

    assert [a["status"] for a in answers] == [200] * 5
    assert len(set(request_threads)) == 1 and request_threads[0].startswith("request-")


async def test_more_concurrent_requests_than_pooled_threads_all_succeed(alice: Any, request_threads: list[str]) -> None:
    token = await sync_to_async(lambda: str(RefreshToken.for_user(alice).access_token))()
    handler = PooledASGIHandler()
    handler.pool = ExecutorPool(2)

    answers = await asyncio.gather(*(me(token, handler) for _ in range(8)))

    assert [a["status"] for a in answers] == [200] * 8
    assert handler.pool.idle() == 2  # every pooled thread came back
    assert all(name.startswith("request-") for name in request_threads)


async def test_a_sync_view_gets_the_whole_middleware_chain(alice: Any) -> None:
    token = await sync_to_async(lambda: str(RefreshToken.for_user(alice).access_token))()

    answer = await me(token)
    headers = dict(answer["headers"])

    assert answer["status"] == 200
    assert headers[b"X-Frame-Options"] == b"DENY"  # XFrameOptionsMiddleware
    assert headers[b"X-Content-Type-Options"] == b"nosniff"  # SecurityMiddleware
    assert b'"username":"alice"' in answer["body"]


async def test_an_unknown_url_and_a_bad_token_are_envelopes(alice: Any) -> None:
    unknown = await HttpCommunicator(
        django_asgi_app, "GET", "/api/v1/nope", headers=[(b"host", b"127.0.0.1")]
    ).get_response(timeout=20)
    refused = await me("not-a-token")

    assert unknown["status"] == 404
    assert refused["status"] == 401 and b'"code":401' in refused["body"]


async def test_an_async_view_keeps_the_async_chain(alice: Any) -> None:
    """GET /jobs is served by an async view (it must hold no thread while it waits)."""
    _, raw = await sync_to_async(JobApiKey.objects.create_key)(owner=alice, name="ci")
    request = HttpCommunicator(
        django_asgi_app,
        "GET",
        "/api/v1/jobs",
        headers=[(b"authorization", f"Api-Key {raw}".encode()), (b"host", b"127.0.0.1")],
    )

    answer = await request.get_response(timeout=20)

    assert answer["status"] == 200
    assert dict(answer["headers"])[b"X-Frame-Options"] == b"DENY"
    assert PooledASGIHandler.view_is_async(_path_request("/api/v1/jobs"))
    assert not PooledASGIHandler.view_is_async(_path_request("/api/v1/auth/me"))


def _path_request(path: str) -> Any:
    from django.test import RequestFactory

    return RequestFactory().get(path)

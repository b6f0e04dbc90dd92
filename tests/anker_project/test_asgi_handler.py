"""The ASGI app daphne serves, called in-process: Django's middleware chain runs synchronously
in one thread hop (anker_project/asgi_handler.py) and still answers exactly as before."""

import asyncio
import json
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from anker_project.asgi import application
from anker_project.asgi_handler import SyncChainASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[bytes, bytes], Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    body = b""
    while True:
        message = await communicator.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    return start["status"], {k.lower(): v for k, v in start["headers"]}, json.loads(body)


def test_the_served_app_uses_the_one_hop_handler() -> None:
    assert isinstance(application.application_mapping["http"].app, SyncChainASGIHandler)


async def test_an_authenticated_request_passes_every_middleware_and_the_view(alice: Any) -> None:
    token = str((await asyncio.to_thread(RefreshToken.for_user, alice)).access_token)

    status, headers, body = await get("/api/v1/auth/me", [(b"authorization", f"Bearer {token}".encode())])

    assert status == 200
    assert body == {
        "code": 0,
        "msg": "success",
        "data": {"id": alice.pk, "username": "alice", "email": "alice@example.test", "is_staff": False},
    }
    # Security and clickjacking middleware still ran on the way out.
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"x-frame-options"] == b"DENY"


async def test_an_anonymous_request_is_refused_with_the_envelope() -> None:
    status, _headers, body = await get("/api/v1/auth/me", [])

    assert status == 401
    assert body["code"] == 401
    assert body["data"] is None

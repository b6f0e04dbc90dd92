"""Attacks with a share link's token: it opens the shared timeline and nothing else — not the
session's REST endpoints, its files, its sandbox or live view, the session list, the sandbox
manager, nor a WebSocket — however it is presented (Bearer, Api-Key, cookie, query, header)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from anker_project.asgi import application
from sessions.events import MessageEvent, ToolEvent
from sessions.files import file_store
from sessions.models import ShareLink
from sessions.publisher import event_publish
from sessions.services import session_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = {
    "bearer": {"HTTP_AUTHORIZATION": "Bearer {token}"},
    "api_key": {"HTTP_AUTHORIZATION": "Api-Key {token}"},
    "token_scheme": {"HTTP_AUTHORIZATION": "Token {token}"},
    "share_header": {"HTTP_X_SHARE_TOKEN": "{token}"},
}
QUERIES = ("token={token}", "share={token}", "ticket={token}")


def shared_session(alice: Any, alice_client: APIClient) -> tuple[str, str, str]:
    session = session_create(owner_id=alice.pk, mode="agent")
    shot = file_store(owner_id=alice.pk, filename="screenshot-call_1.jpg", data=b"jpeg", session_id=session.id)
    event_publish(session.id, MessageEvent(role="user", content="hello"))
    event_publish(
        session.id,
        ToolEvent(
            tool_call_id="call_1",
            name="browser",
            function="browser_view",
            status="called",
            content={"screenshot_file_id": shot.file_id},
        ),
    )
    token = alice_client.post(f"/api/v1/sessions/{session.id}/shares", {}, format="json").json()["data"]["token"]
    return session.id, shot.file_id, token


def endpoints(session_id: str, file_id: str) -> list[tuple[str, str]]:
    """Every endpoint answers a caller that is not logged in 401 (the sandbox manager: 401 for a
    credential it cannot verify, else 404, as it answers everyone who is not staff)."""
    return [
        ("get", "/api/v1/sessions"),
        ("get", f"/api/v1/sessions/{session_id}"),
        ("get", f"/api/v1/sessions/{session_id}/files"),
        ("get", f"/api/v1/sessions/{session_id}/shares"),
        ("post", f"/api/v1/sessions/{session_id}/shares"),
        ("post", f"/api/v1/sessions/{session_id}/vnc/ticket"),
        ("get", f"/api/v1/sessions/{session_id}/shell?id=main"),
        ("get", f"/api/v1/sessions/{session_id}/file?path=/etc/hostname"),
        ("post", f"/api/v1/sessions/{session_id}/chat"),
        ("post", f"/api/v1/sessions/{session_id}/stop"),
        ("delete", f"/api/v1/sessions/{session_id}"),
        ("get", f"/api/v1/files/{file_id}/download"),
        ("patch", f"/api/v1/files/{file_id}"),
        ("get", "/api/v1/sandboxes"),
        ("get", "/api/v1/auth/me"),
        ("get", "/api/v1/jobs"),
    ]


def test_the_token_as_any_credential_opens_no_other_endpoint(alice: Any, alice_client: APIClient) -> None:
    session_id, file_id, token = shared_session(alice, alice_client)
    opened: list[str] = []

    for method, path in endpoints(session_id, file_id):
        tries: list[tuple[str, Any]] = []
        for name, headers in ATTEMPTS.items():
            client = Client(**{k: v.format(token=token) for k, v in headers.items()})
            tries.append((name, getattr(client, method)(path, content_type="application/json")))
        cookie = Client()
        cookie.cookies["sessionid"] = token
        tries.append(("cookie", getattr(cookie, method)(path, content_type="application/json")))
        for query in QUERIES:
            joined = f"{path}{'&' if '?' in path else '?'}{query.format(token=token)}"
            tries.append((query, getattr(Client(), method)(joined, content_type="application/json")))
        refusals = (401, 404) if path == "/api/v1/sandboxes" else (401,)
        opened += [f"{method} {path} [{name}]: {r.status_code}" for name, r in tries if r.status_code not in refusals]

    assert opened == []
    # And nothing changed: the session is still there with its one link, not revoked.
    assert alice_client.get(f"/api/v1/sessions/{session_id}").status_code == 200
    assert list(ShareLink.objects.values_list("revoked_at", flat=True)) == [None]


async def closed_code(path: str, **extra: Any) -> int:
    ws = WebsocketCommunicator(application, path, **extra)
    connected, _ = await ws.connect(timeout=10)
    message = await ws.receive_output(10) if connected else {"type": "websocket.close", "code": 0}
    await ws.disconnect()
    assert message["type"] == "websocket.close", message
    return int(message.get("code", 0))


async def test_the_token_opens_no_websocket(alice: Any) -> None:
    session_id, _, token = await sync_to_async(lambda: shared_session(alice, client_for(alice)))()

    codes = {
        "events": await closed_code(f"/api/v1/ws/sessions/{session_id}?token={token}"),
        "events_cookie": await closed_code(
            f"/api/v1/ws/sessions/{session_id}",
            headers=[(b"cookie", f"sessionid={token}".encode()), (b"origin", b"http://testserver")],
        ),
        "events_api_key": await closed_code(
            f"/api/v1/ws/sessions/{session_id}", headers=[(b"authorization", f"Api-Key {token}".encode())]
        ),
        "list": await closed_code(f"/api/v1/ws/sessions?token={token}"),
        "vnc": await closed_code(f"/api/v1/sessions/{session_id}/vnc?ticket={token}", subprotocols=["binary"]),
    }

    # 4001: not authenticated; 4003: the VNC relay's "not a valid ticket".
    assert codes == {"events": 4001, "events_cookie": 4001, "events_api_key": 4001, "list": 4001, "vnc": 4003}

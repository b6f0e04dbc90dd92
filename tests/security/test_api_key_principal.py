"""An API key is a principal of its own: it sees and touches only the sessions of its own jobs
(REST, SSE, both WebSockets, VNC tickets, files), and starts work only through the jobs API.
A user (JWT or cookie) keeps seeing all of their sessions, job sessions marked as such."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from agents.models import Turn
from anker_project.asgi import application
from sandboxes.models import Sandbox, SandboxStatus
from sessions import eventlog
from sessions.events import MessageEvent
from sessions.files import file_store
from sessions.models import Session
from sessions.publisher import event_publish
from tests.security.keys import Key, job_session, make_key

pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND = {"code": 404, "msg": "Session not found", "data": None}
FORBIDDEN_CHAT = {
    "code": 403,
    "msg": "An API key cannot send a chat message: it starts work only through the jobs API "
    "(POST /api/v1/jobs, POST /api/v1/jobs/{id}/reply).",
    "data": None,
}


@pytest.fixture
def key_a(alice: Any) -> Key:
    return make_key(alice, "billing")


@pytest.fixture
def key_b(alice: Any) -> Key:
    return make_key(alice, "crm")


@pytest.fixture
def personal(alice_client: APIClient) -> str:
    """Alice's own chat, with a message in it."""
    session_id = str(alice_client.put("/api/v1/sessions", {"mode": "lite"}, format="json").json()["data"]["session_id"])
    event_publish(session_id, MessageEvent(role="user", content="my salary is 7000"))
    return session_id


def log_of(session_id: str) -> list[tuple[str, str]]:
    return [(e["type"], e.get("content", "")) for e in eventlog.events_after(session_id, 0)]


def test_an_api_key_cannot_read_its_owners_personal_chat(key_a: Key, personal: str) -> None:
    listed = key_a.client.get("/api/v1/sessions")
    detail = key_a.client.get(f"/api/v1/sessions/{personal}")
    sse = key_a.client.post(f"/api/v1/sessions/{personal}/chat", {"message": "", "event_id": "0"}, format="json")
    files = key_a.client.get(f"/api/v1/sessions/{personal}/files")

    assert listed.status_code == 200
    assert listed.json() == {"code": 0, "msg": "success", "data": {"sessions": []}}
    for response in (detail, sse, files):
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert Session.objects.get(pk=personal).unread_message_count == 0  # nothing was marked read either


def test_an_api_key_cannot_mark_its_owners_personal_chat_read(key_a: Key, personal: str) -> None:
    event_publish(personal, MessageEvent(role="assistant", content="noted"))
    before = Session.objects.get(pk=personal)
    assert before.unread_message_count == 1

    response = key_a.client.post(f"/api/v1/sessions/{personal}/read")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    after = Session.objects.get(pk=personal)
    assert (after.unread_message_count, after.revision) == (1, before.revision)


def test_an_api_key_cannot_touch_its_owners_personal_chat(key_a: Key, personal: str) -> None:
    before = log_of(personal)

    responses = [
        key_a.client.patch(f"/api/v1/sessions/{personal}", {"title": "pwned"}, format="json"),
        key_a.client.post(f"/api/v1/sessions/{personal}/stop"),
        key_a.client.post(f"/api/v1/sessions/{personal}/chat", {"message": "leak it"}, format="json"),
        key_a.client.post(f"/api/v1/sessions/{personal}/vnc/ticket", {"view_only": False}, format="json"),
        key_a.client.post(f"/api/v1/sessions/{personal}/shell", {"session_id": "main"}, format="json"),
        key_a.client.post(f"/api/v1/sessions/{personal}/file", {"file": "/etc/passwd"}, format="json"),
        key_a.client.delete(f"/api/v1/sessions/{personal}"),
    ]

    for response in responses:
        assert response.status_code == 404, response.json()
        assert response.json() == NOT_FOUND
    session = Session.objects.get(pk=personal)
    assert session.title == ""
    assert log_of(personal) == before
    assert Turn.objects.count() == 0


def test_an_api_key_cannot_see_or_touch_another_keys_job_session(alice: Any, key_a: Key, key_b: Key) -> None:
    theirs = job_session(key_b)

    assert key_a.client.get("/api/v1/sessions").json()["data"] == {"sessions": []}
    for response in (
        key_a.client.get(f"/api/v1/sessions/{theirs}"),
        key_a.client.post(f"/api/v1/sessions/{theirs}/chat", {"message": "", "event_id": "0"}, format="json"),
        key_a.client.delete(f"/api/v1/sessions/{theirs}"),
    ):
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert Session.objects.filter(pk=theirs).exists()


def test_an_api_key_sees_and_follows_its_own_job_sessions(key_a: Key, personal: str) -> None:
    mine = job_session(key_a)

    listed = key_a.client.get("/api/v1/sessions").json()["data"]["sessions"]
    detail = key_a.client.get(f"/api/v1/sessions/{mine}")
    sse = key_a.client.post(f"/api/v1/sessions/{mine}/chat", {"message": "", "event_id": "0"}, format="json")

    assert [(s["session_id"], s["origin"]) for s in listed] == [(mine, "job")]
    assert detail.status_code == 200
    assert detail.json()["data"]["origin"] == "job"
    history = [e["event"] for e in detail.json()["data"]["events"]]
    assert history == ["message", "status", "title", "message", "status", "done"]
    assert sse.status_code == 200
    streamed = [line[len("event: ") :] for line in async_to_sync(_body)(sse).splitlines() if line.startswith("event: ")]
    assert [kind for kind in streamed if kind != "message_delta"] == history


def test_an_api_key_cannot_create_a_session(key_a: Key) -> None:
    response = key_a.client.put("/api/v1/sessions", {"mode": "agent"}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "code": 403,
        "msg": "An API key cannot create a session: it starts work only through the jobs API "
        "(POST /api/v1/jobs, POST /api/v1/jobs/{id}/reply).",
        "data": None,
    }
    assert Session.objects.count() == 0


def test_an_api_key_cannot_start_a_chat_turn_even_in_its_own_job_session(key_a: Key) -> None:
    mine = job_session(key_a)
    before, turns = log_of(mine), Turn.objects.count()

    response = key_a.client.post(f"/api/v1/sessions/{mine}/chat", {"message": "run unmetered"}, format="json")

    assert response.status_code == 403
    assert response.json() == FORBIDDEN_CHAT
    assert Turn.objects.count() == turns == 1  # the job's own turn only
    assert log_of(mine) == before


def test_a_user_sees_all_their_sessions_with_job_sessions_marked(
    alice_client: APIClient, key_a: Key, personal: str
) -> None:
    mine = job_session(key_a)

    listed = alice_client.get("/api/v1/sessions").json()["data"]["sessions"]
    detail = alice_client.get(f"/api/v1/sessions/{mine}").json()["data"]

    assert sorted((s["session_id"], s["origin"]) for s in listed) == sorted([(mine, "job"), (personal, "chat")])
    assert detail["origin"] == "job"


def test_an_api_key_downloads_only_its_own_files(alice_client: APIClient, key_a: Key, key_b: Key) -> None:
    personal_file = alice_client.post("/api/v1/files", {"file": _upload("diary.txt", b"private")}, format="multipart")
    theirs = key_b.client.post("/api/v1/files", {"file": _upload("b.txt", b"key b's")}, format="multipart")
    own = key_a.client.post("/api/v1/files", {"file": _upload("a.txt", b"key a's")}, format="multipart")

    for foreign in (personal_file, theirs):
        response = key_a.client.get(f"/api/v1/files/{foreign.json()['data']['file_id']}/download")
        assert response.status_code == 404
        assert response.json() == {"code": 404, "msg": "File not found", "data": None}
    mine = key_a.client.get(f"/api/v1/files/{own.json()['data']['file_id']}/download")
    assert mine.status_code == 200
    assert b"".join(mine.streaming_content) == b"key a's"  # type: ignore[attr-defined]
    # The owner keeps seeing every file, the keys' included.
    owner = alice_client.get(f"/api/v1/files/{theirs.json()['data']['file_id']}/download")
    assert b"".join(owner.streaming_content) == b"key b's"  # type: ignore[attr-defined]


def test_an_api_key_downloads_its_jobs_deliverables_but_not_another_keys(alice: Any, key_a: Key, key_b: Key) -> None:
    mine, theirs = job_session(key_a), job_session(key_b)
    # Stored as the agent stores a deliverable: in the job's session, owned by the key's owner.
    report = file_store(owner_id=alice.pk, filename="report.md", data=b"a's report", session_id=mine, source="agent")
    other = file_store(owner_id=alice.pk, filename="report.md", data=b"b's report", session_id=theirs, source="agent")

    own = key_a.client.get(f"/api/v1/files/{report.file_id}/download")
    foreign = key_a.client.get(f"/api/v1/files/{other.file_id}/download")
    listed = key_a.client.get(f"/api/v1/sessions/{theirs}/files")

    assert own.status_code == 200
    assert b"".join(own.streaming_content) == b"a's report"  # type: ignore[attr-defined]
    assert foreign.status_code == 404
    assert foreign.json() == {"code": 404, "msg": "File not found", "data": None}
    assert listed.status_code == 404


def test_an_api_key_cannot_upload_into_its_owners_personal_chat(key_a: Key, personal: str) -> None:
    response = key_a.client.post(
        "/api/v1/files", {"file": _upload("x.txt", b"x"), "session_id": personal}, format="multipart"
    )

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def _body(response: Any) -> str:
    return b"".join([chunk async for chunk in response.streaming_content]).decode()


def _upload(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/plain")


def _ws(path: str, key: Key | None = None, headers: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    all_headers = list(headers or [])
    if key is not None:
        all_headers.append((b"authorization", f"Api-Key {key.raw}".encode()))
    return WebsocketCommunicator(application, path, headers=all_headers)


async def _close_code(ws: WebsocketCommunicator) -> int:
    connected, _ = await ws.connect(timeout=10)
    assert connected
    message = await ws.receive_output(10)
    await ws.disconnect()
    assert message["type"] == "websocket.close", message
    return int(message["code"])


async def test_an_api_key_cannot_follow_its_owners_personal_chat_over_websocket(key_a: Key, personal: str) -> None:
    mine = await sync_to_async(job_session)(key_a)

    assert await _close_code(_ws(f"/api/v1/ws/sessions/{personal}?after=0", key_a)) == 4004
    ws = _ws(f"/api/v1/ws/sessions/{mine}?after=0", key_a)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    frame = await ws.receive_json_from(10)
    await ws.disconnect()
    assert (frame["event"], frame["data"]["content"]) == ("message", "job prompt")


async def test_an_api_keys_session_list_socket_shows_only_its_own_job_sessions(
    key_a: Key, key_b: Key, personal: str
) -> None:
    mine = await sync_to_async(job_session)(key_a)

    ws = _ws("/api/v1/ws/sessions", key_a)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    snapshot = await ws.receive_json_from(10)
    # Live updates: another key's new job session and the owner's chat reach the owner, not this key.
    theirs = await sync_to_async(job_session)(key_b)
    await sync_to_async(event_publish)(personal, MessageEvent(role="user", content="secret"))
    await sync_to_async(event_publish)(mine, MessageEvent(role="user", content="mine again"))
    update = await ws.receive_json_from(10)
    await ws.disconnect()

    assert snapshot["op"] == "snapshot"
    assert [s["session_id"] for s in snapshot["sessions"]] == [mine]
    assert (update["op"], update["session"]["session_id"]) == ("upsert", mine)
    assert update["session"]["latest_message"] == "mine again"
    assert theirs != mine


def _in_use_sandbox(session_id: str) -> Sandbox:
    # A row only: the ticket endpoint and the redeem check the database, not the machine.
    return Sandbox.objects.create(
        backend="docker", status=SandboxStatus.IN_USE, session_id=session_id, vnc_ws_url="ws://127.0.0.1:9/"
    )


async def test_an_api_key_gets_vnc_tickets_only_for_its_own_job_sessions(
    alice: Any, alice_client: APIClient, key_a: Key, personal: str
) -> None:
    mine = await sync_to_async(job_session)(key_a)
    await sync_to_async(_in_use_sandbox)(personal)
    await sync_to_async(_in_use_sandbox)(mine)

    refused = await sync_to_async(key_a.client.post)(
        f"/api/v1/sessions/{personal}/vnc/ticket", {"view_only": False}, format="json"
    )
    granted = await sync_to_async(key_a.client.post)(
        f"/api/v1/sessions/{mine}/vnc/ticket", {"view_only": True}, format="json"
    )
    owners = await sync_to_async(alice_client.post)(
        f"/api/v1/sessions/{personal}/vnc/ticket", {"view_only": False}, format="json"
    )

    assert refused.status_code == 404
    assert refused.json() == NOT_FOUND
    assert granted.status_code == 200
    # The owner's ticket, presented on a socket the key opened, is refused (4003) and not burnt.
    vnc = f"/api/v1/sessions/{personal}/vnc?ticket={owners.json()['data']['ticket']}"
    assert await _close_code(_ws(vnc, key_a)) == 4003
    # The key's own ticket is admitted: it gets as far as dialling the (absent) screen (1011).
    own = f"/api/v1/sessions/{mine}/vnc?ticket={granted.json()['data']['ticket']}"
    assert await _close_code(_ws(own, key_a)) == 1011

"""The chat path end to end, as a client sees it: daphne + a real Celery worker process."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from agents.models import Turn
from agents.tasks import run_turn
from sessions import eventlog
from tests.conftest import PASSWORD, make_user
from tests.e2e.conftest import Stack
from tests.e2e.sse import read_events
from tests.support.llm_server import ScriptedLLM, slow, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def login(stack: Stack, username: str) -> str:
    make_user(username)
    response = httpx.post(f"{stack.base_url}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return str(response.json()["data"]["access_token"])


def api(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def new_session(client: httpx.Client) -> str:
    response = client.put("/api/v1/sessions", json={"mode": "lite"})
    assert response.status_code == 200
    return str(response.json()["data"]["session_id"])


def chat(client: httpx.Client, session_id: str, message: str, **extra: Any) -> list[Any]:
    body = {"message": message, "timestamp": int(time.time()), **extra.pop("body", {})}
    headers = {"Accept": "text/event-stream", **extra.pop("headers", {})}
    with client.stream("POST", f"/api/v1/sessions/{session_id}/chat", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response)


def ws_events(stack: Stack, path: str, token: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    out = []
    with connect(f"{stack.ws_url}{path}{'&' if '?' in path else '?'}token={token}", open_timeout=10) as ws:
        deadline = time.monotonic() + timeout
        while len(out) < count:
            out.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
    return out


def test_health_reports_up_to_the_public_when_every_component_is(stack: Stack) -> None:
    response = httpx.get(f"{stack.base_url}/api/v1/health", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "success", "data": {"status": "up"}}


def test_a_chat_message_streams_the_answer_over_sse_from_a_real_worker(stack: Stack, llm: ScriptedLLM) -> None:
    llm.push(text("Hi! I am Anker, streaming token by token.", chunk_size=3, delay_per_chunk=0.01))
    client = api(stack, login(stack, "sse-user"))
    session_id = new_session(client)

    frames = chat(client, session_id, "Who are you?")

    kinds = [f.event for f in frames if f.event != "message_delta"]
    assert kinds == ["status", "title", "message", "status", "done"]
    assert [f.data["status"] for f in frames if f.event == "status"] == ["running", "completed"]
    assert [int(f.id) for f in frames] == [f.data["seq"] for f in frames]
    seqs = [f.data["seq"] for f in frames]
    assert seqs == list(range(2, 2 + len(frames)))  # seq 1 is the user's message
    deltas = "".join(f.data["delta"] for f in frames if f.event == "message_delta")
    final = next(f.data for f in frames if f.event == "message")
    assert deltas == final["content"] == "Hi! I am Anker, streaming token by token."
    history = client.get(f"/api/v1/sessions/{session_id}").json()["data"]
    assert history["title"] == "Who are you?"
    assert history["status"] == "completed"
    assert [e["event"] for e in history["events"]] == ["message", "status", "title", "message", "status", "done"]


def test_the_stream_resumes_after_event_id_or_last_event_id(stack: Stack, llm: ScriptedLLM) -> None:
    llm.push(text("abc"))
    client = api(stack, login(stack, "resume-user"))
    session_id = new_session(client)
    full = chat(client, session_id, "hello")

    by_body = chat(client, session_id, "", body={"event_id": str(full[2].data["seq"])})
    by_header = chat(client, session_id, "", headers={"Last-Event-ID": str(full[2].data["seq"])})

    expected = [f.data for f in full[3:]]
    assert [f.data for f in by_body] == expected
    assert [f.data for f in by_header] == expected


def test_a_websocket_reader_that_reconnects_gets_every_event_once_in_order(stack: Stack, llm: ScriptedLLM) -> None:
    llm.push(text("x" * 600, chunk_size=2, delay_per_chunk=0.005))
    token = login(stack, "ws-user")
    client = api(stack, token)
    session_id = new_session(client)
    with client.stream(
        "POST", f"/api/v1/sessions/{session_id}/chat", json={"message": "go", "timestamp": 1}
    ) as response:
        # First connection: take a few events and drop the socket mid-turn.
        first = ws_events(stack, f"/api/v1/ws/sessions/{session_id}?after=0", token, 4)
        last = first[-1]["data"]["seq"]
        sse = read_events(response)
    log = eventlog.events_after(session_id, 0)
    rest = ws_events(stack, f"/api/v1/ws/sessions/{session_id}?after={last}", token, len(log) - last)

    received = [m["data"] for m in first + rest]
    assert [m["event"] for m in first + rest] == [e["type"] for e in log]
    assert received == log
    assert [f.data for f in sse] == log[1:]  # the SSE reader saw the same sequence after the user message


def close_code(url: str) -> int:
    with connect(url, open_timeout=10) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_websocket_readers_are_authenticated_and_owner_scoped(stack: Stack) -> None:
    owner_token = login(stack, "ws-owner")
    other_token = login(stack, "ws-other")
    session_id = new_session(api(stack, owner_token))

    assert close_code(f"{stack.ws_url}/api/v1/ws/sessions/{session_id}") == 4001
    assert close_code(f"{stack.ws_url}/api/v1/ws/sessions/{session_id}?token=garbage") == 4001
    assert close_code(f"{stack.ws_url}/api/v1/ws/sessions/{session_id}?token={other_token}") == 4004
    assert close_code(f"{stack.ws_url}/api/v1/ws/sessions/nope?token={owner_token}") == 4004
    assert close_code(f"{stack.ws_url}/api/v1/ws/sessions") == 4001


def test_the_session_list_socket_sends_a_snapshot_then_live_updates(stack: Stack, llm: ScriptedLLM) -> None:
    llm.push(text("pong"))
    token = login(stack, "list-user")
    client = api(stack, token)
    existing = new_session(client)
    with connect(f"{stack.ws_url}/api/v1/ws/sessions?token={token}", open_timeout=10) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        chat(client, existing, "ping")
        updates = []
        while not updates or updates[-1]["session"]["status"] != "completed":
            updates.append(json.loads(ws.recv(timeout=10)))

    assert snapshot["op"] == "snapshot"
    assert [s["session_id"] for s in snapshot["sessions"]] == [existing]
    assert all(u["op"] == "upsert" and u["session"]["session_id"] == existing for u in updates)
    final = updates[-1]["session"]
    assert (final["title"], final["latest_message"], final["unread_message_count"]) == ("ping", "pong", 1)
    # Every update carries the row's revision, newer than the snapshot's and than the one before.
    revisions = [snapshot["revisions"][existing]] + [u["revision"] for u in updates]
    assert revisions == sorted(set(revisions)), revisions


def test_the_same_turn_enqueued_twice_answers_once(stack: Stack, llm: ScriptedLLM) -> None:
    llm.push(slow(text("single answer"), 1.0))
    llm.set_default(text("SECOND ANSWER MUST NOT HAPPEN"))
    client = api(stack, login(stack, "dup-user"))
    session_id = new_session(client)
    with client.stream("POST", f"/api/v1/sessions/{session_id}/chat", json={"message": "once", "timestamp": 1}) as r:
        turn = Turn.objects.get(session_id=session_id)
        duplicate = run_turn.apply_async(kwargs={"turn_id": str(turn.id), "session_id": session_id})
        frames = read_events(r)
    deadline = time.monotonic() + 30
    while f"Task agents.run_turn[{duplicate.id}] succeeded" not in stack.worker_output():
        assert time.monotonic() < deadline, stack.worker_output()[-3000:]
        time.sleep(0.2)

    assert f"Task agents.run_turn[{duplicate.id}] succeeded" in stack.worker_output()
    answers = [e["content"] for e in eventlog.events_after(session_id, 0) if e["type"] == "message"]
    assert answers == ["once", "single answer"]
    assert frames[-1].event == "done"
    assert len(llm.requests) == 1


def test_stop_over_http_ends_a_slow_turn(stack: Stack, llm: ScriptedLLM) -> None:
    llm.push(slow(text("never shown"), 30.0))
    client = api(stack, login(stack, "stop-user"))
    session_id = new_session(client)
    with client.stream("POST", f"/api/v1/sessions/{session_id}/chat", json={"message": "wait", "timestamp": 1}) as r:
        llm.wait_for_requests(1, timeout=15)
        stop = client.post(f"/api/v1/sessions/{session_id}/stop")
        frames = read_events(r)

    assert stop.json() == {"code": 0, "msg": "success", "data": None}
    assert [f.event for f in frames] == ["status", "title", "status", "done"]
    assert [f.data["status"] for f in frames if f.event == "status"] == ["running", "stopped"]
    assert client.get(f"/api/v1/sessions/{session_id}").json()["data"]["status"] == "stopped"


def test_an_api_key_cannot_follow_its_owners_personal_session_and_a_revoked_key_is_refused(
    stack: Stack, llm: ScriptedLLM
) -> None:
    # An API key is a principal of its own: it sees only its jobs' sessions, never the owner's chats.
    from jobs.models import JobApiKey

    llm.push(text("keyed"))
    token = login(stack, "key-owner")
    client = api(stack, token)
    session_id = new_session(client)
    chat(client, session_id, "hello")
    owner = Turn.objects.get(session_id=session_id).session.owner
    _, key = JobApiKey.objects.create_key(name="ci", owner=owner)
    revoked, revoked_key = JobApiKey.objects.create_key(name="old", owner=owner)
    JobApiKey.objects.filter(pk=revoked.pk).update(revoked=True)
    url = f"{stack.ws_url}/api/v1/ws/sessions/{session_id}?after=0"

    with (
        connect(url, additional_headers={"Authorization": f"Api-Key {key}"}, open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as foreign,
    ):
        ws.recv(timeout=10)
    with (
        connect(url, additional_headers={"Authorization": f"Api-Key {revoked_key}"}) as ws,
        pytest.raises(ConnectionClosed) as refused,
    ):
        ws.recv(timeout=5)

    assert foreign.value.rcvd is not None and foreign.value.rcvd.code == 4004
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4001

"""Bad input is a 4xx envelope that says what to fix: never a 500, a hang or a side effect."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from agents.models import Turn
from anker_project.asgi import application
from jobs.models import Job, JobApiKey
from sessions import eventlog

pytestmark = pytest.mark.django_db

BAD_SEQS = ["²", "99999999999999999999", "-1", "1e3", "٣"]
SEQ_HINT = "must be the seq of an event (a number up to 9223372036854775807)"


def new_session(client: APIClient) -> str:
    response = client.put("/api/v1/sessions", {}, format="json")
    assert response.status_code == 200, response.json()
    return str(response.json()["data"]["session_id"])


@pytest.mark.parametrize("event_id", BAD_SEQS)
def test_a_bad_event_id_is_a_422_envelope_and_sends_nothing(alice_client: APIClient, event_id: str) -> None:
    session_id = new_session(alice_client)

    response = alice_client.post(
        f"/api/v1/sessions/{session_id}/chat", {"message": "hi", "event_id": event_id}, format="json"
    )

    assert response.status_code == 422
    assert response.json() == {
        "code": 422,
        "msg": f"event_id: event_id {SEQ_HINT}",
        "data": {"errors": {"event_id": [f"event_id {SEQ_HINT}"]}},
    }
    assert (eventlog.last_seq(session_id), Turn.objects.count()) == (0, 0)


@pytest.mark.parametrize("header", BAD_SEQS)
def test_a_bad_last_event_id_header_is_a_422_envelope_and_sends_nothing(alice_client: APIClient, header: str) -> None:
    session_id = new_session(alice_client)

    response = alice_client.post(
        f"/api/v1/sessions/{session_id}/chat",
        {"message": "hi"},
        format="json",
        HTTP_LAST_EVENT_ID=header.encode().decode("latin1"),
    )

    assert response.status_code == 422
    assert response.json()["msg"] == f"Last-Event-ID: {SEQ_HINT}"
    assert (eventlog.last_seq(session_id), Turn.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_after_past_64_bits_is_refused_not_left_hanging(alice: Any) -> None:
    from asgiref.sync import sync_to_async

    client = APIClient()
    client.force_authenticate(alice)
    session_id = await sync_to_async(new_session)(client)
    token = await sync_to_async(lambda: str(RefreshToken.for_user(alice).access_token))()
    ws = WebsocketCommunicator(
        application, f"/api/v1/ws/sessions/{session_id}?after=99999999999999999999&token={token}"
    )

    connected, _ = await ws.connect(timeout=10)
    message = await ws.receive_output(10)
    await ws.disconnect()

    assert connected
    assert (message["type"], message["code"]) == ("websocket.close", 4002)


def key_client(owner: Any) -> APIClient:
    _, raw = JobApiKey.objects.create_key(owner=owner, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [("put", "/api/v1/sessions", None), ("post", "/api/v1/auth/login", None), ("post", "/api/v1/jobs", "metadata")],
)
def test_deeply_nested_json_is_a_400_envelope(alice: Any, method: str, path: str, field: str | None) -> None:
    client = key_client(alice) if path == "/api/v1/jobs" else APIClient()
    if path == "/api/v1/sessions":
        client.force_authenticate(alice)
    nested = "[" * 100_000 + "]" * 100_000
    payload = nested if field is None else '{"prompt": "x", "' + field + '": {"a": ' + nested + "}}"

    response = getattr(client, method)(path, payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": 400, "msg": "JSON parse error - nested deeper than 32 levels", "data": None}
    assert Job.objects.count() == 0


def test_json_nested_just_past_the_limit_is_refused_and_at_it_accepted(alice_client: APIClient) -> None:
    session_id = new_session(alice_client)
    deep = {"title": "t"}
    for _ in range(31):
        deep = {"x": deep}  # 32 levels with the outer object

    too_deep = alice_client.patch(f"/api/v1/sessions/{session_id}", {"x": deep}, format="json")
    fine = alice_client.patch(f"/api/v1/sessions/{session_id}", {"title": "t", "x": deep["x"]}, format="json")

    assert too_deep.status_code == 400
    assert fine.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/jobs/0"), ("post", "/api/v1/jobs/0/cancel"), ("post", "/api/v1/jobs/0/reply")],
)
def test_a_malformed_job_id_is_a_404_envelope(alice: Any, method: str, path: str) -> None:
    client = key_client(alice)

    response = getattr(client, method)(path, {"message": "hi"} if method == "post" else None, format="json")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "msg": "Job not found", "data": None}

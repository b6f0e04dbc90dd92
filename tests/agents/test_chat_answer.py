"""`POST /sessions/{id}/chat` answers in the format the client accepts: the seed's SSE stream by
default, or — for a client that reads the session over the WebSocket and sends
`Accept: application/json` alone — the envelope `{turn_id, status}` with no stream to throw away."""

from typing import Any

import pytest
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from agents.models import Turn
from agents.services import chat_send
from sessions import eventlog
from sessions.models import Session

pytestmark = pytest.mark.django_db


def lite_session(owner: Any) -> Session:
    return Session.objects.create(owner=owner, mode="lite")


def post_chat(client: APIClient, session_id: str, body: dict[str, Any], accept: str | None) -> Any:
    extra = {"HTTP_ACCEPT": accept} if accept is not None else {}
    return client.post(f"/api/v1/sessions/{session_id}/chat", body, format="json", **extra)


def test_a_json_only_client_gets_the_queued_turn_as_an_envelope_and_no_stream(
    alice: Any, alice_client: APIClient
) -> None:
    session = lite_session(alice)

    response = post_chat(alice_client, session.id, {"message": "Hi", "timestamp": 0}, "application/json")

    assert response.status_code == 200
    assert not isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/json"
    turn = Turn.objects.get(session=session)
    assert response.json() == {"code": 0, "msg": "success", "data": {"turn_id": str(turn.id), "status": "queued"}}
    assert (response["X-Anker-Turn-Id"], response["X-Anker-Turn-Status"]) == (str(turn.id), "queued")
    first = eventlog.events_after(session.id, 0)[0]
    assert (first["type"], first["content"]) == ("message", "Hi")


@pytest.mark.parametrize(
    "accept", [None, "*/*", "text/event-stream", "application/json, text/event-stream", "application/json, */*"]
)
def test_every_other_accept_keeps_the_seeds_event_stream(
    alice: Any, alice_client: APIClient, accept: str | None
) -> None:
    session = lite_session(alice)

    response = post_chat(alice_client, session.id, {"message": "Hi", "timestamp": 0}, accept)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Anker-Turn-Id"] == str(Turn.objects.get(session=session).id)
    response.close()


def test_an_enqueued_message_answers_queued_behind_the_running_turn(alice: Any, alice_client: APIClient) -> None:
    session = lite_session(alice)
    first = chat_send(session_id=session.id, message="first")
    assert first is not None
    Turn.objects.filter(pk=first.pk).update(status="running")

    response = post_chat(
        alice_client, session.id, {"message": "second", "multitask_strategy": "enqueue"}, "application/json"
    )

    second = Turn.objects.get(session=session, message="second")
    assert response.json()["data"] == {"turn_id": str(second.id), "status": "queued"}
    assert Turn.objects.get(pk=first.pk).status == "running"


def test_a_json_resume_with_nothing_running_names_no_turn(alice: Any, alice_client: APIClient) -> None:
    session = lite_session(alice)

    response = post_chat(alice_client, session.id, {"message": "", "event_id": "0"}, "application/json")

    assert response.status_code == 200
    assert response.json()["data"] == {"turn_id": None, "status": None}
    assert Turn.objects.count() == 0


def test_a_json_chat_to_a_foreign_session_is_404_and_sends_nothing(bob: Any, alice_client: APIClient) -> None:
    session = lite_session(bob)

    response = post_chat(alice_client, session.id, {"message": "Hi"}, "application/json")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "msg": "Session not found", "data": None}
    assert Turn.objects.count() == 0
    assert eventlog.last_seq(session.id) == 0


def test_a_json_chat_with_bad_input_is_a_422_naming_the_field(alice: Any, alice_client: APIClient) -> None:
    session = lite_session(alice)

    response = post_chat(alice_client, session.id, {"message": "", "event_id": "abc"}, "application/json")

    assert response.status_code == 422
    assert response.json()["msg"].startswith("event_id: ")
    assert Turn.objects.count() == 0

"""The seed's session endpoints 1–5 (create, get, list, delete, stop) and rename."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from sessions import eventlog
from sessions.events import MessageEvent
from sessions.models import Session
from sessions.publisher import event_publish

pytestmark = pytest.mark.django_db


def create(client: APIClient, **body: Any) -> str:
    response = client.put("/api/v1/sessions", body, format="json")
    assert response.status_code == 200, response.content
    return str(response.json()["data"]["session_id"])


def test_create_returns_a_new_session_id(alice_client: APIClient, alice: Any) -> None:
    response = alice_client.put("/api/v1/sessions")

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "success"
    session = Session.objects.get(pk=body["data"]["session_id"])
    assert session.owner == alice
    assert session.status == "pending"
    assert len(session.id) == 16
    assert eventlog.last_seq(session.id) == 0


def test_create_rejects_an_unknown_mode(alice_client: APIClient) -> None:
    response = alice_client.put("/api/v1/sessions", {"mode": "turbo"}, format="json")

    assert response.status_code == 422
    assert response.json()["msg"] == 'mode: "turbo" is not a valid choice.'
    assert Session.objects.count() == 0


def test_list_shows_only_the_callers_sessions_with_the_seed_fields(
    alice_client: APIClient, bob_client: APIClient
) -> None:
    mine = create(alice_client, mode="lite")
    create(bob_client)
    event_publish(mine, MessageEvent(role="user", content="hello there"))

    response = alice_client.get("/api/v1/sessions")

    assert response.status_code == 200
    sessions = response.json()["data"]["sessions"]
    assert len(sessions) == 1
    item = sessions[0]
    assert item["session_id"] == mine
    assert item["title"] == ""
    assert item["latest_message"] == "hello there"
    assert isinstance(item["latest_message_at"], int)
    assert item["status"] == "pending"
    assert item["unread_message_count"] == 0
    assert item["mode"] == "lite"


def test_get_returns_the_history_without_token_deltas_and_writes_nothing(alice_client: APIClient) -> None:
    session_id = create(alice_client)
    event_publish(session_id, MessageEvent(role="user", content="hi"))
    from sessions.events import MessageDeltaEvent

    event_publish(session_id, MessageDeltaEvent(delta="Hel"))
    event_publish(session_id, MessageEvent(role="assistant", content="Hello"))
    assert Session.objects.get(pk=session_id).unread_message_count == 1
    revision_before = Session.objects.get(pk=session_id).revision

    response = alice_client.get(f"/api/v1/sessions/{session_id}")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["session_id"] == session_id
    assert data["title"] == ""
    assert data["status"] == "pending"
    assert [(e["event"], e["data"]["seq"], e["data"].get("content")) for e in data["events"]] == [
        ("message", 1, "hi"),
        ("message", 3, "Hello"),
    ]
    assert data["events"][0]["data"]["event_id"] == "1"
    # A GET never writes: the session stays unread until the reader says it read it.
    session = Session.objects.get(pk=session_id)
    assert (session.unread_message_count, session.revision) == (1, revision_before)


def test_post_read_marks_the_session_read_and_answers_its_list_item(alice_client: APIClient) -> None:
    session_id = create(alice_client)
    event_publish(session_id, MessageEvent(role="user", content="hi"))
    event_publish(session_id, MessageEvent(role="assistant", content="Hello"))
    assert Session.objects.get(pk=session_id).unread_message_count == 1

    response = alice_client.post(f"/api/v1/sessions/{session_id}/read")

    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["msg"]) == (0, "success")
    item = body["data"]
    assert (item["session_id"], item["latest_message"], item["unread_message_count"]) == (session_id, "Hello", 0)
    assert Session.objects.get(pk=session_id).unread_message_count == 0


def test_marking_another_users_session_read_is_404_and_leaves_it_unread(
    alice_client: APIClient, bob_client: APIClient
) -> None:
    session_id = create(alice_client)
    event_publish(session_id, MessageEvent(role="user", content="hi"))
    event_publish(session_id, MessageEvent(role="assistant", content="Hello"))
    revision_before = Session.objects.get(pk=session_id).revision

    response = bob_client.post(f"/api/v1/sessions/{session_id}/read")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "msg": "Session not found", "data": None}
    session = Session.objects.get(pk=session_id)
    assert (session.unread_message_count, session.revision) == (1, revision_before)


def test_another_users_session_is_404_for_every_endpoint(alice_client: APIClient, bob_client: APIClient) -> None:
    session_id = create(alice_client)
    event_publish(session_id, MessageEvent(role="user", content="private"))

    calls = [
        bob_client.get(f"/api/v1/sessions/{session_id}"),
        bob_client.patch(f"/api/v1/sessions/{session_id}", {"title": "mine now"}, format="json"),
        bob_client.delete(f"/api/v1/sessions/{session_id}"),
        bob_client.post(f"/api/v1/sessions/{session_id}/stop"),
        bob_client.post(f"/api/v1/sessions/{session_id}/chat", {"message": "hi"}, format="json"),
    ]

    for response in calls:
        assert response.status_code == 404
        assert response.json() == {"code": 404, "msg": "Session not found", "data": None}
    session = Session.objects.get(pk=session_id)
    assert session.title == ""
    assert eventlog.last_seq(session_id) == 1


def test_rename_changes_the_title(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    response = alice_client.patch(f"/api/v1/sessions/{session_id}", {"title": "  Trip plan  "}, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["title"] == "Trip plan"
    assert Session.objects.get(pk=session_id).title == "Trip plan"


def test_rename_to_blank_is_422_and_changes_nothing(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    response = alice_client.patch(f"/api/v1/sessions/{session_id}", {"title": ""}, format="json")

    assert response.status_code == 422
    assert Session.objects.get(pk=session_id).title == ""


def test_delete_removes_the_session_and_its_log(alice_client: APIClient) -> None:
    session_id = create(alice_client)
    event_publish(session_id, MessageEvent(role="user", content="bye"))

    response = alice_client.delete(f"/api/v1/sessions/{session_id}")

    assert response.json() == {"code": 0, "msg": "success", "data": None}
    assert not Session.objects.filter(pk=session_id).exists()
    assert eventlog.events_after(session_id, 0) == []
    assert alice_client.get(f"/api/v1/sessions/{session_id}").status_code == 404


def test_stop_with_nothing_running_succeeds_and_changes_nothing(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    response = alice_client.post(f"/api/v1/sessions/{session_id}/stop")

    assert response.json() == {"code": 0, "msg": "success", "data": None}
    assert Session.objects.get(pk=session_id).status == "pending"
    assert eventlog.last_seq(session_id) == 0


def test_chat_rejects_an_empty_message_without_event_id(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    response = alice_client.post(f"/api/v1/sessions/{session_id}/chat", {"message": "  "}, format="json")

    assert response.status_code == 422
    assert response.json()["msg"] == "message: Send a message, or an event_id to resume the stream."
    assert eventlog.last_seq(session_id) == 0


def test_chat_rejects_a_non_numeric_event_id(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    response = alice_client.post(
        f"/api/v1/sessions/{session_id}/chat", {"message": "", "event_id": "abc"}, format="json"
    )

    assert response.status_code == 422
    assert (
        response.json()["msg"] == "event_id: event_id must be the seq of an event (a number up to 9223372036854775807)"
    )


def test_chat_errors_are_json_envelopes_even_for_sse_clients(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    response = alice_client.post(
        f"/api/v1/sessions/{session_id}/chat", {"message": ""}, format="json", HTTP_ACCEPT="text/event-stream"
    )

    assert response.status_code == 422
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == 422


def test_every_summary_change_bumps_the_sessions_revision(alice_client: APIClient) -> None:
    session_id = create(alice_client)

    def revision() -> int:
        return Session.objects.get(pk=session_id).revision

    seen = [revision()]
    event_publish(session_id, MessageEvent(role="user", content="hi"))
    seen.append(revision())
    event_publish(session_id, MessageEvent(role="assistant", content="hello"))
    seen.append(revision())
    alice_client.get(f"/api/v1/sessions/{session_id}")  # reading writes nothing
    seen.append(revision())
    alice_client.post(f"/api/v1/sessions/{session_id}/read")  # marks it read
    seen.append(revision())
    alice_client.patch(f"/api/v1/sessions/{session_id}", {"title": "Greetings"}, format="json")
    seen.append(revision())
    alice_client.post(f"/api/v1/sessions/{session_id}/read")  # nothing unread: no change
    seen.append(revision())

    assert seen == [0, 1, 2, 2, 3, 4, 4]

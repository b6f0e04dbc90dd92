"""What a share link shows, to anyone: the session's timeline with its recorded times, its
screenshots and attachments through the link, never private files or files of other sessions;
unknown, revoked and expired links answer alike; reads are throttled per address."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from anker_project.redis_client import get_redis
from sessions.events import FileInfo, MessageEvent, StatusEvent, TitleEvent, ToolEvent
from sessions.files import StoredFile, file_store
from sessions.models import Session
from sessions.publisher import event_publish
from sessions.services import session_create
from sessions.shares import THROTTLE_KEY_PREFIX

pytestmark = pytest.mark.django_db
NOT_FOUND = {"code": 404, "msg": "Share link not found", "data": None}
FILE_NOT_FOUND = {"code": 404, "msg": "File not found", "data": None}


def store(session: Session, name: str, data: bytes, **extra: Any) -> StoredFile:
    return file_store(owner_id=session.owner_id, filename=name, data=data, session_id=session.id, **extra)


def info(stored: StoredFile) -> FileInfo:
    return stored.info()


def share(client: APIClient, session_id: str) -> str:
    response = client.post(f"/api/v1/sessions/{session_id}/shares", {}, format="json")
    assert response.status_code == 201, response.json()
    return str(response.json()["data"]["token"])


@pytest.fixture
def shared(alice: Any, alice_client: APIClient) -> dict[str, Any]:
    """An agent session with a user's attachment, a private one, a screenshot, an MCP image and a
    deliverable, shared once."""
    session = session_create(owner_id=alice.pk, mode="agent")
    notes = store(session, "notes.txt", b"public notes")
    diary = store(session, "diary.txt", b"private diary", private=True)
    shot = store(session, "screenshot-call_1.jpg", b"\xff\xd8jpeg", source="screenshot")
    image = store(session, "chart.png", b"\x89PNGchart", source="mcp")
    report = store(session, "report.md", b"# Report", source="agent")
    event_publish(
        session.id, MessageEvent(role="user", content="Look at these", attachments=[info(notes), info(diary)])
    )
    event_publish(session.id, TitleEvent(title="Research anchors"))
    event_publish(session.id, StatusEvent(status="running"))
    event_publish(
        session.id, ToolEvent(tool_call_id="call_1", name="browser", function="browser_view", status="calling")
    )
    event_publish(
        session.id,
        ToolEvent(
            tool_call_id="call_1",
            name="browser",
            function="browser_view",
            status="called",
            content={"screenshot_file_id": shot.file_id, "url": "https://example.com/", "title": "Example"},
        ),
    )
    event_publish(
        session.id,
        ToolEvent(
            tool_call_id="call_2",
            name="mcp",
            function="mcp_charts_draw",
            status="called",
            content={
                "server": "charts",
                "tool": "draw",
                "text": "ok",
                "image_file_ids": [image.file_id, diary.file_id],
            },
        ),
    )
    event_publish(session.id, MessageEvent(role="assistant", content="Here is the report", attachments=[info(report)]))
    event_publish(session.id, StatusEvent(status="completed"))
    return {
        "session": session,
        "token": share(alice_client, session.id),
        "files": {"notes": notes, "diary": diary, "shot": shot, "image": image, "report": report},
    }


def test_anyone_with_the_link_reads_the_timeline_with_its_recorded_seqs_and_times(shared: dict[str, Any]) -> None:
    session, token = shared["session"], shared["token"]

    response = APIClient().get(f"/api/v1/shared/{token}")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    data = response.json()["data"]
    session.refresh_from_db()
    assert data["session"] == {
        "title": "Research anchors",
        "mode": "agent",
        "status": "completed",
        "created_at": int(session.created_at.timestamp()),
    }
    assert data["expires_at"] is None
    assert [(e["event"], e["data"]["seq"]) for e in data["events"]] == [
        ("message", 1),
        ("title", 2),
        ("status", 3),
        ("tool", 4),
        ("tool", 5),
        ("tool", 6),
        ("message", 7),
        ("status", 8),
    ]
    assert all(isinstance(e["data"]["timestamp"], int) and e["data"]["timestamp"] > 0 for e in data["events"])
    assert session.id not in response.content.decode()


def test_file_references_point_through_the_link_and_private_files_are_left_out(shared: dict[str, Any]) -> None:
    token, files = shared["token"], shared["files"]

    events = APIClient().get(f"/api/v1/shared/{token}").json()["data"]["events"]

    def via_link(stored: StoredFile) -> dict[str, Any]:
        return {**info(stored).model_dump(), "file_url": f"/api/v1/shared/{token}/files/{stored.file_id}"}

    assert events[0]["data"]["attachments"] == [via_link(files["notes"])]  # the diary is private
    assert events[4]["data"]["content"]["screenshot_file_id"] == files["shot"].file_id
    assert events[5]["data"]["content"]["image_file_ids"] == [files["image"].file_id]
    assert events[6]["data"]["attachments"] == [via_link(files["report"])]
    body = APIClient().get(f"/api/v1/shared/{token}").content.decode()
    assert files["diary"].file_id not in body and "diary.txt" not in body
    assert "/api/v1/files/" not in body  # no owner-only download URL


def test_the_link_serves_the_files_its_timeline_shows(shared: dict[str, Any]) -> None:
    token, files = shared["token"], shared["files"]
    anon = APIClient()

    served = {name: anon.get(f"/api/v1/shared/{token}/files/{files[name].file_id}") for name in files}

    assert {name: r.status_code for name, r in served.items()} == {
        "notes": 200,
        "diary": 404,
        "shot": 200,
        "image": 200,
        "report": 200,
    }
    assert b"".join(served["shot"].streaming_content) == b"\xff\xd8jpeg"
    assert served["shot"]["Content-Type"] == "image/jpeg"
    assert served["shot"]["Cache-Control"] == "no-store"
    assert served["diary"].json() == FILE_NOT_FOUND


def test_a_file_marked_private_after_sharing_disappears_from_the_link(
    shared: dict[str, Any], alice_client: APIClient
) -> None:
    token, shot = shared["token"], shared["files"]["shot"]

    marked = alice_client.patch(f"/api/v1/files/{shot.file_id}", {"private": True}, format="json")

    assert marked.status_code == 200
    assert marked.json()["data"]["private"] is True
    events = APIClient().get(f"/api/v1/shared/{token}").json()["data"]["events"]
    assert events[4]["data"]["content"]["screenshot_file_id"] is None
    assert APIClient().get(f"/api/v1/shared/{token}/files/{shot.file_id}").json() == FILE_NOT_FOUND
    # The owner still downloads it as before.
    assert alice_client.get(f"/api/v1/files/{shot.file_id}/download").status_code == 200


def test_files_the_timeline_does_not_show_are_not_found_through_the_link(
    shared: dict[str, Any], alice: Any, alice_client: APIClient
) -> None:
    token, session = shared["token"], shared["session"]
    unsent = store(session, "draft.txt", b"uploaded, never sent")
    other_session = session_create(owner_id=alice.pk, mode="agent")
    elsewhere = store(other_session, "other.txt", b"another task")
    event_publish(other_session.id, MessageEvent(role="user", content="x", attachments=[info(elsewhere)]))
    anon = APIClient()

    answers = [anon.get(f"/api/v1/shared/{token}/files/{f}") for f in (unsent.file_id, elsewhere.file_id, "nope")]

    assert [(r.status_code, r.json()) for r in answers] == [(404, FILE_NOT_FOUND)] * 3


def test_another_users_file_referenced_in_the_log_is_not_served(
    shared: dict[str, Any], bob: Any, alice_client: APIClient
) -> None:
    # A reference to a file alice does not own (however it got into the log) opens nothing.
    token, session = shared["token"], shared["session"]
    bobs = file_store(owner_id=bob.pk, filename="bob.txt", data=b"bob's file")
    event_publish(session.id, MessageEvent(role="assistant", content="look", attachments=[info(bobs)]))

    events = APIClient().get(f"/api/v1/shared/{token}").json()["data"]["events"]

    assert events[-1]["data"]["attachments"] == []
    assert APIClient().get(f"/api/v1/shared/{token}/files/{bobs.file_id}").json() == FILE_NOT_FOUND


def test_unknown_malformed_revoked_and_expired_links_answer_the_same(
    shared: dict[str, Any], alice_client: APIClient
) -> None:
    session, token = shared["session"], shared["token"]
    shot = shared["files"]["shot"].file_id
    expired = alice_client.post(
        f"/api/v1/sessions/{session.id}/shares", {"expires_in_seconds": 60}, format="json"
    ).json()["data"]
    from sessions.models import ShareLink

    ShareLink.objects.filter(pk=expired["share_id"]).update(expires_at="2020-01-01T00:00:00Z")
    share_id = ShareLink.objects.get(token_hint=token[:6], session=session).id
    alice_client.delete(f"/api/v1/sessions/{session.id}/shares/{share_id}")
    anon = APIClient()

    for bad in (token, expired["token"], "A" * 43, "short", token + "x", token[:-1] + "~"):
        assert (anon.get(f"/api/v1/shared/{bad}").status_code, anon.get(f"/api/v1/shared/{bad}").json()) == (
            404,
            NOT_FOUND,
        ), bad
        assert anon.get(f"/api/v1/shared/{bad}/files/{shot}").json() == NOT_FOUND


def test_a_signed_in_user_reads_a_link_like_anyone(shared: dict[str, Any], bob_client: APIClient) -> None:
    token = shared["token"]

    mine = bob_client.get(f"/api/v1/shared/{token}").json()
    anyone = APIClient().get(f"/api/v1/shared/{token}").json()

    assert mine == anyone


def test_reads_past_the_limit_get_429_with_retry_after(shared: dict[str, Any], settings: Any) -> None:
    settings.SHARE_READS_PER_MINUTE = 3
    get_redis().delete(f"{THROTTLE_KEY_PREFIX}:127.0.0.1")
    anon = APIClient()
    token = shared["token"]

    answers = [anon.get(f"/api/v1/shared/{token}", REMOTE_ADDR="127.0.0.1") for _ in range(4)]
    elsewhere = anon.get(f"/api/v1/shared/{token}", REMOTE_ADDR="10.9.8.7")

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    assert answers[3].json()["code"] == 429
    assert elsewhere.status_code == 200
    get_redis().delete(f"{THROTTLE_KEY_PREFIX}:127.0.0.1", f"{THROTTLE_KEY_PREFIX}:10.9.8.7")


def test_an_upload_can_be_marked_private_from_the_start(alice: Any, alice_client: APIClient) -> None:
    upload = SimpleUploadedFile("secret.txt", b"s", "text/plain")

    response = alice_client.post("/api/v1/files", {"file": upload, "private": "true"}, format="multipart")

    assert response.status_code == 200
    assert response.json()["data"]["private"] is True


def test_marking_a_file_needs_its_owner_and_a_boolean(
    shared: dict[str, Any], alice_client: APIClient, bob_client: APIClient
) -> None:
    notes = shared["files"]["notes"].file_id

    foreign = bob_client.patch(f"/api/v1/files/{notes}", {"private": True}, format="json")
    bad = alice_client.patch(f"/api/v1/files/{notes}", {"private": "maybe"}, format="json")
    missing = alice_client.patch(f"/api/v1/files/{notes}", {}, format="json")

    assert (foreign.status_code, foreign.json()) == (404, FILE_NOT_FOUND)
    assert (bad.status_code, bad.json()["msg"]) == (422, "private: Must be a valid boolean.")
    assert (missing.status_code, missing.json()["msg"]) == (422, "private: This field is required.")
    listed = alice_client.get(f"/api/v1/sessions/{shared['session'].id}/files").json()["data"]["files"]
    assert [f["private"] for f in listed if f["file_id"] == notes] == [False]

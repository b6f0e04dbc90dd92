"""A message is checked before anything is created or changed; the limits the web app checks
first come from the server (`GET /config`)."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from agents.models import Turn
from agents.services import MAX_MESSAGE_CHARS
from sessions import eventlog
from sessions.models import Session

pytestmark = pytest.mark.django_db

TOO_LONG = "The message is longer than 100,000 characters. Shorten it, or attach the text as a file."


def test_a_session_created_with_an_over_long_first_message_is_refused_and_nothing_is_created(
    alice_client: APIClient,
) -> None:
    response = alice_client.put(
        "/api/v1/sessions", {"mode": "lite", "message": "x" * (MAX_MESSAGE_CHARS + 1)}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["msg"] == f"message: {TOO_LONG}"
    assert (Session.objects.count(), Turn.objects.count()) == (0, 0)


def test_a_session_created_with_a_foreign_attachment_is_404_and_nothing_is_created(
    alice_client: APIClient, bob_client: APIClient
) -> None:
    upload = bob_client.post(
        "/api/v1/files", {"file": SimpleUploadedFile("b.txt", b"bob's", "text/plain")}, format="multipart"
    )
    file_id = upload.json()["data"]["file_id"]

    response = alice_client.put(
        "/api/v1/sessions", {"mode": "agent", "message": "read it", "attachments": [file_id]}, format="json"
    )

    assert response.status_code == 404
    assert (Session.objects.count(), Turn.objects.count()) == (0, 0)


def test_a_session_created_with_its_first_message_has_that_message_and_a_queued_turn(
    alice_client: APIClient, alice: Any
) -> None:
    response = alice_client.put("/api/v1/sessions", {"mode": "lite", "message": "Say hello"}, format="json")

    assert response.status_code == 200
    session = Session.objects.get(pk=response.json()["data"]["session_id"])
    assert (session.owner, session.mode, session.status, session.latest_message) == (
        alice,
        "lite",
        "running",
        "Say hello",
    )
    turn = Turn.objects.get(session=session)
    assert (turn.status, turn.message, turn.message_seq) == ("queued", "Say hello", 1)
    assert [(e["type"], e.get("content", e.get("status"))) for e in eventlog.events_after(session.id, 0)] == [
        ("message", "Say hello"),
        ("status", "running"),
    ]


def test_chat_with_an_over_long_message_says_so_in_a_sentence_and_changes_nothing(alice_client: APIClient) -> None:
    session_id = alice_client.put("/api/v1/sessions", {"mode": "lite"}, format="json").json()["data"]["session_id"]

    response = alice_client.post(
        f"/api/v1/sessions/{session_id}/chat", {"message": "y" * (MAX_MESSAGE_CHARS + 1)}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["msg"] == f"message: {TOO_LONG}"
    assert eventlog.last_seq(session_id) == 0
    assert Turn.objects.count() == 0
    assert Session.objects.get(pk=session_id).status == "pending"


def test_config_gives_the_limits_and_only_staff_hear_that_no_model_is_configured(
    alice_client: APIClient, alice: Any, settings: Settings
) -> None:
    settings.LLM_PROVIDER, settings.API_KEY, settings.OPENAI_API_KEY = "openai", "", ""
    settings.FILE_UPLOAD_MAX_BYTES = 3 * 1024 * 1024

    as_user = alice_client.get("/api/v1/config")

    assert as_user.status_code == 200
    assert as_user.json()["data"] == {
        "max_message_chars": MAX_MESSAGE_CHARS,
        "max_upload_bytes": 3 * 1024 * 1024,
        "model_problem": None,
    }
    alice.is_staff = True
    alice.save()
    as_staff = alice_client.get("/api/v1/config").json()["data"]
    assert as_staff["model_problem"] == (
        "No API key is configured for the model provider 'openai'. Set API_KEY (or OPENAI_API_KEY) in .env "
        "and restart Anker."
    )


def test_config_needs_a_login(anon_client: APIClient) -> None:
    assert anon_client.get("/api/v1/config").status_code == 401


def test_a_start_without_a_model_says_so_and_what_to_set(settings: Settings) -> None:
    from django.core.checks import run_checks

    settings.LLM_PROVIDER, settings.API_KEY, settings.OPENAI_API_KEY = "openai", "", ""

    [warning] = [m for m in run_checks() if m.id == "anker.W001"]

    assert warning.msg == (
        "No model is configured: No API key is configured for the model provider 'openai'. "
        "Set API_KEY (or OPENAI_API_KEY) in .env and restart Anker."
    )
    settings.API_KEY = "sk-test"
    assert [m for m in run_checks() if m.id == "anker.W001"] == []

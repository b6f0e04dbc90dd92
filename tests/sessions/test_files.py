"""Files: upload, owner-only download with an RFC 5987 name, a session's list, the size cap."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from sessions.files import files_of_session
from sessions.services import session_create

pytestmark = pytest.mark.django_db


def upload(client: APIClient, name: str, data: bytes, **extra: str) -> Any:
    return client.post(
        "/api/v1/files", {"file": SimpleUploadedFile(name, data, "text/plain"), **extra}, format="multipart"
    )


def test_an_upload_is_listed_and_downloads_for_its_owner(alice: Any, alice_client: APIClient) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")

    response = upload(alice_client, "Grüße notes.txt", b"hello anchors", session_id=session.id)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data == {
        "file_id": data["file_id"],
        "filename": "Grüße notes.txt",
        "content_type": "text/plain",
        "size": 13,
        "file_url": f"/api/v1/files/{data['file_id']}/download",
        "private": False,
    }
    listing = alice_client.get(f"/api/v1/sessions/{session.id}/files").json()["data"]["files"]
    assert listing == [data]
    download = alice_client.get(data["file_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello anchors"
    assert download["Content-Disposition"] == (
        "attachment; filename=\"Gr__e notes.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20notes.txt"
    )


def test_another_user_gets_404_for_the_file_and_the_list(
    alice: Any, alice_client: APIClient, bob_client: APIClient
) -> None:
    session = session_create(owner_id=alice.pk, mode="agent")
    data = upload(alice_client, "secret.txt", b"top secret", session_id=session.id).json()["data"]

    download = bob_client.get(data["file_url"])
    listing = bob_client.get(f"/api/v1/sessions/{session.id}/files")

    assert (download.status_code, download.json()) == (404, {"code": 404, "msg": "File not found", "data": None})
    assert listing.status_code == 404
    assert bob_client.get("/api/v1/files/not-an-id/download").status_code == 404


def test_an_upload_over_the_cap_is_refused_and_not_kept(alice: Any, alice_client: APIClient, settings: Any) -> None:
    settings.FILE_UPLOAD_MAX_BYTES = 10
    session = session_create(owner_id=alice.pk, mode="agent")

    response = upload(alice_client, "big.bin", b"x" * 11, session_id=session.id)

    assert response.status_code == 413
    assert response.json()["msg"] == "the file is larger than the 10 byte limit"
    assert files_of_session(owner_id=alice.pk, session_id=session.id) == []

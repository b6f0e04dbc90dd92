"""Seed endpoints 7-9 against a real sandbox (a jail): shell view, file view, VNC ticket."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from sandboxes.models import Sandbox
from sandboxes.services import SandboxHandle, sandbox_acquire
from sessions.models import Session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session(alice: Any) -> Session:
    return Session.objects.create(owner=alice)


@pytest.fixture
def sandbox(local_backend: str, session: Session) -> SandboxHandle:
    return sandbox_acquire(session_id=session.id)


def test_shell_view_returns_the_shells_console(
    alice_client: APIClient, session: Session, sandbox: SandboxHandle
) -> None:
    sandbox.tool_api.shell_exec(id="main", command="echo hello from the sandbox", wait_seconds=10)

    response = alice_client.post(f"/api/v1/sessions/{session.id}/shell", {"session_id": "main"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["msg"]) == (0, "success")
    assert body["data"]["session_id"] == "main"
    assert body["data"]["output"] == "hello from the sandbox\n"
    assert body["data"]["console"] == [
        {"ps1": "ubuntu@sandbox:~ $", "command": "echo hello from the sandbox", "output": "hello from the sandbox\n"}
    ]


def test_file_view_returns_the_files_content(alice_client: APIClient, session: Session, sandbox: SandboxHandle) -> None:
    sandbox.tool_api.file_write(file="/workspace/notes/todo.md", content="# plan\n1. anchor\n")

    response = alice_client.post(
        f"/api/v1/sessions/{session.id}/file", {"file": "/workspace/notes/todo.md"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "code": 0,
        "msg": "success",
        "data": {"content": "# plan\n1. anchor\n", "file": "/workspace/notes/todo.md"},
    }


def test_a_missing_shell_or_file_is_a_404_envelope(
    alice_client: APIClient, session: Session, sandbox: SandboxHandle
) -> None:
    shell = alice_client.post(f"/api/v1/sessions/{session.id}/shell", {"session_id": "nope"}, format="json")
    file = alice_client.post(f"/api/v1/sessions/{session.id}/file", {"file": "/workspace/nope.txt"}, format="json")
    assert (shell.status_code, shell.json()) == (404, {"code": 404, "msg": "Shell not found", "data": None})
    assert (file.status_code, file.json()) == (404, {"code": 404, "msg": "File not found", "data": None})


def test_a_path_outside_the_sandbox_root_is_refused(
    alice_client: APIClient, session: Session, sandbox: SandboxHandle
) -> None:
    response = alice_client.post(f"/api/v1/sessions/{session.id}/file", {"file": "/etc/passwd"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == 403


def test_another_users_session_is_a_404_and_reads_nothing(
    bob_client: APIClient, session: Session, sandbox: SandboxHandle
) -> None:
    sandbox.tool_api.file_write(file="/workspace/secret.txt", content="alice's")
    for path, body in (("shell", {"session_id": "main"}), ("file", {"file": "/workspace/secret.txt"})):
        response = bob_client.post(f"/api/v1/sessions/{session.id}/{path}", body, format="json")
        assert (response.status_code, response.json()) == (404, {"code": 404, "msg": "Session not found", "data": None})
    ticket = bob_client.post(f"/api/v1/sessions/{session.id}/vnc/ticket", {"view_only": True}, format="json")
    assert (ticket.status_code, ticket.json()["msg"]) == (404, "Session not found")


def test_a_session_without_a_sandbox_is_a_404(alice_client: APIClient, session: Session) -> None:
    for path, body in (
        ("shell", {"session_id": "main"}),
        ("file", {"file": "/workspace/a.txt"}),
        ("vnc/ticket", {"view_only": True}),
    ):
        response = alice_client.post(f"/api/v1/sessions/{session.id}/{path}", body, format="json")
        assert (response.status_code, response.json()) == (
            404,
            {"code": 404, "msg": "This session has no sandbox yet", "data": None},
        )
    assert Sandbox.objects.count() == 0  # looking does not start one


def test_invalid_input_is_a_422(alice_client: APIClient, session: Session) -> None:
    shell = alice_client.post(f"/api/v1/sessions/{session.id}/shell", {"session_id": "../x"}, format="json")
    file = alice_client.post(f"/api/v1/sessions/{session.id}/file", {"file": "relative.txt"}, format="json")
    empty = alice_client.post(f"/api/v1/sessions/{session.id}/file", {}, format="json")
    assert shell.status_code == 422 and shell.json()["msg"].startswith("session_id:")
    assert file.status_code == 422 and file.json()["msg"].startswith("file:")
    assert (empty.status_code, empty.json()["msg"]) == (422, "file: This field is required.")


def test_unauthenticated_requests_are_refused(anon_client: APIClient, session: Session) -> None:
    response = anon_client.post(f"/api/v1/sessions/{session.id}/shell", {"session_id": "main"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == 401

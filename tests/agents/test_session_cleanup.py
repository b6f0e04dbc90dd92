"""Deleting an agent session (by its owner, or by staff in the admin) deletes what the agent kept
for it: its event log, its memory, its files and its sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from agents.memory import COLLECTION
from agents.services import chat_send, turn_run
from anker_project.mongo import get_db
from sandboxes.models import Sandbox, SandboxStatus
from sessions import eventlog
from sessions.events import MessageEvent
from sessions.files import BUCKET
from sessions.models import Session
from sessions.publisher import event_publish
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session
from tests.agents.test_agent_turn import call, plan
from tests.conftest import make_user
from tests.support.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db(transaction=True)


def test_deleting_a_session_deletes_its_agent_memory_and_its_files(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    # Given an agent session with an upload, a delivered file and a memory document,
    home = str(sandbox.home)
    out = f"{home}/cleanup-out.txt"
    session = new_agent_session(alice)
    kept = new_agent_session(alice)  # another session of the same owner keeps its files
    upload = alice_client.post(
        "/api/v1/files",
        {"file": SimpleUploadedFile("cleanup-in.txt", b"in\n", "text/plain"), "session_id": session.id},
        format="multipart",
    ).json()["data"]
    other = alice_client.post(
        "/api/v1/files",
        {"file": SimpleUploadedFile("kept.txt", b"kept\n", "text/plain"), "session_id": kept.id},
        format="multipart",
    ).json()["data"]
    llm.push(
        plan("Write it"),
        call("file_write", {"file": out, "content": "out\n"}, "call_write"),
        call("complete_step", {"success": True, "result": "ok", "attachments": [out]}, "call_done"),
        call("deliver_result", {"message": "Here it is."}, "call_result"),
    )
    turn = chat_send(session_id=session.id, message="Write a file", attachments=[upload["file_id"]])
    assert turn is not None
    assert turn_run(turn_id=str(turn.id)) == "completed"
    files = get_db()[f"{BUCKET}.files"]
    stored = {d["filename"]: d["_id"] for d in files.find({"metadata.session_id": session.id})}
    assert sorted(stored) == ["cleanup-in.txt", "cleanup-out.txt"]
    assert get_db()[COLLECTION].find_one({"_id": session.id}) is not None

    # When the owner deletes the session,
    response = alice_client.delete(f"/api/v1/sessions/{session.id}")

    # then its memory, its file documents and their chunks are gone; other sessions keep theirs.
    assert response.json() == {"code": 0, "msg": "success", "data": None}
    assert get_db()[COLLECTION].find_one({"_id": session.id}) is None
    assert list(files.find({"metadata.session_id": session.id})) == []
    assert list(get_db()[f"{BUCKET}.chunks"].find({"files_id": {"$in": list(stored.values())}})) == []
    assert alice_client.get(upload["file_url"]).status_code == 404
    kept_download = alice_client.get(other["file_url"])
    assert kept_download.status_code == 200
    assert b"".join(kept_download.streaming_content) == b"kept\n"


@pytest.mark.parametrize("how", ["delete view", "bulk action"])
def test_deleting_a_session_in_the_admin_leaves_no_event_log_memory_files_or_sandbox(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer, how: str
) -> None:
    # Given an agent session that ran a turn: events, memory, a delivered file and a leased sandbox,
    out = f"{sandbox.home}/admin-out.txt"
    session = new_agent_session(alice)
    kept = new_agent_session(alice)
    event_publish(kept.id, MessageEvent(role="user", content="keep me"))
    llm.push(
        plan("Write it"),
        call("file_write", {"file": out, "content": "out\n"}, "call_write"),
        call("complete_step", {"success": True, "result": "ok", "attachments": [out]}, "call_done"),
        call("deliver_result", {"message": "Here it is."}, "call_result"),
    )
    turn = chat_send(session_id=session.id, message="Write a file")
    assert turn is not None
    assert turn_run(turn_id=str(turn.id)) == "completed"
    files = get_db()[f"{BUCKET}.files"]
    stored = [d["_id"] for d in files.find({"metadata.session_id": session.id})]
    assert len(stored) == 1
    assert get_db()[COLLECTION].find_one({"_id": session.id}) is not None
    assert eventlog.events_after(session.id, 0) != []
    box = Sandbox.objects.get(session_id=session.id)
    assert box.status == SandboxStatus.IN_USE
    staff = Client()
    staff.force_login(make_user("root", is_staff=True, is_superuser=True))

    # When staff delete it in the admin,
    if how == "delete view":
        response = staff.post(f"/admin/chat_sessions/session/{session.id}/delete/", {"post": "yes"})
    else:
        response = staff.post(
            "/admin/chat_sessions/session/",
            {"action": "delete_selected", "_selected_action": [session.id], "post": "yes"},
        )

    # then the session, its log, its memory, its files and its sandbox are gone; the other session keeps its log.
    assert response.status_code == 302
    assert not Session.objects.filter(pk=session.id).exists()
    assert eventlog.events_after(session.id, 0) == []
    assert get_db()[COLLECTION].find_one({"_id": session.id}) is None
    assert list(files.find({"metadata.session_id": session.id})) == []
    assert list(get_db()[f"{BUCKET}.chunks"].find({"files_id": {"$in": stored}})) == []
    assert Sandbox.objects.get(pk=box.pk).status == SandboxStatus.STOPPED
    assert [e["content"] for e in eventlog.events_after(kept.id, 0)] == ["keep me"]

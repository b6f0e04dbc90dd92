"""Deleting an agent session deletes what the agent kept for it: its memory and its files."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from agents.memory import COLLECTION
from agents.services import chat_send, turn_run
from sessions.files import BUCKET
from sessions.mongo import get_db
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session
from tests.agents.test_agent_turn import call, plan
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
    turn = chat_send(session=session, message="Write a file", attachments=[upload["file_id"]])
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

"""Secrets: encrypted at rest, never shown again, given to the sandbox's shells as variables,
and redacted from everything stored or sent — a canary printed, base64-encoded and split
across lines never reaches the model, the event log, the shell API or the logs."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Secret, SessionReach
from agents.services import chat_send, turn_run
from anker_project.redact import Redactor
from sandboxes.tool_api import ToolApiClient, ToolApiError
from sessions import eventlog
from sessions.files import file_chunks
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session, timeline, tool_event
from tests.agents.reach.conftest import call, plan, tool_messages
from tests.bootstrap import ROOT
from tests.support.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "canary-Zq7w9Lx2Vb4Np8Rt"


def _forms(value: str) -> list[str]:
    """Pieces of the canary and of its base64 that must appear nowhere."""
    encoded = base64.b64encode(value.encode()).decode()
    return [
        value,
        value[:12],
        value[-12:],
        encoded[:12],
        encoded[8:20],
        base64.b64encode(("x" + value).encode()).decode()[4:16],
    ]


def test_a_secret_is_stored_encrypted_listed_by_name_only_and_never_shown_again(
    alice: Any, alice_client: APIClient
) -> None:
    created = alice_client.post("/api/v1/secrets", {"name": "GITHUB_TOKEN", "value": CANARY}, format="json")
    listed = alice_client.get("/api/v1/secrets")

    assert created.status_code == 201
    assert created.json()["data"].keys() == {"name", "created_at", "updated_at"}
    assert [s["name"] for s in listed.json()["data"]] == ["GITHUB_TOKEN"]
    assert CANARY not in json.dumps(created.json()) + json.dumps(listed.json())
    stored = Secret.objects.get(owner=alice, name="GITHUB_TOKEN")
    assert CANARY not in stored.ciphertext and stored.ciphertext.startswith("gAAAA")  # a Fernet token


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("1ST", "long enough", "secret name '1ST' is not an environment variable name"),
        ("MY-TOKEN", "long enough", "secret name 'MY-TOKEN' is not an environment variable name"),
        ("PATH", "long enough", "secret name 'PATH' is reserved by the sandbox"),
        ("BIG", "x" * (64 * 1024 + 1), "secret value is 65537 bytes; at most 65536 bytes (64 KB)"),
    ],
)
def test_bad_secret_names_and_values_over_64_kb_are_422_and_nothing_is_stored(
    alice_client: APIClient, name: str, value: str, message: str
) -> None:
    response = alice_client.post("/api/v1/secrets", {"name": name, "value": value}, format="json")

    assert (response.status_code, response.json()["code"]) == (422, 422)
    assert response.json()["msg"].startswith(message)
    assert Secret.objects.count() == 0


def test_a_session_may_use_only_its_owners_secrets(
    alice: Any, bob: Any, alice_client: APIClient, bob_client: APIClient
) -> None:
    alice_client.post("/api/v1/secrets", {"name": "TOKEN", "value": CANARY}, format="json")
    bob_session = new_agent_session(bob)
    alice_session = new_agent_session(alice)

    foreign = alice_client.put(f"/api/v1/sessions/{bob_session.id}/secrets", {"names": ["TOKEN"]}, format="json")
    missing = bob_client.put(f"/api/v1/sessions/{bob_session.id}/secrets", {"names": ["TOKEN"]}, format="json")
    mine = alice_client.put(f"/api/v1/sessions/{alice_session.id}/secrets", {"names": ["TOKEN"]}, format="json")

    assert foreign.status_code == 404
    assert (missing.status_code, missing.json()["msg"]) == (422, "you have no secret named TOKEN; create it first")
    assert mine.json()["data"] == {"names": ["TOKEN"]}
    assert list(SessionReach.objects.values_list("session_id", "secret_names")) == [(alice_session.id, ["TOKEN"])]


def test_a_canary_secret_printed_encoded_and_split_reaches_the_shell_but_nothing_that_is_stored_or_sent(
    alice: Any,
    alice_client: APIClient,
    llm: ScriptedLLM,
    sandbox: ToolApiServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    home = str(sandbox.home)
    alice_client.post("/api/v1/secrets", {"name": "CANARY", "value": CANARY}, format="json")
    session = new_agent_session(alice)
    alice_client.put(f"/api/v1/sessions/{session.id}/secrets", {"names": ["CANARY"]}, format="json")
    command = (
        'echo "plain:$CANARY"; echo "len:${#CANARY}"; echo "$CANARY" | base64 | fold -w 7; '
        'printf "x%s" "$CANARY" | base64 -w 5; echo "$CANARY" > leak.txt'
    )
    llm.push(
        plan("Print the token"),
        call("shell_exec", {"id": "canary", "exec_dir": home, "command": command}, "call_print"),
        call("file_read", {"file": f"{home}/leak.txt"}, "call_read"),
        call("complete_step", {"success": True, "result": "ok"}, "call_done"),
        call("deliver_result", {"message": "Here it is.", "attachments": [f"{home}/leak.txt"]}, "call_result"),
    )
    turn = chat_send(session_id=session.id, message="Print the token")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed", timeline(session.id)

    # The shell had the variable (its length is printed), and every form of it was redacted.
    output = tool_messages(llm.requests[-2])["call_print"]
    assert f"len:{len(CANARY)}" in output
    assert "plain:[redacted:CANARY]" in output
    assert output.count("[redacted:CANARY]") == 3
    assert tool_messages(llm.requests[-2])["call_read"].endswith("\n[redacted:CANARY]\n")
    shown = tool_event(session.id, "call_print")["content"]["console"][-1]["output"]
    assert shown.count("[redacted:CANARY]") == 3
    # Nowhere: the model's requests, the event log, the sandbox's own shell view (what the
    # web app's shell API relays), the logs.
    with ToolApiClient(sandbox.url, sandbox.token) as api:
        shell = api.shell_view(id="canary")
    # The delivered file is in the user's store without the secret.
    answer = [m for m in eventlog.events_of_types(session.id, ("message",), limit=50) if m["role"] == "assistant"][-1]
    (delivered,) = answer["attachments"]
    _, chunks = file_chunks(owner_id=alice.pk, file_id=delivered["file_id"])
    stored_file = b"".join(chunks).decode()
    assert stored_file == "[redacted:CANARY]\n"
    everything = {
        "stored file": stored_file,
        "model": json.dumps(llm.requests),
        "events": json.dumps(eventlog.events_after(session.id, 0), default=str),
        "shell api": json.dumps(shell),
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    assert "[redacted:CANARY]" in everything["shell api"]
    for where, text in everything.items():
        for form in _forms(CANARY):
            assert form not in text, f"{form!r} leaked into {where}"


def test_the_redactor_in_the_sandbox_image_is_the_same_as_the_platforms() -> None:
    platform = (ROOT / "anker_project" / "redact.py").read_text()
    image = (ROOT / "sandbox-image" / "toolapi" / "redact.py").read_text()

    assert image == platform
    assert Redactor({"K": CANARY}).text("a " + CANARY + " b") == "a [redacted:K] b"


def test_a_file_with_a_secret_leaves_the_sandbox_redacted_and_a_binary_one_not_at_all(sandbox: ToolApiServer) -> None:
    home = sandbox.home
    (home / "notes.txt").write_text(f"token={CANARY}\n")
    (home / "blob.bin").write_bytes(b"\x00\xff" + CANARY.encode() + b"\x00")
    (home / "clean.bin").write_bytes(b"\x00\xff\x10")
    with ToolApiClient(sandbox.url, sandbox.token) as api:
        api.env_set(env={})  # the server is shared: no secrets from an earlier test
        before = b"".join(api.file_download(path=str(home / "notes.txt")))
        api.env_set(env={"CANARY": CANARY})
        notes = b"".join(api.file_download(path=str(home / "notes.txt")))
        clean = b"".join(api.file_download(path=str(home / "clean.bin")))
        with pytest.raises(ToolApiError) as refused:
            b"".join(api.file_download(path=str(home / "blob.bin")))

    assert before == f"token={CANARY}\n".encode()  # no secrets given: the file as it is
    assert notes == b"token=[redacted:CANARY]\n"
    assert clean == b"\x00\xff\x10"
    assert refused.value.status == 403
    assert "holds a secret value in binary form" in refused.value.message

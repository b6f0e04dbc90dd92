"""Message toolkit: notify and ask publish an assistant message (with files from the sandbox)
once per tool call; ask ends the turn waiting."""

from __future__ import annotations

from typing import Any

import pytest

from agents.tools import REGISTRY, ToolEnv, ToolResult
from agents.tools.base import ToolFailedError
from sessions.files import file_read_bytes
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import events

pytestmark = pytest.mark.django_db(transaction=True)


def run(env: ToolEnv, name: str, **args: Any) -> ToolResult:
    tool = REGISTRY[name]
    return tool.run(env, tool.args.model_validate(args))


def test_notify_publishes_a_message_with_the_attached_file_and_goes_on(env: ToolEnv, sandbox: ToolApiServer) -> None:
    (sandbox.home / "progress.txt").write_text("half done\n")

    result = run(env, "message_notify_user", text="Half way there.", attachments=[str(sandbox.home / "progress.txt")])

    [message] = events(env.ctx.session_id, "message")
    assert (message["role"], message["content"], message["turn_id"]) == ("assistant", "Half way there.", "turn-tools")
    [attached] = message["attachments"]
    assert (attached["filename"], attached["content_type"], attached["size"]) == ("progress.txt", "text/plain", 10)
    _, data = file_read_bytes(owner_id=env.owner_id, file_id=attached["file_id"])
    assert data == b"half done\n"
    assert (result.output, result.ends_turn_waiting) == ("the user was notified", False)
    assert result.content == {"text": "Half way there.", "attachments": [attached]}


def test_the_same_call_run_again_after_a_restart_publishes_nothing_new(env: ToolEnv) -> None:
    run(env, "message_notify_user", text="Once.")
    run(env, "message_notify_user", text="Once.")

    assert [e["content"] for e in events(env.ctx.session_id, "message")] == ["Once."]


def test_ask_publishes_the_question_and_ends_the_turn_waiting(env: ToolEnv) -> None:
    result = run(env, "message_ask_user", text="Which anchor?", suggest_user_takeover="browser")

    [message] = events(env.ctx.session_id, "message")
    assert (message["role"], message["content"], message["attachments"]) == ("assistant", "Which anchor?", [])
    assert (result.output, result.ends_turn_waiting) == ("", True)
    assert result.content == {"text": "Which anchor?", "attachments": [], "suggest_user_takeover": "browser"}


def test_a_missing_attachment_fails_the_call_and_publishes_nothing(env: ToolEnv, sandbox: ToolApiServer) -> None:
    with pytest.raises(ToolFailedError) as failed:
        run(env, "message_notify_user", text="See file", attachments=[str(sandbox.home / "nope.txt")])

    missing = sandbox.home / "nope.txt"
    assert str(failed.value) == f"attachment '{missing}' could not be read: no such file: {missing}"
    assert events(env.ctx.session_id, "message") == []

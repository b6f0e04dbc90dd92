"""Shell toolkit against the real tool API: what the model reads (`output`) and what the UI
shows (`content.console`), long-running commands, input, kill, truncation, and the turn
deadline that ends an agent whose commands ran too long."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents.services import chat_send, turn_run
from agents.tools import REGISTRY, ToolEnv, ToolResult
from agents.tools import shell as shell_tools
from sandboxes.tool_api import ToolApiError
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session, timeline
from tests.agents.test_agent_turn import call, plan
from tests.support.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db(transaction=True)
PS1 = "root@vm:~ $"
RUNNING = "status: running (still running: use shell_wait, shell_view or shell_write_to_process)\n"


def run(env: ToolEnv, name: str, **args: Any) -> ToolResult:
    tool = REGISTRY[name]
    return tool.run(env, tool.args.model_validate(args))


@pytest.fixture(autouse=True)
def quick_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    """shell_exec returns "running" after 0.5 s instead of 5 s, so long commands are quick to test."""
    monkeypatch.setattr(shell_tools, "EXEC_WAIT_SECONDS", 0.5)


def test_shell_exec_returns_the_status_and_output_to_the_model_and_the_console_to_the_ui(
    env: ToolEnv, sandbox: ToolApiServer
) -> None:
    result = run(env, "shell_exec", id="sh-exec", exec_dir=str(sandbox.home), command="echo anchors-$((6*7)); false")

    assert result.output == "status: completed, exit code: 1\nanchors-42\n"
    assert result.content == {
        "console": [{"ps1": PS1, "command": "echo anchors-$((6*7)); false", "output": "anchors-42\n"}]
    }


def test_a_shell_keeps_its_state_between_calls(env: ToolEnv, sandbox: ToolApiServer) -> None:
    (sandbox.home / "shell-state").mkdir(exist_ok=True)
    run(env, "shell_exec", id="sh-state", exec_dir=str(sandbox.home), command="cd shell-state; export FLUKE=danforth")

    result = run(env, "shell_exec", id="sh-state", exec_dir=str(sandbox.home / "shell-state"), command="echo $FLUKE")

    assert result.output == "status: completed, exit code: 0\ndanforth\n"
    assert [r["command"] for r in result.content["console"]] == ["cd shell-state; export FLUKE=danforth", "echo $FLUKE"]


def test_a_waiting_process_gets_its_input_and_shell_view_shows_the_result(env: ToolEnv, sandbox: ToolApiServer) -> None:
    started = run(env, "shell_exec", id="sh-input", exec_dir=str(sandbox.home), command="read x; echo got-$x")
    assert started.output == RUNNING

    answered = run(env, "shell_write_to_process", id="sh-input", input="anchor", press_enter=True)
    viewed = run(env, "shell_view", id="sh-input")

    assert answered.output == "status: completed, exit code: 0\ngot-anchor\n"
    console = [{"ps1": PS1, "command": "read x; echo got-$x", "output": "got-anchor\n"}]
    assert answered.content == {"console": console}
    assert viewed.output == "got-anchor\n"
    assert viewed.content == {"console": console}


def test_shell_wait_returns_when_the_command_ends(env: ToolEnv, sandbox: ToolApiServer) -> None:
    started = run(env, "shell_exec", id="sh-wait", exec_dir=str(sandbox.home), command="sleep 2; echo woke")
    assert started.output == RUNNING

    waited = run(env, "shell_wait", id="sh-wait", seconds=30)

    assert waited.output == "status: completed, exit code: 0\nwoke\n"
    assert waited.content["console"][-1] == {"ps1": PS1, "command": "sleep 2; echo woke", "output": "woke\n"}


def test_shell_wait_gives_up_after_its_seconds_and_says_the_command_still_runs(
    env: ToolEnv, sandbox: ToolApiServer
) -> None:
    run(env, "shell_exec", id="sh-wait-long", exec_dir=str(sandbox.home), command="sleep 60")

    waited = run(env, "shell_wait", id="sh-wait-long", seconds=1)
    killed = run(env, "shell_kill_process", id="sh-wait-long")

    assert waited.output == RUNNING
    assert killed.output.startswith("killed processes [")
    assert killed.content == {"console": [{"ps1": "", "command": "(killed)", "output": killed.output}]}
    with pytest.raises(ToolApiError) as gone:  # the shell went with its process; the agent reports this to the model
        run(env, "shell_view", id="sh-wait-long")
    assert (gone.value.status, gone.value.message) == (404, "no shell named 'sh-wait-long'")


def test_long_output_is_cut_in_the_middle_with_a_note_on_how_to_read_all_of_it(
    env: ToolEnv, sandbox: ToolApiServer, settings: Settings
) -> None:
    settings.AGENT_TOOL_OUTPUT_CHARS = 100
    full = "".join(f"{n}\n" for n in range(1, 1001))

    result = run(env, "shell_exec", id="sh-long", exec_dir=str(sandbox.home), command="seq 1 1000")

    cut = len(full) - 100
    note = f"\n[... {cut} characters truncated; redirect output to a file and use file_read ...]\n"
    assert result.output == "status: completed, exit code: 0\n" + full[:50] + note + full[-50:]
    # The UI's console keeps the whole output.
    assert result.content["console"][-1]["output"] == full


def test_the_turn_deadline_ends_the_turn_with_an_error_that_names_the_setting(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, settings: Settings
) -> None:
    settings.TURN_DEADLINE_SECONDS = 3
    llm.push(
        plan("Run the slow job"),
        call("shell_exec", {"id": "sh-deadline", "exec_dir": str(sandbox.home), "command": "sleep 4"}, "call_slow"),
        call("shell_wait", {"id": "sh-deadline", "seconds": 30}, "call_wait"),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Run it")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "failed"

    message = (
        "The task ran longer than TURN_DEADLINE_SECONDS (3 s) and was ended. "
        "Send a message to continue from where it stopped."
    )
    assert timeline(session.id)[-6:] == [
        ("tool", "shell_exec", "calling", "call_slow"),
        ("tool", "shell_exec", "called", "call_slow"),
        ("tool", "shell_wait", "calling", "call_wait"),
        ("tool", "shell_wait", "called", "call_wait"),
        ("status", "failed"),
        ("error", message),
    ]
    turn.refresh_from_db()
    assert (turn.status, turn.error) == ("failed", message)
    assert len(llm.requests) == 3  # no model call after the deadline

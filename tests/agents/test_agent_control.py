"""Agent turns under control: re-planning, asking the user, interrupts, stop, limits, and
models that misbehave (bad JSON, unknown tools, text where a tool call is required)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents import prompts
from agents.memory import memory_load
from agents.services import chat_send, turn_run, turn_stop
from sessions.models import Session
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import assert_gap_and_duplicate_free, new_agent_session, timeline, tool_event
from tests.agents.test_agent_turn import call, plan
from tests.support.llm_server import ScriptedLLM, ToolCall, slow, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


def done(result: str = "ok", call_id: str = "call_done") -> Any:
    return call("complete_step", {"success": True, "result": result}, call_id)


def deliver(message: str = "All done.") -> Any:
    return call("deliver_result", {"message": message}, "call_result")


def test_a_failed_step_re_plans_the_remaining_steps(alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer) -> None:
    llm.push(
        plan("Try the fast way", "Finish"),
        call("complete_step", {"success": False, "result": "no network"}, "call_fail"),
        call("update_plan", {"steps": [{"description": "Use the local copy"}]}, "call_update"),
        done("copied", "call_done3"),
        deliver("Used the local copy."),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Fetch the data")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    assert timeline(session.id)[2:] == [
        ("title", "Anchor report"),
        ("message", "assistant", "On it.", []),
        ("plan", [("1", "pending"), ("2", "pending")]),
        ("step", "1", "running"),
        ("plan", [("1", "running"), ("2", "pending")]),
        ("step", "1", "failed"),
        ("plan", [("1", "failed"), ("2", "pending")]),
        ("plan", [("1", "failed"), ("3", "pending")]),
        ("step", "3", "running"),
        ("plan", [("1", "failed"), ("3", "running")]),
        ("step", "3", "completed"),
        ("plan", [("1", "failed"), ("3", "completed")]),
        ("message", "assistant", "Used the local copy.", []),
        ("status", "completed"),
        ("done",),
    ]
    replan_request = llm.requests[2]
    assert [t["function"]["name"] for t in replan_request["tools"]] == ["update_plan"]
    assert 'Step 1 ("Try the fast way") failed: no network' in replan_request["messages"][-1]["content"]


def test_ask_user_waits_and_the_answer_continues_the_same_plan(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.push(
        plan("Ask which anchor"),
        call("message_ask_user", {"text": "Which anchor do you mean?"}, "call_ask"),
    )
    session = new_agent_session(alice)
    first = chat_send(session_id=session.id, message="Tell me about the anchor")
    assert first is not None

    assert turn_run(turn_id=str(first.id)) == "waiting"
    assert timeline(session.id)[-5:] == [
        ("tool", "message_ask_user", "calling", "call_ask"),
        ("message", "assistant", "Which anchor do you mean?", []),
        ("tool", "message_ask_user", "called", "call_ask"),
        ("status", "waiting"),
        ("wait",),
    ]
    assert memory_load(session_id=session.id).pending_ask == "call_ask"

    llm.push(done("The Danforth", "call_done"), deliver("The Danforth anchor."))
    second = chat_send(session_id=session.id, message="The Danforth")
    assert second is not None
    assert turn_run(turn_id=str(second.id)) == "completed"

    # No new plan: the same step went on, with the answer as the ask call's result.
    assert timeline(session.id)[-7:] == [
        ("message", "user", "The Danforth", []),
        ("status", "running"),
        ("step", "1", "completed"),
        ("plan", [("1", "completed")]),
        ("message", "assistant", "The Danforth anchor.", []),
        ("status", "completed"),
        ("done",),
    ]
    resumed_request = llm.requests[2]
    answer = next(m for m in resumed_request["messages"] if m.get("tool_call_id") == "call_ask")
    assert answer["content"] == "The user answered: The Danforth"
    assert memory_load(session_id=session.id).pending_ask is None


def test_a_new_message_interrupts_and_re_plans(alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer) -> None:
    llm.push(plan("Count to a million"), slow(done(), 30))
    session = new_agent_session(alice)
    first = chat_send(session_id=session.id, message="Count")
    assert first is not None
    worker = threading.Thread(target=lambda: turn_run(turn_id=str(first.id)))
    worker.start()
    llm.wait_for_requests(2, timeout=10)

    llm.push(
        call("update_plan", {"steps": [{"description": "Count to ten"}]}, "call_update"),
        done("1..10"),
        deliver("Counted to ten."),
    )
    second = chat_send(session_id=session.id, message="Only to ten, please")
    assert second is not None
    worker.join(timeout=10)
    assert not worker.is_alive()
    first.refresh_from_db()
    assert first.status == "cancelled"
    assert turn_run(turn_id=str(second.id)) == "completed"

    lines = timeline(session.id)
    cut = lines.index(("message", "user", "Only to ten, please", []))
    # The interrupted turn ends its running step (and that plan item) and says `done`; that races
    # with the new turn's `running`; the re-plan follows them all.
    ended = [("step", "1", "cancelled"), ("plan", [("1", "cancelled")]), ("done",)]
    assert [line for line in lines[cut : cut + 5] if line in ended] == ended
    assert sorted(lines[cut : cut + 5]) == sorted([*ended, ("message", "user", "Only to ten, please", []),
                                                    ("status", "running")])  # fmt: skip
    assert lines[cut + 5 :] == [
        ("plan", [("2", "pending")]),
        ("step", "2", "running"),
        ("plan", [("2", "running")]),
        ("step", "2", "completed"),
        ("plan", [("2", "completed")]),
        ("message", "assistant", "Counted to ten.", []),
        ("status", "completed"),
        ("done",),
    ]
    assert "Only to ten, please" in llm.requests[2]["messages"][-1]["content"]


def test_stop_ends_the_turn_inside_a_long_shell_wait(alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer) -> None:
    home = str(sandbox.home)
    llm.push(
        plan("Wait for the build"),
        call("shell_exec", {"id": "long", "exec_dir": home, "command": "sleep 120"}, "call_sleep"),
        call("shell_wait", {"id": "long", "seconds": 300}, "call_wait"),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Build it")
    assert turn is not None
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(turn_run(turn_id=str(turn.id))))
    worker.start()
    deadline = time.monotonic() + 20
    while ("tool", "shell_wait", "calling", "call_wait") not in timeline(session.id):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    turn_stop(session_id=session.id)
    worker.join(timeout=15)

    assert not worker.is_alive()  # ended at the stop, not when the 300 s wait ran out
    assert outcome == ["cancelled"]
    assert timeline(session.id)[-6:] == [
        ("tool", "shell_wait", "calling", "call_wait"),
        ("tool", "shell_wait", "called", "call_wait"),
        ("step", "1", "cancelled"),
        ("plan", [("1", "cancelled")]),
        ("status", "stopped"),
        ("done",),
    ]
    ended = tool_event(session.id, "call_wait")
    assert ended["stopped"] is True
    assert ended["content"]["console"][-1]["command"] == "sleep 120"
    assert ended["content"]["console"][-1]["output"].endswith("[interrupted: the task was stopped]")
    sandbox_client = __import__("sandboxes.tool_api", fromlist=["ToolApiClient"]).ToolApiClient(
        sandbox.url, sandbox.token
    )
    # The command was interrupted in the sandbox: the shell is free for the next one.
    assert sandbox_client.shell_exec(id="long", command="echo free")["output"] == "free\n"
    assert Session.objects.get(pk=session.id).status == "stopped"
    sandbox_client.shell_kill(id="long")


def test_max_steps_ends_the_turn_with_an_explanation(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, settings: Settings
) -> None:
    settings.AGENT_MAX_STEPS = 3
    home = str(sandbox.home)
    llm.push(plan("Loop"))
    llm.set_default(call("shell_view", {"id": "x"}, "call_x"))
    llm.set_default(tool_calls([ToolCall("file_find_by_name", {"path": home, "glob": "*.none"})]))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Loop forever")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "failed"

    last = timeline(session.id)[-1]
    assert last == (
        "error",
        "The task used its 3 model rounds (AGENT_MAX_STEPS) and was ended. "
        "Send a message to continue from where it stopped, or raise AGENT_MAX_STEPS.",
    )
    assert len(llm.requests) == 3
    assert_gap_and_duplicate_free(session.id)


def test_bad_json_and_an_unknown_tool_go_back_to_the_model(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.push(
        plan("Do it"),
        # Beyond repair (an unquoted value); a cut-short '{"file": "/x' is repaired (test_model_quirks).
        tool_calls([ToolCall("file_read", '{"file": /x', id="call_badjson")]),
        call("teleport", {"to": "mars"}, "call_unknown"),
        call("file_read", {"path": "/nope"}, "call_badargs"),
        done(),
        deliver(),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Go")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    assert tool_event(session.id, "call_badjson")["content"] == {
        "error": "the arguments are not valid JSON (even after removing code fences and trailing commas and "
        "closing brackets); send them again as one JSON object."
    }
    assert tool_event(session.id, "call_badjson", "calling")["args"] == {"raw": '{"file": /x'}
    unknown = tool_event(session.id, "call_unknown")
    assert (unknown["name"], unknown["content"]["error"].split(".")[0]) == ("teleport", "unknown tool 'teleport'")
    assert tool_event(session.id, "call_badargs")["content"] == {
        "error": "invalid arguments for file_read: missing required field 'file'; path: Extra inputs are not "
        "permitted. The tool takes: file (string, required), start_line (value), end_line (value)"
    }
    results = {m["tool_call_id"]: m["content"] for m in llm.requests[4]["messages"] if m["role"] == "tool"}
    assert results["call_badjson"].startswith("error: the arguments are not valid JSON")
    assert results["call_unknown"].startswith("error: unknown tool 'teleport'")


def test_a_text_answer_where_a_tool_call_is_required_gets_a_nudge(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.push(text("Sure, I will plan this."), plan("Do it"), text("Done, I think."), done(), deliver("Finished."))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Plan it")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    assert timeline(session.id)[-3] == ("message", "assistant", "Finished.", [])
    nudge = llm.requests[1]["messages"][-1]
    assert nudge == {
        "role": "user",
        "content": "You answered in text, but a tool call is required here. Call one of the tools: create_plan.",
    }
    assert llm.requests[3]["messages"][-1]["content"].startswith("You answered in text, but a tool call is required")


def test_a_model_that_never_calls_the_plan_tool_fails_the_turn_with_a_reason(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.set_default(text("I refuse to plan."))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Plan it")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "failed"

    assert timeline(session.id)[-1] == (
        "error",
        "The model did not call create_plan after 3 attempts, so the task could not go on. "
        "Try again, or use a model with reliable tool calling.",
    )


@pytest.mark.parametrize("network", ["open", "proxy", "none"])
def test_the_prompts_say_truthfully_how_the_sandbox_reaches_the_network(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, monkeypatch: pytest.MonkeyPatch, network: str
) -> None:
    monkeypatch.setenv("SANDBOX_ATTACHED_NETWORK", network)
    llm.push(plan("Say hi"), done(), deliver("Hi."))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Say hi")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    planner_system = llm.requests[0]["messages"][0]
    executor_system = llm.requests[1]["messages"][0]
    for system in (planner_system, executor_system):
        assert system["role"] == "system"
        assert prompts.NETWORK_LINES[network] in system["content"]
        others = [line for key, line in prompts.NETWORK_LINES.items() if key != network]
        assert not any(line in system["content"] for line in others)

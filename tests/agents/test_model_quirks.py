"""What real models send, and how a turn copes: several tool calls in one answer, a server that
refuses tool_choice="required", almost-JSON and incomplete tool arguments, reasoning fields, a
context-length error, a stream that ends without a finish_reason. Each case is spoken by the
scripted OpenAI-compatible server through the real `openai` client, with the real tool API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents import prompts
from agents.models import Turn
from agents.quirks import REASONING_MAX_CHARS, reasoning_event
from agents.services import chat_send, turn_run
from sessions import eventlog
from sessions.services import session_create
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import events, new_agent_session, timeline, tool_event
from tests.support.llm_server import ScriptedLLM, ToolCall, error, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)

REQUIRED_REFUSED = "tool_choice 'required' is not supported by this server; only 'auto' and 'none' are."


def plan(*steps: str, **extra: Any) -> Any:
    args = {"message": "On it.", "title": "Quirks", "goal": "Test", "language": "English"}
    return tool_calls(
        [ToolCall("create_plan", {**args, "steps": [{"description": s} for s in steps]}, id="call_plan")], **extra
    )


def one(name: str, args: dict[str, Any] | str, call_id: str, **extra: Any) -> Any:
    return tool_calls([ToolCall(name, args, id=call_id)], **extra)


def done(call_id: str = "call_done") -> Any:
    return one("complete_step", {"success": True, "result": "done"}, call_id)


def deliver(message: str = "All done.", **extra: Any) -> Any:
    return one("deliver_result", {"message": message, "attachments": []}, "call_result", **extra)


def tool_results(request: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}


def run(owner: Any, message: str) -> tuple[str, str, Turn]:
    session = new_agent_session(owner)
    turn = chat_send(session_id=session.id, message=message)
    assert turn is not None
    outcome = turn_run(turn_id=str(turn.id))
    turn.refresh_from_db()
    return outcome, str(session.id), turn


def test_several_tool_calls_in_one_answer_run_in_order_each_with_its_tool_events(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    path = f"{sandbox.home}/several.txt"
    llm.push(
        plan("Write then read"),
        tool_calls(
            [
                ToolCall("file_write", {"file": path, "content": "first"}, id="call_a"),
                ToolCall("file_write", {"file": path, "content": "-second", "append": True}, id="call_b"),
                ToolCall("file_read", {"file": path}, id="call_c"),
            ]
        ),
        done(),
        deliver(),
    )

    outcome, session_id, _turn = run(alice, "write twice and read")

    assert outcome == "completed", timeline(session_id)
    tools = [e for e in timeline(session_id) if e[0] == "tool"]
    assert tools == [
        ("tool", "file_write", "calling", "call_a"),
        ("tool", "file_write", "called", "call_a"),
        ("tool", "file_write", "calling", "call_b"),
        ("tool", "file_write", "called", "call_b"),
        ("tool", "file_read", "calling", "call_c"),
        ("tool", "file_read", "called", "call_c"),
    ]
    assert tool_event(session_id, "call_c")["content"] == {"file": path, "content": "first-second"}
    # The next request answered all three calls, in the order they were made.
    after = llm.requests[2]["messages"]
    assert [m["tool_call_id"] for m in after if m["role"] == "tool"] == ["call_a", "call_b", "call_c"]


def test_a_server_refusing_required_tool_choice_gets_auto_and_a_text_answer_gets_the_nudge(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.on(lambda body: body.get("tool_choice") == "required", error(400, REQUIRED_REFUSED))
    llm.push(text("Sure, I will make a plan."), plan("One step"), done(), deliver("Finished."))

    outcome, session_id, _turn = run(alice, "do one thing")

    assert outcome == "completed", timeline(session_id)
    requests = llm.requests
    # One refused request; every later call of the turn goes straight to "auto".
    assert [r["tool_choice"] for r in requests] == ["required", "auto", "auto", "auto", "auto"]
    nudge = prompts.NUDGE_PROMPT.format(tools="create_plan")
    assert requests[2]["messages"][-2:] == [
        {"role": "assistant", "content": "Sure, I will make a plan."},
        {"role": "user", "content": nudge},
    ]
    assert [e for e in timeline(session_id) if e[0] == "message"][-1] == ("message", "assistant", "Finished.", [])


def test_almost_json_arguments_are_repaired_and_a_missing_field_goes_back_to_the_model_readably(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    path = f"{sandbox.home}/repaired.txt"
    fenced = '```json\n{"file": "' + path + '", "content": "fixed",}\n```'
    llm.push(
        plan("Write and read"),
        one("file_write", fenced, "call_fenced"),  # a code fence and a trailing comma
        one("file_read", '{"file": "' + path + '"', "call_cut"),  # the closing brace is missing
        one("file_read", {"start_line": 0}, "call_missing"),  # the required `file` is missing
        one("file_read", "not json at all", "call_garbage"),
        one("file_read", {"file": path}, "call_ok"),
        done(),
        deliver(),
    )

    outcome, session_id, _turn = run(alice, "write a file")

    assert outcome == "completed", timeline(session_id)
    assert tool_event(session_id, "call_fenced")["args"] == {"file": path, "content": "fixed"}
    assert (sandbox.home / "repaired.txt").read_text() == "fixed"
    assert tool_event(session_id, "call_cut")["content"] == {"file": path, "content": "fixed"}
    missing = (
        "invalid arguments for file_read: missing required field 'file'. The tool takes: file (string, required), "
        "start_line (value), end_line (value)"
    )
    assert tool_event(session_id, "call_missing")["content"] == {"error": missing}
    garbage = tool_event(session_id, "call_garbage")
    assert garbage["args"] == {"raw": "not json at all"}
    assert garbage["content"]["error"].startswith("the arguments are not valid JSON")
    results = tool_results(llm.requests[-1])
    assert results["call_missing"] == f"error: {missing}"
    assert results["call_garbage"].startswith("error: the arguments are not valid JSON")
    assert tool_event(session_id, "call_ok")["content"] == {"file": path, "content": "fixed"}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_stay_out_of_the_answer_the_events_and_the_models_history(
    field: str, alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    thought = "PRIVATE-CHAIN-OF-THOUGHT about the plan"
    llm.push(
        plan("Think", content=None, reasoning=thought, reasoning_field=field),
        done(),
        deliver("The answer is 4.", reasoning=thought, reasoning_field=field),
    )

    outcome, session_id, _turn = run(alice, "what is 2+2")

    assert outcome == "completed", timeline(session_id)
    assert [e for e in timeline(session_id) if e[0] == "message"][-1] == (
        "message",
        "assistant",
        "The answer is 4.",
        [],
    )
    assert thought not in json.dumps(events(session_id, "message") + events(session_id, "plan"))
    assert all(thought not in json.dumps(r["messages"]) for r in llm.requests)
    # It is kept apart, as `reasoning` events the web app shows collapsed: one per model round that had it.
    assert [e["content"] for e in events(session_id, "reasoning")] == [thought, thought]


def test_a_lite_answer_keeps_the_reasoning_out_of_the_streamed_tokens_and_the_message(
    alice: Any, llm: ScriptedLLM
) -> None:
    llm.push(text("Four.", reasoning="let me think: 2+2 is 4", reasoning_field="reasoning"))
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="2+2?")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    streamed = "".join(e["delta"] for e in events(str(session.id), "message_delta"))
    assert streamed == "Four."
    assert [m["content"] for m in events(str(session.id), "message")] == ["2+2?", "Four."]
    kinds = [e["type"] for e in eventlog.events_after(str(session.id), 0) if e["type"] != "message_delta"]
    assert kinds.index("reasoning") == kinds.index("message", 1) - 1  # just before the answer
    assert [e["content"] for e in events(str(session.id), "reasoning")] == ["let me think: 2+2 is 4"]


def test_reasoning_longer_than_the_limit_is_cut_and_empty_reasoning_is_no_event() -> None:
    event = reasoning_event("x" * (REASONING_MAX_CHARS + 50))
    assert event is not None and event.content == "x" * REASONING_MAX_CHARS + " …"
    assert reasoning_event("  \n ") is None


def test_a_context_length_error_compacts_the_history_and_retries_once(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    big = f"{sandbox.home}/big.txt"
    (sandbox.home / "big.txt").write_text("anchor " * 3000)
    too_long = error(
        400,
        "This model's maximum context length is 4096 tokens. However, your messages resulted in 9000 tokens.",
        code="context_length_exceeded",
        param="messages",
    )
    llm.push(
        plan("Read a big file"),
        one("file_read", {"file": big}, "call_big1"),
        one("file_read", {"file": big}, "call_big2"),
        one("file_write", {"file": f"{sandbox.home}/small.txt", "content": "ok"}, "call_small"),
        one("file_write", {"file": f"{sandbox.home}/small.txt", "content": "ok"}, "call_small2"),
    )
    # The request after the fourth tool result is refused as too long, once.
    llm.on(lambda body: sum(m["role"] == "tool" for m in body["messages"]) == 4, too_long, times=1)
    llm.push(done(), deliver("Read it."))

    outcome, session_id, _turn = run(alice, "read the big file")

    assert outcome == "completed", timeline(session_id)
    refused, retried = llm.requests[5], llm.requests[6]
    assert len(json.dumps(retried["messages"])) < len(json.dumps(refused["messages"])) // 2
    assert retried["messages"][0] == refused["messages"][0]  # the system prompt is kept
    assert retried["messages"][-4:] == refused["messages"][-4:]  # and the newest exchange


def test_a_context_length_error_that_compaction_cannot_fix_fails_the_turn_saying_so(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.set_default(error(400, "prompt is too long: 250000 tokens > 200000 maximum", type="invalid_request_error"))

    outcome, session_id, turn = run(alice, "hello")

    assert outcome == "failed"
    assert turn.error == (
        "The model provider refused the request (HTTP 400: prompt is too long: 250000 tokens > 200000 maximum)."
    )
    assert [e["error"] for e in events(session_id, "error")] == [turn.error]


def test_an_agent_stream_that_ends_without_finish_reason_is_retried(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    cut = tool_calls([ToolCall("create_plan", {"message": "On it."}, id="call_cut")], finish=False)
    llm.push(cut, plan("One step"), done(), one("deliver_result", '{"message": "ok"', "call_result", finish=False))
    llm.push(deliver("Delivered after a retry."))

    outcome, session_id, _turn = run(alice, "go")

    assert outcome == "completed", timeline(session_id)
    assert len(llm.requests) == 5  # two cut answers, each asked again
    assert llm.requests[0]["messages"] == llm.requests[1]["messages"]  # the cut answer was not kept
    last = [e for e in timeline(session_id) if e[0] == "message"][-1]
    assert last == ("message", "assistant", "Delivered after a retry.", [])


def test_a_lite_stream_cut_after_text_was_shown_is_reported_not_retried(alice: Any, llm: ScriptedLLM) -> None:
    llm.push(text("The answer is", finish=False), text("never asked for"))
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="tell me")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "failed"

    turn.refresh_from_db()
    assert len(llm.requests) == 1 and llm.pending == 1
    assert turn.error.startswith("The model's answer was cut off (the stream from ")
    assert [e["error"] for e in events(str(session.id), "error")] == [turn.error]


def test_a_stream_cut_every_time_ends_the_turn_with_a_readable_error_not_a_hang(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.set_default(text("thinking", finish=False))

    outcome, session_id, turn = run(alice, "go")

    assert outcome == "failed"
    assert turn.error == (
        f"The model's answer was cut off (the stream from {llm.base_url} ended without a finish reason) after "
        "4 attempt(s). Try again; if it keeps happening, check the model server's logs and its output-length limit."
    )
    assert len(llm.requests) == 4  # the first try and LLM_MAX_RETRIES retries
    assert [e["error"] for e in events(session_id, "error")] == [turn.error]

"""The clock toolkit — the worked example of docs/adding-a-tool.md — through a real agent turn:
registered and offered, its `tool` events, what the model reads, and a bad timezone as an error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.services import chat_send, turn_run
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session, timeline, tool_event
from tests.support.llm_server import ScriptedLLM, ToolCall, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


def one(name: str, args: dict[str, Any], call_id: str) -> Any:
    return tool_calls([ToolCall(name, args, id=call_id)])


def test_clock_now_is_offered_shows_the_time_in_the_timezone_and_refuses_an_unknown_zone(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    plan = {"message": "On it.", "title": "Time", "goal": "Tell the time", "language": "English"}
    llm.push(
        one("create_plan", {**plan, "steps": [{"description": "Check the clock"}]}, "call_plan"),
        one("clock_now", {"timezone": "Asia/Tokyo"}, "call_tokyo"),
        one("clock_now", {"timezone": "Mars/Olympus"}, "call_mars"),
        one("complete_step", {"success": True, "result": "checked"}, "call_done"),
        one("deliver_result", {"message": "It is evening in Tokyo.", "attachments": []}, "call_result"),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="What time is it in Tokyo?")
    assert turn is not None
    before = datetime.now(UTC).replace(microsecond=0)

    assert turn_run(turn_id=str(turn.id)) == "completed", timeline(session.id)

    after = datetime.now(UTC)
    offered = {t["function"]["name"]: t["function"] for t in llm.requests[1]["tools"]}
    assert offered["clock_now"]["parameters"]["properties"]["timezone"]["default"] == "UTC"
    calling = tool_event(session.id, "call_tokyo", "calling")
    assert (calling["name"], calling["function"], calling["args"]) == ("clock", "clock_now", {"timezone": "Asia/Tokyo"})
    shown = tool_event(session.id, "call_tokyo")["content"]
    moment = datetime.fromisoformat(shown["iso"])
    assert moment.utcoffset() == ZoneInfo("Asia/Tokyo").utcoffset(moment.replace(tzinfo=None))
    assert before <= moment <= after
    assert shown == {"timezone": "Asia/Tokyo", "iso": shown["iso"], "weekday": moment.strftime("%A")}
    results = {m["tool_call_id"]: m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "tool"}
    assert results["call_tokyo"] == f"{shown['iso']} ({shown['weekday']}, Asia/Tokyo)"
    refused = "unknown timezone 'Mars/Olympus'; use an IANA name such as 'Europe/Berlin' or 'UTC'"
    assert tool_event(session.id, "call_mars")["content"] == {"error": refused}
    assert results["call_mars"] == f"error: {refused}"

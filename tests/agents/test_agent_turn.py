"""A full agent turn: plan, shell, files, browser, search, delivered result with an attachment;
the event stream is compared exactly. Real tool API, real Chromium, scripted model and search."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.services import chat_send, turn_run
from sessions.files import file_read_bytes
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session, timeline, tool_event
from tests.support.llm_server import ScriptedLLM, ToolCall, tool_calls
from tests.support.search_server import ScriptedSearch

pytestmark = pytest.mark.django_db(transaction=True)


def plan(*steps: str, message: str = "On it.", title: str = "Anchor report") -> Any:
    return tool_calls(
        [
            ToolCall(
                "create_plan",
                {
                    "message": message,
                    "title": title,
                    "goal": "Report on anchors",
                    "language": "English",
                    "steps": [{"description": s} for s in steps],
                },
                id="call_plan",
            )
        ]
    )


def call(name: str, args: dict[str, Any], call_id: str) -> Any:
    return tool_calls([ToolCall(name, args, id=call_id)])


def test_an_agent_turn_plans_uses_every_toolkit_and_delivers_a_file(
    alice: Any,
    alice_client: APIClient,
    llm: ScriptedLLM,
    browser_sandbox: ToolApiServer,
    search: ScriptedSearch,
    web_page: str,
) -> None:
    home = str(browser_sandbox.home)
    report = f"{home}/anchor-report.md"
    search.add_results("danforth", [("Danforth anchor", "https://example.test/danforth", "A fluke anchor.")])
    llm.push(
        plan("Work in the shell and files", "Research the web"),
        call("shell_exec", {"id": "main", "exec_dir": home, "command": "echo anchors-$((6*7))"}, "call_shell"),
        call("file_write", {"file": report, "content": "# Anchors\n42 anchors\n"}, "call_write"),
        call("file_read", {"file": report}, "call_read"),
        call("complete_step", {"success": True, "result": "Report written", "attachments": [report]}, "call_done1"),
        call("browser_navigate", {"url": f"{web_page}/index.html"}, "call_nav"),
        call("browser_click", {"index": 0}, "call_click"),
        call("info_search_web", {"query": "danforth anchor"}, "call_search"),
        call("complete_step", {"success": True, "result": "12 kg"}, "call_done2"),
        call("deliver_result", {"message": "The Danforth anchor weighs 12 kg.", "attachments": []}, "call_result"),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Research anchors and write a report")
    assert turn is not None

    outcome = turn_run(turn_id=str(turn.id))

    assert outcome == "completed", timeline(session.id)
    tools = [
        ("call_shell", "shell_exec"),
        ("call_write", "file_write"),
        ("call_read", "file_read"),
    ]
    browse = [("call_nav", "browser_navigate"), ("call_click", "browser_click"), ("call_search", "info_search_web")]
    plan_pending = [("1", "pending"), ("2", "pending")]
    assert timeline(session.id) == [
        ("message", "user", "Research anchors and write a report", []),
        ("status", "running"),
        ("title", "Anchor report"),
        ("message", "assistant", "On it.", []),
        ("plan", plan_pending),
        ("step", "1", "running"),
        ("plan", [("1", "running"), ("2", "pending")]),
        *[e for cid, fn in tools for e in (("tool", fn, "calling", cid), ("tool", fn, "called", cid))],
        ("step", "1", "completed"),
        ("plan", [("1", "completed"), ("2", "pending")]),
        ("step", "2", "running"),
        ("plan", [("1", "completed"), ("2", "running")]),
        *[e for cid, fn in browse for e in (("tool", fn, "calling", cid), ("tool", fn, "called", cid))],
        ("step", "2", "completed"),
        ("plan", [("1", "completed"), ("2", "completed")]),
        ("message", "assistant", "The Danforth anchor weighs 12 kg.", ["anchor-report.md"]),
        ("status", "completed"),
        ("done",),
    ]
    # What the UI shows for each tool.
    console = tool_event(session.id, "call_shell")["content"]["console"]
    assert [(r["command"], r["output"].strip()) for r in console] == [("echo anchors-$((6*7))", "anchors-42")]
    assert tool_event(session.id, "call_write")["content"] == {"file": report, "content": "# Anchors\n42 anchors\n"}
    assert tool_event(session.id, "call_read")["content"] == {"file": report, "content": "# Anchors\n42 anchors\n"}
    nav = tool_event(session.id, "call_nav")["content"]
    assert (nav["url"], nav["title"]) == (f"{web_page}/index.html", "Anker test shop")
    click = tool_event(session.id, "call_click")["content"]
    assert (click["url"], click["title"]) == (f"{web_page}/details.html", "Anchor details")
    shot, shot_bytes = file_read_bytes(owner_id=alice.pk, file_id=click["screenshot_file_id"])
    assert (shot.content_type, shot_bytes[:2]) == ("image/jpeg", b"\xff\xd8")
    assert tool_event(session.id, "call_search")["content"] == {
        "query": "danforth anchor",
        "results": [
            {"title": "Danforth anchor", "link": "https://example.test/danforth", "snippet": "A fluke anchor."}
        ],
    }
    # The model read the page as numbered elements and text, and got the search results.
    requests = llm.requests
    tool_results = {m["tool_call_id"]: m["content"] for m in requests[-1]["messages"] if m["role"] == "tool"}
    assert "[0] <a> Show details" in tool_results["call_nav"]
    assert "[1] <button> Press me" in tool_results["call_nav"]
    assert "The Danforth anchor weighs 12 kg." in tool_results["call_click"]
    assert "https://example.test/danforth" in tool_results["call_search"]
    assert tool_results["call_shell"] == "status: completed, exit code: 0\nanchors-42\n"
    assert all(r["tool_choice"] == "required" for r in requests)
    offered = {t["function"]["name"] for t in requests[1]["tools"]}
    assert {
        "shell_exec",
        "file_read",
        "browser_click",
        "info_search_web",
        "message_ask_user",
        "complete_step",
    } <= offered
    # The deliverable is in the session's files and downloads with its content.
    result = timeline(session.id)[-3]
    assert result[0] == "message"
    listing = alice_client.get(f"/api/v1/sessions/{session.id}/files").json()["data"]["files"]
    delivered = next(f for f in listing if f["filename"] == "anchor-report.md")
    download = alice_client.get(delivered["file_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"# Anchors\n42 anchors\n"
    assert sorted(f["filename"] for f in listing) == [
        "anchor-report.md",
        "screenshot-call_click.jpg",
        "screenshot-call_nav.jpg",
    ]
    # Usage was recorded on the turn.
    turn.refresh_from_db()
    assert turn.prompt_tokens > 0 and turn.completion_tokens > 0


def test_an_attachment_reaches_the_sandbox_and_the_agents_output_downloads(
    alice: Any, alice_client: APIClient, bob_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    session = new_agent_session(alice)
    uploaded = alice_client.post(
        "/api/v1/files",
        {"file": SimpleUploadedFile("numbers-att.txt", b"3\n4\n", "text/plain"), "session_id": session.id},
        format="multipart",
    ).json()["data"]
    home = str(sandbox.home)
    out = f"{home}/sum-att.txt"
    llm.push(
        plan("Add the numbers"),
        call(
            "shell_exec",
            {"id": "sum", "exec_dir": home, "command": f"paste -sd+ upload/numbers-att.txt | bc > {out}; cat {out}"},
            "call_sum",
        ),
        call("complete_step", {"success": True, "result": "7", "attachments": [out]}, "call_done"),
        call("deliver_result", {"message": "The sum is 7."}, "call_result"),
    )
    turn = chat_send(session_id=session.id, message="Add these", attachments=[uploaded["file_id"]])
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    user_message = timeline(session.id)[0]
    assert user_message == ("message", "user", "Add these", ["numbers-att.txt"])
    console = tool_event(session.id, "call_sum")["content"]["console"]
    assert console[-1]["output"].strip() == "7"
    assert (sandbox.home / "upload" / "numbers-att.txt").read_bytes() == b"3\n4\n"
    result = timeline(session.id)[-3]
    assert result == ("message", "assistant", "The sum is 7.", ["sum-att.txt"])
    listing = alice_client.get(f"/api/v1/sessions/{session.id}/files").json()["data"]["files"]
    delivered = next(f for f in listing if f["filename"] == "sum-att.txt")
    assert b"".join(alice_client.get(delivered["file_url"]).streaming_content) == b"7\n"
    assert bob_client.get(delivered["file_url"]).status_code == 404

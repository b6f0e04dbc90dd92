"""MCP tools: real servers on the `mcp` SDK, over stdio inside the sandbox (the tool API runs
and relays them) and over streamable HTTP from the worker; their tools in a real agent turn."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from agents.models import McpServer
from agents.reach.mcp_servers import mcp_server_create, spec_of
from agents.reach.vault import secret_put
from agents.services import chat_send, turn_run
from anker_project.redis_client import get_redis
from sessions.files import file_read_bytes
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import events, new_agent_session, timeline, tool_event
from tests.agents.reach.conftest import STDIO_COMMAND, call, finish, offered, plan, tool_messages
from tests.support.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_agent_uses_a_stdio_server_in_the_sandbox_and_an_http_server_text_and_images(
    alice: Any,
    alice_client: APIClient,
    llm: ScriptedLLM,
    sandbox: ToolApiServer,
    mcp_http_url: str,
    private_mcp: None,
) -> None:
    # Given alice's own stdio server (through the API) and a global HTTP server (staff's)
    response = alice_client.post(
        "/api/v1/mcp-servers", {"name": "calc", "transport": "stdio", "command": STDIO_COMMAND}, format="json"
    )
    assert response.status_code == 201, response.json()
    mcp_server_create(owner_id=None, data={"name": "pics", "transport": "http", "url": mcp_http_url})
    llm.push(
        plan("Use the MCP tools"),
        call("mcp_calc_add", {"a": 2, "b": 40}, "call_add"),
        call("mcp_pics_swatch", {"red": 255, "green": 0, "blue": 0}, "call_img"),
        *finish("2 + 40 = 42, and a red swatch."),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Add 2 and 40, then draw red")
    assert turn is not None

    outcome = turn_run(turn_id=str(turn.id))

    assert outcome == "completed", timeline(session.id)
    assert [e for e in timeline(session.id) if e[0] == "tool"] == [
        ("tool", "mcp_calc_add", "calling", "call_add"),
        ("tool", "mcp_calc_add", "called", "call_add"),
        ("tool", "mcp_pics_swatch", "calling", "call_img"),
        ("tool", "mcp_pics_swatch", "called", "call_img"),
    ]
    added = tool_event(session.id, "call_add")
    assert (added["name"], added["args"]) == ("mcp", {"a": 2, "b": 40})
    assert added["content"] == {"server": "calc", "tool": "add", "text": "42", "image_file_ids": []}
    swatch = tool_event(session.id, "call_img")["content"]
    assert (swatch["server"], swatch["tool"], len(swatch["image_file_ids"])) == ("pics", "swatch", 1)
    stored, png = file_read_bytes(owner_id=alice.pk, file_id=swatch["image_file_ids"][0])
    assert (stored.content_type, png[:8]) == ("image/png", b"\x89PNG\r\n\x1a\n")
    # The model saw both servers' tools with their schemas, got the text result, then the image.
    requests = llm.requests
    tools = offered(requests[1])
    assert tools["mcp_calc_add"]["parameters"]["properties"].keys() == {"a", "b"}
    assert sorted(tools["mcp_calc_add"]["parameters"]["required"]) == ["a", "b"]
    assert "mcp_pics_swatch" in tools and "mcp_pics_add" in tools
    assert tool_messages(requests[2])["call_add"] == "42"
    image_message = requests[3]["messages"][-1]
    assert image_message["role"] == "user"
    assert image_message["content"][0] == {"type": "text", "text": "Images returned by mcp_pics_swatch:"}
    assert image_message["content"][1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_server_that_cannot_start_or_fails_a_call_gives_readable_errors_and_the_turn_goes_on(
    alice: Any,
    llm: ScriptedLLM,
    sandbox: ToolApiServer,
    mcp_http_url: str,
    private_mcp: None,
    settings: SettingsWrapper,
) -> None:
    settings.MCP_CALL_TIMEOUT_SECONDS = 2
    mcp_server_create(
        owner_id=alice.pk, data={"name": "broken", "transport": "stdio", "command": ["/nonexistent/mcp-server"]}
    )
    mcp_server_create(owner_id=alice.pk, data={"name": "pics", "transport": "http", "url": mcp_http_url})
    llm.push(
        plan("Try the tools"),
        call("mcp_pics_fail", {"reason": "the ink ran out"}, "call_fail"),
        call("mcp_pics_slow", {"seconds": 10}, "call_slow"),
        call("mcp_broken_anything", {}, "call_missing"),
        *finish("Some tools failed."),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Use the tools")
    assert turn is not None

    outcome = turn_run(turn_id=str(turn.id))

    assert outcome == "completed", timeline(session.id)
    notes = [e["content"] for e in events(session.id, "message") if e["role"] == "assistant" and "MCP" in e["content"]]
    assert len(notes) == 1
    assert notes[0].startswith("⚠️ MCP server 'broken' is unavailable: MCP server 'broken' could not list its tools: ")
    assert "/nonexistent/mcp-server" in notes[0]
    results = tool_messages(llm.requests[-1])
    assert (
        results["call_fail"]
        == "error: MCP tool fail of 'pics' returned an error: Error executing tool fail: the ink ran out"
    )
    assert results["call_slow"].startswith("error: MCP server 'pics' failed to run slow: ")
    assert results["call_missing"].startswith("error: unknown tool 'mcp_broken_anything'")
    assert tool_event(session.id, "call_fail")["content"] == {"error": results["call_fail"][len("error: ") :]}
    # The model was told in its instructions that the broken server's tools are missing.
    system = llm.requests[1]["messages"][0]["content"]
    assert "The tools of MCP server 'broken' are not available this time" in system
    assert "mcp_broken_anything" not in offered(llm.requests[1])


def test_tool_lists_are_cached_so_a_turn_starts_no_server_until_a_tool_is_called(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    server = mcp_server_create(owner_id=alice.pk, data={"name": "calc", "transport": "stdio", "command": STDIO_COMMAND})
    key = spec_of(server).cache_key()
    llm.push(plan("Nothing"), *finish())
    first = new_agent_session(alice)
    turn = chat_send(session_id=first.id, message="first")
    assert turn is not None and turn_run(turn_id=str(turn.id)) == "completed"
    cached = json.loads(get_redis().get(key) or "[]")
    assert sorted(t["name"] for t in cached) == ["add", "env", "fail", "slow", "swatch"]
    # The next turn reads the list from the cache and contacts no server: a list planted
    # there is what the model is offered.
    get_redis().set(key, json.dumps([{"name": "planted", "description": "", "input_schema": {"type": "object"}}]))
    llm.push(plan("Nothing"), *finish())
    second = new_agent_session(alice)
    turn = chat_send(session_id=second.id, message="second")
    assert turn is not None and turn_run(turn_id=str(turn.id)) == "completed"

    tools = offered(llm.requests[-2])
    assert "mcp_calc_planted" in tools and "mcp_calc_add" not in tools


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "x1", "transport": "websocket", "url": "ws://example.com"},
            "unknown transport 'websocket': use 'stdio' or 'http'",
        ),
        ({"name": "x1", "transport": "stdio", "command": ["bash -c 'rm -rf /'"]}, "must be a program name or path"),
        ({"name": "x1", "transport": "stdio", "command": []}, "command must be a list of 1 to 64 strings"),
        (
            {"name": "Bad_Name", "transport": "stdio", "command": ["x"]},
            "name must be 1-20 lowercase letters and digits",
        ),
        (
            {"name": "x1", "transport": "http", "url": "http://127.0.0.1:9/mcp"},
            "url: the url is not allowed: 127.0.0.1",
        ),
        ({"name": "x1", "transport": "http", "url": "file:///etc/passwd"}, "url: the url must be an http or https URL"),
    ],
)
def test_bad_server_definitions_are_422_and_nothing_is_stored(
    alice_client: APIClient, body: dict[str, Any], message: str
) -> None:
    response = alice_client.post("/api/v1/mcp-servers", body, format="json")

    assert response.status_code == 422
    assert response.json()["code"] == 422
    assert message in response.json()["msg"]
    assert McpServer.objects.count() == 0


def test_users_see_their_own_and_global_servers_and_cannot_touch_another_users(
    alice: Any, bob: Any, alice_client: APIClient, bob_client: APIClient
) -> None:
    mine = mcp_server_create(owner_id=alice.pk, data={"name": "calc", "transport": "stdio", "command": ["calc"]})
    mcp_server_create(owner_id=None, data={"name": "shared", "transport": "stdio", "command": ["shared"]})

    listed = bob_client.get("/api/v1/mcp-servers").json()["data"]
    deleted = bob_client.delete(f"/api/v1/mcp-servers/{mine.id}")
    changed = bob_client.put(
        f"/api/v1/mcp-servers/{mine.id}", {"name": "calc", "transport": "stdio", "command": ["evil"]}, format="json"
    )

    assert [(s["name"], s["global"]) for s in listed] == [("shared", True)]
    assert (deleted.status_code, deleted.json()["msg"]) == (404, "MCP server not found")
    assert changed.status_code == 404
    mine.refresh_from_db()
    assert mine.command == ["calc"]
    assert [(s["name"], s["global"]) for s in alice_client.get("/api/v1/mcp-servers").json()["data"]] == [
        ("calc", False),
        ("shared", True),
    ]


def test_a_secret_named_in_a_servers_env_reaches_the_server_and_its_echo_is_redacted(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    secret_put(owner_id=alice.pk, name="CALC_TOKEN", value="tok-8f2k1m9x7q")
    mcp_server_create(
        owner_id=alice.pk,
        data={"name": "calc", "transport": "stdio", "command": STDIO_COMMAND, "env": {"CALC_TOKEN": "${CALC_TOKEN}"}},
    )
    llm.push(plan("Read the token"), call("mcp_calc_env", {"name": "CALC_TOKEN"}, "call_env"), *finish())
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Which token does the server have?")
    assert turn is not None

    assert turn_run(turn_id=str(turn.id)) == "completed"

    assert tool_messages(llm.requests[-2])["call_env"] == "[redacted:CALC_TOKEN]"
    assert tool_event(session.id, "call_env")["content"]["text"] == "[redacted:CALC_TOKEN]"
    assert "tok-8f2k1m9x7q" not in json.dumps(llm.requests)

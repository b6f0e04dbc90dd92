"""MCP servers of our own, built on the `mcp` SDK (tests/support/mcp_server.py): over stdio the
sandbox's tool API runs them; over streamable HTTP one listens on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from anker_project.redis_client import get_redis
from tests.bootstrap import ROOT, free_port
from tests.support.llm_server import ToolCall, tool_calls

MCP_SERVER = str(ROOT / "tests" / "support" / "mcp_server.py")
STDIO_COMMAND = [sys.executable, MCP_SERVER]


@pytest.fixture(scope="session")
def mcp_http_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, MCP_SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import socket

    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the MCP test server did not start")
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(autouse=True)
def no_cached_tool_lists() -> Iterator[None]:
    def clear() -> None:
        redis = get_redis()
        for key in redis.scan_iter("mcp:tools:*"):
            redis.delete(key)

    clear()
    yield
    clear()


@pytest.fixture
def private_mcp(settings: SettingsWrapper) -> None:
    """The loopback test server is a private address: allowed only by this setting."""
    settings.MCP_ALLOW_PRIVATE_TARGETS = True


def plan(*steps: str) -> Any:
    return tool_calls(
        [
            ToolCall(
                "create_plan",
                {
                    "message": "On it.",
                    "title": "Reach",
                    "goal": "Use the tools",
                    "language": "English",
                    "steps": [{"description": s} for s in steps],
                },
                id="call_plan",
            )
        ]
    )


def call(name: str, args: dict[str, Any], call_id: str, *, content: str | None = None) -> Any:
    return tool_calls([ToolCall(name, args, id=call_id)], content=content)


def finish(message: str = "Done.") -> list[Any]:
    return [
        call("complete_step", {"success": True, "result": "ok"}, "call_done"),
        call("deliver_result", {"message": message, "attachments": []}, "call_result"),
    ]


def offered(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in request.get("tools", [])}


def tool_messages(request: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}

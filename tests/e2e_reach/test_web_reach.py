"""In real Chromium against the real stack (worker, sandbox, scripted model): add an MCP server
and a tool rule in the web app's settings, see the agent use the server's tool, and approve the
call the rule holds back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from agents.models import ApprovalStatus, McpServer, SessionReach, ToolApproval, ToolRule
from agents.reach.vault import secret_put
from sessions import eventlog
from tests.e2e.conftest import Stack
from tests.e2e.web import log_in, shot
from tests.support.llm_server import ScriptedLLM, ToolCall, tool_calls

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def call(name: str, args: dict[str, Any], call_id: str, content: str | None = None) -> Any:
    return tool_calls([ToolCall(name, args, id=call_id)], content=content)


def test_a_user_adds_an_mcp_server_sees_its_tool_used_and_approves_a_held_call(
    stack: Stack, llm: ScriptedLLM, page: Page, stack_env: dict[str, str], mcp_http_url: str
) -> None:
    home = "/home/ubuntu" if stack_env["SANDBOX_BACKEND"] == "docker" else "/workspace"
    log_in(page, stack, "reach-web")

    # Settings: an MCP server over streamable HTTP and a rule that asks before shell_exec.
    page.get_by_test_id("tools-settings-link").click()
    expect(page.get_by_test_id("tools-settings")).to_be_visible()
    page.get_by_test_id("mcp-name").fill("pics")
    page.get_by_test_id("mcp-transport").select_option("http")
    page.get_by_test_id("mcp-url").fill(mcp_http_url)
    page.get_by_test_id("mcp-add").click()
    expect(page.get_by_test_id("mcp-server-pics")).to_contain_text(mcp_http_url)
    page.get_by_test_id("rule-pattern").fill("shell_exec")
    page.get_by_test_id("rule-action").select_option("ask")
    page.get_by_test_id("rule-add").click()
    expect(page.get_by_test_id("tool-rules")).to_contain_text("shell_exec")
    shot(page, "reach-settings")
    assert list(McpServer.objects.values_list("name", "transport", "url")) == [("pics", "http", mcp_http_url)]
    assert list(ToolRule.objects.values_list("pattern", "action")) == [("shell_exec", "ask")]

    llm.push(
        call(
            "create_plan",
            {
                "message": "I'll add them and save the sum.",
                "title": "Sum",
                "goal": "Add and save",
                "language": "English",
                "steps": [{"description": "Add and save"}],
            },
            "call_plan",
        ),
        call("mcp_pics_add", {"a": 2, "b": 40}, "call_add"),
        call(
            "shell_exec",
            {"id": "main", "exec_dir": home, "command": "echo sum=42 > sum.txt && cat sum.txt"},
            "call_sh",
            content="Saving the sum to a file.",
        ),
        call("complete_step", {"success": True, "result": "saved"}, "call_done"),
        call("deliver_result", {"message": "2 + 40 = 42, saved to sum.txt.", "attachments": []}, "call_result"),
    )
    page.get_by_test_id("new-task").click()
    page.get_by_test_id("mode-agent").click()
    page.get_by_test_id("composer-input").fill("Add 2 and 40 and save it")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f]{16}$"))
    session_id = page.url.rsplit("/", 1)[-1]

    # The MCP tool ran and shows with its own label; the shell call waits for approval.
    card = page.get_by_test_id("approval-card")
    expect(card).to_be_visible(timeout=120_000)
    expect(page.get_by_text("add (pics)").first).to_be_visible()
    expect(page.get_by_test_id("approval-tool")).to_have_text("shell_exec")
    expect(page.get_by_test_id("approval-reason")).to_have_text("Saving the sum to a file.")
    expect(page.get_by_test_id("approval-args")).to_contain_text("echo sum=42 > sum.txt")
    shot(page, "reach-approval")

    page.get_by_test_id("approval-approve").click()

    expect(page.get_by_test_id("task-completed")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("2 + 40 = 42, saved to sum.txt.").first).to_be_visible()
    expect(card).to_have_count(0)
    shot(page, "reach-approved")
    tools = {
        e["tool_call_id"]: e
        for e in eventlog.events_after(session_id, 0)
        if e["type"] == "tool" and e["status"] == "called"
    }
    assert tools["call_add"]["content"] == {"server": "pics", "tool": "add", "text": "42", "image_file_ids": []}
    assert tools["call_sh"]["content"]["console"][-1]["output"].strip() == "sum=42"
    assert ToolApproval.objects.get(tool_call_id="call_sh").status == ApprovalStatus.APPROVED

    # The MCP result has its own view in the computer panel.
    page.get_by_test_id("tool-row").filter(has_text="add (pics)").first.click()
    expect(page.get_by_test_id("mcp-view")).to_be_visible()
    expect(page.get_by_test_id("mcp-tool")).to_have_text("add")
    expect(page.get_by_test_id("mcp-text")).to_have_text("42")

    # The secrets this session may use: picked by name in the chat (values never reach the page).
    owner = get_user_model().objects.get(username="reach-web")
    secret_put(owner_id=owner.pk, name="HARBOUR_TOKEN", value="canary-value-123")
    page.reload()
    page.get_by_test_id("secrets-summary").click()
    # The picker shows the choice at once and saves it in the background: wait for the save.
    with page.expect_response(
        lambda r: r.url.endswith(f"/sessions/{session_id}/secrets") and r.request.method == "PUT"
    ) as saved:
        page.get_by_test_id("secret-option-HARBOUR_TOKEN").check()
    assert saved.value.status == 200
    expect(page.get_by_test_id("secrets-summary")).to_have_text("Secrets (1)")
    assert SessionReach.objects.get(session_id=session_id).secret_names == ["HARBOUR_TOKEN"]
    assert "canary-value-123" not in page.content()

"""Per-tool approvals: allow | ask | block, most specific wins; an `ask` call pauses the turn
with a `wait` event carrying it; approve runs it, deny gives the model the denial; blocked
tools are never offered."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import ApprovalStatus, SessionReach, ToolApproval, ToolRule, Turn, TurnStatus
from agents.reach.policy import ToolPolicy
from agents.services import chat_send, turn_run
from sessions.models import Session
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import events, new_agent_session, timeline, tool_event
from tests.agents.reach.conftest import call, finish, offered, plan, tool_messages
from tests.support.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_most_specific_layer_then_the_most_specific_pattern_wins() -> None:
    policy = ToolPolicy(
        layers=[
            {"shell_kill_process": "allow"},  # job
            {"shell_*": "block"},  # API key
            {"shell_exec": "allow", "shell_*": "ask", "browser_*": "ask", "browser_navigate": "allow"},  # user
            {"*": "ask", "mcp_*": "block"},  # global
        ]
    )

    assert policy.action("shell_kill_process") == "allow"  # the job's rule beats the key's
    assert policy.action("shell_exec") == "block"  # the key's wildcard beats the user's exact rule
    assert policy.action("browser_navigate") == "allow"  # an exact name beats a wildcard in one layer
    assert policy.action("browser_click") == "ask"
    assert policy.action("mcp_calc_add") == "block"  # a longer pattern beats `*`
    assert policy.action("file_read") == "ask"
    assert ToolPolicy(layers=[{}, {}]).action("file_read") == "allow"  # no rule: allow


def _session_waiting_on_shell(alice: Any, llm: ScriptedLLM, home: str) -> tuple[Session, Turn]:
    ToolRule.objects.create(owner=alice, pattern="shell_*", action="ask")
    llm.push(
        plan("List the files"),
        call(
            "shell_exec",
            {"id": "approvals", "exec_dir": home, "command": "echo approved-$((20+22))"},
            "call_sh",
            content="I will print a greeting.",
        ),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Say hello from the shell")
    assert turn is not None
    assert turn_run(turn_id=str(turn.id)) == "waiting"
    return session, turn


def test_an_ask_rule_pauses_the_turn_with_the_proposed_call_and_approving_runs_it(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    home = str(sandbox.home)
    session, turn = _session_waiting_on_shell(alice, llm, home)

    # The turn waits: no tool event, a `wait` event carrying the call, the session `waiting`.
    assert [e for e in timeline(session.id) if e[0] == "tool"] == []
    wait = events(session.id, "wait")[-1]
    assert wait["approval"] == {
        "tool_call_id": "call_sh",
        "tool": "shell_exec",
        "args": {"id": "approvals", "exec_dir": home, "command": "echo approved-$((20+22))"},
        "reason": "I will print a greeting.",
    }
    assert timeline(session.id)[-2:] == [("status", "waiting"), ("wait",)]
    assert Turn.objects.get(pk=turn.pk).status == TurnStatus.WAITING

    llm.push(*finish("It printed approved-42."))
    response = alice_client.post(f"/api/v1/sessions/{session.id}/approvals/call_sh", {"approve": True}, format="json")

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert (data["tool_call_id"], data["tool"], data["status"]) == ("call_sh", "shell_exec", "approved")
    assert turn_run(turn_id=data["turn_id"]) == "completed"
    console = tool_event(session.id, "call_sh")["content"]["console"]
    assert [(r["command"], r["output"].strip()) for r in console][-1] == ("echo approved-$((20+22))", "approved-42")
    assert "approved-42" in tool_messages(llm.requests[-2])["call_sh"]
    assert timeline(session.id)[-3:] == [
        ("message", "assistant", "It printed approved-42.", []),
        ("status", "completed"),
        ("done",),
    ]
    # Deciding again: the call is not waiting any more.
    again = alice_client.post(f"/api/v1/sessions/{session.id}/approvals/call_sh", {"approve": False}, format="json")
    assert (again.status_code, again.json()["msg"]) == (
        409,
        "tool call 'call_sh' is not waiting for approval (it is approved)",
    )
    assert ToolApproval.objects.get(tool_call_id="call_sh").status == ApprovalStatus.APPROVED


def test_denying_gives_the_model_the_denial_as_the_calls_result_and_runs_nothing(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    home = str(sandbox.home)
    (sandbox.home / "denied-marker").unlink(missing_ok=True)
    ToolRule.objects.create(owner=alice, pattern="shell_*", action="ask")
    llm.push(
        plan("Make a file"),
        call("shell_exec", {"id": "approvals", "exec_dir": home, "command": "touch denied-marker"}, "call_touch"),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Touch a file")
    assert turn is not None and turn_run(turn_id=str(turn.id)) == "waiting"
    llm.push(*finish("I did not touch it."))

    response = alice_client.post(
        f"/api/v1/sessions/{session.id}/approvals/call_touch", {"approve": False, "note": "not today"}, format="json"
    )
    assert response.status_code == 200
    assert turn_run(turn_id=response.json()["data"]["turn_id"]) == "completed"

    result = "[not run: the user denied this call: not today. Do not retry it; find another way or ask the user.]"
    assert tool_messages(llm.requests[-2])["call_touch"] == result
    assert tool_event(session.id, "call_touch")["content"] == {"error": result, "denied": True}
    assert not (sandbox.home / "denied-marker").exists()


def test_always_allow_stores_a_user_rule_so_the_next_call_of_that_tool_runs_without_asking(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    home = str(sandbox.home)
    session, _turn = _session_waiting_on_shell(alice, llm, home)
    llm.push(
        call("shell_exec", {"id": "approvals", "exec_dir": home, "command": "echo second"}, "call_second"),
        *finish(),
    )

    response = alice_client.post(
        f"/api/v1/sessions/{session.id}/approvals/call_sh", {"approve": True, "always": True}, format="json"
    )
    assert turn_run(turn_id=response.json()["data"]["turn_id"]) == "completed"

    assert list(ToolRule.objects.filter(owner=alice).values_list("pattern", "action").order_by("pattern")) == [
        ("shell_*", "ask"),
        ("shell_exec", "allow"),
    ]
    assert ToolApproval.objects.filter(session=session).count() == 1  # call_second was never asked about
    assert tool_event(session.id, "call_second")["status"] == "called"


def test_blocked_tools_are_not_offered_to_the_model(alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer) -> None:
    ToolRule.objects.create(owner=None, pattern="file_*", action="block")
    ToolRule.objects.create(owner=alice, pattern="shell_exec", action="block")
    llm.push(plan("Nothing"), *finish())
    session = new_agent_session(alice)
    SessionReach.objects.create(session=session, job_rules={"file_read": "allow"})
    turn = chat_send(session_id=session.id, message="hello")
    assert turn is not None and turn_run(turn_id=str(turn.id)) == "completed"

    tools = offered(llm.requests[1])
    assert "shell_exec" not in tools and "file_write" not in tools
    assert "file_read" in tools and "shell_view" in tools  # the job's rule beats the global block


def test_a_new_message_while_waiting_expires_the_approval(
    alice: Any, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    session, _turn = _session_waiting_on_shell(alice, llm, str(sandbox.home))
    llm.push(
        tool_calls_update_plan(),
        *finish("Changed course."),
    )
    turn = chat_send(session_id=session.id, message="Never mind, do nothing")
    assert turn is not None and turn_run(turn_id=str(turn.id)) == "completed"

    response = alice_client.post(f"/api/v1/sessions/{session.id}/approvals/call_sh", {"approve": True}, format="json")

    assert (response.status_code, response.json()["msg"]) == (
        409,
        "tool call 'call_sh' is not waiting for approval (it is expired)",
    )
    assert [e for e in timeline(session.id) if e[0] == "tool"] == []


def tool_calls_update_plan() -> Any:
    return call("update_plan", {"steps": [{"description": "Do nothing"}]}, "call_replan")


def test_approvals_of_unknown_calls_or_foreign_sessions_are_404_and_change_nothing(
    alice: Any, bob_client: APIClient, alice_client: APIClient, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    session, _turn = _session_waiting_on_shell(alice, llm, str(sandbox.home))

    foreign = bob_client.post(f"/api/v1/sessions/{session.id}/approvals/call_sh", {"approve": True}, format="json")
    unknown = alice_client.post(f"/api/v1/sessions/{session.id}/approvals/call_nope", {"approve": True}, format="json")
    bad = alice_client.post(f"/api/v1/sessions/{session.id}/approvals/call_sh", {"approve": "maybe"}, format="json")

    assert (foreign.status_code, foreign.json()["msg"]) == (404, "Session not found")
    assert (unknown.status_code, unknown.json()["msg"]) == (
        404,
        "no tool call 'call_nope' asked for approval in this session",
    )
    assert (bad.status_code, bad.json()["msg"]) == (422, "approve: Must be a valid boolean.")
    assert ToolApproval.objects.get(tool_call_id="call_sh").status == ApprovalStatus.PENDING
    assert Turn.objects.filter(session=session).count() == 1


def test_users_replace_their_tool_rules_and_bad_rules_are_422(alice: Any, alice_client: APIClient) -> None:
    ToolRule.objects.create(owner=None, pattern="browser_*", action="ask")

    response = alice_client.put(
        "/api/v1/tool-rules",
        {"rules": [{"pattern": "mcp_*", "action": "ask"}, {"pattern": "shell_exec", "action": "block"}]},
        format="json",
    )
    bad = alice_client.put("/api/v1/tool-rules", {"rules": [{"pattern": "rm -rf", "action": "allow"}]}, format="json")

    assert response.status_code == 200
    assert response.json()["data"] == {
        "rules": [{"pattern": "mcp_*", "action": "ask"}, {"pattern": "shell_exec", "action": "block"}],
        "global": [{"pattern": "browser_*", "action": "ask"}],
    }
    assert bad.status_code == 422
    assert "tool pattern 'rm -rf'" in bad.json()["msg"]
    assert ToolRule.objects.filter(owner=alice).count() == 2

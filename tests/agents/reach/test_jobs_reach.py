"""A job names its MCP servers, tool rules and secrets in its body; its API key has rules of
its own; a job that waits for an approval fires `job.waiting` with the request and takes
`POST /jobs/{id}/approve`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import SessionReach, ToolApproval
from agents.reach.vault import secret_put
from agents.services import turn_run
from jobs.models import Job, JobStatus, WebhookDelivery
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import tool_event
from tests.agents.reach.conftest import STDIO_COMMAND, call, finish, plan, tool_messages
from tests.jobs.conftest import make_key, start_queued_jobs
from tests.support.llm_server import ScriptedLLM

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_with_its_own_servers_rules_and_secrets_waits_for_approval_and_is_approved_over_the_api(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    home = str(sandbox.home)
    key = make_key(alice, "reach", tool_rules={"file_*": "block"})
    secret_put(owner_id=alice.pk, name="JOB_TOKEN", value="job-secret-4k9s8d7f")
    body = {
        "prompt": "Add and print",
        "webhook_url": "http://127.0.0.1:9/hook",
        "tool_rules": {"shell_exec": "ask"},
        "secrets": ["JOB_TOKEN"],
        "mcp_servers": [{"name": "calc", "transport": "stdio", "command": STDIO_COMMAND}],
    }
    llm.push(
        plan("Add, then print"),
        call("mcp_calc_add", {"a": 1, "b": 2}, "call_add"),
        call("shell_exec", {"id": "jobs", "exec_dir": home, "command": "echo token=$JOB_TOKEN"}, "call_sh"),
    )
    submitted = key.client.post("/api/v1/jobs", body, format="json")
    assert submitted.status_code == 202, submitted.json()
    job = Job.objects.get(pk=submitted.json()["data"]["job_id"])
    reach = SessionReach.objects.get(session_id=job.session_id)
    assert (reach.job_rules, reach.api_key_rules, reach.secret_names) == (
        {"shell_exec": "ask"},
        {"file_*": "block"},
        ["JOB_TOKEN"],
    )

    start_queued_jobs()  # as the jobs worker does: POST /jobs answers queued
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert turn_run(turn_id=str(job.turn_id)) == "waiting"

    job.refresh_from_db()
    assert job.status == JobStatus.WAITING
    request = {
        "tool_call_id": "call_sh",
        "tool": "shell_exec",
        "args": {"id": "jobs", "exec_dir": home, "command": "echo token=$JOB_TOKEN"},
        "reason": "Step 1: Add, then print",
    }
    assert key.client.get(f"/api/v1/jobs/{job.id}").json()["data"]["approval"] == request
    waiting = WebhookDelivery.objects.get(job=job, event="job.waiting")
    assert json.loads(waiting.body)["approval"] == request
    assert "file_read" not in {t["function"]["name"] for t in llm.requests[1]["tools"]}  # the key's block
    assert tool_messages(llm.requests[-1])["call_add"] == "3"

    llm.push(*finish("Printed."))
    approved = key.client.post(f"/api/v1/jobs/{job.id}/approve", {"approve": True}, format="json")

    assert approved.status_code == 200, approved.json()
    assert (approved.json()["data"]["status"], approved.json()["data"]["approval"]) == ("running", None)
    job.refresh_from_db()
    assert turn_run(turn_id=str(job.turn_id)) == "completed"
    job.refresh_from_db()
    assert (job.status, job.result["message"]) == (JobStatus.SUCCEEDED, "Printed.")
    assert "token=[redacted:JOB_TOKEN]" in tool_event(job.session_id, "call_sh")["content"]["console"][-1]["output"]
    again = key.client.post(f"/api/v1/jobs/{job.id}/approve", {"approve": True}, format="json")
    assert (again.status_code, again.json()["msg"]) == (409, "The job is not waiting for an approval")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"mcp_servers": [{"name": "x1", "transport": "carrier-pigeon"}]}, "mcp_servers[0]: unknown transport"),
        ({"mcp_servers": [{"name": "x1", "transport": "http", "url": "http://10.0.0.1/mcp"}]}, "mcp_servers[0]: url:"),
        ({"secrets": ["NOPE"]}, "you have no secret named NOPE; create it first"),
        ({"tool_rules": {"shell_*": "sometimes"}}, "tool rule 'shell_*': action must be allow, ask or block"),
    ],
)
def test_a_job_with_a_bad_server_secret_or_rule_is_422_and_nothing_is_created(
    alice: Any, extra: dict[str, Any], message: str
) -> None:
    key = make_key(alice, "reach")

    response = key.client.post("/api/v1/jobs", {"prompt": "hi", **extra}, format="json")

    assert (response.status_code, response.json()["code"]) == (422, 422)
    assert response.json()["msg"].startswith(message)
    assert (Job.objects.count(), SessionReach.objects.count(), ToolApproval.objects.count()) == (0, 0, 0)


def test_an_api_key_cannot_use_the_personal_reach_endpoints(alice: Any, alice_client: APIClient) -> None:
    key = make_key(alice, "reach")

    response = key.client.post("/api/v1/secrets", {"name": "X_TOKEN", "value": "abcdef"}, format="json")

    assert response.status_code == 403
    assert response.json()["msg"] == "this endpoint is for users (web app or JWT), not API keys"
    assert alice_client.get("/api/v1/secrets").json()["data"] == []

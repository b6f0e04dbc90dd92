"""An agent turn gets its sandbox through the real seam (`sandbox_acquire` on the `attached`
backend) and its heartbeat renews the lease, so the reaper never takes a sandbox while the
model thinks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from agents.services import chat_send, turn_run
from sandboxes.models import Sandbox, SandboxStatus
from sandboxes.services import sandboxes_reap
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session
from tests.agents.test_agent_control import deliver, done
from tests.agents.test_agent_turn import plan
from tests.support.llm_server import ScriptedLLM, slow

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_turn_s_heartbeat_renews_its_sandbox_lease_while_the_model_thinks(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, settings: Settings
) -> None:
    settings.TURN_HEARTBEAT_SECONDS = 0.2
    llm.push(plan("Think long"), slow(done("thought"), 4.0), deliver("Thought it through."))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Think long")
    assert turn is not None
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(turn_run(turn_id=str(turn.id))))
    runner.start()
    try:
        wait_for(lambda: len(llm.requests) >= 2, "the executor's model call")
        box = Sandbox.objects.get(session=session)
        assert (box.status, box.backend) == (SandboxStatus.IN_USE, "attached")
        # The lease runs out while the model is still thinking ...
        expired = timezone.now() - timedelta(seconds=1)
        Sandbox.objects.filter(pk=box.pk).update(lease_expires_at=expired)
        # ... and the turn's heartbeat renews it before the reaper comes by.
        wait_for(
            lambda: Sandbox.objects.get(pk=box.pk).lease_expires_at > timezone.now(),
            "the heartbeat to renew the lease",
        )
        assert sandboxes_reap()["expired"] == 0
        assert Sandbox.objects.get(pk=box.pk).status == SandboxStatus.IN_USE
    finally:
        runner.join(timeout=60)
    assert outcome == ["completed"]
    assert Sandbox.objects.get(session=session).status == SandboxStatus.IN_USE

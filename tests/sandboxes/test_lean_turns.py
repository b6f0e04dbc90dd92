"""Lean sandboxes in agent turns, on real jails and containers with the scripted model: the
sandbox starts while the model plans, a turn whose plan fails (or that has no model) leaves no
sandbox behind, and the next turn of a hibernated sandbox's session wakes it with its files."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings as SettingsWrapper

from agents.model_choice import session_model_set
from agents.models import Turn, TurnStatus
from agents.services import chat_send, turn_run
from sandboxes.backends import InstanceState, get_backend
from sandboxes.hibernation import sandbox_hibernate
from sandboxes.models import LIVE_STATUSES, Sandbox, SandboxStatus
from sandboxes.services import sandbox_create
from tests.agents.helpers import new_agent_session, timeline, tool_event
from tests.agents.test_agent_control import deliver, done
from tests.agents.test_agent_turn import call, plan
from tests.support.llm_server import ScriptedLLM, error, slow

pytestmark = pytest.mark.django_db(transaction=True)

SLEEPER = "echo kept-across-sleep > note.txt; nohup sleep 600 >/dev/null 2>&1 &"
COUNT_SLEEPERS = "echo sleepers: $(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -o 'slee[p] 600' | wc -l)"
PLAN_SECONDS = {"local": 4.0, "docker": 10.0}  # long enough for the sandbox to start meanwhile


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def jail_processes() -> list[int]:
    """Processes running from this run's local sandbox directory (jails, tool APIs, shells)."""
    root = str(settings.SANDBOX_LOCAL_DIR).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if root in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_backend"))


def test_a_plan_the_model_refuses_leaves_no_sandbox_behind(
    alice: Any, llm: ScriptedLLM, backend: str, settings: SettingsWrapper
) -> None:
    settings.LLM_MAX_RETRIES = 0
    llm.push(slow(error(400, "The model refused the request"), PLAN_SECONDS[backend]))
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Plan something")
    assert turn is not None
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(turn_run(turn_id=str(turn.id))))
    runner.start()
    try:
        # The sandbox starts while the model is still writing the plan ...
        wait_for(
            lambda: len(llm.requests) == 1 and Sandbox.objects.filter(session=session).exists(),
            "the sandbox to start while the model plans",
        )
        assert not outcome
    finally:
        runner.join(timeout=120)
    # ... and the failed plan gives it back (once it has started, if it still was starting):
    # no live row, no instance, no process.
    assert outcome == ["failed"]
    assert Turn.objects.get(pk=turn.pk).status == TurnStatus.FAILED
    assert [e[0] for e in timeline(session.id) if e[0] == "error"] == ["error"]
    wait_for(lambda: not Sandbox.objects.filter(status__in=LIVE_STATUSES).exists(), "the give-back", timeout=120)
    boxes = list(Sandbox.objects.filter(session=session).values_list("status", flat=True))
    assert boxes == [SandboxStatus.STOPPED]
    assert not Sandbox.objects.filter(status__in=LIVE_STATUSES).exists()
    assert get_backend(backend).list() == []
    assert jail_processes() == []


def test_a_turn_without_a_model_key_starts_no_sandbox(
    alice: Any, llm: ScriptedLLM, local_backend: str, settings: SettingsWrapper
) -> None:
    settings.LLM_PROVIDER, settings.API_KEY, settings.OPENAI_API_KEY = "openai", "", ""
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Plan something")
    assert turn is not None
    assert turn_run(turn_id=str(turn.id)) == "failed"
    assert not Sandbox.objects.exists()
    assert get_backend("local").list() == [] and jail_processes() == []
    assert llm.requests == []


def test_a_failed_plan_gives_a_pool_sandbox_back_to_the_pool(
    alice: Any, llm: ScriptedLLM, local_backend: str, settings: SettingsWrapper
) -> None:
    settings.LLM_MAX_RETRIES = 0
    settings.SANDBOX_POOL_SIZE = 1
    pooled = sandbox_create()
    llm.push(error(400, "No plan today"))
    session = new_agent_session(alice)
    session_model_set(session_id=session.id, model="")  # a session with reach settings: secrets wait for a tool
    turn = chat_send(session_id=session.id, message="Plan something")
    assert turn is not None
    assert turn_run(turn_id=str(turn.id)) == "failed"
    # The acquire may still be claiming it when the plan fails: it is given back once claimed.
    wait_for(lambda: Sandbox.objects.filter(pk=pooled.pk, session__isnull=True).exists(), "the give-back")
    pooled.refresh_from_db()
    assert (pooled.status, pooled.session_id, pooled.lease_expires_at) == (SandboxStatus.READY, None, None)
    assert get_backend("local").status(str(pooled.pk)) is InstanceState.RUNNING
    assert list(Sandbox.objects.values_list("pk", flat=True)) == [pooled.pk]  # nothing else was started


def test_the_next_turn_wakes_a_hibernated_sandbox_with_its_files(alice: Any, llm: ScriptedLLM, backend: str) -> None:
    session = new_agent_session(alice)
    shape = get_backend(backend).shape()
    assert shape is not None
    home = shape.home
    llm.push(
        plan("Write a note"),
        call("shell_exec", {"id": "main", "exec_dir": home, "command": SLEEPER}, "c1"),
        done("written", "call_done1"),
        deliver("Wrote note.txt."),
    )
    first = chat_send(session_id=session.id, message="Write a note")
    assert first is not None
    assert turn_run(turn_id=str(first.id)) == "completed", timeline(session.id)
    box = Sandbox.objects.get(session=session)
    assert box.status == SandboxStatus.IN_USE, (box.status, tool_event(session.id, "c1")["content"])
    assert sandbox_hibernate(sandbox_id=str(box.pk))
    assert get_backend(backend).status(str(box.pk)) is InstanceState.STOPPED
    if backend == "local":
        assert jail_processes() == []  # the shell's `sleep 600` ended with the jail

    llm.push(
        plan("Read the note", title=""),
        call("shell_exec", {"id": "main", "exec_dir": home, "command": "cat note.txt; " + COUNT_SLEEPERS}, "c2"),
        done("read", "call_done2"),
        deliver("The note says kept-across-sleep."),
    )
    second = chat_send(session_id=session.id, message="What does the note say?")
    assert second is not None
    assert turn_run(turn_id=str(second.id)) == "completed", timeline(session.id)
    console = str(tool_event(session.id, "c2")["content"])
    assert "kept-across-sleep" in console
    assert "sleepers: 0" in console  # woken fresh: the old `sleep 600` did not come back
    box.refresh_from_db()
    assert box.status == SandboxStatus.IN_USE  # the same sandbox, awake again
    assert list(Sandbox.objects.filter(session=session).values_list("pk", flat=True)) == [box.pk]

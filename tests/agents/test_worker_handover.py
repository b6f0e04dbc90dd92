"""A worker asked to stop (SIGTERM: a deploy, `docker stop`) hands its running agent turns over:
they stop at their next safe point, are queued again with nothing published, and another worker
goes on from the checkpoint. The user sees no error and no gap. Lite turns (one model call) are
finished before the worker exits.

Real Celery worker subprocesses, the real tool API, the scripted model.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from agents.memory import memory_load
from agents.models import Turn, TurnStatus
from agents.services import chat_send
from sessions.services import session_create
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session, timeline
from tests.agents.test_agent_turn import call, plan
from tests.agents.test_crash_resume import (  # noqa: F401 - `workers` is a fixture
    Workers,
    assert_nothing_duplicated,
    spent,
    turn_ended_in_log,
    wait_until,
    worker_timeline,
    workers,
)
from tests.support.llm_server import ScriptedLLM, slow, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pool(request: pytest.FixtureRequest) -> Workers:
    """The crash tests' worker subprocesses (short locks, the test sandbox), stopped after the test."""
    return request.getfixturevalue("workers")  # type: ignore[no-any-return]


def stop_gracefully(pool: Workers, name: str, proc: Any) -> int:
    """SIGTERM to the worker's main process only, as `docker stop` sends it."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    assert "Warm shutdown" in pool.log(name)
    return int(code)


def test_sigterm_hands_a_running_agent_turn_to_another_worker_without_an_error(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, pool: Workers
) -> None:
    home = str(sandbox.home)
    runs = sandbox.home / "handover-runs.txt"
    runs.unlink(missing_ok=True)
    llm.push(
        spent(plan("Count the anchors", "Write the report")),
        spent(call("shell_exec", {"id": "count", "exec_dir": home, "command": f"echo ran >> {runs}; echo 3"}, "c1")),
        # The worker is stopped while the model "thinks" about this; the aborted request consumes it.
        slow(call("complete_step", {"success": True, "result": "3"}, "c_aborted"), 60),
        spent(call("complete_step", {"success": True, "result": "3 anchors"}, "c_done1")),
        spent(call("complete_step", {"success": True, "result": "nothing to write"}, "c_done2")),
        spent(call("deliver_result", {"message": "There are 3 anchors."}, "c_result")),
    )
    first = pool.start("first")
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Count the anchors")
    assert turn is not None
    llm.wait_for_requests(3, timeout=60)  # the shell ran; its result is checkpointed

    # The worker exits promptly (it does not wait out the 60 s model call) and cleanly.
    assert stop_gracefully(pool, "first", first) == 0
    assert f"turn {turn.id} handed over" in pool.log("first")
    handed = Turn.objects.get(pk=turn.pk)
    assert (handed.status, handed.resume_count, handed.error) == (TurnStatus.QUEUED, 0, "")

    pool.start("second")
    wait_until(lambda: turn_ended_in_log(turn), 60, "the handed-over turn's terminal event")

    turn.refresh_from_db()
    assert (turn.status, turn.resume_count, turn.error) == (TurnStatus.COMPLETED, 0, ""), pool.log("second")
    assert turn.started_at == handed.started_at  # the deadline still counts from the first start
    assert (turn.prompt_tokens, turn.completion_tokens) == (500, 50)
    assert worker_timeline(session.id) == [
        ("message", "user", "Count the anchors", []),
        ("title", "Anchor report"),
        ("message", "assistant", "On it.", []),
        ("plan", [("1", "pending"), ("2", "pending")]),
        ("step", "1", "running"),
        ("plan", [("1", "running"), ("2", "pending")]),
        ("tool", "shell_exec", "calling", "c1"),
        ("tool", "shell_exec", "called", "c1"),
        # Worker 1 stopped here; worker 2 went on without a word about it.
        ("step", "1", "completed"),
        ("plan", [("1", "completed"), ("2", "pending")]),
        ("step", "2", "running"),
        ("plan", [("1", "completed"), ("2", "running")]),
        ("step", "2", "completed"),
        ("plan", [("1", "completed"), ("2", "completed")]),
        ("message", "assistant", "There are 3 anchors.", []),
        ("status", "completed"),
        ("done",),
    ]
    assert_nothing_duplicated(session.id)
    assert runs.read_text() == "ran\n"  # the tool that ran before the stop did not run again
    # A handover is no crash: the step is not counted as redone.
    assert memory_load(session_id=session.id).redone == {}


def test_sigterm_lets_a_running_lite_turn_finish_before_the_worker_exits(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, pool: Workers
) -> None:
    llm.push(slow(text("Finished before the restart."), 2))
    first = pool.start("first")
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="Quick question")
    assert turn is not None
    llm.wait_for_requests(1, timeout=60)

    assert stop_gracefully(pool, "first", first) == 0

    turn.refresh_from_db()
    assert (turn.status, turn.error) == (TurnStatus.COMPLETED, "")
    assert timeline(session.id)[-3:] == [
        ("message", "assistant", "Finished before the restart.", []),
        ("status", "completed"),
        ("done",),
    ]

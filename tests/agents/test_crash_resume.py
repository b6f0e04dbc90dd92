"""A worker dies in the middle of an agent turn (SIGKILL of its whole process group); the
watchdog sees the stale heartbeat, a second worker resumes the turn from its checkpoint, and
the session's log reads as if one worker had done it all, plus one "Resumed" message.

Real Celery worker subprocesses, the real tool API, the scripted model. The session lock is
shortened to TURN_LOCK_SECONDS=2 (in the workers' environment) so the test need not wait 30 s.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents import prompts
from agents.control import session_turn_lock
from agents.memory import memory_load
from agents.models import Turn, TurnStatus
from agents.services import chat_send, turn_run, turns_watchdog
from anker_project.redis_client import get_redis
from sessions import eventlog
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import assert_gap_and_duplicate_free, events, new_agent_session, timeline
from tests.agents.test_agent_turn import call, plan
from tests.e2e import conftest as e2e
from tests.support.llm_server import ScriptedLLM, slow

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOCK_SECONDS = 2
STALE_SECONDS = 1


class Workers:
    """Starts worker subprocesses for one test and makes sure none outlives it."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        proc = e2e.start_worker(self.env, log, f"{name}-{os.getpid()}")
        self.procs.append(proc)
        e2e.wait_worker_ready(log, proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the group is the worker and its children
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            e2e.stop(proc)


@pytest.fixture
def workers(sandbox: ToolApiServer, settings: Settings, tmp_path: Path, django_db_setup: None) -> Iterator[Workers]:
    settings.TURN_LOCK_SECONDS = LOCK_SECONDS
    settings.TURN_STALE_SECONDS = STALE_SECONDS
    env = {
        **os.environ,  # the `sandbox` fixture's SANDBOX_ATTACHED_* variables, the scripted model, Redis, Mongo
        "DATABASE_URL": e2e.test_database_url(),
        "PYTHONUNBUFFERED": "1",
        "SANDBOX_BACKEND": "attached",
        "SEARCH_PROVIDER": "",
        "GOOGLE_SEARCH_API_KEY": "",
        "TURN_LOCK_SECONDS": str(LOCK_SECONDS),
        "TURN_STALE_SECONDS": str(STALE_SECONDS),
        "TURN_HEARTBEAT_SECONDS": "0.3",
    }
    pool = Workers(env, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def spent(reply: Any) -> Any:
    return dataclasses.replace(reply, usage=(100, 10))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def resume_with_a_new_worker(workers: Workers, turn: Turn) -> None:
    """What production does after a crash: the watchdog (celery beat) finds the stale turn once
    its lock has expired and queues it again; another worker picks it up."""
    lock = session_turn_lock(turn.session_id)
    wait_until(lambda: not lock.locked(), LOCK_SECONDS + 5, "the dead worker's session lock to expire")
    time.sleep(STALE_SECONDS + 0.2)  # the heartbeat is stale too
    assert Turn.objects.get(pk=turn.pk).status == TurnStatus.RUNNING
    workers.start("second")

    assert turns_watchdog() == {"cancelled": 0, "resumed": 1, "failed": 0}

    # The worker records the turn's end in its row first and then publishes the terminal
    # events, so the test waits for the log's last word, not for the row.
    wait_until(lambda: turn_ended_in_log(turn), 60, "the resumed turn's terminal event")


def turn_ended_in_log(turn: Turn) -> bool:
    if Turn.objects.get(pk=turn.pk).status in (TurnStatus.RUNNING, TurnStatus.QUEUED):
        return False
    terminal = [e for kind in ("done", "error", "wait") for e in events(turn.session_id, kind)]
    return any(e.get("turn_id") == str(turn.pk) for e in terminal)


def worker_timeline(session_id: str) -> list[tuple[Any, ...]]:
    """The timeline without chat_send's `running` status, which the test process publishes after
    queueing the turn: a worker that is already up may have published the title before it."""
    events = timeline(session_id)
    assert events.count(("status", "running")) == 1
    return [e for e in events if e != ("status", "running")]


def assert_nothing_duplicated(session_id: str) -> None:
    assert_gap_and_duplicate_free(session_id)
    tools = Counter((e["tool_call_id"], e["status"]) for e in events(session_id, "tool"))
    assert [key for key, count in tools.items() if count > 1] == []
    assert len(events(session_id, "done")) == 1


def test_a_turn_whose_worker_is_killed_mid_model_call_is_resumed_by_another_worker(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, workers: Workers
) -> None:
    home = str(sandbox.home)
    runs = sandbox.home / "crash-runs.txt"
    runs.unlink(missing_ok=True)
    report = f"{home}/crash-report.txt"
    llm.push(
        # Every answered model call costs 100 prompt + 10 completion tokens.
        spent(plan("Count the anchors", "Write the report")),
        spent(
            call(
                "shell_exec", {"id": "crash", "exec_dir": home, "command": f"echo ran >> {runs}; echo 3"}, "call_count"
            )
        ),
        # The worker is killed while the model "thinks" about this reply; the dead request consumes it.
        slow(call("complete_step", {"success": True, "result": "3"}, "call_done1_lost"), 60),
        spent(call("complete_step", {"success": True, "result": "3 anchors"}, "call_done1")),
        spent(call("file_write", {"file": report, "content": "3 anchors\n"}, "call_write")),
        spent(call("complete_step", {"success": True, "result": "written", "attachments": [report]}, "call_done2")),
        spent(call("deliver_result", {"message": "There are 3 anchors."}, "call_result")),
    )
    first = workers.start("first")
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Count the anchors and write it down")
    assert turn is not None
    llm.wait_for_requests(3, timeout=60)  # the shell ran and its result is checkpointed

    workers.kill_group(first)
    resume_with_a_new_worker(workers, turn)

    turn.refresh_from_db()
    assert (turn.status, turn.resume_count, turn.error) == (TurnStatus.COMPLETED, 1, ""), workers.log("second")
    # The dead worker's 2 answered calls count as well as the second worker's 4, in tokens and
    # in the step budget (its lost 3rd call was never checkpointed).
    assert (turn.prompt_tokens, turn.completion_tokens) == (600, 60)
    assert memory_load(session_id=session.id).turn_rounds == 6
    shell = [("tool", "shell_exec", s, "call_count") for s in ("calling", "called")]
    write = [("tool", "file_write", s, "call_write") for s in ("calling", "called")]
    assert worker_timeline(session.id) == [
        ("message", "user", "Count the anchors and write it down", []),
        ("title", "Anchor report"),
        ("message", "assistant", "On it.", []),
        ("plan", [("1", "pending"), ("2", "pending")]),
        ("step", "1", "running"),
        ("plan", [("1", "running"), ("2", "pending")]),
        *shell,
        # Worker 1 died here.
        ("message", "assistant", prompts.RESUMED_NOTE.format(step_id="1"), []),
        ("step", "1", "completed"),
        ("plan", [("1", "completed"), ("2", "pending")]),
        ("step", "2", "running"),
        ("plan", [("1", "completed"), ("2", "running")]),
        *write,
        ("step", "2", "completed"),
        ("plan", [("1", "completed"), ("2", "completed")]),
        ("message", "assistant", "There are 3 anchors.", ["crash-report.txt"]),
        ("status", "completed"),
        ("done",),
    ]
    assert_nothing_duplicated(session.id)
    # The tool that ran before the crash did not run again; the step went on from its checkpoint.
    assert runs.read_text() == "ran\n"
    requests = llm.requests
    assert len(requests) == 7
    after_restart = requests[3]["messages"]
    assert [m["tool_call_id"] for m in after_restart if m["role"] == "tool"] == ["call_count"]
    assert sum("Now do step 1:" in str(m.get("content")) for m in after_restart) == 1
    assert memory_load(session_id=session.id).redone == {"1": 1}


def test_a_tool_call_cut_off_by_the_crash_is_run_again_once_without_duplicate_events(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, workers: Workers
) -> None:
    home = str(sandbox.home)
    llm.push(
        plan("Wait for the slow job"),
        call("shell_exec", {"id": "slow", "exec_dir": home, "command": "sleep 8; echo woke"}, "call_start"),
        call("shell_wait", {"id": "slow", "seconds": 30}, "call_wait"),
        call("complete_step", {"success": True, "result": "woke"}, "call_done"),
        call("deliver_result", {"message": "The job woke up."}, "call_result"),
    )
    first = workers.start("first")
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Run the slow job")
    assert turn is not None
    calling = f"turn:{turn.id}:tool:call_wait:calling"
    wait_until(lambda: eventlog.event_find_by_dedupe_key(session.id, calling) is not None, 60, "shell_wait to start")

    workers.kill_group(first)
    resume_with_a_new_worker(workers, turn)

    turn.refresh_from_db()
    assert (turn.status, turn.resume_count) == (TurnStatus.COMPLETED, 1), workers.log("second")
    assert worker_timeline(session.id)[6:] == [
        ("tool", "shell_exec", "calling", "call_start"),
        ("tool", "shell_exec", "called", "call_start"),
        ("tool", "shell_wait", "calling", "call_wait"),
        # Worker 1 died inside shell_wait; worker 2 announced the resume and ran the call again.
        ("message", "assistant", prompts.RESUMED_NOTE.format(step_id="1"), []),
        ("tool", "shell_wait", "called", "call_wait"),
        ("step", "1", "completed"),
        ("plan", [("1", "completed")]),
        ("message", "assistant", "The job woke up.", []),
        ("status", "completed"),
        ("done",),
    ]
    assert_nothing_duplicated(session.id)
    waited = next(e for e in events(session.id, "tool") if e["tool_call_id"] == "call_wait" and e["status"] == "called")
    assert waited["content"]["console"][-1]["output"].strip() == "woke"
    # One model request per scripted reply: the cut-off call was redone from the checkpoint, not re-requested.
    assert len(llm.requests) == 5
    assert memory_load(session_id=session.id).redone == {"1": 1}


def test_a_worker_presumed_dead_that_wakes_up_leaves_the_turn_to_the_worker_that_took_it_over(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, settings: Settings
) -> None:
    """A worker that lost its session lock (a long pause, a Redis blip) while another resumed
    its turn must not record the turn's end: the turn belongs to the new holder of the lock."""
    settings.TURN_LOCK_SECONDS = LOCK_SECONDS
    llm.push(
        plan("Think hard"),
        slow(call("complete_step", {"success": True, "result": "slow"}, "call_slow"), 30),
        # Slow enough that the paused worker notices its lost lock (next heartbeat) before this ends.
        slow(call("complete_step", {"success": True, "result": "fast"}, "call_fast"), 3),
        call("deliver_result", {"message": "Thought it through."}, "call_result"),
    )
    session = new_agent_session(alice)
    turn = chat_send(session_id=session.id, message="Think")
    assert turn is not None
    outcomes: dict[str, str] = {}
    paused = threading.Thread(target=lambda: outcomes.update(paused=turn_run(turn_id=str(turn.id))))
    paused.start()
    llm.wait_for_requests(2, timeout=30)

    # The paused worker's lock expires (as if it had missed its heartbeats) and the turn is resumed.
    get_redis().delete(session_turn_lock(session.id).name)
    outcomes["taker"] = turn_run(turn_id=str(turn.id))
    paused.join(timeout=30)

    assert outcomes == {"taker": "completed", "paused": "lost"}
    turn.refresh_from_db()
    assert (turn.status, turn.resume_count) == (TurnStatus.COMPLETED, 1)
    assert timeline(session.id)[-6:] == [
        ("message", "assistant", prompts.RESUMED_NOTE.format(step_id="1"), []),
        ("step", "1", "completed"),
        ("plan", [("1", "completed")]),
        ("message", "assistant", "Thought it through.", []),
        ("status", "completed"),
        ("done",),
    ]
    assert_nothing_duplicated(session.id)

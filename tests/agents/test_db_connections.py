"""A turn waiting on its model holds no database connection. On PostgreSQL a worker checks its
connections out of a pool of DATABASE_POOL_MAX (settings/base.py), and a turn gives its
connection back before every model and tool call (`agents.runtime.db_release`), so the turns
in flight on one worker can outnumber its connections.

Real PostgreSQL (the worker tests skip on SQLite, which has no connection limit and no pool), a
real Celery worker subprocess, the scripted model, the real tool API for the agent turn.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from agents.models import Turn, TurnStatus
from agents.runtime import db_release
from agents.services import chat_send
from sessions.models import Session
from sessions.services import session_create
from tests.agents.conftest import ToolApiServer
from tests.agents.helpers import new_agent_session, timeline
from tests.agents.test_agent_turn import call, plan
from tests.e2e import conftest as e2e
from tests.support.ci import in_ci
from tests.support.llm_server import ScriptedLLM, held, text

pytestmark = pytest.mark.django_db(transaction=True)

POOL = 3  # the worker's DATABASE_POOL_MAX
TURNS = 8  # lite turns waiting on the model at once, and the worker's threads


def requires_postgres() -> None:
    if connection.vendor != "postgresql":
        reason = "needs PostgreSQL (DATABASE_URL=postgres://...): workers on SQLite use no pool"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


def worker_connections() -> int:
    """Connections the worker has open to the test database, idle in its pool or in use."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'anker-worker'"
        )
        (count,) = cursor.fetchone()
    return int(count)


def start_pooled_worker(tmp_path: Path, **env: str) -> tuple[Any, Path]:
    requires_postgres()
    log = tmp_path / "worker.log"
    worker = e2e.start_worker(
        {
            **os.environ,
            "DATABASE_URL": e2e.test_database_url(),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_POOL_MAX": str(POOL),
            **env,
        },
        log,
        f"pool-{secrets.token_hex(3)}",
        queues="turns,sandboxes,default",
        concurrency=TURNS,
    )
    e2e.wait_worker_ready(log, worker)
    return worker, log


@pytest.fixture
def lite_worker(tmp_path: Path, django_db_setup: None) -> Iterator[Path]:
    worker, log = start_pooled_worker(tmp_path)
    try:
        yield log
    finally:
        e2e.stop(worker)


def wait_for_end(turns: list[Turn], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    ended = (TurnStatus.COMPLETED, TurnStatus.FAILED, TurnStatus.CANCELLED)
    while Turn.objects.filter(pk__in=[t.pk for t in turns]).exclude(status__in=ended).exists():
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    # The worker records a turn's end in its row, then publishes the terminal events.
    while any(timeline(t.session_id)[-1:] != [("done",)] for t in turns):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_lite_turns_waiting_on_the_model_outnumber_the_workers_database_connections(
    alice: Any, llm: ScriptedLLM, lite_worker: Path
) -> None:
    # Given a worker with 8 threads and a pool of 3 connections, and a model that answers
    # only when the test lets it
    gate = threading.Event()
    llm.set_default(held(text("Answered while few connections were open."), gate))
    sessions = [session_create(owner_id=alice.pk, mode="lite") for _ in range(TURNS)]

    # When 8 messages are sent
    sent = [chat_send(session_id=s.id, message=f"question {i}") for i, s in enumerate(sessions)]
    turns = [t for t in sent if t is not None]

    # Then all 8 turns wait on the model at once (a turn holding its connection through the
    # call would leave 5 of them waiting for the pool instead, never reaching the model)...
    llm.wait_for_requests(TURNS, timeout=90)
    in_flight = Turn.objects.filter(pk__in=[t.pk for t in turns], status=TurnStatus.RUNNING).count()
    open_connections = worker_connections()
    gate.set()
    assert in_flight == TURNS
    # ...on fewer connections than turns
    assert open_connections <= POOL < TURNS
    # and every one of them is answered
    wait_for_end(turns, lite_worker)
    assert (
        sorted(Turn.objects.filter(session__in=sessions).values_list("status", "error"))
        == [(TurnStatus.COMPLETED, "")] * TURNS
    )
    for session in sessions:
        assert timeline(session.id)[-3:] == [
            ("message", "assistant", "Answered while few connections were open.", []),
            ("status", "completed"),
            ("done",),
        ]
    assert worker_connections() <= POOL


def test_an_agent_turn_completes_on_a_worker_whose_pool_is_smaller_than_what_it_runs(
    alice: Any, llm: ScriptedLLM, sandbox: ToolApiServer, tmp_path: Path, django_db_setup: None
) -> None:
    # A pool of 2: the turn's thread, its heartbeat and its sandbox's start share them.
    worker, log = start_pooled_worker(
        tmp_path, DATABASE_POOL_MAX="2", SANDBOX_BACKEND="attached", SEARCH_PROVIDER="", GOOGLE_SEARCH_API_KEY=""
    )
    try:
        home = str(sandbox.home)
        llm.push(
            plan("Count in the shell"),
            call("shell_exec", {"id": "pool", "exec_dir": home, "command": "echo pooled-$((6*7))"}, "call_shell"),
            call("complete_step", {"success": True, "result": "42"}, "call_done"),
            call("deliver_result", {"message": "It is 42."}, "call_result"),
        )
        session = new_agent_session(alice)
        turn = chat_send(session_id=session.id, message="Count it")
        assert turn is not None

        wait_for_end([turn], log)

        turn.refresh_from_db()
        assert (turn.status, turn.error) == (TurnStatus.COMPLETED, "")
        shell = [e for e in timeline(session.id) if e[:2] == ("tool", "shell_exec")]
        assert shell == [
            ("tool", "shell_exec", "calling", "call_shell"),
            ("tool", "shell_exec", "called", "call_shell"),
        ]
        assert timeline(session.id)[-3:] == [
            ("message", "assistant", "It is 42.", []),
            ("status", "completed"),
            ("done",),
        ]
        assert len(llm.requests) == 4
        assert worker_connections() <= 2
    finally:
        e2e.stop(worker)


def test_db_release_gives_the_connection_back_outside_a_transaction_on_postgresql_only(alice: Any) -> None:
    connection.ensure_connection()

    db_release()

    # SQLite keeps its connection: no limit to stay under, and reopening reruns its pragmas.
    assert (connection.connection is None) == (connection.vendor == "postgresql")
    assert Turn.objects.count() == 0  # the next query connects again


def test_db_release_keeps_the_connection_of_an_open_transaction(alice: Any) -> None:
    with transaction.atomic():
        session = session_create(owner_id=alice.pk, mode="lite")

        db_release()

        assert connection.connection is not None
        assert connection.in_atomic_block
    assert Session.objects.filter(pk=session.id).exists()  # committed on the connection it kept

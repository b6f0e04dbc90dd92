"""No turn waits forever: a queued turn whose broker message was lost is sent again by the
watchdog and answered; a second message for a turn that is already running is a no-op.

Real Redis (the broker's `turns` list is read and edited directly), a real Celery worker
subprocess for the end-to-end case, the scripted model.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from agents.control import session_turn_lock
from agents.models import Turn, TurnStatus
from agents.services import chat_send, turn_run, turns_requeue_lost
from agents.tasks import turn_watchdog
from anker_project.redis_client import get_redis
from sessions.services import session_create
from tests.agents.helpers import timeline
from tests.e2e import conftest as e2e
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_turn_queue() -> Iterator[None]:
    get_redis().delete("turns")
    yield
    get_redis().delete("turns")


def queued_messages() -> list[tuple[bytes, str]]:
    """(raw message, turn_id) of every run_turn message waiting in the broker's `turns` list."""
    out = []
    for raw in get_redis().lrange("turns", 0, -1):
        _args, kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        out.append((raw, kwargs["turn_id"]))
    return out


def backdate_send(turn: Turn, seconds: int) -> None:
    """As if run_turn had been sent `seconds` ago."""
    Turn.objects.filter(pk=turn.pk).update(enqueued_at=timezone.now() - timedelta(seconds=seconds))


def test_a_queued_turn_whose_message_was_deleted_from_redis_is_sent_again_and_answered(
    alice: Any, llm: ScriptedLLM, settings: Any, tmp_path: Path, django_db_setup: None
) -> None:
    settings.TURN_REQUEUE_SECONDS = 120
    llm.push(text("Here after all."))
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="Are you there?")
    assert turn is not None
    [(raw, turn_id)] = queued_messages()
    assert turn_id == str(turn.id)
    assert Turn.objects.get(pk=turn.pk).enqueued_at is not None

    # The broker loses the message (as a Redis restart without persistence would).
    assert get_redis().lrem("turns", 0, raw) == 1
    assert queued_messages() == []

    # Within the bound nothing is sent: the message may only be slow.
    backdate_send(turn, 119)
    assert turns_requeue_lost() == 0
    assert queued_messages() == []

    backdate_send(turn, 121)
    assert turn_watchdog() == {"cancelled": 0, "resumed": 0, "failed": 0, "requeued": 1}
    assert [turn_id for _raw, turn_id in queued_messages()] == [str(turn.id)]
    # The stamp moved: the next watchdog run does not send it a third time.
    assert turns_requeue_lost() == 0
    assert len(queued_messages()) == 1

    env = {**os.environ, "DATABASE_URL": e2e.test_database_url(), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "worker.log"
    worker = e2e.start_worker(env, log, f"requeue-{secrets.token_hex(3)}", queues="turns")
    try:
        deadline = time.monotonic() + 60
        while Turn.objects.get(pk=turn.pk).status != TurnStatus.COMPLETED or timeline(session.id)[-1] != ("done",):
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
    finally:
        e2e.stop(worker)

    assert timeline(session.id) == [
        ("message", "user", "Are you there?", []),
        ("status", "running"),
        ("title", "Are you there?"),
        ("message", "assistant", "Here after all.", []),
        ("status", "completed"),
        ("done",),
    ]
    assert len(llm.requests) == 1
    assert queued_messages() == []


def test_a_queued_turn_whose_send_never_happened_is_sent_after_the_bound(alice: Any, settings: Any) -> None:
    settings.TURN_REQUEUE_SECONDS = 120
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="hello")
    assert turn is not None
    get_redis().delete("turns")
    # As if the process died between committing the turn and sending its task.
    Turn.objects.filter(pk=turn.pk).update(enqueued_at=None, created_at=timezone.now() - timedelta(seconds=300))

    assert turns_requeue_lost() == 1

    assert [turn_id for _raw, turn_id in queued_messages()] == [str(turn.id)]
    assert Turn.objects.get(pk=turn.pk).enqueued_at is not None


def test_the_watchdog_sends_nothing_again_for_turns_that_started_or_ended(alice: Any, settings: Any) -> None:
    settings.TURN_REQUEUE_SECONDS = 120
    statuses = [TurnStatus.RUNNING, TurnStatus.COMPLETED, TurnStatus.CANCELLED, TurnStatus.WAITING]
    for status in statuses:
        session = session_create(owner_id=alice.pk, mode="lite")
        turn = chat_send(session_id=session.id, message="hello")
        assert turn is not None
        Turn.objects.filter(pk=turn.pk).update(
            status=status, heartbeat_at=timezone.now(), enqueued_at=timezone.now() - timedelta(hours=1)
        )
    get_redis().delete("turns")

    assert turns_requeue_lost() == 0

    assert queued_messages() == []


def test_a_second_message_for_a_turn_another_worker_runs_is_skipped(alice: Any, llm: ScriptedLLM) -> None:
    session = session_create(owner_id=alice.pk, mode="lite")
    turn = chat_send(session_id=session.id, message="hello")
    assert turn is not None
    before = timeline(session.id)
    # Another worker claimed the turn and holds the session lock.
    Turn.objects.filter(pk=turn.pk).update(status=TurnStatus.RUNNING, heartbeat_at=timezone.now())
    lock = session_turn_lock(session.id)
    assert lock.acquire(blocking=False)
    try:
        assert turn_run(turn_id=str(turn.id)) == "skipped"
    finally:
        lock.release()

    turn.refresh_from_db()
    assert (turn.status, turn.resume_count) == (TurnStatus.RUNNING, 0)
    assert timeline(session.id) == before
    assert llm.requests == []

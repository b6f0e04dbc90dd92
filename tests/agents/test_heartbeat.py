"""A running turn's heartbeat keeps its session lock while its worker lives, whatever else a beat
meets: a beat whose database write fails (a database restarting, a dropped connection) still
renews the lock; a lock that expired while the worker stalled (a loaded machine) is taken back
when no other worker took it; a turn taken over by another worker is told to stop. Real Redis
locks, real turn rows."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.db.models import F
from pytest_django.fixtures import Settings

from agents.control import session_turn_lock
from agents.models import Turn, TurnStatus
from agents.runtime import Heartbeat
from anker_project.redis_client import get_redis
from tests.agents.helpers import new_agent_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def beats(settings: Settings) -> None:
    settings.TURN_HEARTBEAT_SECONDS = 0.1
    settings.TURN_LOCK_SECONDS = 0.5


def running_turn(owner: Any) -> Turn:
    session = new_agent_session(owner)
    return Turn.objects.create(session=session, mode="agent", message="go", status=TurnStatus.RUNNING)


def test_a_beat_whose_database_write_fails_still_renews_the_lock(beats: None) -> None:
    lock = session_turn_lock(str(uuid.uuid4()))
    assert lock.acquire(blocking=False)
    lost = threading.Event()
    # Not a turn id: every beat's UPDATE of the turn's row raises, as a database that is down does.
    with Heartbeat("not-a-turn-id", lock, lost, sandbox_session_id=None):
        time.sleep(1.6)  # three lock lifetimes
        assert lock.owned() and not lost.is_set()
    lock.release()


def test_a_lock_that_expired_while_the_worker_stalled_is_taken_back(beats: None, alice: Any) -> None:
    turn = running_turn(alice)
    lock = session_turn_lock(turn.session_id)
    assert lock.acquire(blocking=False)
    lost = threading.Event()
    with Heartbeat(str(turn.pk), lock, lost, sandbox_session_id=None):
        get_redis().delete(lock.name)  # expired: the worker did not beat for TURN_LOCK_SECONDS
        time.sleep(0.5)
        assert lock.owned() and not lost.is_set()
        # A run_turn the watchdog sent meanwhile finds the session busy.
        assert not session_turn_lock(turn.session_id).acquire(blocking=False)
    lock.release()


def test_an_expired_lock_is_not_taken_back_from_a_turn_resumed_elsewhere(beats: None, alice: Any) -> None:
    turn = running_turn(alice)
    lock = session_turn_lock(turn.session_id)
    assert lock.acquire(blocking=False)
    lost = threading.Event()
    with Heartbeat(str(turn.pk), lock, lost, sandbox_session_id=None):
        get_redis().delete(lock.name)
        # Another worker resumed the turn and has released the lock since (it ended, or it stalled too).
        Turn.objects.filter(pk=turn.pk).update(resume_count=F("resume_count") + 1)
        assert lost.wait(timeout=5)
    assert not lock.locked()  # nothing left held for a turn this worker no longer runs


def test_a_lock_taken_by_another_worker_tells_the_turn_to_stop(alice: Any, settings: Settings) -> None:
    settings.TURN_HEARTBEAT_SECONDS = 0.1
    turn = running_turn(alice)
    lock = session_turn_lock(turn.session_id)
    assert lock.acquire(blocking=False)
    lost = threading.Event()
    with Heartbeat(str(turn.pk), lock, lost, sandbox_session_id=None):
        get_redis().delete(lock.name)  # expired while the worker stalled ...
        other = session_turn_lock(turn.session_id)
        assert other.acquire(blocking=False)  # ... and another worker resumed the turn
        assert lost.wait(timeout=5)
    assert other.owned()
    other.release()

"""A running turn's heartbeat keeps its session lock while its worker lives, whatever else a beat
meets: a beat whose database write fails (a database restarting, a dropped connection) still
renews the lock, so no other worker resumes a turn that is alive. Real Redis locks."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from pytest_django.fixtures import Settings

from agents.control import session_turn_lock
from agents.runtime import Heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_beat_whose_database_write_fails_still_renews_the_lock(settings: Settings) -> None:
    settings.TURN_HEARTBEAT_SECONDS = 0.1
    settings.TURN_LOCK_SECONDS = 0.5
    lock = session_turn_lock(str(uuid.uuid4()))
    assert lock.acquire(blocking=False)
    lost = threading.Event()
    # Not a turn id: every beat's UPDATE of the turn's row raises, as a database that is down does.
    with Heartbeat("not-a-turn-id", lock, lost, sandbox_session_id=None):
        time.sleep(1.6)  # three lock lifetimes
        assert lock.owned() and not lost.is_set()
    lock.release()


def test_a_lock_taken_by_another_worker_tells_the_turn_to_stop(settings: Settings) -> None:
    settings.TURN_HEARTBEAT_SECONDS = 0.1
    settings.TURN_LOCK_SECONDS = 5
    session_id = str(uuid.uuid4())
    lock = session_turn_lock(session_id)
    assert lock.acquire(blocking=False)
    lost = threading.Event()
    with Heartbeat(str(uuid.uuid4()), lock, lost, sandbox_session_id=None):
        lock.do_release(lock.local.token)  # expired while the worker stalled ...
        other = session_turn_lock(session_id)
        assert other.acquire(blocking=False)  # ... and another worker resumed the turn
        assert lost.wait(timeout=5)
    assert other.owned()
    other.release()

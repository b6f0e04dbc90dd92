"""Acquire, pool, lease, reaper and delete, with real sandboxes (jails; Docker where the
container itself matters). Threads need committed rows, hence transactional tests."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents.services import session_delete_with_work
from sandboxes.backends import InstanceState, SandboxStartError, get_backend
from sandboxes.backends.docker import engine
from sandboxes.models import Sandbox, SandboxStatus
from sandboxes.services import (
    SandboxHandle,
    sandbox_acquire,
    sandbox_pool_refill,
    sandbox_touch,
    sandboxes_reap,
)
from sessions.models import Session

pytestmark = pytest.mark.django_db(transaction=True)


def jail_pid(sandbox_id: str) -> int:
    meta = Path(settings.SANDBOX_LOCAL_DIR) / sandbox_id / "meta.json"
    return int(json.loads(meta.read_text())["pid"])


def wait_until_dead(sandbox_id: str) -> None:
    deadline = time.monotonic() + 10
    while get_backend("local").status(sandbox_id) is InstanceState.RUNNING:
        assert time.monotonic() < deadline, "the killed jail is still running"
        time.sleep(0.02)


def new_session(owner: Any) -> Session:
    return Session.objects.create(owner=owner)


def acquire_in_threads(session_ids: list[str]) -> list[SandboxHandle]:
    results: dict[int, SandboxHandle] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(session_ids))

    def run(index: int, session_id: str) -> None:
        try:
            barrier.wait()
            results[index] = sandbox_acquire(session_id=session_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(session_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return [results[i] for i in range(len(session_ids))]


def test_pool_refill_starts_sandboxes_until_the_pool_is_full(local_backend: str, settings: Any) -> None:
    settings.SANDBOX_POOL_SIZE = 2
    assert sandbox_pool_refill() == 2
    assert sandbox_pool_refill() == 0  # already full
    ready = list(Sandbox.objects.filter(status=SandboxStatus.READY, session__isnull=True))
    assert len(ready) == 2
    assert sorted(str(s.id) for s in ready) == get_backend("local").list()
    assert all(get_backend("local").status(str(s.id)) is InstanceState.RUNNING for s in ready)
    assert all(s.isolation.startswith("bubblewrap jail") for s in ready)


def test_concurrent_acquires_of_two_sessions_never_share_a_sandbox(
    local_backend: str, settings: Any, alice: Any
) -> None:
    settings.SANDBOX_POOL_SIZE = 2
    sandbox_pool_refill()
    pooled = set(Sandbox.objects.values_list("id", flat=True))
    sessions = [new_session(alice).id for _ in range(4)]  # 2 from the pool, 2 created

    handles = acquire_in_threads(sessions)

    ids = [h.sandbox_id for h in handles]
    assert len(set(ids)) == 4
    assert {uuid.UUID(i) for i in ids} >= pooled
    for session_id, handle in zip(sessions, handles, strict=True):
        row = Sandbox.objects.get(pk=handle.sandbox_id)
        assert (row.session_id, row.status) == (session_id, SandboxStatus.IN_USE)
        assert handle.replaced is False
        assert handle.tool_api.shell_exec(id="w", command="echo $HOME")["output"].strip() == "/workspace"


def test_concurrent_acquires_of_one_session_get_the_same_sandbox(local_backend: str, alice: Any) -> None:
    session_id = new_session(alice).id
    handles = acquire_in_threads([session_id, session_id, session_id])
    assert len({h.sandbox_id for h in handles}) == 1
    assert Sandbox.objects.filter(session_id=session_id).count() == 1


def test_acquire_reuses_the_sessions_live_sandbox_and_renews_its_lease(local_backend: str, alice: Any) -> None:
    session_id = new_session(alice).id
    first = sandbox_acquire(session_id=session_id)
    Sandbox.objects.filter(pk=first.sandbox_id).update(lease_expires_at=timezone.now() + timedelta(seconds=5))
    second = sandbox_acquire(session_id=session_id)
    assert second.sandbox_id == first.sandbox_id and second.replaced is False
    lease = Sandbox.objects.get(pk=first.sandbox_id).lease_expires_at
    assert lease is not None and lease > timezone.now() + timedelta(minutes=29)


def test_an_expired_lease_is_destroyed_by_the_reaper_and_a_touched_one_is_kept(local_backend: str, alice: Any) -> None:
    idle, busy = new_session(alice).id, new_session(alice).id
    idle_box, busy_box = sandbox_acquire(session_id=idle), sandbox_acquire(session_id=busy)
    past = timezone.now() - timedelta(seconds=1)
    Sandbox.objects.filter(pk__in=[idle_box.sandbox_id, busy_box.sandbox_id]).update(lease_expires_at=past)
    sandbox_touch(session_id=busy)

    counts = sandboxes_reap()

    assert counts == {"expired": 1, "vanished": 0, "stale": 0, "recovered": 0, "orphans": 0}
    assert Sandbox.objects.get(pk=idle_box.sandbox_id).status == SandboxStatus.STOPPED
    assert Sandbox.objects.get(pk=idle_box.sandbox_id).token == ""
    assert get_backend("local").status(idle_box.sandbox_id) is InstanceState.MISSING
    assert Sandbox.objects.get(pk=busy_box.sandbox_id).status == SandboxStatus.IN_USE
    assert get_backend("local").list() == [busy_box.sandbox_id]


def test_a_jail_killed_behind_our_back_is_marked_failed_and_replaced(local_backend: str, alice: Any) -> None:
    session_id = new_session(alice).id
    old = sandbox_acquire(session_id=session_id)
    meta = Sandbox.objects.get(pk=old.sandbox_id)
    pid = jail_pid(old.sandbox_id)
    os.killpg(pid, signal.SIGKILL)
    wait_until_dead(old.sandbox_id)  # SIGKILL is delivered asynchronously

    new = sandbox_acquire(session_id=session_id)

    assert new.replaced is True and new.sandbox_id != old.sandbox_id
    meta.refresh_from_db()
    assert (meta.status, meta.error) == (SandboxStatus.FAILED, "its instance stopped while leased")
    assert get_backend("local").list() == [new.sandbox_id]
    assert new.tool_api.health()["ready"] is True


@pytest.mark.docker
def test_a_container_killed_behind_our_back_is_detected_by_the_reaper_and_replaced(
    docker_backend: str, alice: Any
) -> None:
    session_id = new_session(alice).id
    old = sandbox_acquire(session_id=session_id)
    engine().containers.get(_name(old.sandbox_id)).kill()

    assert sandboxes_reap() == {"expired": 0, "vanished": 1, "stale": 0, "recovered": 0, "orphans": 0}
    assert Sandbox.objects.get(pk=old.sandbox_id).status == SandboxStatus.FAILED
    assert get_backend("docker").status(old.sandbox_id) is InstanceState.MISSING  # remains removed

    new = sandbox_acquire(session_id=session_id)
    assert new.sandbox_id != old.sandbox_id
    assert new.tool_api.shell_exec(id="w", command="echo alive")["output"].strip() == "alive"
    assert get_backend("docker").list() == [new.sandbox_id]
    Sandbox.objects.filter(pk=new.sandbox_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sandboxes_reap()["expired"] == 1
    assert get_backend("docker").list() == []


def _name(sandbox_id: str) -> str:
    return f"{settings.SANDBOX_NAME_PREFIX}-{sandbox_id}"


@pytest.mark.docker
def test_the_reaper_removes_a_labelled_container_the_db_does_not_know(docker_backend: str) -> None:
    orphan = str(uuid.uuid4())
    get_backend("docker").create(orphan)
    assert get_backend("docker").list() == [orphan]

    assert sandboxes_reap() == {"expired": 0, "vanished": 0, "stale": 0, "recovered": 0, "orphans": 1}
    assert get_backend("docker").list() == []
    assert Sandbox.objects.count() == 0


def test_the_reaper_removes_a_jail_the_db_does_not_know(local_backend: str) -> None:
    orphan = str(uuid.uuid4())
    get_backend("local").create(orphan)
    assert sandboxes_reap() == {"expired": 0, "vanished": 0, "stale": 0, "recovered": 0, "orphans": 1}
    assert get_backend("local").list() == []


def test_deleting_a_session_leaves_nothing_running(local_backend: str, alice: Any) -> None:
    session = new_session(alice)
    handle = sandbox_acquire(session_id=session.id)
    pid = jail_pid(handle.sandbox_id)

    session_delete_with_work(session_id=session.id)

    row = Sandbox.objects.get(pk=handle.sandbox_id)
    assert (row.status, row.session_id) == (SandboxStatus.STOPPED, None)
    assert get_backend("local").list() == []
    assert not os.path.exists(f"/proc/{pid}")


def test_the_local_backend_refuses_to_run_unjailed_unless_allowed(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap
    backend = get_backend("local")
    with pytest.raises(SandboxStartError, match="will not run agents unjailed"):
        backend.create(str(uuid.uuid4()))
    assert backend.list() == []

    settings.SANDBOX_LOCAL_ALLOW_UNJAILED = True
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr("sandboxes.backends.local.jail.bwrap_path", lambda: None)
    sandbox_id = str(uuid.uuid4())
    endpoint = backend.create(sandbox_id)
    try:
        assert backend.isolation().startswith("NONE: unjailed")
        assert endpoint.home.endswith(f"{sandbox_id}/workspace")
    finally:
        backend.destroy(sandbox_id)
    assert backend.list() == []


def test_a_sandbox_whose_starter_died_mid_start_is_replaced_not_waited_on_forever(
    local_backend: str, alice: Any, settings: Any
) -> None:
    """A worker killed while it started the session's sandbox leaves a `provisioning` row and a
    running instance. The turn's resume on another worker waits out the start timeout (plus the
    grace), then marks that sandbox failed, removes its instance and starts a new one."""
    # Long enough for the replacement to start on a loaded machine; the orphan's age below makes
    # the wait for it short all the same.
    settings.SANDBOX_START_TIMEOUT_SECONDS = 20
    session_id = new_session(alice).id
    orphan = Sandbox.objects.create(backend="local", session_id=session_id, status=SandboxStatus.PROVISIONING)
    get_backend("local").create(str(orphan.pk))  # what the dead worker got as far as
    # It was started long enough ago that the grace is all but over: the test waits ~1 s.
    Sandbox.objects.filter(pk=orphan.pk).update(created_at=timezone.now() - timedelta(seconds=20 + 29))

    started = time.monotonic()
    handle = sandbox_acquire(session_id=session_id)

    assert time.monotonic() - started < 30  # the wait was bounded by the row's age, not restarted
    assert handle.sandbox_id != str(orphan.pk) and handle.replaced is False
    orphan.refresh_from_db()
    assert (orphan.status, orphan.error) == (SandboxStatus.FAILED, "it never finished starting: its starter stopped")
    assert get_backend("local").list() == [handle.sandbox_id]  # the dead start's instance is gone
    assert handle.tool_api.health()["ready"] is True

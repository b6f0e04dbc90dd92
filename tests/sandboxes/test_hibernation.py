"""Hibernation on real jails and containers: an idle leased sandbox has its processes stopped
and its workspace kept; the next acquire (a turn, a file view, the live view) wakes it with
its files; staff see it hibernating; the reaper still ends it with its lease."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from sandboxes.backends import InstanceState, get_backend
from sandboxes.hibernation import sandbox_hibernate, sandboxes_hibernate_idle
from sandboxes.models import Sandbox, SandboxStatus
from sandboxes.services import sandbox_acquire, sandboxes_reap
from sessions.models import Session
from tests.conftest import client_for, make_user
from tests.sandboxes.test_lean_turns import jail_processes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_backend"))


def idle_for(sandbox_id: str, minutes: float) -> None:
    """Make the sandbox look last touched `minutes` ago (a touch sets the lease to now + TTL)."""
    lease = timezone.now() + timedelta(minutes=settings.SANDBOX_TTL_MINUTES - minutes)
    Sandbox.objects.filter(pk=sandbox_id).update(lease_expires_at=lease)


def run(handle: Any, command: str) -> str:
    return str(handle.tool_api.shell_exec(id="t", exec_dir=handle.home, command=command, wait_seconds=30)["output"])


def test_an_idle_sandbox_hibernates_keeps_its_files_and_the_next_acquire_wakes_it(
    backend: str, alice: Any, settings: Settings
) -> None:
    settings.SANDBOX_IDLE_STOP_MINUTES = 2
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    run(handle, "echo still-here > kept.txt; nohup sleep 600 >/dev/null 2>&1 &")
    busy = sandbox_acquire(session_id=Session.objects.create(owner=alice).id)  # touched just now

    idle_for(handle.sandbox_id, 1)
    assert sandboxes_hibernate_idle() == 0  # idle for less than SANDBOX_IDLE_STOP_MINUTES
    idle_for(handle.sandbox_id, 3)
    assert sandboxes_hibernate_idle() == 1

    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.HIBERNATED
    assert Sandbox.objects.get(pk=busy.sandbox_id).status == SandboxStatus.IN_USE
    assert get_backend(backend).status(handle.sandbox_id) is InstanceState.STOPPED
    if backend == "local":
        base = Path(settings.SANDBOX_LOCAL_DIR) / handle.sandbox_id
        assert not [p for p in jail_processes() if str(base).encode() in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert (base / "workspace" / "kept.txt").read_text() == "still-here\n"
    assert sandboxes_reap()["orphans"] == 0  # a hibernated instance is known, not an orphan
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.HIBERNATED

    woken = sandbox_acquire(session_id=session.id)

    assert (woken.sandbox_id, woken.replaced) == (handle.sandbox_id, False)
    box = Sandbox.objects.get(pk=handle.sandbox_id)
    assert box.status == SandboxStatus.IN_USE and box.lease_expires_at > timezone.now()
    out = run(woken, "cat kept.txt; echo sleepers: $(cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'slee[p] 600')")
    assert "still-here" in out and "sleepers: 0" in out


def test_zero_minutes_turns_hibernation_off(local_backend: str, alice: Any, settings: Settings) -> None:
    settings.SANDBOX_IDLE_STOP_MINUTES = 0
    handle = sandbox_acquire(session_id=Session.objects.create(owner=alice).id)
    idle_for(handle.sandbox_id, settings.SANDBOX_TTL_MINUTES - 0.1)
    assert sandboxes_hibernate_idle() == 0
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.IN_USE


def test_staff_see_a_hibernated_sandbox_and_its_lease_still_ends_it(
    local_backend: str, alice: Any, settings: Settings
) -> None:
    handle = sandbox_acquire(session_id=Session.objects.create(owner=alice).id)
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)
    staff = client_for(make_user("operator", is_staff=True))

    listed = staff.get("/api/v1/sandboxes?status=live").json()["data"]["sandboxes"]
    assert [(s["sandbox_id"], s["status"]) for s in listed] == [(handle.sandbox_id, "hibernated")]
    assert staff.get("/api/v1/sandboxes?status=hibernated").json()["data"]["count"] == 1
    admin = Client()
    admin.force_login(make_user("root", is_staff=True, is_superuser=True))
    page = admin.get("/admin/sandboxes/sandbox/")
    assert page.status_code == 200 and "Hibernated" in page.content.decode()

    Sandbox.objects.filter(pk=handle.sandbox_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sandboxes_reap()["expired"] == 1
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.STOPPED
    assert get_backend("local").list() == []  # the kept workspace goes with the lease


def test_a_file_view_wakes_the_owners_hibernated_sandbox_but_not_a_strangers(
    local_backend: str, alice: Any, alice_client: APIClient, bob_client: APIClient
) -> None:
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    run(handle, "echo report > report.md")
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)
    path = f"{handle.home}/report.md"

    foreign = bob_client.post(f"/api/v1/sessions/{session.id}/file", {"file": path}, format="json")
    assert foreign.status_code == 404
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.HIBERNATED  # woke nothing

    response = alice_client.post(f"/api/v1/sessions/{session.id}/file", {"file": path}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["content"] == "report\n"
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.IN_USE


def test_deleting_the_session_destroys_its_hibernated_sandbox(
    local_backend: str, alice: Any, alice_client: APIClient
) -> None:
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)
    assert alice_client.delete(f"/api/v1/sessions/{session.id}").status_code == 200
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.STOPPED
    assert get_backend("local").list() == []


@pytest.fixture
def host_service() -> Iterator[int]:
    """A stand-in for a platform service listening on every interface of the host."""
    listener = socket.create_server(("0.0.0.0", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()


@pytest.mark.docker
def test_a_woken_docker_sandbox_is_sealed_again(docker_backend: str, alice: Any, host_service: int) -> None:
    from sandboxes.backends.docker import sandbox_network

    gateway = str(sandbox_network().attrs["IPAM"]["Config"][0]["Gateway"])
    probe = (
        'python3 -c "import socket; s=socket.socket(); s.settimeout(3); '
        f"print('ANSWERED' if s.connect_ex(('{gateway}', {host_service})) == 0 else 'REFUSED')\""
    )
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    assert "REFUSED" in run(handle, probe)
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)

    assert get_backend("docker").container(handle.sandbox_id).status == "paused"  # type: ignore[attr-defined]

    woken = sandbox_acquire(session_id=session.id)

    # Hibernated by a pause, it kept its network namespace and the seal on it.
    assert "REFUSED" in run(woken, probe)

    # A container the engine stopped meanwhile (an engine restart; an image without
    # anker-hibernate) is started again with a new network namespace: without a new seal the
    # host would answer.
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)
    container = get_backend("docker").container(handle.sandbox_id)  # type: ignore[attr-defined]
    container.unpause()
    container.stop(timeout=1)
    rewoken = sandbox_acquire(session_id=session.id)
    assert rewoken.sandbox_id == handle.sandbox_id
    assert "REFUSED" in run(rewoken, probe)


def queued_timers() -> list[dict[str, Any]]:
    """The idle timers waiting in the broker's `sandboxes` queue: {kwargs, eta}."""
    import base64
    import json

    from anker_project.redis_client import get_redis

    timers = []
    for raw in reversed(get_redis().lrange("sandboxes", 0, -1)):
        message = json.loads(raw)
        if message["headers"]["task"] == "sandboxes.hibernate_if_idle":
            kwargs = json.loads(base64.b64decode(message["body"]))[1]
            timers.append({"kwargs": kwargs, "eta": message["headers"]["eta"]})
    return timers


@pytest.fixture
def no_timers() -> Iterator[None]:
    from anker_project.redis_client import get_redis

    get_redis().delete("sandboxes")
    yield
    get_redis().delete("sandboxes")


def test_a_sandbox_its_session_is_done_with_hibernates_on_its_own_timer(
    backend: str, alice: Any, settings: Settings, no_timers: None
) -> None:
    from sandboxes.hibernation import sandbox_hibernate_if_idle, sandbox_mark_idle

    settings.SANDBOX_IDLE_STOP_MINUTES = 0.5
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    run(handle, "echo still-here > kept.txt")

    before = timezone.now()
    assert sandbox_mark_idle(session_id=session.id)  # the turn ended

    [timer] = queued_timers()
    assert timer["kwargs"]["sandbox_id"] == handle.sandbox_id
    assert datetime.fromisoformat(timer["eta"]) >= before + timedelta(seconds=29)  # due at the idle deadline
    box = Sandbox.objects.get(pk=handle.sandbox_id)
    assert datetime.fromisoformat(timer["kwargs"]["lease"]) == box.lease_expires_at
    assert box.status == SandboxStatus.IN_USE

    assert sandbox_hibernate_if_idle(**timer["kwargs"])  # the timer fires: nothing touched it

    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.HIBERNATED
    assert get_backend(backend).status(handle.sandbox_id) is InstanceState.STOPPED
    woken = sandbox_acquire(session_id=session.id)
    assert woken.sandbox_id == handle.sandbox_id and "still-here" in run(woken, "cat kept.txt")


def test_an_idle_timer_leaves_a_sandbox_that_was_used_since(
    local_backend: str, alice: Any, settings: Settings, no_timers: None
) -> None:
    from sandboxes.hibernation import sandbox_hibernate_if_idle, sandbox_mark_idle
    from sandboxes.services import sandbox_touch

    settings.SANDBOX_IDLE_STOP_MINUTES = 0.5
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    assert sandbox_mark_idle(session_id=session.id)
    [timer] = queued_timers()

    sandbox_touch(session_id=session.id)  # the next turn's heartbeat, before the timer is due

    assert not sandbox_hibernate_if_idle(**timer["kwargs"])
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.IN_USE
    assert get_backend("local").status(handle.sandbox_id) is InstanceState.RUNNING


def test_no_timer_is_armed_with_hibernation_off_or_without_a_sandbox_in_use(
    local_backend: str, alice: Any, settings: Settings, no_timers: None
) -> None:
    from sandboxes.hibernation import sandbox_mark_idle

    settings.SANDBOX_IDLE_STOP_MINUTES = 0
    session = Session.objects.create(owner=alice)
    sandbox_acquire(session_id=session.id)
    assert sandbox_mark_idle(session_id=session.id)  # the lease still runs from now
    assert not sandbox_mark_idle(session_id=Session.objects.create(owner=alice).id)
    assert queued_timers() == []


def stuck(sandbox_id: str, status: str) -> None:
    """Leave the row as a worker killed mid-passage does: in passage, stamped long ago."""
    from sandboxes.hibernation import passage_timeout

    Sandbox.objects.filter(pk=sandbox_id).update(
        status=status, updated_at=timezone.now() - passage_timeout() - timedelta(seconds=1)
    )


def test_a_sandbox_left_half_woken_by_a_dead_worker_is_hibernated_again_and_wakes_whole(
    backend: str, alice: Any
) -> None:
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    run(handle, "echo still-here > kept.txt")
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)
    get_backend(backend).start(handle.sandbox_id)  # the dead worker got this far
    stuck(handle.sandbox_id, SandboxStatus.WAKING)

    assert sandboxes_reap()["recovered"] == 1

    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.HIBERNATED
    assert get_backend(backend).status(handle.sandbox_id) is InstanceState.STOPPED
    woken = sandbox_acquire(session_id=session.id)
    assert (woken.sandbox_id, woken.replaced) == (handle.sandbox_id, False)
    assert "still-here" in run(woken, "cat kept.txt")


def test_a_sandbox_left_half_stopped_by_a_dead_worker_is_stopped_by_the_sweep(local_backend: str, alice: Any) -> None:
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    run(handle, "echo still-here > kept.txt; nohup sleep 600 >/dev/null 2>&1 &")
    under_way = sandbox_acquire(session_id=Session.objects.create(owner=alice).id)
    stuck(handle.sandbox_id, SandboxStatus.HIBERNATING)  # killed before it stopped anything
    Sandbox.objects.filter(pk=under_way.sandbox_id).update(status=SandboxStatus.HIBERNATING)  # just now

    sandboxes_hibernate_idle()

    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.HIBERNATED
    base = Path(settings.SANDBOX_LOCAL_DIR) / handle.sandbox_id
    assert not [p for p in jail_processes() if str(base).encode() in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert (base / "workspace" / "kept.txt").read_text() == "still-here\n"
    # A passage still under way is its worker's: left alone.
    assert Sandbox.objects.get(pk=under_way.sandbox_id).status == SandboxStatus.HIBERNATING
    assert get_backend("local").status(under_way.sandbox_id) is InstanceState.RUNNING


def test_the_resumed_turns_acquire_recovers_a_sandbox_stuck_waking_and_wakes_it(local_backend: str, alice: Any) -> None:
    session = Session.objects.create(owner=alice)
    handle = sandbox_acquire(session_id=session.id)
    run(handle, "echo still-here > kept.txt")
    assert sandbox_hibernate(sandbox_id=handle.sandbox_id)
    stuck(handle.sandbox_id, SandboxStatus.WAKING)

    woken = sandbox_acquire(session_id=session.id)

    assert (woken.sandbox_id, woken.replaced) == (handle.sandbox_id, False)
    assert Sandbox.objects.get(pk=handle.sandbox_id).status == SandboxStatus.IN_USE
    assert "still-here" in run(woken, "cat kept.txt")

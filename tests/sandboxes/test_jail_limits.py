"""A local jail's limits: a fork bomb or a memory hog in one jail takes neither the worker nor
another jail down; a jail's directory is Anker's user's alone."""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandboxes.backends import SandboxEndpoint, get_backend
from sandboxes.backends.jail_limits import CGROUP_ROOT, _own_v2_cgroup, cgroup_mode
from sandboxes.tool_api import ToolApiClient


def shell(endpoint: SandboxEndpoint, command: str, wait: float = 20, shell_id: str = "limits") -> str:
    with ToolApiClient(endpoint.tool_api_url, endpoint.token, uds=endpoint.tool_api_socket) as api:
        return str(api.shell_exec(id=shell_id, command=command, wait_seconds=wait)["output"])


@pytest.fixture
def jails(local_backend: str) -> Iterator[list[tuple[str, SandboxEndpoint]]]:
    backend = get_backend("local")
    made: list[tuple[str, SandboxEndpoint]] = []
    try:
        for _ in range(1):
            sandbox_id = str(uuid.uuid4())
            made.append((sandbox_id, backend.create(sandbox_id)))
        yield made
    finally:
        for sandbox_id, _ in made:
            backend.destroy(sandbox_id)


def pids_cgroup(sandbox_id: str, settings: Any) -> Path:
    name = f"{settings.SANDBOX_NAME_PREFIX}-{sandbox_id}"
    if cgroup_mode() == "v2":
        parent = _own_v2_cgroup()
        assert parent is not None
        return parent / name
    return CGROUP_ROOT / "pids" / name


def test_a_fork_bomb_is_capped_in_its_jail_and_the_worker_and_the_other_jail_carry_on(
    settings: Any, local_backend: str
) -> None:
    if cgroup_mode() == "none" and os.geteuid() == 0:
        pytest.skip("no writable cgroups, and RLIMIT_NPROC does not hold for root: a fork bomb would hit the host")
    settings.SANDBOX_LOCAL_PIDS_LIMIT = 64
    backend = get_backend("local")
    bomb_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    bombed, other = backend.create(bomb_id), backend.create(other_id)
    try:
        group = pids_cgroup(bomb_id, settings)
        shell(bombed, "bash -c 'b(){ b|b& }; b' >/dev/null 2>&1 &", wait=2)
        deadline = time.monotonic() + 30
        while int((group / "pids.current").read_text()) < 64 and time.monotonic() < deadline:
            time.sleep(0.2)

        refused_forks = int((group / "pids.events").read_text().split()[1])
        peak = int((group / "pids.peak").read_text()) if (group / "pids.peak").exists() else 64
        worker_can_fork = subprocess.run(["true"], check=False).returncode == 0
        other_answers = shell(other, "echo still here").strip()
    finally:
        backend.destroy(bomb_id)
        backend.destroy(other_id)

    assert (peak, refused_forks > 0) == (64, True)  # the kernel refused the bomb past the cap
    assert worker_can_fork
    assert other_answers == "still here"
    assert not group.exists()  # removed with the jail


@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroup-if-writable", "prlimit"])
def test_a_memory_hog_is_stopped_in_its_jail_and_its_tool_api_carries_on(
    settings: Any, local_backend: str, cgroups: bool
) -> None:
    # An address-space cap counts reservations too (thread stacks): the tool API needs ~1 GiB of it.
    settings.SANDBOX_LOCAL_MEMORY_LIMIT = "256m" if cgroups else "1g"
    settings.SANDBOX_LOCAL_CGROUPS = cgroups
    backend = get_backend("local")
    sandbox_id = str(uuid.uuid4())
    endpoint = backend.create(sandbox_id)
    try:
        hog = shell(endpoint, "python3 -c \"b = b'x' * (2 * 1024**3); print('allocated')\"; echo exit=$?")
        after = shell(endpoint, "echo alive", shell_id="after")
    finally:
        backend.destroy(sandbox_id)

    assert "allocated" not in hog
    assert "exit=137" in hog or "MemoryError" in hog  # OOM-killed in its cgroup, or refused by RLIMIT_AS
    assert after.strip() == "alive"


def test_a_jails_directories_are_private_to_ankers_user(jails: list[tuple[str, SandboxEndpoint]]) -> None:
    backend = get_backend("local")
    sandbox_id, _ = jails[0]
    base = backend.root / sandbox_id

    modes = {name: stat.S_IMODE((base / name).stat().st_mode) for name in ("", "workspace", "run")}

    assert modes == {"": 0o700, "workspace": 0o700, "run": 0o700}
    assert stat.S_IMODE(backend.root.stat().st_mode) == 0o700

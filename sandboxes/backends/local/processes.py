"""The process table of the local backend: the first process of each sandbox this process
spawned (the jail, or the unjailed tool API), how it is spawned so that it dies with this
process, and how its process group is ended.

PR_SET_PDEATHSIG fires when the spawning *thread* exits, so every sandbox is spawned from one
thread that lives as long as the process (ThreadPoolExecutor threads never idle out), and every
jail dies with the worker. A sandbox spawned by another process is not in the table: the backend
finds it by the pid in its directory's `meta.json`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from .. import jail_limits

PR_SET_PDEATHSIG = 1
TERM_GRACE_SECONDS = 3.0

_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
_children_lock = threading.Lock()
_children: dict[str, subprocess.Popen[bytes]] = {}


def die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def joining(cgroup: jail_limits.JailCgroup) -> Callable[[], None]:
    def preexec() -> None:  # in the child between fork and exec: nothing it runs escapes the limits
        die_with_parent()
        cgroup.join()

    return preexec


def spawn(
    argv: list[str], *, env: dict[str, str], cwd: Path, log: IO[bytes], preexec: Callable[[], None]
) -> subprocess.Popen[bytes]:
    """Start a sandbox's first process from the spawner thread (see above)."""
    return _spawner.submit(
        subprocess.Popen,
        argv,
        env=env,
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: destroy kills the group
        preexec_fn=preexec,
    ).result()


def children_add(sandbox_id: str, proc: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        _children[sandbox_id] = proc


def children_pop(sandbox_id: str) -> subprocess.Popen[bytes] | None:
    with _children_lock:
        return _children.pop(sandbox_id, None)


def reap_children() -> None:
    """Collect exit statuses of our children that died (destroyed from another process)."""
    with _children_lock:
        for sandbox_id, proc in list(_children.items()):
            if proc.poll() is not None:
                del _children[sandbox_id]


def terminate(sandbox_id: str, pid: int, alive: Callable[[], bool]) -> None:
    """End the process group of the sandbox's first process `pid`: SIGTERM, up to
    TERM_GRACE_SECONDS while `alive()`, then SIGKILL."""
    # The unjailed tool API kills its shells on SIGTERM; a jail dies whole on SIGKILL
    # (its PID namespace goes with bwrap).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_SECONDS
    while time.monotonic() < deadline and alive():
        with _children_lock:
            proc = _children.get(sandbox_id)
        if proc is not None:
            proc.poll()
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)

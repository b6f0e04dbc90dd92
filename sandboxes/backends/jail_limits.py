"""Memory, CPU and process limits of a local jail, so one sandbox cannot take its worker down.

Where the host lets Anker's user write cgroups, each jail gets its own cgroup (v2 when the
unified hierarchy has the controllers, else the v1 `pids`, `memory` and `cpu` hierarchies):
SANDBOX_LOCAL_PIDS_LIMIT processes, SANDBOX_LOCAL_MEMORY_LIMIT of memory (past it the kernel's
OOM killer ends a process of that jail, not of the worker) and SANDBOX_LOCAL_CPUS CPUs. The jail
joins its cgroups between fork and exec, so nothing it starts is ever outside them.

Elsewhere `prlimit` bounds what it can: the number of processes (RLIMIT_NPROC, counted per user:
it has no effect when the worker runs as root) and, for the tool API and the commands the agent
runs through it, the address space (RLIMIT_AS; not for the desktop's Chromium, which reserves
far more address space than it uses). Either way the jail runs at a lower CPU priority (`nice`).
`describe()` says which limits hold on this host.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("pids", "memory", "cpu")
CPU_PERIOD_US = 100_000
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_bytes(value: str) -> int:
    """'2g', '512m', '1048576' -> bytes."""
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"not a size: {value!r} (use e.g. 2g, 512m or a number of bytes)")
    return int(match[1]) * 1024 ** "bkmgt".index((match[2] or "b").lower())


@dataclass(frozen=True)
class Limits:
    pids: int
    memory_bytes: int
    cpus: float
    nice: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            pids=settings.SANDBOX_LOCAL_PIDS_LIMIT,
            memory_bytes=parse_bytes(settings.SANDBOX_LOCAL_MEMORY_LIMIT),
            cpus=settings.SANDBOX_LOCAL_CPUS,
            nice=settings.SANDBOX_LOCAL_NICE,
        )


def _own_v2_cgroup() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return CGROUP_ROOT / line[3:].lstrip("/")
    except OSError:
        pass
    return None


def cgroup_mode() -> str:
    """'v2', 'v1' or 'none': which cgroups this process may create jails' cgroups in."""
    if not settings.SANDBOX_LOCAL_CGROUPS:
        return "none"
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if controllers.exists():
        parent = _own_v2_cgroup()
        try:
            enabled = set((parent / "cgroup.subtree_control").read_text().split()) if parent else set()
        except OSError:
            enabled = set()
        if parent is not None and {"pids", "memory"} <= enabled and os.access(parent, os.W_OK):
            return "v2"
        return "none"
    if all(os.access(CGROUP_ROOT / name, os.W_OK) for name in V1_CONTROLLERS):
        return "v1"
    return "none"


class JailCgroup:
    """The cgroup(s) of one jail: created with the limits, joined by the jail, removed after it."""

    def __init__(self, name: str, limits: Limits, mode: str) -> None:
        self.mode = mode
        if mode == "v2":
            parent = _own_v2_cgroup()
            assert parent is not None
            self.dirs = [parent / name]
        else:
            self.dirs = [CGROUP_ROOT / controller / name for controller in V1_CONTROLLERS]
        for directory in self.dirs:
            directory.mkdir(exist_ok=True)
        quota = max(1000, int(limits.cpus * CPU_PERIOD_US))
        if mode == "v2":
            group = self.dirs[0]
            _write(group / "pids.max", str(limits.pids))
            _write(group / "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(group / "memory.swap.max", "0")
            with contextlib.suppress(OSError):  # the cpu controller may not be delegated
                _write(group / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        else:
            pids, memory, cpu = self.dirs
            _write(pids / "pids.max", str(limits.pids))
            _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting on this host
                _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", str(quota))

    def join(self) -> None:
        """Called in the child between fork and exec: move this process into the cgroup(s)."""
        pid = str(os.getpid())
        for directory in self.dirs:
            _write(directory / "cgroup.procs", pid)

    def remove(self) -> None:
        """Kill what is left in the cgroup and remove it (called after the jail was stopped)."""
        for directory in self.dirs:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (directory / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)
            with contextlib.suppress(OSError):
                directory.rmdir()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def cgroup_for(sandbox_id: str) -> JailCgroup | None:
    mode = cgroup_mode()
    if mode == "none":
        return None
    return JailCgroup(f"{settings.SANDBOX_NAME_PREFIX}-{sandbox_id}", Limits.from_settings(), mode)


def cgroup_remove(sandbox_id: str) -> None:
    mode = cgroup_mode()
    if mode == "none":
        return
    name = f"{settings.SANDBOX_NAME_PREFIX}-{sandbox_id}"
    group = JailCgroup.__new__(JailCgroup)
    group.mode = mode
    if mode == "v2":
        parent = _own_v2_cgroup()
        group.dirs = [parent / name] if parent else []
    else:
        group.dirs = [CGROUP_ROOT / controller / name for controller in V1_CONTROLLERS]
    group.dirs = [d for d in group.dirs if d.exists()]
    group.remove()


def outer_argv(cgroup: JailCgroup | None) -> list[str]:
    """What the jail's argv starts with, before bwrap: a lower priority, and without cgroups
    prlimit's process limit."""
    limits = Limits.from_settings()
    argv = ["nice", "-n", str(limits.nice)] if shutil.which("nice") else []
    prlimit = shutil.which("prlimit")
    if cgroup is None and prlimit is not None:
        argv += [prlimit, f"--nproc={limits.pids}", "--"]
    return argv


def inner_argv() -> list[str]:
    """What the tool API's command starts with inside the jail: its (and the agent's commands')
    address-space limit. Empty where the cgroup's memory limit already holds, or no prlimit."""
    if cgroup_mode() != "none" or not Path("/usr/bin/prlimit").exists():
        return []
    return ["/usr/bin/prlimit", f"--as={Limits.from_settings().memory_bytes}", "--"]


def describe() -> str:
    limits = Limits.from_settings()
    mode = cgroup_mode()
    if mode != "none":
        return (
            f"cgroup {mode}: {limits.pids} processes, {limits.memory_bytes // 2**20} MiB of memory, "
            f"{limits.cpus:g} CPUs"
        )
    return (
        f"no writable cgroups: prlimit {limits.pids} processes (not enforced for root) and "
        f"{limits.memory_bytes // 2**20} MiB of address space for the tool API and the agent's commands"
    )

"""The local backend: the tool API as a child process of this worker, in a bubblewrap jail.

Each sandbox gets `SANDBOX_LOCAL_DIR/<uuid>/` holding its workspace (mounted at /workspace,
the agent's home and the tool API's root), the directory of its unix socket (mounted at
/run/toolapi), the tool API's log and `meta.json` (the pid of its first process). Without bwrap
on PATH it refuses to start unless SANDBOX_LOCAL_ALLOW_UNJAILED=true, and then says so loudly:
an unjailed sandbox is only a directory and a process, with the worker's user, files and
network. The jail's command is built in jail.py, the desktop in desktop.py, the egress proxy in
proxy.py; the processes are spawned and ended in processes.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

from django.conf import settings

from .. import InstanceState, SandboxEndpoint, SandboxShape, SandboxStartError, jail_limits, wait_until_ready
from . import jail, processes
from .desktop import desktop_for, desktop_summary
from .proxy import egress_close, egress_open

logger = logging.getLogger(__name__)


class LocalBackend:
    name = "local"

    @property
    def root(self) -> Path:
        return Path(settings.SANDBOX_LOCAL_DIR)

    def jailed(self) -> bool:
        return jail.bwrap_path() is not None

    def isolation(self) -> str:
        if self.jailed():
            network = (
                "network only through Anker's egress proxy (HTTP/HTTPS to public addresses)"
                if settings.SANDBOX_LOCAL_NETWORK == "proxy"
                else "no network"
            )
            return (
                "bubblewrap jail: own user, PID, mount, IPC, UTS and network namespaces (" + network + "), "
                "uid 1000, read-only /usr and /etc, workspace-only writes; shares the host kernel and "
                "limits: " + jail_limits.describe() + "; " + self.desktop_summary()
            )
        if settings.SANDBOX_LOCAL_ALLOW_UNJAILED:
            return (
                "NONE: unjailed child process with the worker's user, files and network (SANDBOX_LOCAL_ALLOW_UNJAILED)"
            )
        return "unavailable: bwrap is not on PATH and SANDBOX_LOCAL_ALLOW_UNJAILED is false"

    def desktop(self) -> dict[str, str] | None:
        """The desktop's programs when this backend runs one, else None.

        Raises SandboxStartError when SANDBOX_LOCAL_DESKTOP=on and it cannot run."""
        return desktop_for(jailed=self.jailed())

    def desktop_summary(self) -> str:
        return desktop_summary()

    def _dir(self, sandbox_id: str) -> Path:
        return self.root / str(uuid.UUID(sandbox_id))  # a UUID: never a path outside root

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        bwrap = jail.bwrap_path()
        if bwrap is None and not settings.SANDBOX_LOCAL_ALLOW_UNJAILED:
            raise SandboxStartError(
                "bubblewrap (bwrap) is not installed, and the local backend will not run agents unjailed: "
                "install bubblewrap, use SANDBOX_BACKEND=docker, or set SANDBOX_LOCAL_ALLOW_UNJAILED=true"
            )
        desktop = self.desktop()  # may refuse: before anything exists on disk
        base = self._dir(sandbox_id)
        workspace, run_dir = base / "workspace", base / "run"
        # Only Anker's user may enter a sandbox's directory (its token, sockets and the agent's files).
        for directory in (self.root, base, workspace, run_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        socket_path = run_dir / jail.SOCKET_NAME
        token = secrets.token_urlsafe(32)
        preexec = processes.die_with_parent
        if bwrap is not None:
            argv, env, home = jail.jail_command(bwrap, base, workspace, run_dir, token, desktop)
            cgroup = jail_limits.cgroup_for(sandbox_id)
            argv = jail_limits.outer_argv(cgroup) + argv
            if cgroup is not None:
                preexec = processes.joining(cgroup)
            if settings.SANDBOX_LOCAL_NETWORK == "proxy":
                egress_open(sandbox_id, run_dir, env)
            logger.info("local sandbox %s: %s", sandbox_id, self.isolation())
        else:
            argv, env, home = jail.unjailed_command(workspace, socket_path, token)
            logger.warning("local sandbox %s runs WITHOUT ISOLATION: %s", sandbox_id, self.isolation())
        log = (base / "toolapi.log").open("ab")
        try:
            proc = processes.spawn(argv, env=env, cwd=base, log=log, preexec=preexec)
        except BaseException:
            self.destroy(sandbox_id)  # the egress proxy and the directory
            raise
        finally:
            log.close()
        processes.children_add(sandbox_id, proc)
        (base / "meta.json").write_text(json.dumps({"pid": proc.pid, "jailed": bwrap is not None}))
        endpoint = SandboxEndpoint(
            tool_api_url="http://sandbox",
            tool_api_socket=str(socket_path),
            token=token,
            cdp_url=f"ws+unix:{socket_path}" if desktop else None,
            vnc_ws_url=f"ws+unix:{socket_path}" if desktop else None,
            home=home,
            services=(("x", "cdp", "vnc") if desktop else ())
            + (("egress",) if bwrap is not None and settings.SANDBOX_LOCAL_NETWORK == "proxy" else ()),
        )
        try:
            wait_until_ready(
                endpoint, timeout=settings.SANDBOX_START_TIMEOUT_SECONDS, alive=lambda: proc.poll() is None
            )
        except BaseException:
            tail = (base / "toolapi.log").read_text(errors="replace")[-500:]
            self.destroy(sandbox_id)
            logger.warning("local sandbox %s did not start; its log ended with: %s", sandbox_id, tail)
            raise
        return endpoint

    def main_pid(self, sandbox_id: str) -> int | None:
        """The pid of the sandbox's first process (the jail or the tool API), if it runs."""
        return self._pid(sandbox_id)

    def _pid(self, sandbox_id: str) -> int | None:
        try:
            return int(json.loads((self._dir(sandbox_id) / "meta.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def _alive(self, sandbox_id: str, pid: int) -> bool:
        """Is `pid` still this sandbox's process (not a zombie, not a reused pid)?"""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z" and str(self._dir(sandbox_id)).encode() in cmdline

    def _kill(self, sandbox_id: str) -> None:
        """End the sandbox's processes and its egress proxy; its directory stays."""
        pid = self._pid(sandbox_id)
        if pid is not None and self._alive(sandbox_id, pid):
            processes.terminate(sandbox_id, pid, alive=lambda: self._alive(sandbox_id, pid))
        proc = processes.children_pop(sandbox_id)
        egress_close(sandbox_id)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        processes.reap_children()
        jail_limits.cgroup_remove(sandbox_id)

    def destroy(self, sandbox_id: str) -> None:
        self._kill(sandbox_id)
        shutil.rmtree(self._dir(sandbox_id), ignore_errors=True)

    def stop(self, sandbox_id: str) -> None:
        """Hibernate: every process of the jail ends (the desktop too); the workspace stays."""
        self._kill(sandbox_id)

    def start(self, sandbox_id: str) -> SandboxEndpoint:
        """A new jail (new token, same settings as `create`) over the kept workspace. A start that
        fails removes the sandbox, as a failed `create` does."""
        if not (self._dir(sandbox_id) / "workspace").is_dir():
            raise SandboxStartError("its workspace is gone")
        self._kill(sandbox_id)  # nothing should run; never two jails over one workspace
        return self.create(sandbox_id)

    def shape(self) -> SandboxShape | None:
        if not self.jailed():
            return None  # unjailed, the home is the sandbox's own directory: known once it exists
        try:
            desktop = self.desktop()
        except SandboxStartError:
            return None  # `create` will say why
        network = "proxy" if settings.SANDBOX_LOCAL_NETWORK == "proxy" else "none"
        return SandboxShape(home=jail.JAIL_HOME, has_browser=desktop is not None, network=network)

    def status(self, sandbox_id: str) -> InstanceState:
        processes.reap_children()
        if not self._dir(sandbox_id).exists():
            return InstanceState.MISSING
        pid = self._pid(sandbox_id)
        if pid is not None and self._alive(sandbox_id, pid):
            return InstanceState.RUNNING
        return InstanceState.STOPPED

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            with contextlib.suppress(ValueError):
                found.append(str(uuid.UUID(entry.name)))
        return sorted(found)

"""The local backend: the tool API as a child process of this worker, in a bubblewrap jail.

Each sandbox gets `SANDBOX_LOCAL_DIR/<uuid>/` holding its workspace (mounted at /workspace,
the agent's home and the tool API's root) and the directory of its unix socket (mounted at
/run/toolapi). The jail follows sandbox-image/run-bwrap.sh in its unix-socket mode: every
namespace unshared, so no network at all (only its own `lo`), its own PIDs, uid 1000
inside, read-only /usr and /etc, a private /tmp. `--die-with-parent` ends the jail when the
thread that spawned it dies, so every jail is spawned from one long-lived thread of the
process and dies with the worker. Without bwrap on PATH it refuses to start unless
SANDBOX_LOCAL_ALLOW_UNJAILED=true, and then says so loudly: an unjailed sandbox is only a
directory and a process, with the worker's user, files and network.

No display, browser or VNC runs in a local sandbox (the tool API's health says `absent`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings

from . import InstanceState, SandboxEndpoint, SandboxStartError, wait_until_ready

logger = logging.getLogger(__name__)

JAIL_HOME = "/workspace"
SOCKET_NAME = "api.sock"
PR_SET_PDEATHSIG = 1
TERM_GRACE_SECONDS = 3.0

# PR_SET_PDEATHSIG fires when the spawning *thread* exits, so spawn from one thread that
# lives as long as the process (ThreadPoolExecutor threads never idle out).
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
_children_lock = threading.Lock()
_children: dict[str, subprocess.Popen[bytes]] = {}


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _reap_children() -> None:
    """Collect exit statuses of our children that died (destroyed from another process)."""
    with _children_lock:
        for sandbox_id, proc in list(_children.items()):
            if proc.poll() is not None:
                del _children[sandbox_id]


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


class LocalBackend:
    name = "local"

    @property
    def root(self) -> Path:
        return Path(settings.SANDBOX_LOCAL_DIR)

    def jailed(self) -> bool:
        return bwrap_path() is not None

    def isolation(self) -> str:
        if self.jailed():
            return (
                "bubblewrap jail: own user, PID, mount, IPC, UTS and network namespaces (no network), "
                "uid 1000, read-only /usr and /etc, workspace-only writes; shares the host kernel and "
                "has no memory/CPU limits"
            )
        if settings.SANDBOX_LOCAL_ALLOW_UNJAILED:
            return (
                "NONE: unjailed child process with the worker's user, files and network (SANDBOX_LOCAL_ALLOW_UNJAILED)"
            )
        return "unavailable: bwrap is not on PATH and SANDBOX_LOCAL_ALLOW_UNJAILED is false"

    def _dir(self, sandbox_id: str) -> Path:
        return self.root / str(uuid.UUID(sandbox_id))  # a UUID: never a path outside root

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        bwrap = bwrap_path()
        if bwrap is None and not settings.SANDBOX_LOCAL_ALLOW_UNJAILED:
            raise SandboxStartError(
                "bubblewrap (bwrap) is not installed, and the local backend will not run agents unjailed: "
                "install bubblewrap, use SANDBOX_BACKEND=docker, or set SANDBOX_LOCAL_ALLOW_UNJAILED=true"
            )
        base = self._dir(sandbox_id)
        workspace, run_dir = base / "workspace", base / "run"
        workspace.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(mode=0o700, exist_ok=True)
        socket_path = run_dir / SOCKET_NAME
        token = secrets.token_urlsafe(32)
        if bwrap is not None:
            argv, env, home = self._jail(bwrap, base, workspace, run_dir, token)
            logger.info("local sandbox %s: %s", sandbox_id, self.isolation())
        else:
            argv, env, home = self._unjailed(workspace, socket_path, token)
            logger.warning("local sandbox %s runs WITHOUT ISOLATION: %s", sandbox_id, self.isolation())
        log = (base / "toolapi.log").open("ab")
        try:
            proc = _spawner.submit(
                subprocess.Popen,
                argv,
                env=env,
                cwd=str(base),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: destroy kills the group
                preexec_fn=_die_with_parent,
            ).result()
        finally:
            log.close()
        with _children_lock:
            _children[sandbox_id] = proc
        (base / "meta.json").write_text(json.dumps({"pid": proc.pid, "jailed": bwrap is not None}))
        endpoint = SandboxEndpoint(
            tool_api_url="http://sandbox",
            tool_api_socket=str(socket_path),
            token=token,
            cdp_url=None,
            vnc_ws_url=None,
            home=home,
            services=(),
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

    def _python_prefixes(self) -> list[str]:
        python = settings.SANDBOX_LOCAL_PYTHON
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return sorted({p for p in out if p != "/usr" and not p.startswith("/usr/")})

    def _jail(
        self, bwrap: str, base: Path, workspace: Path, run_dir: Path, token: str
    ) -> tuple[list[str], dict[str, str], str]:
        (base / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:ubuntu:/workspace:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (base / "group").write_text("root:x:0:\nubuntu:x:1000:\nnogroup:x:65534:\n")
        toolapi = Path(settings.SANDBOX_TOOLAPI_SOURCE) / "toolapi"
        argv = [
            bwrap,
            "--die-with-parent",
            "--unshare-all",
            "--unshare-user",
            "--uid", "1000", "--gid", "1000",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/sbin", "/sbin",
            "--ro-bind", "/etc", "/etc",
            "--ro-bind", str(base / "passwd"), "/etc/passwd",
            "--ro-bind", str(base / "group"), "/etc/group",
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",
            "--ro-bind", str(toolapi), "/opt/anker/toolapi",
            "--bind", str(workspace), JAIL_HOME,
            "--bind", str(run_dir), "/run/toolapi",
            "--chdir", "/opt/anker",
        ]  # fmt: skip
        for prefix in self._python_prefixes():
            argv += ["--ro-bind", prefix, prefix]
        argv += [settings.SANDBOX_LOCAL_PYTHON, "-m", "toolapi", "--unix-socket", f"/run/toolapi/{SOCKET_NAME}"]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": JAIL_HOME,
            "TOOLAPI_TOKEN": token,
            "TOOLAPI_ROOT": JAIL_HOME,
            "TOOLAPI_HOME": JAIL_HOME,
            "TOOLAPI_SERVICES": "",
            "TOOLAPI_HOSTNAME": "sandbox",
        }
        return argv, env, JAIL_HOME

    def _unjailed(self, workspace: Path, socket_path: Path, token: str) -> tuple[list[str], dict[str, str], str]:
        argv = [settings.SANDBOX_LOCAL_PYTHON, "-m", "toolapi", "--unix-socket", str(socket_path)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(workspace),
            "PYTHONPATH": str(settings.SANDBOX_TOOLAPI_SOURCE),
            "TOOLAPI_TOKEN": token,
            "TOOLAPI_ROOT": str(workspace),
            "TOOLAPI_HOME": str(workspace),
            "TOOLAPI_SERVICES": "",
        }
        return argv, env, str(workspace)

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

    def destroy(self, sandbox_id: str) -> None:
        base = self._dir(sandbox_id)
        pid = self._pid(sandbox_id)
        if pid is not None and self._alive(sandbox_id, pid):
            # The unjailed tool API kills its shells on SIGTERM; a jail dies whole on SIGKILL
            # (its PID namespace goes with bwrap).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + TERM_GRACE_SECONDS
            while time.monotonic() < deadline and self._alive(sandbox_id, pid):
                with _children_lock:
                    proc = _children.get(sandbox_id)
                if proc is not None:
                    proc.poll()
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with _children_lock:
            proc = _children.pop(sandbox_id, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        _reap_children()
        shutil.rmtree(base, ignore_errors=True)

    def status(self, sandbox_id: str) -> InstanceState:
        _reap_children()
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

    def memory_bytes(self, sandbox_id: str) -> int | None:
        """Resident memory of the sandbox's processes (for the benchmark)."""
        pid = self._pid(sandbox_id)
        if pid is None:
            return None
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(proc.name)] = int(fields[1])
                rss[int(proc.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        tree, grew = {pid}, True
        while grew:
            grew = False
            for child, parent in parents.items():
                if parent in tree and child not in tree:
                    tree.add(child)
                    grew = True
        return sum(rss.get(p, 0) for p in tree)

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

The desktop (SANDBOX_LOCAL_DESKTOP, default auto: when the host has Xvfb, x11vnc and
Chromium): the jail runs the image's services under supervisord (sandbox-image/local/
supervisord.conf), which restarts any that dies. The host reaches CDP and VNC only through the
tool API's authenticated `/cdp` and `/vnc` relays on `api.sock` (in a directory only Anker's
user can enter); the endpoint names that socket `ws+unix:PATH`. Inside the jail x11vnc listens
on a unix socket only and Chromium's pages are denied loopback (`--proxy-bypass-list=<-loopback>`
sends them to the proxy, which refuses loopback), so a page cannot speak VNC or CDP to its own
desktop. Without the desktop the tool API's health says `absent` for x, cdp and vnc and the
agent has no browser.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from ..egress import EgressProxy
from . import InstanceState, SandboxEndpoint, SandboxShape, SandboxStartError, jail_limits, wait_until_ready

logger = logging.getLogger(__name__)

JAIL_HOME = "/workspace"
SOCKET_NAME = "api.sock"
JAIL_DESKTOP_ENV = {
    "DISPLAY": ":99",
    "SCREEN_GEOMETRY": "1280x800x24",
    "CHROME_CDP_INTERNAL_PORT": "9229",
    "CDP_PORT": "9229",  # what the tool API's health probes and /cdp relays to, inside the jail
    "VNC_SOCKET": "/tmp/anker-desktop/vnc.sock",  # x11vnc's, in the jail's private /tmp
    "TOOLAPI_SERVICES": "x,cdp,vnc",
    "TOOLAPI_LOG_DIR": "/run/toolapi/logs",
}
# Host programs the desktop runs (env variable of the jail's supervisord.conf -> candidates).
DESKTOP_PROGRAMS = {
    "XVFB_BIN": ("Xvfb",),
    "X11VNC_BIN": ("x11vnc",),
    "CHROMIUM_BIN": ("/usr/lib/chromium/chromium", "chromium", "chromium-browser"),
}
PR_SET_PDEATHSIG = 1
TERM_GRACE_SECONDS = 3.0

# PR_SET_PDEATHSIG fires when the spawning *thread* exits, so spawn from one thread that
# lives as long as the process (ThreadPoolExecutor threads never idle out).
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
_children_lock = threading.Lock()
_children: dict[str, subprocess.Popen[bytes]] = {}
_proxies: dict[str, EgressProxy] = {}  # egress proxies this process serves, by sandbox
EGRESS_SOCKET_NAME = "egress.sock"
JAIL_PROXY_URL = "http://127.0.0.1:3128"
# Chromium's pages never reach the jail's loopback directly: with the egress proxy they go to it
# (which refuses loopback); without one, to a port where nothing listens.
NO_LOOPBACK = "--proxy-bypass-list=<-loopback>"
CHROME_NO_NETWORK_FLAGS = f"--proxy-server=http://127.0.0.1:9 {NO_LOOPBACK}"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _joining(cgroup: jail_limits.JailCgroup) -> Callable[[], None]:
    def preexec() -> None:  # in the child between fork and exec: nothing it runs escapes the limits
        _die_with_parent()
        cgroup.join()

    return preexec


def _reap_children() -> None:
    """Collect exit statuses of our children that died (destroyed from another process)."""
    with _children_lock:
        for sandbox_id, proc in list(_children.items()):
            if proc.poll() is not None:
                del _children[sandbox_id]


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=4)
def _python_facts(python: str) -> tuple[tuple[str, ...], bool]:
    """The prefixes `python` needs bound into a jail (those outside /usr), and whether it can
    import supervisor (the desktop's process manager). Asked once per interpreter."""
    out = subprocess.run(
        [
            python,
            "-c",
            "import sys, importlib.util as u; print(sys.prefix); print(sys.base_prefix); "
            "print(u.find_spec('supervisor') is not None)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    prefixes = tuple(sorted({p for p in out[:2] if p != "/usr" and not p.startswith("/usr/")}))
    return prefixes, out[2] == "True"


def desktop_programs(python: str) -> tuple[dict[str, str], list[str]]:
    """The host's desktop programs (visible in the jail: under /usr or the interpreter's
    prefixes), and what is missing."""
    prefixes, has_supervisor = _python_facts(python)
    visible = ("/usr/", *(prefix.rstrip("/") + "/" for prefix in prefixes))
    found: dict[str, str] = {}
    missing = [] if has_supervisor else [f"the supervisor package for {python}"]
    for variable, candidates in DESKTOP_PROGRAMS.items():
        paths = [shutil.which(candidate) for candidate in candidates]
        path = next((os.path.realpath(p) for p in paths if p), None)
        if path is None:
            missing.append(candidates[-1] if variable == "CHROMIUM_BIN" else candidates[0])
        elif not path.startswith(visible):
            missing.append(f"{path} (outside /usr: not visible in the jail)")
        else:
            found[variable] = path
    return found, missing


class LocalBackend:
    name = "local"

    @property
    def root(self) -> Path:
        return Path(settings.SANDBOX_LOCAL_DIR)

    def jailed(self) -> bool:
        return bwrap_path() is not None

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
        mode = settings.SANDBOX_LOCAL_DESKTOP
        if mode == "off":
            return None
        if not self.jailed():
            if mode == "on":
                raise SandboxStartError("SANDBOX_LOCAL_DESKTOP=on needs bubblewrap: the desktop only runs in a jail")
            return None
        found, missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)
        if missing:
            if mode == "on":
                raise SandboxStartError(
                    "SANDBOX_LOCAL_DESKTOP=on but the desktop cannot run; missing: " + ", ".join(missing)
                )
            return None
        return found

    def desktop_summary(self) -> str:
        mode = settings.SANDBOX_LOCAL_DESKTOP
        if mode == "off":
            return "no desktop (SANDBOX_LOCAL_DESKTOP=off)"
        _, missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)
        if missing:
            return "no desktop, missing: " + ", ".join(missing)
        return "desktop: Xvfb, Chromium (CDP) and VNC in the jail, reached through the tool API's relays"

    def _dir(self, sandbox_id: str) -> Path:
        return self.root / str(uuid.UUID(sandbox_id))  # a UUID: never a path outside root

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        bwrap = bwrap_path()
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
        socket_path = run_dir / SOCKET_NAME
        token = secrets.token_urlsafe(32)
        preexec = _die_with_parent
        if bwrap is not None:
            argv, env, home = self._jail(bwrap, base, workspace, run_dir, token, desktop)
            cgroup = jail_limits.cgroup_for(sandbox_id)
            argv = jail_limits.outer_argv(cgroup) + argv
            if cgroup is not None:
                preexec = _joining(cgroup)
            if settings.SANDBOX_LOCAL_NETWORK == "proxy":
                self._open_egress(sandbox_id, run_dir, env)
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
                preexec_fn=preexec,
            ).result()
        except BaseException:
            self.destroy(sandbox_id)  # the egress proxy and the directory
            raise
        finally:
            log.close()
        with _children_lock:
            _children[sandbox_id] = proc
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

    def _jail(
        self, bwrap: str, base: Path, workspace: Path, run_dir: Path, token: str, desktop: dict[str, str] | None
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
        python = settings.SANDBOX_LOCAL_PYTHON
        for prefix in _python_facts(python)[0]:
            argv += ["--ro-bind", prefix, prefix]
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
        if desktop is None:
            argv += [*jail_limits.inner_argv(), python, "-m", "toolapi", "--unix-socket", f"/run/toolapi/{SOCKET_NAME}"]
            return argv, env, JAIL_HOME
        # The desktop: supervisord runs the tool API beside Xvfb, Chromium, x11vnc, websockify and
        # the two socket bridges, and restarts whichever dies.
        source = Path(settings.SANDBOX_TOOLAPI_SOURCE)
        (run_dir / "logs").mkdir(exist_ok=True)
        argv += [
            "--ro-bind", str(source / "rootfs" / "opt" / "anker" / "bin"), "/opt/anker/bin",
            "--ro-bind", str(source / "local" / "supervisord.conf"), "/opt/anker/supervisord.conf",
            python, "-m", "supervisor.supervisord", "--nodaemon", "--configuration", "/opt/anker/supervisord.conf",
        ]  # fmt: skip
        env.update(JAIL_DESKTOP_ENV, TOOLAPI_PYTHON=python, CHROME_EXTRA_FLAGS=CHROME_NO_NETWORK_FLAGS, **desktop)
        env["TOOLAPI_LIMITS"] = "".join(f"{arg} " for arg in jail_limits.inner_argv())  # not Chromium's
        return argv, env, JAIL_HOME

    def _open_egress(self, sandbox_id: str, run_dir: Path, env: dict[str, str]) -> None:
        """Serve the jail's egress proxy from this process (the jail dies with it anyway)."""
        ports = settings.SANDBOX_EGRESS_CONNECT_PORTS
        proxy = EgressProxy(
            str(run_dir / EGRESS_SOCKET_NAME),
            allow_private=settings.SANDBOX_EGRESS_ALLOW_PRIVATE,
            connect_ports=None if ports is None else frozenset(ports),
            max_connections=settings.SANDBOX_EGRESS_MAX_CONNECTIONS,
            idle_seconds=settings.SANDBOX_EGRESS_IDLE_SECONDS,
        )
        with _children_lock:
            _proxies[sandbox_id] = proxy
        env.update(
            TOOLAPI_EGRESS_SOCKET=f"/run/toolapi/{EGRESS_SOCKET_NAME}",
            TOOLAPI_EGRESS_PORT="3128",
            http_proxy=JAIL_PROXY_URL,
            https_proxy=JAIL_PROXY_URL,
            HTTP_PROXY=JAIL_PROXY_URL,
            HTTPS_PROXY=JAIL_PROXY_URL,
            no_proxy="localhost,127.0.0.1,::1",
            NO_PROXY="localhost,127.0.0.1,::1",
            CHROME_EXTRA_FLAGS=f"--proxy-server={JAIL_PROXY_URL} {NO_LOOPBACK}",
        )

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
            proxy = _proxies.pop(sandbox_id, None)
        if proxy is not None:
            proxy.close()
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        _reap_children()
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
        return SandboxShape(home=JAIL_HOME, has_browser=desktop is not None, network=network)

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

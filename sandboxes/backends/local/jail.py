"""The command that runs a local sandbox's tool API: in a bubblewrap jail, or (only with
SANDBOX_LOCAL_ALLOW_UNJAILED=true) as a plain child process.

The jail follows sandbox-image/run-bwrap.sh in its unix-socket mode: every namespace unshared,
so no network at all (only its own `lo`), its own PIDs, uid 1000 inside, read-only /usr and
/etc, a private /tmp, the sandbox's workspace at /workspace and its socket directory at
/run/toolapi. `--die-with-parent` ends the jail when the thread that spawned it dies
(see processes.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings

from .. import jail_limits
from .desktop import desktop_start
from .interpreter import python_facts

JAIL_HOME = "/workspace"
SOCKET_NAME = "api.sock"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def jail_command(
    bwrap: str, base: Path, workspace: Path, run_dir: Path, token: str, desktop: dict[str, str] | None
) -> tuple[list[str], dict[str, str], str]:
    """The jail's argv, its environment and the agent's home inside it."""
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
    for prefix in python_facts(python)[0]:
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
    desktop_start(argv, env, run_dir, python, desktop)
    return argv, env, JAIL_HOME


def unjailed_command(workspace: Path, socket_path: Path, token: str) -> tuple[list[str], dict[str, str], str]:
    """The tool API's argv, environment and home as a plain child process: no isolation at all."""
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
